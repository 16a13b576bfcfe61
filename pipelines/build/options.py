"""``dmcdata build`` options: the command line, the checks argparse cannot make, and the
``build.json`` record of everything that decides a build's output (a rerun must match it)."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

from pipelines.ray_runtime import add_ray_arguments


DATASETS = {"medleydb": "medleydb", "enst-drums": "enst_drums", "signaltrain": "signaltrain"}
SPLITS = ("train", "val", "test")
EXPECTED_RATE = 44100
PARTS_DIR = ".parts"
FINAL_FILES = ("manifest.parquet", "shards.parquet", "rejects.parquet", "dataset_card.md")
CONFIG_FILE = "build.json"  # the options of the build in this folder: a rerun must match them


class BuildError(Exception):
    """A build that cannot go on (bad option, unusable data home, --strict with rejects)."""


def parse_shard_size(text: str) -> tuple[str, int]:
    """``'256MB'`` -> ``('bytes', 256_000_000)``; ``'100'`` -> ``('samples', 100)``.

    Byte units: B, KB, MB, GB (powers of 1000) and KiB, MiB, GiB (powers of 1024).
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*", text, flags=re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"--shard-size {text!r}: use a sample count like 100 or bytes like 256MB")
    value, unit = float(m.group(1)), (m.group(2) or "").upper()
    if not unit:
        if value != int(value) or value < 1:
            raise argparse.ArgumentTypeError(f"--shard-size {text!r}: a sample count must be a whole number >= 1")
        return ("samples", int(value))
    mult = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}[unit]
    n = int(value * mult)
    if n < 1:
        raise argparse.ArgumentTypeError(f"--shard-size {text!r} must be at least 1 byte")
    return ("bytes", n)


def parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or not math.isclose(sum(parts), 1.0, abs_tol=1e-6):
        raise argparse.ArgumentTypeError(f"--split-fractions {text!r}: give train,val,test fractions summing to 1, e.g. 0.8,0.1,0.1")
    return parts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", choices=list(DATASETS), help="which dataset to ingest")
    p.add_argument("--data-home", default=None,
                   help="the dataset copy; default $MEDLEYDB_PATH / $ENST_DRUMS_PATH / $SIGNALTRAIN_PATH, "
                        "else ~/mir_datasets/<medleydb|enst_drums|signaltrain>. MedleyDB: a folder with Audio/ "
                        "or V1/ and V2/, or the folder of song folders")
    p.add_argument("--out", required=True, help="output folder (shards, manifest.parquet, shards.parquet, "
                                                "rejects.parquet, dataset_card.md); rerunning resumes")
    p.add_argument("--max-tracks", type=int, default=None,
                   help="keep only songs/takes with at most N input tracks (MedleyDB counts the kind chosen by "
                        "--tracks; ENST counts microphones; not for signaltrain). Thesis subsets: 5, 8, 16")
    p.add_argument("--tracks", choices=("stems", "raw"), default="stems",
                   help="MedleyDB input tracks: the stems or the raw recordings (ignored for other datasets)")
    p.add_argument("--segment-seconds", type=float, default=10.0,
                   help="cut songs into segments of this many seconds (0: one sample per whole song/take/pair)")
    p.add_argument("--min-segment-seconds", type=float, default=0.0,
                   help="drop a song's last segment when shorter than this (0 keeps every tail)")
    p.add_argument("--shard-size", type=parse_shard_size, default="256MB",
                   help="target shard size: a sample count (e.g. 100) or bytes (e.g. 256MB, 1GiB) measured as "
                        "uncompressed PCM, so FLAC shards come out smaller")
    p.add_argument("--split-fractions", "--split", type=parse_fractions, default="0.8,0.1,0.1",
                   help="train,val,test fractions: MedleyDB song-disjoint; ENST per drummer (every drummer in "
                        "every split); SignalTrain always keeps its own Train/Val/Test")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and of the sample order")
    p.add_argument("--order", choices=("shuffled", "sequential"), default="shuffled",
                   help="sample order inside each split: seeded shuffle (mixes songs within shards) or by song")
    p.add_argument("--codec", choices=("flac", "wav"), default="flac",
                   help="lossless member format: FLAC (same bit depth as the source; float or 32-bit sources "
                        "stay WAV) or WAV with the source's subtype")
    p.add_argument("--sample-rate", type=int, default=EXPECTED_RATE,
                   help="sample rate every file must have (Hz); other rates are rejected")
    p.add_argument("--silence-db", type=float, default=-60.0,
                   help="a track segment whose sample peak stays below this (dBFS) is flagged silent")
    p.add_argument("--strict", action="store_true", help="fail (exit 2) if anything is rejected")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_ray_arguments(p)


def check_options(cfg) -> None:
    """Reject option values argparse lets through; raises :class:`BuildError` naming the option."""
    for name in ("segment_seconds", "min_segment_seconds"):
        v = getattr(cfg, name)
        if not math.isfinite(v) or v < 0:
            raise BuildError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v}")
    if cfg.segment_seconds > 0 and cfg.min_segment_seconds > cfg.segment_seconds:
        raise BuildError(f"--min-segment-seconds {cfg.min_segment_seconds:g} is longer than --segment-seconds "
                         f"{cfg.segment_seconds:g}: every segment would be dropped")
    if cfg.max_tracks is not None and cfg.max_tracks < 1:
        raise BuildError(f"--max-tracks must be at least 1, got {cfg.max_tracks}")
    if cfg.sample_rate < 1:
        raise BuildError(f"--sample-rate must be a positive number of Hz, got {cfg.sample_rate}")
    if math.isnan(cfg.silence_db):
        raise BuildError("--silence-db must be a number of dBFS, got nan")
    if cfg.workers < 1:
        raise BuildError(f"--workers must be at least 1, got {cfg.workers}")


def build_config(dataset: str, home: str, cfg) -> dict:
    """Everything that decides a build's output (recorded in ``build.json``; a rerun must match it)."""
    return {"format": 1, "tool": "dmcdata build", "dataset": dataset, "data_home": str(Path(home).resolve()),
            "tracks": cfg.tracks if dataset == "medleydb" else None, "max_tracks": cfg.max_tracks,
            "segment_seconds": cfg.segment_seconds, "min_segment_seconds": cfg.min_segment_seconds,
            "shard_size": list(cfg.shard_size), "split_fractions": list(cfg.split_fractions), "seed": cfg.seed,
            "order": cfg.order, "codec": cfg.codec, "sample_rate": cfg.sample_rate, "silence_db": cfg.silence_db}


def config_bytes(config: dict) -> bytes:
    return (json.dumps(config, sort_keys=True, indent=1) + "\n").encode()


OPTION_NAMES = {"data_home": "--data-home", "tracks": "--tracks", "max_tracks": "--max-tracks",
                "segment_seconds": "--segment-seconds", "min_segment_seconds": "--min-segment-seconds",
                "shard_size": "--shard-size", "split_fractions": "--split-fractions", "seed": "--seed",
                "order": "--order", "codec": "--codec", "sample_rate": "--sample-rate", "silence_db": "--silence-db"}
