"""Real pieces from music21's bundled corpus: Bach chorales (4 voices) and Essen folk songs (melodies).

Parsing MusicXML/ABC with music21 costs seconds per opus, so the openings we use are extracted once into
a small catalog (`music21_catalog.json.gz`, committed next to this file) that generation reads without
importing music21. Rebuild it (a few minutes) with:

    python -m loev_core.corpus.music21_source --out loev_core/corpus/music21_catalog.json.gz

Only works whose opening clearly establishes the notated key are kept: key-profile estimates
(Albrecht-Shanahan templates) over the first 4 and the first 12 beats must both agree with one of the
key signature's two keys (folk melodies must also end on that tonic). Each work gets a `family` (a hash
of its opening melody's intervals) so different harmonisations of one chorale tune always land in the
same role and split.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from loev_core.corpus.theory import estimate_key, pitch_class_profile

log = logging.getLogger(__name__)

CATALOG_PATH = Path(__file__).with_name("music21_catalog.json.gz")
MAX_BEATS = 26.0  # 4 s at 180 BPM is 12 beats; keep some slack
ESSEN_FILES = ("kinder0", "altdeu10", "boehme10", "erk20", "fink0", "altdeu20", "dva0", "zuccal0")
MAX_FOLK = 450
DEMO_SHARE = 4  # a family goes to the demo role when hash % DEMO_SHARE == 0 (about a quarter)


def role_of(family: str) -> str:
    """Seed-independent role of a melody family, so train and demo corpora never share a work."""
    return "demo" if int(family[:8], 16) % DEMO_SHARE == 0 else "train"


def _family(melody: list[tuple[float, float, int]], n: int = 10) -> str:
    """Transposition-invariant fingerprint of the first `n` melody notes (intervals and durations)."""
    head = melody[: n + 1]
    sig = [(b[2] - a[2], round(a[1], 3)) for a, b in zip(head, head[1:], strict=False)]
    return hashlib.sha1(repr(sig).encode()).hexdigest()[:12]


def _notes(part: Any, voice: int) -> list[list[float]]:
    """[[onset, duration, midi, voice]] in quarter notes for every sounding note of `part`."""
    out = []
    for el in part.stripTies().flatten().notes:
        dur = float(el.duration.quarterLength)
        if dur <= 0:  # grace notes
            continue
        for p in el.pitches:
            out.append([round(float(el.offset), 4), round(dur, 4), int(p.midi), voice])
    return out


def _validate(notes: list[list[float]], sharps: int, downbeat: float) -> tuple[int, str] | None:
    """The signature key (major or minor) that the opening establishes, or None when ambiguous."""
    major = (7 * sharps) % 12
    candidates = {(major, "major"), ((major + 9) % 12, "minor")}
    triples = [(n[0], n[1], int(n[2])) for n in notes]
    ests = [estimate_key(pitch_class_profile(triples, 0.0, downbeat + b), "albrecht")[:2] for b in (4.0, 12.0)]
    if ests[0] == ests[1] and ests[0] in candidates:
        return ests[0]
    return None


def _meter(score: Any) -> tuple[int, float] | None:
    """(beats per bar, first downbeat offset) for simple quarter-note meters; None otherwise."""
    from music21 import meter

    ts = score.recurse().getElementsByClass(meter.TimeSignature).first()
    if ts is None or ts.denominator != 4 or ts.numerator not in (2, 3, 4):
        return None
    measures = score.parts[0].getElementsByClass("Measure")
    downbeat = 0.0
    if len(measures) > 1:  # an anacrusis is a first bar shorter than the meter says
        first = float(measures[1].offset - measures[0].offset)
        if first < ts.numerator - 1e-6:
            downbeat = first
    return int(ts.numerator), downbeat


def _sharps(score: Any) -> int | None:
    from music21 import key

    ks = score.recurse().getElementsByClass(key.KeySignature).first()
    return None if ks is None else int(ks.sharps)


def _chorales() -> list[dict[str, Any]]:
    from music21 import corpus

    works = []
    for path in sorted(corpus.getComposer("bach")):
        try:
            score = corpus.parse(path)
        except Exception as e:  # a broken file in the corpus must not stop the build
            log.warning("skip %s: %s", path.name, e)
            continue
        meter_info, sharps = _meter(score), _sharps(score)
        if len(score.parts) != 4 or meter_info is None or sharps is None:
            continue
        notes = [n for v, part in enumerate(score.parts) for n in _notes(part, v) if n[0] < MAX_BEATS]
        melody = sorted((n[0], n[1], int(n[2])) for n in notes if n[3] == 0)
        key = _validate(notes, sharps, meter_info[1])
        if key is None or len(melody) < 8:
            continue
        works.append({"id": f"bach/{Path(path).stem}", "kind": "chorale", "title": str(score.metadata.title or ""),
                      "family": _family(melody), "tonic": key[0], "mode": key[1], "beats_per_bar": meter_info[0],
                      "downbeat": meter_info[1], "notes": sorted(notes)})
    return works


def _folk() -> list[dict[str, Any]]:
    from music21 import corpus

    works: list[dict[str, Any]] = []
    for name in ESSEN_FILES:
        try:
            opus = corpus.parse(f"essenFolksong/{name}")
        except Exception as e:
            log.warning("skip %s: %s", name, e)
            continue
        for i, score in enumerate(getattr(opus, "scores", [opus])):
            meter_info, sharps = _meter(score), _sharps(score)
            if meter_info is None or sharps is None or len(score.parts) != 1:
                continue
            all_notes = _notes(score.parts[0], 0)
            notes = [n for n in all_notes if n[0] < MAX_BEATS]
            if len(notes) < 10 or notes[-1][0] + notes[-1][1] < 12.0:
                continue
            key = _validate(notes, sharps, meter_info[1])
            if key is None or int(all_notes[-1][2]) % 12 != key[0]:
                continue
            melody = [(n[0], n[1], int(n[2])) for n in notes]
            works.append({"id": f"essen/{name}/{i}", "kind": "folk",
                          "title": str(score.metadata.title or "") if score.metadata else "",
                          "family": _family(melody, 12), "tonic": key[0], "mode": key[1],
                          "beats_per_bar": meter_info[0], "downbeat": meter_info[1], "notes": notes})
        if len(works) >= MAX_FOLK:
            break
    return works[:MAX_FOLK]


def build_catalog(out: Path = CATALOG_PATH) -> dict[str, Any]:
    """Parse the corpus and write the catalog; returns it. Deterministic for a given music21 version."""
    import music21

    works = _chorales() + _folk()
    for w in works:
        w["role"] = role_of(w["family"])
    catalog = {"version": 1, "music21": music21.__version__, "works": works}
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(out, "wb", mtime=0) as f:
        f.write(json.dumps(catalog, separators=(",", ":")).encode())
    return catalog


def load_catalog(path: Path = CATALOG_PATH) -> list[dict[str, Any]]:
    """Works of the committed catalog; builds it (needs music21) only when the file is missing."""
    if not path.exists():
        log.warning("%s missing: building it from music21's corpus (a few minutes)", path)
        return build_catalog(path)["works"]
    with gzip.open(path, "rb") as f:
        return json.loads(f.read())["works"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="rebuild the music21 opening catalog")
    parser.add_argument("--out", type=Path, default=CATALOG_PATH)
    args = parser.parse_args(argv)
    works = build_catalog(args.out)["works"]
    kinds = {k: sum(w["kind"] == k for w in works) for k in ("chorale", "folk")}
    roles = {r: sum(w["role"] == r for w in works) for r in ("train", "demo")}
    print(f"{len(works)} works {kinds}, roles {roles}, {len({w['family'] for w in works})} families -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
