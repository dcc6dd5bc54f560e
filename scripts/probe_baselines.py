"""Key and tempo probes on hand-made features, to tell whether a model or the data limits the scores.

    .venv/bin/python scripts/probe_baselines.py                       # validation subset of data/train-corpus
    .venv/bin/python scripts/probe_baselines.py --manifest M.csv      # any manifest with split and key
    .venv/bin/python scripts/probe_baselines.py --checkpoint assets/checkpoints/demo-loevpp --untrained \
        configs/demo-loevpp.yaml   # also: trained subspaces, and the same network with random weights

Every row is a linear probe fit on the train split and scored on the test split: key as mir_eval's
weighted score, tempo as acc1 (within 4 %). The hand-made rows are the time-mean log-mel and chroma
(key) and the onset autocorrelation that the `compact_rhythm` encoder computes (tempo).

The default writes `data/train-corpus/val-manifest.csv`: 576 clips of the train split and 144 of the
test split (pieces never straddle splits), sampled with a fixed seed, the same size as the demo set,
so model choices can be checked without touching the demo test split. Evaluate checkpoints on it with
`loev eval --corpus data/train-corpus/val-manifest.csv --probes linear ...`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import torch

from loev_core import load_model
from loev_core.audio import load_audio
from loev_core.config import AudioConfig
from loev_core.config_parse import load_config
from loev_core.embeddings.waves import stack_common
from loev_core.evaluation.probes import probe_key, probe_tempo
from loev_core.keys import key_index
from loev_core.model.encoders import rhythm_max_lag
from loev_core.model.frontend import LogMel, onset_autocorrelation
from loev_core.model.loev import build_model


def validation_manifest(corpus: Path, n_train: int = 576, n_test: int = 144, seed: int = 0) -> Path:
    m = pd.read_csv(corpus / "manifest.csv")
    parts = [m[m.split == "train"].sample(n_train, random_state=seed), m[m.split == "test"].sample(n_test,
                                                                                                random_state=seed)]
    out = corpus / "val-manifest.csv"
    pd.concat(parts).to_csv(out, index=False)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifest", type=Path, help="default: a validation subset of data/train-corpus")
    ap.add_argument("--checkpoint", type=Path, action="append", default=[], help="also probe its subspaces")
    ap.add_argument("--untrained", type=Path, action="append", default=[],
                    help="config: probe the subspaces of that network with random weights (seed 0)")
    args = ap.parse_args()
    manifest = args.manifest or validation_manifest(Path("data/train-corpus"))
    m = pd.read_csv(manifest)
    audio = AudioConfig()
    sr = audio.sample_rate
    x = stack_common([load_audio(manifest.parent / p, sr) for p in m["path"]])  # what `loev eval` feeds models
    with torch.no_grad():
        mel = LogMel(audio)(x)
    logmel = mel[:, 0].mean(-1).numpy()  # the models' own input, averaged over time
    onset_acf = onset_autocorrelation(mel, rhythm_max_lag(audio)).numpy()  # what compact_rhythm's branches get
    chroma = np.stack([librosa.feature.chroma_cqt(y=w.numpy(), sr=sr).mean(1) for w in x])
    keys = np.array([key_index(k) for k in m["key"]])
    bpm = m["tempo"].to_numpy(float)
    tr, te = (m["split"] == "train").to_numpy(), (m["split"] == "test").to_numpy()
    print(f"{manifest}: {tr.sum()} train / {te.sum()} test clips; linear probes")
    rows = [("log-mel (96 mels), time mean", logmel), ("chroma_cqt (librosa), time mean", chroma),
            ("onset autocorrelation (lags to 1.5 s)", onset_acf)]
    models = [(c.name, load_model(c)) for c in args.checkpoint]
    for c in args.untrained:
        torch.manual_seed(0)
        models.append((f"{c.stem} untrained", build_model(load_config(c)).eval()))
    for label, model in models:
        with torch.no_grad():
            emb = model.embed(x, sr)
        rows += [(f"{label} {k}", v.numpy()) for k, v in emb.items() if k.startswith("V")]
    for name, feats in rows:
        k = probe_key("linear", feats[tr], keys[tr], feats[te], keys[te])
        t = probe_tempo("linear", feats[tr], bpm[tr], feats[te], bpm[te])
        print(f"  {name:44s} key accuracy {k['accuracy']:.3f}  weighted {k['weighted_score']:.3f}"
              f"  tempo acc1 {t['acc1']:.3f}  acc2 {t['acc2']:.3f}")


if __name__ == "__main__":
    main()
