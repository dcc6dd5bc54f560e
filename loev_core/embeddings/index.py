"""FAISS indexes over corpus embeddings: one per subspace, cosine similarity as inner product.

Vectors are L2-normalised before indexing and querying, so inner product is cosine. Below
`exact_threshold` items the index is exact (IndexFlatIP); above it HNSW (default) or IVF. An index
folder holds `<nn>-<safe name>.faiss` per subspace, `meta.jsonl` (row i = FAISS id i), `index.json`
and, when it embedded the audio itself, `embeddings/`. A (re)build is assembled in a hidden sibling
folder and swapped in whole when complete (`loev_core.embeddings.folders`), so an interrupted rebuild
leaves the previous index as it was, and no file of it outlives a rebuild. FAISS files and JSON only:
nothing is unpickled when loading.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd

from loev_core.embeddings.folders import check_index_folder, clear_stage, index_lock, staging_dir, swap_in
from loev_core.embeddings.rebuild import embed_for_index
from loev_core.embeddings.store import Embeddings, load_embeddings, meta_frame
from loev_core.files import atomic_write_bytes, atomic_write_text

__all__ = ["Embeddings", "Index", "IndexParams", "ModelMismatch", "build_index", "check_query", "embed_for_index",
           "load_embeddings", "load_index", "normalize", "search_audio"]
FORMAT_VERSION = 1
log = logging.getLogger(__name__)
KINDS = ("auto", "flat", "hnsw", "ivf")


@dataclass(frozen=True)
class IndexParams:
    """Approximate-index settings. `loev bench search` (1M clustered vectors, dim 128) tunes efSearch to 96
    for recall@10 0.967; the default 128 leaves margin for harder data at ~0.5 ms per query."""

    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    ivf_nlist: int | None = None  # None: 4 * sqrt(N)
    ivf_nprobe: int = 32


def normalize(x: Any) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32, C-contiguous); zero rows stay zero."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.array(x, dtype=np.float32, ndmin=2, copy=True, order="C")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def choose_kind(n: int, kind: str = "auto", exact_threshold: int = 50_000) -> str:
    if kind not in KINDS:
        raise ValueError(f"index kind must be one of {KINDS}, got {kind!r}")
    return ("flat" if n <= exact_threshold else "hnsw") if kind == "auto" else kind


def make_index(vectors: np.ndarray, kind: str, params: IndexParams = IndexParams()) -> faiss.Index:
    """Build a FAISS index of normalised `vectors` [N, D] (kind: flat | hnsw | ivf)."""
    x = normalize(vectors)
    n, d = x.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params.ef_construction
        index.hnsw.efSearch = params.ef_search
    elif kind == "ivf":
        nlist = params.ivf_nlist or max(1, min(n // 39, int(4 * np.sqrt(n))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = x[np.random.default_rng(0).permutation(n)[: 256 * nlist]]
        index.train(sample)
        index.nprobe = min(params.ivf_nprobe, nlist)
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    index.add(x)
    return index


def safe_filename(i: int, subspace: str) -> str:
    """'Z.pitch_shift' -> '02-Z.pitch_shift.faiss': the number keeps names unique after cleaning."""
    return f"{i:02d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', subspace).lstrip('.') or 'subspace'}.faiss"


def _meta_rows(meta: pd.DataFrame) -> list[dict[str, Any]]:
    cols = meta.to_dict("list")
    n = len(meta)
    labels = cols.get("labels", [{}] * n)
    return [{"path": str(cols["path"][i]), "offset": float(cols.get("offset", [0.0] * n)[i]),
             "duration": float(cols.get("duration", [0.0] * n)[i]),
             "labels": labels[i] if isinstance(labels[i], dict) else {}} for i in range(n)]


def _write_subspace_indexes(embeddings: Embeddings, out: Path, names: list[str], kind: str, exact_threshold: int,
                            params: IndexParams) -> dict[str, dict[str, Any]]:
    """One FAISS file per subspace in `out`; returns index.json's `subspaces` entries."""
    entries = {}
    for i, name in enumerate(names):
        x = np.asarray(embeddings.vectors[name])
        if x.shape[0] != len(embeddings.meta):
            raise ValueError(f"subspace {name}: {x.shape[0]} vectors but {len(embeddings.meta)} metadata rows")
        k = choose_kind(len(x), kind, exact_threshold)
        index = make_index(x, k, params)
        fname = safe_filename(i, name)
        atomic_write_bytes(out / fname, lambda f, ix=index: faiss.write_index(ix, faiss.PyCallbackIOWriter(f.write)))
        entries[name] = {"file": fname, "dim": int(x.shape[1]), "type": k, "count": int(index.ntotal)}
    return entries


def build_index(embeddings: Embeddings, out_dir: str | Path, *, exact_threshold: int = 50_000, kind: str = "auto",
                params: IndexParams = IndexParams(), subspaces: list[str] | None = None) -> Index:
    """Build one index per subspace of `embeddings` into `out_dir` and return it loaded.

    Embeddings on disk are read with `load_embeddings`; `embed_for_index` computes them from audio.
    The new index replaces a previous one at `out_dir` only once complete (see the module docstring);
    a folder holding anything but an index (or embeddings/ not its own) is refused rather than replaced, and
    another process rebuilding it at the same time raises FolderBusyError.
    """
    real = check_index_folder(Path(out_dir), embeddings.source)
    if not embeddings.vectors:
        raise ValueError(f"{embeddings.source or 'embeddings'}: no embeddings to index (every file was skipped?)")
    stage = staging_dir(real)
    with index_lock(real):
        keep, embeddings = clear_stage(embeddings, real, stage)
        try:
            entries = _write_subspace_indexes(embeddings, stage, list(subspaces or embeddings.vectors), kind,
                                              exact_threshold, params)
            meta = embeddings.meta
            atomic_write_text(stage / "meta.jsonl", "".join(json.dumps(r) + "\n" for r in _meta_rows(meta)))
            info = embeddings.provenance.index_fields() | {
                "format_version": FORMAT_VERSION, "metric": "inner_product", "normalized": True, "count": len(meta),
                "exact_threshold": exact_threshold, "params": asdict(params), "subspaces": entries,
                "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
            atomic_write_text(stage / "index.json", json.dumps(info, indent=2))
        except BaseException:
            if keep is None:  # nothing worth resuming: no half-built folder is left behind
                shutil.rmtree(stage, ignore_errors=True)
            raise
        swap_in(stage, real)
    return Index(real)  # not `out`: a relative path may have named the working folder, which the swap replaced


class Index:
    """A built index folder: `.search` on any subspace, `.meta` (row i = id i), `.info` (index.json)."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        spec = self.dir / "index.json"
        if not spec.is_file():
            raise FileNotFoundError(f"{self.dir}: not an index folder (no index.json; unfinished build?)")
        self.info: dict[str, Any] = json.loads(spec.read_text())
        if self.info.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"{spec}: format version {self.info['format_version']} is newer than this code")
        for name, e in self.info["subspaces"].items():
            f = e.get("file", "")
            if Path(f).name != f or f.startswith(".") or not f.endswith(".faiss"):
                raise ValueError(f"{spec}: subspace {name!r} names an unsafe file {f!r}")
        rows = [json.loads(line) for line in (self.dir / "meta.jsonl").read_text().splitlines() if line]
        self.meta = meta_frame(rows)
        self._indexes: dict[str, faiss.Index] = {}

    @property
    def subspaces(self) -> list[str]:
        return list(self.info["subspaces"])

    @property
    def checkpoint(self) -> str | None:
        return self.info.get("checkpoint")

    def __len__(self) -> int:
        return len(self.meta)

    def faiss_index(self, subspace: str) -> faiss.Index:
        """The FAISS index of one subspace, read on first use."""
        if subspace not in self.info["subspaces"]:
            raise KeyError(f"unknown subspace {subspace!r}; this index has {', '.join(self.subspaces)}")
        if subspace not in self._indexes:
            index = faiss.read_index(str(self.dir / self.info["subspaces"][subspace]["file"]))
            p = self.info.get("params", {})
            if isinstance(index, faiss.IndexHNSW):
                index.hnsw.efSearch = int(p.get("ef_search", IndexParams.ef_search))
            elif isinstance(index, faiss.IndexIVF):
                index.nprobe = int(p.get("ivf_nprobe", IndexParams.ivf_nprobe))
            self._indexes[subspace] = index
        return self._indexes[subspace]

    def search(self, queries: Any, subspace: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Cosine top-k: queries [D] or [Q, D] (array or tensor) or a `model.embed` dict.

        Returns (scores [Q, k], ids [Q, k]); ids are rows of `.meta`, -1 where fewer than k items.
        """
        if int(k) < 1:
            raise ValueError(f"k (the number of neighbours) must be at least 1, got {k}")
        if isinstance(queries, Mapping):
            if subspace not in queries:
                raise ValueError(f"the query has no subspace {subspace!r} (it has {', '.join(queries)}): it was "
                                 "embedded by a model without it")
            queries = queries[subspace]
        index = self.faiss_index(subspace)
        q = normalize(queries)
        if q.shape[1] != index.d:
            raise ValueError(f"subspace {subspace}: query dim {q.shape[1]} != index dim {index.d}")
        scores, ids = index.search(q, int(k))
        return scores, ids

    def results(self, query: Any, subspace: str, k: int = 10) -> pd.DataFrame:
        """Neighbours of one query as a table: rank, score, id, path, offset, duration, labels."""
        scores, ids = self.search(query, subspace, k)
        keep = ids[0] >= 0
        rows = self.meta.iloc[ids[0][keep]][["path", "offset", "duration", "labels"]].reset_index(drop=True)
        rows.insert(0, "id", ids[0][keep])
        rows.insert(0, "score", scores[0][keep])
        rows.insert(0, "rank", np.arange(1, int(keep.sum()) + 1))
        return rows


def load_index(directory: str | Path) -> Index:
    return Index(directory)


class ModelMismatch(ValueError):
    """A query model other than the index's: cosine scores across two models' spaces mean nothing."""

    def __init__(self, index: Index, expected: str, actual: str) -> None:
        self.expected, self.actual = expected, actual
        made_by = index.checkpoint or "checkpoint not recorded"
        super().__init__(f"{index.dir} was built with model {expected} ({made_by}), the query model is {actual}: "
                         "scores across two models mean nothing")


def check_query(path: str | Path) -> Path:
    """`path` when it can be a query (one existing file); else a ValueError that says what it is."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{p} is a folder: a query is one audio file")
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    return p


def search_audio(index: str | Path | Index, model: Any, audio_path: str | Path, subspace: str,
                 k: int = 10, any_model: bool = False) -> pd.DataFrame:
    """Embed `audio_path` as the corpus was embedded, then return its top-k table in `subspace`.

    A model other than the index's is refused (ModelMismatch) unless `any_model`, which only warns."""
    from loev_core.checkpoint import model_id
    from loev_core.embeddings.compute import embed_file

    index = index if isinstance(index, Index) else Index(index)
    expected = index.info.get("model_id") or index.info.get("checkpoint_id")  # the latter: older index.json
    if expected and model_id(model) != expected:
        if not any_model:
            raise ModelMismatch(index, expected, model_id(model))
        log.warning("%s was built with model %s, the query uses %s: scores will not be meaningful",
                    index.dir, expected, model_id(model))
    if subspace not in model.subspaces:
        raise ValueError(f"the query model has no subspace {subspace!r} (it has {', '.join(model.subspaces)}); "
                         f"this index has {', '.join(index.subspaces)}")
    check_query(audio_path)
    streaming = {k: index.info[k] for k in ("long_seconds", "stream_seconds") if index.info.get(k)}
    return index.results(embed_file(model, audio_path, **streaming), subspace, k)
