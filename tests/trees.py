"""Write small dataset trees in the real MedleyDB / ENST-drums / SignalTrain layouts, for tests.

Audio is real WAV written with soundfile: deterministic noise (seeded per file) with a few
silent tracks, so loudness and silence statistics have something to measure. Other test
modules may import these helpers.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

MEDLEYDB_METADATA = Path(__file__).resolve().parents[1].parent / "shared" / "medleydb_metadata"


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def write_wav(path, frames: int, channels: int = 1, sr: int = 44100, subtype: str = "PCM_16",
              silent: bool = False, level: float = 0.3) -> Path:
    """Write deterministic noise (or digital silence) to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(_seed(str(path.name)))
    x = np.zeros((frames, channels), dtype=np.float64) if silent else rng.uniform(-level, level, (frames, channels))
    sf.write(str(path), x, sr, subtype=subtype, format="WAV")
    return path


def truncate_file(path, keep_fraction: float = 0.6) -> None:
    """Cut a file's tail off, keeping its header: the header then promises more than the file holds."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: max(60, int(len(data) * keep_fraction))])


# ----------------------------------------------------------------------------- MedleyDB

def medleydb_yaml(song: str, stems: list[dict], has_bleed: str = "no", genre: str = "Rock") -> dict:
    """A METADATA document in MedleyDB's format. ``stems``: [{"instrument": str|list, "raw": [instr, ...]}]."""
    doc = {"album": "", "artist": song.split("_")[0], "composer": [], "excerpt": "no", "genre": genre,
           "has_bleed": has_bleed, "instrumental": "no", "mix_filename": f"{song}_MIX.wav", "origin": "test",
           "producer": [], "raw_dir": f"{song}_RAW", "stem_dir": f"{song}_STEMS", "title": song.split("_")[-1],
           "version": 1.2, "website": [], "stems": {}}
    for i, s in enumerate(stems, 1):
        raw = {f"R{j:02d}": {"filename": f"{song}_RAW_{i:02d}_{j:02d}.wav", "instrument": r}
               for j, r in enumerate(s.get("raw", []), 1)}
        doc["stems"][f"S{i:02d}"] = {"component": "", "filename": f"{song}_STEM_{i:02d}.wav",
                                     "instrument": s["instrument"], "raw": raw}
    return doc


@lru_cache(maxsize=8)
def _blob(frames: int, channels: int, sr: int, subtype: str) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(frames * 10 + channels)
    sf.write(buf, rng.uniform(-0.3, 0.3, (frames, channels)), sr, subtype=subtype, format="WAV")
    return buf.getvalue()


def write_medleydb_song(root, song: str, meta: dict, seconds: float = 0.05, sr: int = 44100,
                        subtype: str = "PCM_24", silent_stems: tuple[int, ...] = (), with_raw: bool = True,
                        fast: bool = False, write_yaml: bool = True) -> Path:
    """Write ``root/<song>/`` from a METADATA document (file names taken from it). ``fast`` writes one
    pre-encoded noise file everywhere (same bytes in every file) instead of per-file noise."""
    d = Path(root) / song
    d.mkdir(parents=True, exist_ok=True)
    if write_yaml:
        (d / f"{song}_METADATA.yaml").write_text(yaml.safe_dump(meta, sort_keys=True))
    n = int(round(seconds * sr))

    def put(path, channels, silent=False):
        if fast and not silent:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_blob(n, channels, sr, subtype))
        else:
            write_wav(path, n, channels, sr, subtype, silent=silent)

    put(d / meta["mix_filename"], 2)
    for i, sk in enumerate(sorted(meta["stems"])):
        s = meta["stems"][sk]
        put(d / meta["stem_dir"] / s["filename"], 2, silent=i in silent_stems)
        if with_raw:
            for rk in sorted(s.get("raw") or {}):
                put(d / meta["raw_dir"] / s["raw"][rk]["filename"], 1)
    return d


def medleydb_tree(home, n_songs: int = 4, n_stems=(2, 3, 5, 9), seconds: float = 1.0, root: str = "Audio",
                  subtype: str = "PCM_24", sr: int = 44100) -> list[str]:
    """Small synthetic MedleyDB copy under ``home/root`` with the format's quirks (list-valued
    instrument, 'yes'/'no' strings). Returns the song names."""
    songs = []
    for k in range(n_songs):
        song = f"Artist{k}_Song{k}"
        ns = n_stems[k % len(n_stems)]
        stems = [{"instrument": (["electric bass", "double bass"] if i == 1 else f"instrument {i}"),
                  "raw": [f"instrument {i}"] * (1 + i % 2)} for i in range(ns)]
        write_medleydb_song(Path(home) / root, song, medleydb_yaml(song, stems, has_bleed=("yes" if k % 2 else "no")),
                            seconds=seconds, sr=sr, subtype=subtype, silent_stems=(ns - 1,))
        songs.append(song)
    return songs


def medleydb_tree_from_metadata(home, metadata_dir=MEDLEYDB_METADATA, seconds: float = 0.05,
                                with_raw: bool = False, subtype: str = "PCM_16") -> list[str]:
    """A MedleyDB copy made from every real ``*_METADATA.yaml``: V1 songs under ``Audio/``, V2 songs
    under ``V2/``, the YAML copied unchanged into each song folder, very short generated audio."""
    metadata_dir = Path(metadata_dir)
    v2 = set((metadata_dir / "tracklist_v2.txt").read_text().split()) if (metadata_dir / "tracklist_v2.txt").exists() else set()
    songs = []
    for ypath in sorted((metadata_dir / "Metadata").glob("*_METADATA.yaml")):
        song = ypath.name[: -len("_METADATA.yaml")]
        meta = yaml.load(ypath.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        root = Path(home) / ("V2" if song in v2 else "Audio")
        d = write_medleydb_song(root, song, meta, seconds=seconds, subtype=subtype, with_raw=with_raw, fast=True,
                                write_yaml=False)
        shutil.copyfile(ypath, d / ypath.name)  # the real file, byte for byte
        songs.append(song)
    return songs


# ----------------------------------------------------------------------------- ENST-drums

ENST_MICS = ("hi-hat", "kick", "overhead_L", "overhead_R", "snare", "tom_1", "tom_2")


def enst_tree(home, takes_per_drummer: int = 5, seconds: float = 0.5, tom3=("drummer_2",),
              drummers=("drummer_1", "drummer_2", "drummer_3"), sr: int = 44100) -> dict[str, list[str]]:
    """ENST-drums copy: ``drummer_N/audio/<channel>/<take>.wav`` with mono mics, stereo dry/wet mixes,
    ``tom_3`` only for the drummers in ``tom3``, and an ``accompaniment`` folder. Returns takes per drummer."""
    out = {}
    n = int(round(seconds * sr))
    for d in drummers:
        mics = ENST_MICS + (("tom_3",) if d in tom3 else ())
        takes = [f"{k + 1:03d}_phrase_rock_simple_medium_sticks" if k % 2 else f"{k + 1:03d}_hits_snare-drum_sticks_x6"
                 for k in range(takes_per_drummer)]
        for t in takes:
            adir = Path(home) / d / "audio"
            for m in mics:
                write_wav(adir / m / f"{t}.wav", n, 1, sr, "PCM_16", silent=(m == "tom_2"))
            for mix in ("dry_mix", "wet_mix"):
                write_wav(adir / mix / f"{t}.wav", n, 2, sr, "PCM_16")
            write_wav(adir / "accompaniment" / f"{t}.wav", n, 2, sr, "PCM_16")
        out[d] = takes
    return out


# ----------------------------------------------------------------------------- SignalTrain

def signaltrain_tree(home, pairs=None, seconds: float = 0.5, sr: int = 44100, subtype: str = "FLOAT") -> list[str]:
    """SignalTrain LA2A copy: ``{Train,Val,Test}/input_<id>_.wav`` + ``target_<id>_LA2A_<unit>__<0|1>__<pr>.wav``.
    ``pairs``: {split folder: [(id, limit, peak_reduction), ...]}. Returns the ids."""
    pairs = pairs or {"Train": [(1, 0, 40), (2, 1, 65), (3, 0, 90), (4, 1, 10)], "Val": [(5, 0, 55)], "Test": [(6, 1, 75)]}
    n = int(round(seconds * sr))
    ids = []
    for split, rows in pairs.items():
        for pid, limit, pr in rows:
            write_wav(Path(home) / split / f"input_{pid}_.wav", n, 1, sr, subtype)
            write_wav(Path(home) / split / f"target_{pid}_LA2A_3c__{limit}__{pr}.wav", n, 1, sr, subtype, level=0.1)
            ids.append(str(pid))
    return ids
