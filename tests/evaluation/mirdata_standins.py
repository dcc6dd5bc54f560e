"""Tiny stand-ins of mirdata datasets, written in the exact layouts mirdata's loaders read, each with
its own index JSON (real md5s, so `Dataset.validate()` passes) and labelled audio of a few seconds.

Layouts follow mirdata 1.0.0's loaders and its own test resources: file names, annotation formats,
metadata tables and split files. Each `make_<dataset>(root, n)` returns a `StandIn`.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
KEYS = ("C major", "A minor", "G major", "E minor", "D major", "B minor", "F major", "D minor")
GENRES = ("blues", "hiphop", "rock")
TAGS = ("happy", "sad", "energetic", "calm", "dark")
INSTRUMENTS = ("flute", "violin", "trumpet")


@dataclass(frozen=True)
class StandIn:
    name: str
    data_home: Path
    index: Path
    track_ids: tuple[str, ...]
    audio: dict[str, Path]  # track id -> audio file


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_audio(path: Path, tonic: int, bpm: float, seconds: float = 4.0, seed: int = 0) -> Path:
    """A triad on `tonic` with onsets at `bpm`: key and tempo are audible; format from the suffix."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 220.0 * 2 ** ((tonic - 9) / 12)
    chord = sum(np.sin(2 * np.pi * f0 * r * t + rng.uniform(0, 6)) for r in (1.0, 2 ** (4 / 12), 2 ** (7 / 12)))
    env = np.exp(-((t % (60.0 / bpm)) / (0.25 * 60.0 / bpm)))
    y = (0.2 * chord * env + 0.003 * rng.standard_normal(t.size)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".mp3": "MP3", ".flac": "FLAC", ".wav": "WAV"}[path.suffix]
    sf.write(path, y, SR, format=fmt)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def entry(home: Path, path: Path | None) -> list:
    return [None, None] if path is None else [path.relative_to(home).as_posix(), md5(path)]


def finish(name: str, root: Path, home: Path, tracks: dict[str, dict[str, Path | None]],
           audio_key: str = "audio") -> StandIn:
    """Write the index next to the data home (as a file passed with --index)."""
    index = {"version": "standin", "tracks": {tid: {k: entry(home, p) for k, p in files.items()}
                                              for tid, files in tracks.items()}}
    path = write_text(root / f"{name}_index.json", json.dumps(index, indent=1))
    return StandIn(name, home, path, tuple(tracks), {tid: f[audio_key] for tid, f in tracks.items()})  # type: ignore


def _tonic(key: str) -> int:
    names = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    return names[key[0]]


def _edm_meta(bpm: int, artist: str) -> str:
    return json.dumps({"bpm": bpm, "genres": [{"name": "Techno"}], "sub_genres": [],
                       "artists": [{"name": artist}]})


def make_giantsteps_key(root: Path, n: int = 12) -> StandIn:
    home, tracks = root / "giantsteps_key", {}
    for k in range(n):
        title, key, bpm = f"{10000 + k} Artist{k % 4} - Track {k} (Original Mix)", KEYS[k % len(KEYS)], 110 + 5 * k
        tracks[str(k + 1)] = {
            "audio": write_audio(home / "audio" / f"{title}.mp3", _tonic(key), bpm, seed=k),
            "key": write_text(home / "keys_gs+" / f"{title}.txt", key),
            "meta": write_text(home / "meta" / f"{title}.json", _edm_meta(bpm, f"Artist{k % 4}"))}
    return finish("giantsteps_key", root, home, tracks)


def make_beatport_key(root: Path, n: int = 12) -> StandIn:
    home, tracks = root / "beatport_key", {}
    for k in range(n):
        title, key, bpm = f"{20000 + k} Producer{k % 4} - Tune {k} (Original Mix)", KEYS[(k + 3) % len(KEYS)], 120 + k
        tracks[str(k + 1)] = {
            "audio": write_audio(home / "audio" / f"{title}.mp3", _tonic(key), bpm, seed=100 + k),
            "key": write_text(home / "keys" / f"{title}.txt", key if k else "D minor | F major"),  # one modulates
            "meta": write_text(home / "meta" / f"{title}.json", _edm_meta(bpm, f"Producer{k % 4}"))}
    return finish("beatport_key", root, home, tracks)


def _jams(bpm: float, genre: str) -> str:
    return json.dumps({"annotations": [
        {"namespace": "tempo", "data": [{"time": 0.0, "duration": 120.0, "value": bpm, "confidence": 1.0}]},
        {"namespace": "tag_open", "data": [{"time": 0.0, "duration": 120.0, "value": genre, "confidence": 1.0}]}]})


def make_giantsteps_tempo(root: Path, n: int = 12) -> StandIn:
    home, tracks = root / "giantsteps_tempo", {}
    ann = home / "giantsteps-tempo-dataset-0b7d47ba8cae59d3535a02e3db69e2cf6d0af5bb"
    for k in range(n):
        tid, bpm = f"{28950 + k}.LOFI", 90.0 + 7 * k
        tracks[tid] = {"audio": write_audio(home / "audio" / f"{tid}.mp3", k % 12, bpm, seed=200 + k),
                       "annotation_v1": write_text(ann / "annotations" / "jams" / f"{tid}.jams", _jams(bpm, "techno")),
                       "annotation_v2": write_text(ann / "annotations_v2" / "jams" / f"{tid}.jams",
                                                   _jams(bpm, "techno"))}
    return finish("giantsteps_tempo", root, home, tracks)


def make_gtzan_genre(root: Path, per_genre: int = 5) -> StandIn:
    home, tracks = root / "gtzan_genre", {}
    for g, genre in enumerate(GENRES):
        for k in range(per_genre):
            tid, bpm = f"{genre}.{k:05d}", 80 + 10 * k + 3 * g
            tracks[tid] = {
                "audio": write_audio(home / "gtzan_genre" / "genres" / genre / f"{tid}.wav", 2 * g + k, bpm,
                                     seed=300 + 10 * g + k),
                "beats": write_text(home / "gtzan_tempo_beat-main" / "beats" / f"gtzan_{genre}_{k:05d}.beats",
                                    "".join(f"{b * 60 / bpm:.3f}\t{b % 4 + 1}\n" for b in range(6))),
                "tempo": write_text(home / "gtzan_tempo_beat-main" / "tempo" / f"gtzan_{genre}_{k:05d}.bpm",
                                    f"{bpm}\n")}
    return finish("gtzan_genre", root, home, tracks)


def make_hainsworth(root: Path, n: int = 12) -> StandIn:
    home, tracks = root / "hainsworth", {}
    for k in range(n):
        tid, bpm = f"hains{k + 1:03d}", 70.0 + 9 * k
        base = home / "H_1.0"
        tracks[tid] = {"audio": write_audio(base / "audio" / f"{tid}.flac", k % 12, bpm, seed=400 + k),
                       "beats": write_text(base / "annotations" / "beats" / f"{tid}.beats", "0.5\t1\n1.1\t2\n"),
                       "tempo": write_text(base / "annotations" / "tempo" / f"{tid}.bpm", f"{bpm}\tnan\t1.00\n")}
    return finish("hainsworth", root, home, tracks)


def make_mtg_jamendo(root: Path, n: int = 15) -> StandIn:
    """Tracks with 1-2 mood/theme tags; metadata TSV and the five official splits (split-0 is used)."""
    home, tracks, rows = root / "mtg_jamendo_autotagging_moodtheme", {}, []
    for k in range(n):
        num = 900 + k
        tid, rel = f"track_{num:07d}", f"{num % 100:02d}/{num}.mp3"
        tags = [TAGS[k % len(TAGS)]] + ([TAGS[(k + 2) % len(TAGS)]] if k % 3 == 0 else [])
        tracks[tid] = {"audio": write_audio(home / "audios" / rel, k % 12, 100 + 4 * k, seed=500 + k)}
        rows.append([tid, f"artist_{k % 5:06d}", f"album_{k % 7:06d}", rel, "4.0",
                     *(f"mood/theme---{t}" for t in tags)])
    header = ["TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS"]
    _tsv(home / "data" / "autotagging_moodtheme.tsv", header, rows)
    cut1, cut2 = int(0.6 * n), int(0.75 * n)
    sides = {"train": rows[:cut1], "validation": rows[cut1:cut2], "test": rows[cut2:]}
    for split in range(5):
        for side, part in sides.items():
            _tsv(home / "data" / "splits" / f"split-{split}" / f"autotagging_moodtheme-{side}.tsv", header, part)
    return finish("mtg_jamendo_autotagging_moodtheme", root, home, tracks)


def _tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(header)
        w.writerows(rows)


def make_medley_solos_db(root: Path, n: int = 12) -> StandIn:
    home, tracks, rows = root / "medley_solos_db", {}, []
    subsets = ("training", "training", "training", "validation", "test", "training")
    for k in range(n):
        uuid, subset, inst = f"d07b1fc0-567d-52c2-fef4-{k:012d}", subsets[k % len(subsets)], k % len(INSTRUMENTS)
        name = f"Medley-solos-DB_{subset}-{inst}_{uuid}.wav"
        tracks[uuid] = {"audio": write_audio(home / "audio" / name, 3 * inst, 100.0, seconds=3.0, seed=600 + k)}
        rows.append([subset, INSTRUMENTS[inst], str(inst), str(k // 2), uuid])
    path = home / "annotation" / "Medley-solos-DB_metadata.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subset", "instrument", "instrument_id", "song_id", "uuid4"])
        w.writerows(rows)
    return finish("medley_solos_db", root, home, tracks)


def make_good_sounds(root: Path, n: int = 12) -> StandIn:
    """Single notes: two microphone takes of each sound (takes of a sound share a split group)."""
    home, tracks = root / "good_sounds", {}
    packs, sounds, takes = {}, {}, {}
    for s in range(n // 2):
        inst, semitone = INSTRUMENTS[s % len(INSTRUMENTS)], 60 + (5 * s) % 12
        pack = f"{inst}_standin_reference"
        packs[str(s % 3)] = {"id": s % 3, "name": pack, "description": "stand-in"}
        sounds[str(s)] = {"id": s, "instrument": inst, "semitone": semitone, "pack_id": s % 3, "klass": "good-sound",
                          "pitch_reference": 440, "note": "C", "octave": 4}
        for m, mic in enumerate(("akg", "neumann")):
            take = 2 * s + m
            audio = write_audio(home / "good-sounds" / "sound_files" / pack / mic / f"{take:04d}.wav", semitone % 12,
                                100.0, seconds=2.0, seed=700 + take)
            takes[str(take)] = {"id": take, "microphone": mic, "filename": f"{take:04d}.wav", "sound_id": s}
            tracks[str(take)] = {"audio": audio}
    for name, data in (("packs", packs), ("sounds", sounds), ("takes", takes), ("ratings", {})):
        write_text(home / f"{name}.json", json.dumps(data))
    return finish("good_sounds", root, home, tracks)


STANDINS: dict[str, Callable[[Path], StandIn]] = {
    "giantsteps_key": make_giantsteps_key, "beatport_key": make_beatport_key,
    "giantsteps_tempo": make_giantsteps_tempo, "gtzan_genre": make_gtzan_genre, "hainsworth": make_hainsworth,
    "mtg_jamendo_autotagging_moodtheme": make_mtg_jamendo, "medley_solos_db": make_medley_solos_db,
    "good_sounds": make_good_sounds,
}
