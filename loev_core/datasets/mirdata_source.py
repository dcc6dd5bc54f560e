"""Datasets researchers already have, read through mirdata (offline: nothing is ever downloaded).

mirdata's index JSON (track ids -> relative paths and md5s) is not in its wheel: mirdata downloads it
with `download(["index"])` into its package folder. We use that copy when present, else the file given
with `--index` (or one saved in the data home under mirdata's file name), and point the loader at it
before the first track is read. Each loader is turned into `Item`s by a small extractor; a label that
cannot be read leaves that track unlabelled for the task, never stops the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loev_core.datasets.items import DatasetError, Item, normalize_split
from loev_core.datasets.tasks import DATASETS, DatasetSpec
from loev_core.keys import PITCH_NAMES, normalize_key

INSTALL_HINT = "pip install 'loev-explorer[datasets]'"
MTG_SPLIT = 0  # MTG-Jamendo's official split-0, as in the reference


def import_mirdata() -> Any:
    try:
        import mirdata
    except ImportError:
        raise DatasetError(f"--dataset reads datasets through mirdata, which is not installed: "
                           f"{INSTALL_HINT}") from None
    return mirdata


def dataset_spec(name: str) -> DatasetSpec:
    """The table entry of a supported dataset; an error listing the known names otherwise."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}. For a dataset mirdata lacks "
                           "(MagnaTagATune, NSynth, ACM Mirum tempo) write a manifest and use "
                           "--corpus manifest.csv --protocol reference (docs/datasets.md)")
    return DATASETS[name]


def index_help(name: str, ds: Any) -> str:
    """How to get the index of `name`, in words (mirdata's own download, or a URL to fetch by hand)."""
    remote = getattr(getattr(ds, "_index_data", None), "remote", None)
    if remote is None:
        return (f"mirdata publishes no index for {name}: pass the index JSON you have with --index FILE")
    return (f"fetch it once (online) with  python -c \"import mirdata; mirdata.initialize('{name}')"
            f".download(['index'])\"  (it lands in {ds.index_path}), or download {remote.url} "
            "and pass --index FILE")


def locate_index(name: str, ds: Any, data_home: Path, index: str | Path | None) -> Path:
    """--index if given, else the index mirdata downloaded, else a copy under mirdata's file name in the data home."""
    if index is not None:
        p = Path(index).expanduser()
        if not p.is_file():
            raise DatasetError(f"--index {p}: no such file")
        return p
    default = Path(ds.index_path)
    for cand in (default, data_home / default.name):
        if cand.is_file():
            return cand
    raise DatasetError(f"the mirdata index of {name} ({default.name}) is not on this machine; it is not part of "
                       f"the mirdata package. {index_help(name, ds)}")


def open_dataset(name: str, data_home: str | Path, index: str | Path | None = None) -> Any:
    """An initialized mirdata Dataset reading `data_home` with a local index; never downloads."""
    dataset_spec(name)
    mirdata = import_mirdata()
    home = Path(data_home).expanduser()
    if not home.is_dir():
        raise DatasetError(f"--data-home {home}: {'a file, not a folder' if home.exists() else 'no such folder'}; "
                           f"give the folder that holds {name} "
                           f"(mirdata's default is ~/mir_datasets/{name})")
    ds = mirdata.initialize(name, data_home=str(home))
    path = locate_index(name, ds, home, index)
    try:
        tracks = json.loads(path.read_text()).get("tracks")
    except (OSError, ValueError, AttributeError) as e:
        raise DatasetError(f"{path}: not a mirdata index JSON ({e})") from None
    if not isinstance(tracks, dict) or not tracks:
        raise DatasetError(f"{path}: not a mirdata index of tracks (no 'tracks' object)")
    ds.index_path = str(path)
    return ds


def _key(text: Any) -> str | None:
    try:
        return normalize_key(str(text).strip())
    except ValueError:
        return None


def _tempo(value: Any) -> float | None:
    bpm = float(value)
    return bpm if bpm > 0 else None


def _first_number(path: str | None) -> float | None:
    """The first number of a small annotation file (gtzan's .bpm; its loader trips over numpy 2)."""
    if not path or not Path(path).is_file():
        return None
    return _tempo(Path(path).read_text().split()[0])


Extracted = tuple[dict[str, Any], str | None, str | None]  # labels, split, group


def _giantsteps_key(t: Any, ctx: dict) -> Extracted:
    return {"key": _key(t.key)}, None, _quiet(lambda: ", ".join(t.artists))


def _beatport_key(t: Any, ctx: dict) -> Extracted:
    keys = [k for k in (t.key or []) if str(k).strip().lower() not in ("x", "")]
    return {"key": _key(keys[0]) if len(keys) == 1 else None}, None, _quiet(lambda: ", ".join(t.artists))


def _giantsteps_tempo(t: Any, ctx: dict) -> Extracted:
    return {"tempo": _tempo(t.tempo.tempos[0])}, None, None


def _gtzan(t: Any, ctx: dict) -> Extracted:
    return {"genre": t.genre, "tempo": _quiet(lambda: _first_number(t.tempo_path))}, None, None


def _hainsworth(t: Any, ctx: dict) -> Extracted:
    return {"tempo": _tempo(t.tempo)}, None, None


def _mtg(t: Any, ctx: dict) -> Extracted:
    return {"tags": tuple(sorted(set(t.tags)))}, normalize_split(ctx["split_of"].get(t.track_id)), t.artist_id


def _medley(t: Any, ctx: dict) -> Extracted:
    return {"instrument": t.instrument}, normalize_split(t.subset), f"song{t.song_id}"


def _good_sounds(t: Any, ctx: dict) -> Extracted:
    labels = {"instrument": t.instrument, "pitch_class": PITCH_NAMES[int(t.semitone) % 12]}
    return labels, None, f"sound{t.take_info['sound_id']}"


def _mtg_context(ds: Any) -> dict:
    """The official split-0 (train / validation / test lists of track ids)."""
    return {"split_of": {tid: s for s, ids in ds.get_track_splits(MTG_SPLIT).items() for tid in ids}}


CONTEXTS: dict[str, Callable[[Any], dict]] = {"mtg_jamendo_autotagging_moodtheme": _mtg_context}
EXTRACTORS: dict[str, Callable[[Any, dict], Extracted]] = {
    "giantsteps_key": _giantsteps_key, "beatport_key": _beatport_key, "giantsteps_tempo": _giantsteps_tempo,
    "gtzan_genre": _gtzan, "hainsworth": _hainsworth, "mtg_jamendo_autotagging_moodtheme": _mtg,
    "medley_solos_db": _medley, "good_sounds": _good_sounds,
}


def _quiet(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


def load_items(name: str, data_home: str | Path, index: str | Path | None = None) -> list[Item]:
    """Every indexed track of `name` as an Item (labels that could not be read are left out).

    A data home holding none of the indexed audio files, or tracks none of whose labels can be read
    (the annotation files are elsewhere), is an error that names the expected paths."""
    ds = open_dataset(name, data_home, index)
    extract, wanted = EXTRACTORS[name], DATASETS[name].tasks
    try:
        ctx = CONTEXTS.get(name, lambda _: {})(ds)
    except (OSError, ValueError, KeyError) as e:
        raise DatasetError(f"{name}: cannot read its metadata under {data_home} ({e}); is --data-home the folder "
                           "that holds the dataset and its metadata files?") from None
    items, first_error = [], None
    for tid in ds.track_ids:
        try:
            track = ds.track(tid)
            labels, split, group = extract(track, ctx)
        except Exception as e:  # a loader's own failure on one track (bad annotation, missing metadata)
            first_error = first_error or f"{tid}: {type(e).__name__}: {e}"
            continue
        if track.audio_path:
            items.append(Item(str(tid), str(track.audio_path),
                              {k: v for k, v in labels.items() if k in wanted and v not in (None, "", ())},
                              split, group or None))
    home = Path(data_home).expanduser()
    if not items:
        raise DatasetError(f"{name}: no track could be read from {home} ({first_error or 'empty index'}); "
                           "is --data-home the folder mirdata downloaded the dataset into?")
    if not any(Path(i.path).is_file() for i in items):
        raise DatasetError(f"{name}: none of the {len(items)} audio files of the index is under {home} (e.g. "
                           f"{items[0].path}); point --data-home at the folder that holds the dataset "
                           f"(mirdata's default is ~/mir_datasets/{name})")
    if not any(i.labels for i in items):
        raise DatasetError(f"{name}: no track in {home} has a readable label ({first_error or 'annotations missing'})"
                           "; are the annotation files in the data home?")
    return items
