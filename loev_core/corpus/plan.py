"""Deterministic plan of a corpus: which piece, key, tempo, instrument and split every clip gets.

Planning is cheap and happens in one process from the seed, so the manifest is reproducible whatever
the number of workers. Pieces are assigned to a split before any key is drawn, so a piece never straddles
train/test; within each split the 24 keys are dealt round-robin so counts differ by at most one.
Music21 works come only from the catalog's pool for `role`, and procedural piece ids carry the role and
seed, so a train corpus and the demo corpus never share a piece.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from loev_core.keys import KEY_NAMES, key_name, parse_key

ROLES = ("demo", "train")
TEST_SHARE = 0.2
SOURCE_SHARES = {"chorale": 0.25, "folk": 0.12}  # the rest is procedural (folk songs are all major)
TEMPO_RANGE = (60, 180)
DRUM_PROB = {"procedural": 0.45, "folk": 0.35, "chorale": 0.0}

# GM family -> programs (0-based) for each part.
FAMILIES: dict[str, dict[str, tuple[int, ...]]] = {
    "piano": {"melody": (0, 1, 2, 4, 5), "harmony": (0, 1, 4), "bass": (0, 1)},
    "chromatic percussion": {"melody": (8, 9, 11, 12, 13), "harmony": (11, 12, 8), "bass": (12, 11)},
    "organ": {"melody": (16, 17, 19, 20, 21), "harmony": (16, 19, 20), "bass": (19, 16)},
    "guitar": {"melody": (24, 25, 26, 27), "harmony": (24, 25, 27), "bass": (24, 25)},
    "strings": {"melody": (40, 41, 45, 46), "harmony": (40, 41, 45, 46), "bass": (42, 43, 45)},
    "ensemble": {"melody": (48, 49, 50, 52, 53), "harmony": (48, 49, 50, 52), "bass": (48, 49)},
    "brass": {"melody": (56, 60, 61, 57), "harmony": (61, 60, 57), "bass": (57, 58)},
    "reed": {"melody": (64, 65, 66, 68, 71), "harmony": (71, 65, 66, 69), "bass": (70, 67)},
    "pipe": {"melody": (72, 73, 74, 75, 79), "harmony": (73, 74, 75), "bass": (73, 74)},
}
STYLES = {  # accompaniments that suit each family (sustaining families get pads, plucked ones strums)
    "piano": ("block", "arpeggio", "alberti"), "chromatic percussion": ("arpeggio", "block", "alberti"),
    "organ": ("pad", "block", "alberti"), "guitar": ("strum", "arpeggio", "block"),
    "strings": ("pad", "arpeggio", "block"), "ensemble": ("pad", "block", "arpeggio"),
    "brass": ("block", "pad", "arpeggio"), "reed": ("block", "pad", "arpeggio"),
    "pipe": ("block", "pad", "arpeggio"),
}


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render one clip, plus its labels."""

    index: int
    piece: str
    source: str  # procedural | chorale | folk
    work_id: str | None
    split: str
    tonic: int
    mode: str
    tempo: int
    duration: float
    family: str
    programs: tuple[tuple[str, int], ...]
    drums: bool
    drum_style: int
    accompaniment: str
    beats_per_bar: int
    piece_seed: int

    @property
    def key(self) -> str:
        return key_name(self.tonic, self.mode)


@dataclass
class _Piece:
    piece: str
    source: str
    mode: str | None
    n: int
    work: dict[str, Any] | None = None
    beats_per_bar: int = 4
    seed: int = 0


def _m21_pieces(rng: np.random.Generator, catalog: list[dict[str, Any]], role: str, n_clips: int) -> list[_Piece]:
    pieces = []
    for source, share in SOURCE_SHARES.items():
        works = sorted((w for w in catalog if w["kind"] == source and w["role"] == role), key=lambda w: w["id"])
        by_family: dict[str, dict[str, Any]] = {}
        for i in rng.permutation(len(works)):  # one work per melody family
            by_family.setdefault(works[i]["family"], works[i])
        pool = list(by_family.values())
        budget = int(round(share * n_clips))
        if not pool or budget == 0:
            continue
        per_piece = int(min(4, max(1, math.ceil(budget / len(pool)))))
        for w in pool[: math.ceil(budget / per_piece)]:
            pieces.append(_Piece(f"m21/{w['id']}", source, w["mode"], per_piece, w, w["beats_per_bar"]))
    return pieces


def _deal(rng: np.random.Generator, sizes: dict[str, int]) -> dict[str, dict[str, list[tuple[int, str]]]]:
    """Keys dealt round-robin over a shuffled order of the 24, the test split first, then split into
    major/minor piles per split: the corpus and each split are balanced to within one clip per key."""
    order = [parse_key(KEY_NAMES[i]) for i in rng.permutation(24)]
    piles: dict[str, dict[str, list[tuple[int, str]]]] = {}
    i = 0
    for split in ("test", "train"):
        piles[split] = {"major": [], "minor": []}
        for _ in range(sizes[split]):
            piles[split][order[i % 24][1]].append(order[i % 24])
            i += 1
        for pile in piles[split].values():
            rng.shuffle(pile)
    return piles


def _take(pile: list[tuple[int, str]], used: set[int]) -> tuple[int, str]:
    """Pop a key, preferring tonics this piece does not have yet."""
    i = next((j for j, k in enumerate(pile) if k[0] not in used), 0)
    return pile.pop(i)


def plan_corpus(n_clips: int, seed: int, role: str, catalog: list[dict[str, Any]],
                clip_seconds: tuple[float, float] = (3.0, 4.0)) -> list[ClipSpec]:
    """The full, shuffled list of clips for a corpus (see module docstring for the guarantees)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if n_clips < 1:
        raise ValueError("n_clips must be positive")
    rng = np.random.default_rng([seed, ROLES.index(role)])
    m21 = _m21_pieces(rng, catalog, role, n_clips)
    n_test = int(round(TEST_SHARE * n_clips)) if n_clips >= 5 else 0
    sizes = {"test": n_test, "train": n_clips - n_test}
    by_split: dict[str, list[_Piece]] = {"train": [], "test": []}
    test_clips = 0
    for p in m21:  # shuffled already; fill the test split's music21 share first
        split = "test" if test_clips + p.n <= round(TEST_SHARE * sum(q.n for q in m21)) else "train"
        test_clips += p.n if split == "test" else 0
        by_split[split].append(p)
    slots: list[tuple[str, _Piece, tuple[int, str]]] = []
    n_proc = 0
    dealt = _deal(rng, sizes)
    for split, size in sizes.items():
        piles = dealt[split]
        taken = 0
        for p in by_split[split]:
            used: set[int] = set()
            for _ in range(p.n):
                if taken >= size or not piles[p.mode or "major"]:
                    break
                k = _take(piles[p.mode or "major"], used)
                used.add(k[0])
                slots.append((split, p, k))
                taken += 1
        while piles["major"] or piles["minor"]:  # procedural pieces take whatever keys remain
            mode = "major" if len(piles["major"]) >= len(piles["minor"]) else "minor"
            p = _Piece(f"proc-{role}-s{seed}-{n_proc:05d}", "procedural", mode, int(rng.integers(1, 4)),
                       beats_per_bar=int(rng.choice((4, 4, 3))), seed=int(rng.integers(2**31)))
            n_proc += 1
            used = set()
            for _ in range(min(p.n, len(piles[mode]))):
                k = _take(piles[mode], used)
                used.add(k[0])
                slots.append((split, p, k))
    n = len(slots)
    order = rng.permutation(n)
    tempos = TEMPO_RANGE[0] + np.floor((rng.permutation(n) + rng.random(n)) / n *
                                       (TEMPO_RANGE[1] - TEMPO_RANGE[0] + 1)).astype(int)
    durations = np.round(rng.uniform(clip_seconds[0], clip_seconds[1], n), 2)
    fam_names = list(FAMILIES)
    fam_order = [fam_names[i] for i in rng.permutation(len(fam_names))]
    specs = []
    for i, j in enumerate(order):
        split, p, (tonic, mode) = slots[j]
        family = fam_order[i % len(fam_order)]
        table = FAMILIES[family]
        programs = tuple((part, int(rng.choice(table[part]))) for part in ("melody", "harmony", "bass"))
        specs.append(ClipSpec(
            index=i, piece=p.piece, source=p.source, work_id=p.work["id"] if p.work else None, split=split,
            tonic=tonic, mode=mode, tempo=int(tempos[i]), duration=float(durations[i]), family=family,
            programs=programs, drums=bool(rng.random() < DRUM_PROB[p.source]), drum_style=int(rng.integers(2)),
            accompaniment=str(rng.choice(STYLES[family])), beats_per_bar=p.beats_per_bar, piece_seed=p.seed))
    return specs
