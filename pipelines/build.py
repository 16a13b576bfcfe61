"""``dmcdata build {medleydb,enst-drums,signaltrain}``: datasets -> WebDataset shards + Parquet manifests.

Stages (all deterministic, so the same inputs and seed give byte-identical output whatever the
number of workers, and a killed build resumes to exactly the output of an uninterrupted one):

1. scan  - the dataset's loader indexes the user's copy (file names from the metadata);
           unusable items (malformed YAML, missing channel, unpaired file) become rejects.
2. select/split - items are filtered (``--max-tracks``) and assigned to train/val/test by a
           seeded hash order over every item found (so a subset never reshuffles the split).
3. probe - one Ray task per chunk of items reads only the audio headers: missing, truncated,
           wrong sample rate, different lengths -> the item is rejected with the reason.
4. plan  - items are cut into segments, samples ordered (seeded) and packed into shards
           ``<dataset>-<split>-NNNNNN.tar`` by sample count or by uncompressed PCM bytes.
5. shards - one Ray task per shard reads the segments bit-exactly, encodes them losslessly,
           computes loudness / silence statistics, writes the tar atomically, then writes its
           manifest part ``.parts/<shard>.json`` atomically. On a rerun a shard whose part
           matches the plan and whose file re-hashes to the recorded sha256 is skipped.
6. finish - ``shards.parquet``, ``rejects.parquet``, ``dataset_card.md`` and, last,
           ``manifest.parquet`` (its presence marks a complete build).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import shlex
import sys
import time
from pathlib import Path

from pipelines.ray_runtime import RayStartError, add_ray_arguments, ray_session

DATASETS = {"medleydb": "medleydb", "enst-drums": "enst_drums", "signaltrain": "signaltrain"}
SPLITS = ("train", "val", "test")
EXPECTED_RATE = 44100
PARTS_DIR = ".parts"
FINAL_FILES = ("manifest.parquet", "shards.parquet", "rejects.parquet", "dataset_card.md")
CONFIG_FILE = "build.json"  # the options of the build in this folder: a rerun must match them


class BuildError(Exception):
    """A build that cannot go on (bad option, unusable data home, --strict with rejects)."""


# ----------------------------------------------------------------------------- options

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


# ----------------------------------------------------------------------------- items

def stable_order(ids, seed: int, salt: str = "") -> list[str]:
    """``ids`` sorted by sha256(seed, salt, id): a seeded shuffle that is stable across platforms."""
    return sorted(ids, key=lambda i: hashlib.sha256(f"{seed}\x00{salt}\x00{i}".encode()).hexdigest())


def split_counts(n: int, fractions, at_least_one: bool = True) -> tuple[int, int, int]:
    """Items per split. With ``at_least_one`` and n >= 3, a split with a non-zero fraction gets an item."""
    n_val = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    if at_least_one and n >= 3:
        n_val = max(1, n_val) if fractions[1] > 0 else 0
        n_test = max(1, n_test) if fractions[2] > 0 else 0
    n_val = min(n_val, n)
    n_test = min(n_test, n - n_val)
    return n - n_val - n_test, n_val, n_test


def assign(ordered: list[str], counts) -> dict[str, str]:
    out, i = {}, 0
    for split, c in zip(SPLITS, counts):
        for item in ordered[i:i + c]:
            out[item] = split
        i += c
    return out


def reject(dataset: str, song: str, file, reason: str) -> dict:
    return {"dataset": dataset, "song": song, "file": None if file is None else str(file), "reason": reason}


def medleydb_items(home: str, cfg) -> tuple[list[dict], list[dict]]:
    from dmcdata.loaders import medleydb

    ds = medleydb.Dataset(home, checksums=False)
    rejects = [reject("medleydb", p.item, p.file, p.reason) for p in ds.problems]
    all_ids = sorted(set(ds.mtrack_ids) | {p.item for p in ds.problems})
    splits = assign(stable_order(all_ids, cfg.seed, "medleydb"), split_counts(len(all_ids), cfg.split_fractions))
    kind = "stem" if cfg.tracks == "stems" else "raw"
    items = []
    for song in ds.mtrack_ids:
        mt = ds.multitrack(song)
        tracks = mt.input_tracks(cfg.tracks)
        if not tracks or (cfg.max_tracks is not None and len(tracks) > cfg.max_tracks):
            continue
        items.append({
            "id": song, "split": splits[song],
            "sources": [{"member": f"t{i:02d}", "path": t.audio_path, "name": tid, "instrument": t.instrument,
                         "kind": kind, "role": "track"} for i, (tid, t) in enumerate(tracks.items())]
            + [{"member": "mix", "path": mt.mix_path, "role": "mix"}],
            "meta": {"artist": mt.artist, "genre": mt.genre, "has_bleed": mt.has_bleed},
            "json": {"artist": mt.artist, "title": mt.title, "genre": mt.genre, "has_bleed": mt.has_bleed,
                     "instruments_all": {tid: t.instruments for tid, t in tracks.items()}},
        })
    return items, rejects


def enst_items(home: str, cfg) -> tuple[list[dict], list[dict]]:
    from dmcdata.loaders import enst_drums

    ds = enst_drums.Dataset(home, checksums=False)
    rejects = [reject("enst_drums", p.item, p.file, p.reason) for p in ds.problems]
    # per drummer, over every take found (rejected ones too), so faults never move other takes
    by_drummer: dict[str, list[str]] = {}
    for mid in sorted(set(ds.mtrack_ids) | {p.item for p in ds.problems}):
        m = re.match(r"^(drummer_[^_]+)_", mid)
        by_drummer.setdefault(m.group(1) if m else "", []).append(mid)
    splits = {}
    for drummer, mids in sorted(by_drummer.items()):
        splits.update(assign(stable_order(mids, cfg.seed, drummer),
                             split_counts(len(mids), cfg.split_fractions)))
    items = []
    for mid in ds.mtrack_ids:
        mt = ds.multitrack(mid)
        tracks = mt.tracks
        if cfg.max_tracks is not None and len(tracks) > cfg.max_tracks:
            continue
        sources = [{"member": f"t{i:02d}", "path": t.audio_path, "name": t.mic, "instrument": t.instrument,
                    "kind": "mic", "role": "track"} for i, t in enumerate(tracks.values())]
        sources.append({"member": "mix", "path": mt.mix_path, "role": "mix"})
        if mt.dry_mix_path:
            sources.append({"member": "dry_mix", "path": mt.dry_mix_path, "role": "extra"})
        items.append({"id": mid, "split": splits[mid], "sources": sources,
                      "meta": {"drummer": mt.drummer, "take": mt.take},
                      "json": {"drummer": mt.drummer, "take": mt.take, "mix_kind": "wet_mix"}})
    return items, rejects


def signaltrain_items(home: str, cfg) -> tuple[list[dict], list[dict]]:
    from dmcdata.loaders import signaltrain

    if cfg.max_tracks is not None:
        raise BuildError("--max-tracks does not apply to signaltrain (every sample is one input/target pair)")
    ds = signaltrain.Dataset(home, checksums=False)
    rejects = [reject("signaltrain", p.item, p.file, p.reason) for p in ds.problems]
    items = []
    for pid in ds.track_ids:
        t = ds.track(pid)
        items.append({"id": pid, "split": t.split,
                      "sources": [{"member": "input", "path": t.input_path, "role": "input"},
                                  {"member": "target", "path": t.target_path, "role": "target"}],
                      "meta": {"unit": t.unit, "limit": t.limit, "peak_reduction": t.peak_reduction},
                      "json": {"unit": t.unit, "limit": t.limit, "peak_reduction": t.peak_reduction}})
    return items, rejects


ITEM_BUILDERS = {"medleydb": medleydb_items, "enst_drums": enst_items, "signaltrain": signaltrain_items}


# ----------------------------------------------------------------------------- probe

def probe_item(item: dict, dataset: str, sample_rate: int) -> tuple[dict | None, dict | None]:
    """Read the headers of an item's files: ``(item with frames/subtypes, None)`` or ``(None, reject)``."""
    from dmcdata import audio

    infos = []
    for s in item["sources"]:
        try:
            info = audio.probe(s["path"])
        except audio.AudioError as e:
            return None, reject(dataset, item["id"], s["path"], str(e))
        if info.sample_rate != sample_rate:
            return None, reject(dataset, item["id"], s["path"],
                                f"wrong sample rate: {info.sample_rate} Hz, expected {sample_rate} Hz")
        if info.frames == 0:
            return None, reject(dataset, item["id"], s["path"], "empty audio file (0 frames)")
        bad_channels = channel_problem(s["role"], info.channels)
        if bad_channels:
            return None, reject(dataset, item["id"], s["path"], bad_channels)
        infos.append(info)
    roles = {s["role"]: i.channels for s, i in zip(item["sources"], infos)}
    if "input" in roles and "target" in roles and roles["input"] != roles["target"]:
        return None, reject(dataset, item["id"], item["sources"][1]["path"],
                            f"input has {roles['input']} channel(s), target {roles['target']}: a pair must match")
    frames = {i.frames for i in infos}
    if len(frames) > 1:
        ref = infos[0]
        odd = next(i for i in infos if i.frames != ref.frames)
        return None, reject(dataset, item["id"], odd.path,
                            f"files of different lengths: {Path(odd.path).name} has {odd.frames} frames, "
                            f"{Path(ref.path).name} has {ref.frames}")
    out = dict(item)
    out["frames"] = infos[0].frames
    out["sample_rate"] = sample_rate
    out["sources"] = [dict(s, subtype=i.subtype, channels=i.channels, bytes_per_frame=i.channels * i.bytes_per_sample,
                           file_size=os.path.getsize(s["path"]), mtime_ns=os.stat(s["path"]).st_mtime_ns)
                      for s, i in zip(item["sources"], infos)]
    return out, None


# channels each role may have (the shapes the streaming datasets document): a mix (and ENST's
# dry mix) is stereo; an input track, a SignalTrain input or target is mono or stereo. Anything
# else is rejected, never converted (a converted file would no longer be bit-exact).
ROLE_CHANNELS = {"mix": (2,), "extra": (2,), "track": (1, 2), "input": (1, 2), "target": (1, 2)}


def channel_problem(role: str, channels: int) -> str | None:
    allowed = ROLE_CHANNELS.get(role, (1, 2))
    if channels in allowed:
        return None
    want = " or ".join({1: "mono", 2: "stereo"}.get(c, str(c)) for c in allowed)
    what = {"mix": "the mix", "extra": "the dry mix", "track": "an input track"}.get(role, f"the {role}")
    return f"wrong channel count: {what} has {channels} channel(s), expected {want} (rejected, not converted)"


def probe_chunk(items: list[dict], dataset: str, sample_rate: int) -> list[tuple]:
    out = [probe_item(it, dataset, sample_rate) for it in items]
    warm_up()
    return out


def warm_up() -> None:
    """Load the numba loudness kernel (from its on-disk cache) while the worker is probing."""
    import numpy as np

    from dmcdata import stats

    for dtype in (np.int16, np.int32, np.float32):
        stats.integrated_loudness(np.zeros((17640, 1), dtype), 44100)


# ----------------------------------------------------------------------------- plan

def plan_shards(items: list[dict], dataset: str, cfg) -> list[dict]:
    """Segments -> ordered samples -> shards. Returns shard specs ``{"shard", "split", "samples"}``."""
    from dmcdata.shards import safe_key_part

    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for it in items:
        n, sr = it["frames"], it["sample_rate"]
        seg = int(round(cfg.segment_seconds * sr)) if cfg.segment_seconds > 0 else n
        min_seg = int(round(cfg.min_segment_seconds * sr))
        starts = list(range(0, n, seg))
        for k, start in enumerate(starts):
            frames = min(seg, n - start)
            if frames < max(min_seg, 1):
                continue
            key = f"{dataset}-{safe_key_part(it['id'])}-{k:06d}"
            by_split[it["split"]].append({"key": key, "item": it, "segment": k, "start": start, "frames": frames})
    kind, limit = cfg.shard_size
    out = []
    for split in SPLITS:
        samples = by_split[split]
        if cfg.order == "shuffled":
            pos = {s["key"]: s for s in samples}
            samples = [pos[k] for k in stable_order(pos, cfg.seed, f"order-{split}")]
        groups, current, used = [], [], 0
        for s in samples:
            cost = 1 if kind == "samples" else s["frames"] * sum(src["bytes_per_frame"] for src in s["item"]["sources"])
            if current and used + cost > limit:
                groups.append(current)
                current, used = [], 0
            current.append(s)
            used += cost
        if current:
            groups.append(current)
        for i, group in enumerate(groups):
            out.append({"shard": f"{dataset}-{split}-{i:06d}.tar", "split": split,
                        "samples": [sample_spec(s) for s in group]})
    return out


def sample_spec(s: dict) -> dict:
    it = s["item"]
    return {"key": s["key"], "id": it["id"], "split": it["split"], "segment": s["segment"], "start": s["start"],
            "frames": s["frames"], "sample_rate": it["sample_rate"], "sources": it["sources"],
            "meta": it["meta"], "json": it["json"]}


def fingerprint(spec: dict, dataset: str, cfg) -> str:
    """Hash of everything that decides a shard's bytes (plan, source files' size/mtime, options)."""
    doc = {"dataset": dataset, "codec": cfg.codec, "silence_db": cfg.silence_db, "spec": spec, "v": 1}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


# ----------------------------------------------------------------------------- shard task

def encode_sample(s: dict, dataset: str, codec: str, silence_db: float) -> tuple[dict, dict]:
    """Read, encode and measure one sample: ``(members {ext: bytes}, statistics)``."""
    from dmcdata import audio, stats

    members, track_entries, st = {}, [], {"track_loudness_lufs": [], "track_silent": []}
    for src in s["sources"]:
        data = audio.read_segment(src["path"], s["start"], s["frames"], subtype=src["subtype"])
        ext, blob = audio.encode(data, s["sample_rate"], src["subtype"], codec)
        name = f"{src['member']}.{ext}"
        members[name] = blob
        lufs = stats.integrated_loudness(data, s["sample_rate"])
        silent = stats.is_silent(data, silence_db)
        role = src["role"]
        if role == "track":
            track_entries.append({"name": src["name"], "instrument": src["instrument"], "kind": src["kind"],
                                  "channels": src["channels"], "member": name})
            st["track_loudness_lufs"].append(lufs)
            st["track_silent"].append(silent)
        else:
            st[f"{src['member']}_member"] = name
            st[f"{src['member']}_loudness_lufs"] = lufs
            st[f"{src['member']}_silent"] = silent
            st[f"{src['member']}_channels"] = src["channels"]
    doc = {"dataset": dataset, "song": s["id"], "segment": s["segment"], "start": s["start"], "frames": s["frames"],
           "sample_rate": s["sample_rate"], "split": s["split"]}
    if dataset == "signaltrain":
        doc.update({"id": s["id"], "input": st["input_member"], "target": st["target_member"]})
    else:
        doc.update({"tracks": track_entries, "mix": st.get("mix_member")})
        if "dry_mix_member" in st:
            doc["dry_mix"] = st["dry_mix_member"]
    doc.update(s["json"])
    members["json"] = json.dumps(doc, sort_keys=True, ensure_ascii=False, allow_nan=False).encode()
    return members, st


def manifest_row(s: dict, dataset: str, shard: str, members: dict, st: dict) -> dict:
    sha = hashlib.sha256()
    for ext in sorted(members):
        sha.update(members[ext])
    row = {"key": s["key"], "dataset": dataset, "split": s["split"], "song": s["id"], "segment": s["segment"],
           "start": s["start"], "frames": s["frames"], "start_s": s["start"] / s["sample_rate"],
           "duration_s": s["frames"] / s["sample_rate"], "sample_rate": s["sample_rate"], "shard": shard,
           "member_sizes": json.dumps({k: len(v) for k, v in sorted(members.items())}, sort_keys=True),
           "sha256": sha.hexdigest()}
    if dataset == "signaltrain":
        row.update({"n_tracks": 1, "instruments": [], "channels": s["sources"][0]["channels"],
                    "input_loudness_lufs": st["input_loudness_lufs"], "target_loudness_lufs": st["target_loudness_lufs"],
                    "input_silent": st["input_silent"], "target_silent": st["target_silent"], **s["meta"]})
    else:
        tracks = [src for src in s["sources"] if src["role"] == "track"]
        row.update({"n_tracks": len(tracks), "track_kind": tracks[0]["kind"],
                    "track_names": [t["name"] for t in tracks], "instruments": [t["instrument"] for t in tracks],
                    "track_channels": [t["channels"] for t in tracks],
                    "mix_loudness_lufs": st["mix_loudness_lufs"], "mix_silent": st["mix_silent"],
                    "track_loudness_lufs": st["track_loudness_lufs"], "track_silent": st["track_silent"],
                    "n_silent_tracks": sum(st["track_silent"]),
                    "artist": None, "genre": None, "has_bleed": None, "drummer": None, "take": None, **s["meta"]})
    return row


def write_shard(spec: dict, out: str, dataset: str, codec: str, silence_db: float, fp: str) -> dict:
    """Write one shard and its manifest part, both atomically. Returns the part document."""
    from dmcdata import audio
    from dmcdata.shards import ShardWriter, write_atomic

    t0 = time.perf_counter()
    rows, rejects = [], []
    # ShardWriter and write_atomic use private temporary names: a task left running by a killed
    # driver never shares a file with the rerun's task; both write identical bytes, the last rename wins
    with ShardWriter(Path(out) / spec["shard"]) as w:
        for s in spec["samples"]:
            try:
                members, st = encode_sample(s, dataset, codec, silence_db)
            except audio.AudioError as e:
                rejects.append(reject(dataset, s["id"], None, f"segment {s['segment']}: {e}"))
                continue
            w.write(s["key"], members)
            rows.append(manifest_row(s, dataset, spec["shard"], members, st))
    info = w.close()
    part = {"fingerprint": fp, "shard": {"shard": spec["shard"], "size": info.size, "n_samples": info.n_samples,
                                         "sha256": info.sha256}, "rows": rows, "rejects": rejects,
            "seconds": round(time.perf_counter() - t0, 3)}
    write_atomic(Path(out) / PARTS_DIR / (spec["shard"] + ".json"), part_bytes(part))
    return part


def part_bytes(part: dict) -> bytes:
    doc = {k: v for k, v in part.items() if k != "seconds"}  # timing would break byte-identical reruns
    return json.dumps(doc, sort_keys=True, allow_nan=True).encode()


def load_done_part(out: Path, spec: dict, fp: str) -> dict | None:
    """The recorded part of a finished shard if it matches the plan and the shard re-hashes."""
    from dmcdata.shards import sha256_file

    ppath = out / PARTS_DIR / (spec["shard"] + ".json")
    spath = out / spec["shard"]
    if not ppath.is_file() or not spath.is_file():
        return None
    try:
        part = json.loads(ppath.read_bytes())
    except (OSError, json.JSONDecodeError):
        return None
    if part.get("fingerprint") != fp or part["shard"]["size"] != spath.stat().st_size:
        return None
    if sha256_file(spath) != part["shard"]["sha256"]:
        return None
    return part


# ----------------------------------------------------------------------------- finish

def canonical_command(argv: list[str]) -> str:
    """The command line without options that cannot change the output (workers, Ray address, progress)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--workers", "--ray-address"):
            skip = True
            continue
        if a.startswith(("--workers=", "--ray-address=")) or a == "--no-progress":
            continue
        out.append(a)
    return "dmcdata " + " ".join(shlex.quote(a) for a in out)


def versions() -> dict:
    import numpy
    import pyarrow
    import soundfile

    import dmcdata

    return {"dmc": getattr(dmcdata, "__version__", "0.1.0"), "python": platform.python_version(),
            "numpy": numpy.__version__, "pyarrow": pyarrow.__version__, "soundfile": soundfile.__version__,
            "libsndfile": soundfile.__libsndfile_version__}


DISPLAY = {"medleydb": "MedleyDB", "enst_drums": "ENST-drums", "signaltrain": "SignalTrain LA2A"}


def source_info(dataset: str) -> tuple[str, str]:
    """(licence, BibTeX) of the source dataset, from its loader."""
    import importlib

    mod = importlib.import_module(f"dmcdata.loaders.{dataset}")
    return mod.LICENSE, mod.BIBTEX


def dataset_card(dataset: str, rows: list[dict], n_shards: int, rejects: list[dict], cfg, command: str) -> str:
    """A Markdown card: what was built from what, how to read it, the options, versions and rejects."""
    from collections import Counter

    licence, bibtex = source_info(dataset)
    unit = "pairs" if dataset == "signaltrain" else ("takes" if dataset == "enst_drums" else "songs")
    lines = [f"# {DISPLAY[dataset]} shards", "",
             f"Built with `{command}`.", "",
             f"Source: {DISPLAY[dataset]} (licence: {licence}). The shards hold its audio unchanged (lossless, "
             f"bit-exact), so the same licence applies to them; cite the dataset (BibTeX below).", "",
             "## Contents", "",
             f"| split | samples | {unit} | hours | shards |", "|---|---:|---:|---:|---:|"]
    for split in SPLITS:
        r = [x for x in rows if x["split"] == split]
        hours = sum(x["duration_s"] for x in r) / 3600
        lines.append(f"| {split} | {len(r)} | {len({x['song'] for x in r})} | {hours:.4f} | "
                     f"{len({x['shard'] for x in r})} |")
    total_h = sum(x["duration_s"] for x in rows) / 3600
    n_rej = len({x["song"] for x in rejects})
    lines += ["", f"Total: {len(rows)} samples from {len({x['song'] for x in rows})} {unit}, {total_h:.4f} hours of "
                  f"audio, {n_shards} shards; {n_rej} {unit} rejected" + (" (listed below)." if n_rej else "."), ""]
    one = unit[:-1]
    seg = (f"a {cfg.segment_seconds:g} s segment of one {one} (its last, shorter segment is kept"
           + (f" unless under {cfg.min_segment_seconds:g} s)" if cfg.min_segment_seconds > 0 else ")")
           if cfg.segment_seconds > 0 else f"one whole {one}")
    fractions = "/".join(f"{f:g}" for f in cfg.split_fractions)
    if dataset == "signaltrain":
        lines += [f"One sample = {seg}: input and LA-2A target. Split: the dataset's own Train/Val/Test.", ""]
    else:
        kind = {"medleydb": f"the {cfg.tracks}", "enst_drums": "the microphones"}[dataset]
        cap = f" ({unit} with at most {cfg.max_tracks} of them)" if cfg.max_tracks is not None else ""
        how = ("song-disjoint" if dataset == "medleydb" else "per drummer, over takes")
        lines += [f"One sample = {seg}: input tracks = {kind}{cap}, plus the reference mix. "
                  f"Split: {how}, train/val/test {fractions}, seed {cfg.seed}.", ""]
    if dataset != "signaltrain" and rows:
        per_song = {x["song"]: x for x in rows}
        c = Counter(i for x in per_song.values() for i in x["instruments"])
        nt = Counter(x["n_tracks"] for x in per_song.values())
        lines += [f"{unit.capitalize()} by number of input tracks: "
                  + ", ".join(f"{k} tracks: {v}" for k, v in sorted(nt.items())), "",
                  f"Input tracks per instrument (over the {len(per_song)} {unit}):", ""]
        lines += [f"- {name}: {n}" for name, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]
        lines += [""]
    members = ("`<key>.input.*`, `<key>.target.*`" if dataset == "signaltrain" else
               "`<key>.t00.flac`, `<key>.t01.flac`, ... (one per input track, in the order of the JSON's "
               "`tracks`), `<key>.mix.flac`" + (", `<key>.dry_mix.flac`" if dataset == "enst_drums" else ""))
    lines += ["## Files", "",
              f"- `{dataset}-<split>-NNNNNN.tar`: WebDataset shards (plain tar). Sample `<key>` = `<key>.json` "
              f"(metadata) and {members}; FLAC keeps the source's bit depth, float sources are float32 WAV.",
              "- `manifest.parquet`: one row per sample (key, split, song, position, tracks, instruments, "
              "loudness, silence, shard, sha256); select with pandas, e.g. "
              "`pd.read_parquet(\"manifest.parquet\").query(\"split == 'train'\")`.",
              "- `shards.parquet`: size, sample count and sha256 per shard; `dmcdata verify <this folder>` "
              "re-checks them.",
              "- `rejects.parquet`: the rejected items and why; `build.json`: the options (a rerun into this "
              "folder must use the same ones).", ""]
    size = (f"{cfg.shard_size[1]} samples" if cfg.shard_size[0] == "samples"
            else f"{cfg.shard_size[1]} bytes of uncompressed PCM")
    lines += ["## Options", "",
              f"- segment seconds: {cfg.segment_seconds:g} (min {cfg.min_segment_seconds:g})",
              f"- shard size: {size}; order within a split: {cfg.order}; codec: {cfg.codec}",
              f"- split fractions: {', '.join(f'{f:g}' for f in cfg.split_fractions)}; seed: {cfg.seed}",
              f"- sample rate: {cfg.sample_rate} Hz; silence threshold: {cfg.silence_db:g} dBFS sample peak"]
    if dataset == "medleydb":
        lines.append(f"- tracks: {cfg.tracks}; max tracks: {cfg.max_tracks if cfg.max_tracks is not None else 'any'}")
    elif dataset == "enst_drums":
        lines.append(f"- max tracks: {cfg.max_tracks if cfg.max_tracks is not None else 'any'}")
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()), ""]
    if rejects:
        lines += ["## Rejected", ""] + [f"- {r['song']}: {r['reason']}" for r in rejects] + [""]
    lines += ["## Citation", "", "```bibtex", bibtex, "```", ""]
    return "\n".join(lines)


def shard_name_pattern(dataset: str) -> str:
    """Regex of this dataset's shard file names: ``<dataset>-<split>-NNNNNN.tar``."""
    return rf"{re.escape(dataset)}-(train|val|test)-\d{{6}}\.tar"


def clean_stale(out: Path, dataset: str, planned: set[str]) -> list[str]:
    """Remove what a killed run of this build left: its own private temporary files
    (``<shard|table|card>.<pid>-<hex>.partial``, never any other ``*.partial``) and this dataset's
    shards/parts that are not in the plan. Only called on a folder whose ``build.json`` is ours."""
    from dmcdata.shards import own_temp_files

    removed = []
    shard_pat = re.compile(shard_name_pattern(dataset))
    finals = "|".join(re.escape(n) for n in (*FINAL_FILES, CONFIG_FILE))
    temps = (own_temp_files(out, rf"{shard_name_pattern(dataset)}|{finals}")
             + own_temp_files(out / PARTS_DIR, rf"{shard_name_pattern(dataset)}\.json"))
    for p in temps:
        p.unlink(missing_ok=True)
        removed.append(p.name)
    for p in sorted(out.glob("*.tar")):
        if shard_pat.fullmatch(p.name) and p.name not in planned and p.is_file():
            p.unlink()
            removed.append(p.name)
    for p in sorted((out / PARTS_DIR).glob("*.tar.json")):
        if shard_pat.fullmatch(p.name[:-5]) and p.name[:-5] not in planned and p.is_file():
            p.unlink()
            removed.append(p.name)
    return removed


# ----------------------------------------------------------------------------- checks before any write

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


def read_own_config(cpath: Path) -> dict | None:
    """The ``build.json`` of a dmcdata build, or None when ``cpath`` is not one of ours."""
    try:
        old = json.loads(cpath.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(old, dict) or old.get("tool") != "dmcdata build":
        return None
    return old


def check_out_folder(out: Path, dataset: str, config: dict) -> None:
    """``out`` must be new/empty or hold a build of the same dataset with the same options (resume).

    A folder is ours only if its ``build.json`` says so; anything else that is not empty (a user's
    files, another dataset's build, the same dataset built with other options, a synth-chain
    folder) is refused before anything is written or deleted in it.
    """
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out} is a file, not a folder")
    if not out.is_dir():
        return
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as e:
        raise BuildError(f"--out {out}: cannot list the folder ({e.strerror or e})") from None
    if not entries:
        return
    cpath = out / CONFIG_FILE
    old = read_own_config(cpath) if cpath.is_file() and not cpath.is_symlink() else None
    if old is None:
        shown = ", ".join(entries[:4]) + (" ..." if len(entries) > 4 else "")
        what = (f"its {CONFIG_FILE} is not one of dmcdata build" if cpath.exists()
                else f"holds no {CONFIG_FILE} of a dmcdata build")
        raise BuildError(f"--out {out} is not empty ({shown}) and {what}: give a new or empty folder "
                         f"(nothing in {out} was touched)")
    shards_there = any(out.glob("*.tar")) or any((out / PARTS_DIR).glob("*.json")) or (out / "manifest.parquet").exists()
    if not shards_there:
        return  # e.g. a run that stopped before any shard (all rejected, --strict): nothing to keep or mix
    if old.get("dataset") != dataset:
        raise BuildError(f"{out} holds a build of {old.get('dataset')!r}, not {dataset!r}: use another --out "
                         f"(one dataset per build folder)")
    diff = [k for k in sorted(set(old) | set(config)) if old.get(k) != config.get(k)]
    if diff:
        what = "; ".join(f"{OPTION_NAMES.get(k, k)} was {old.get(k)!r}, now {config.get(k)!r}" for k in diff)
        raise BuildError(f"{out} was built with other options ({what}): use another --out, delete {out}, "
                         f"or rerun with the same options to resume it")


def guess_layout(home: str) -> str | None:
    """Which dataset a folder looks like (``medleydb`` / ``enst_drums`` / ``signaltrain``), if any."""
    from dmcdata.loaders import medleydb, signaltrain

    h = Path(home)
    try:
        if any((d / "audio").is_dir() for d in h.glob("drummer_*")):
            return "enst_drums"
        root = signaltrain.split_root(h)
        if any((root / s).is_dir() and any((root / s).glob("input_*_.wav")) for s in signaltrain.SPLITS):
            return "signaltrain"
        if medleydb.song_folders(h):
            return "medleydb"
    except OSError:
        return None
    return None


def nothing_found_message(dataset: str, home: str, cfg, rejects: list[dict]) -> str:
    """Why a scan gave no usable item: the --max-tracks filter, unusable items, or the wrong folder."""
    name = cfg.dataset
    if cfg.max_tracks is not None:
        unfiltered = argparse.Namespace(**{**vars(cfg), "max_tracks": None})
        try:
            all_items = ITEM_BUILDERS[dataset](home, unfiltered)[0]
        except Exception:  # noqa: BLE001 - only used to word the message
            all_items = []
        if all_items:
            fewest = min(sum(1 for s in it["sources"] if s["role"] == "track") for it in all_items)
            kind = {"medleydb": cfg.tracks, "enst_drums": "microphones"}.get(dataset, "tracks")
            return (f"none of the {len(all_items)} usable {name} songs/takes in {home} has at most "
                    f"{cfg.max_tracks} input tracks ({kind}); the fewest is {fewest}")
    if rejects:
        return (f"found no usable {name} songs/takes/pairs in {home}: {len({r['song'] for r in rejects})} "
                f"unusable ones, e.g. {rejects[0]['song']}: {rejects[0]['reason']}")
    try:
        children = sorted(d for d in Path(home).iterdir() if d.is_dir())
    except OSError:
        children = []
    for child in children:  # e.g. the demo corpus' root instead of its medleydb/ folder
        if guess_layout(str(child)) == dataset:
            return f"found no {name} songs/takes/pairs in {home}, but {child} looks like one: use --data-home {child}"
    seen = guess_layout(home)
    if seen and seen != dataset:
        other = {v: k for k, v in DATASETS.items()}[seen]
        return (f"found no {name} songs/takes/pairs in {home}: it looks like a copy of {other} "
                f"(use `dmcdata build {other}`)")
    hint = {"medleydb": "song folders <Song>/ with <Song>_METADATA.yaml, under Audio/, V1/ or V2/",
            "enst_drums": "drummer_N/audio/<mic>/<take>.wav",
            "signaltrain": "Train/, Val/, Test/ with input_<id>_.wav and target_<id>_LA2A_*.wav"}[dataset]
    return f"found no {name} songs/takes/pairs in {home}: expected {hint}"


def note_small_shards(specs: list[dict], cfg) -> None:
    """Say so (stderr) when a byte --shard-size is below one sample: every shard then holds one sample."""
    kind, limit = cfg.shard_size
    if kind != "bytes":
        return
    biggest = max((s["frames"] * sum(src["bytes_per_frame"] for src in s["sources"])
                   for spec in specs for s in spec["samples"]), default=0)
    if biggest > limit:
        print(f"note: --shard-size {limit} bytes is smaller than a sample (up to {biggest} bytes of PCM): "
              f"such samples get a shard of their own", file=sys.stderr)


# ----------------------------------------------------------------------------- driver

def build(cfg, argv: list[str] | None = None) -> dict:
    """Run a build; returns a summary dict. Raises :class:`BuildError` on unusable input."""
    import manifests
    from dmcdata.loaders import ENV_VARS, LoaderError, resolve_data_home
    from dmcdata.shards import write_atomic

    dataset = DATASETS[cfg.dataset]
    check_options(cfg)
    home = resolve_data_home(dataset, cfg.data_home)
    if not Path(home).exists():
        raise BuildError(f"data home {home} does not exist (use --data-home or ${ENV_VARS[dataset]})")
    if not Path(home).is_dir():
        raise BuildError(f"data home {home} is not a folder (give the dataset's folder to --data-home)")
    out = Path(cfg.out)
    config = build_config(dataset, home, cfg)
    check_out_folder(out, dataset, config)  # before anything is written: never spoil another build

    t0 = time.perf_counter()
    try:
        items, rejects = ITEM_BUILDERS[dataset](home, cfg)
    except LoaderError as e:
        raise BuildError(str(e)) from None
    progress = not cfg.no_progress
    timings = {"scan_s": time.perf_counter() - t0}
    if not items:
        raise BuildError(nothing_found_message(dataset, home, cfg, rejects))

    out.mkdir(parents=True, exist_ok=True)
    (out / PARTS_DIR).mkdir(exist_ok=True)
    write_atomic(out / CONFIG_FILE, config_bytes(config))
    # a rerun must never leave an old manifest next to shards being rewritten
    for name in FINAL_FILES:
        (out / name).unlink(missing_ok=True)

    t_ray = time.perf_counter()
    with ray_session(cfg.workers, cfg.ray_address) as ray:
        t1 = time.perf_counter()
        timings["ray_start_s"] = t1 - t_ray
        probe_remote = ray.remote(num_cpus=1)(probe_chunk)
        chunk = max(1, min(32, len(items) // max(1, 4 * cfg.workers) or 1))
        refs = [probe_remote.remote(items[i:i + chunk], dataset, cfg.sample_rate) for i in range(0, len(items), chunk)]
        good = []
        for res in ray.get(refs):
            for it, rej in res:
                if rej is not None:
                    rejects.append(rej)
                else:
                    good.append(it)
        timings["probe_s"] = time.perf_counter() - t1
        if cfg.strict and rejects:
            write_reject_table(out, rejects)
            raise BuildError(f"--strict: {len({r['song'] for r in rejects})} item(s) rejected, first: "
                             f"{rejects[0]['song']}: {rejects[0]['reason']} (all in {out / 'rejects.parquet'})")

        t_plan = time.perf_counter()
        specs = plan_shards(good, dataset, cfg)
        if not any(s["samples"] for s in specs):
            write_reject_table(out, rejects)
            if not good:
                n_bad = len({r["song"] for r in rejects})
                raise BuildError(f"all {n_bad} {cfg.dataset} songs/takes/pairs were rejected, first: "
                                 f"{rejects[0]['song']}: {rejects[0]['reason']} (all in {out / 'rejects.parquet'})")
            longest = max(it["frames"] / it["sample_rate"] for it in good)
            raise BuildError(f"no segment is --min-segment-seconds {cfg.min_segment_seconds:g} long: "
                             f"the longest song/take/pair lasts {longest:.3f} s")
        note_small_shards(specs, cfg)
        removed = clean_stale(out, dataset, {s["shard"] for s in specs})
        fps = {s["shard"]: fingerprint(s, dataset, cfg) for s in specs}
        parts, todo = {}, []
        for s in specs:
            done = load_done_part(out, s, fps[s["shard"]])
            if done is not None:
                parts[s["shard"]] = done
            else:
                todo.append(s)
        t2 = time.perf_counter()
        timings["plan_s"] = t2 - t_plan
        shard_remote = ray.remote(num_cpus=1)(write_shard)
        # on a cluster --workers caps the shard tasks in flight; locally Ray's CPU count does
        cap = cfg.workers if cfg.ray_address else len(todo)
        queue = list(todo)
        pending = {}

        def submit():
            while queue and len(pending) < max(1, cap):
                s = queue.pop(0)
                pending[shard_remote.remote(s, str(out), dataset, cfg.codec, cfg.silence_db, fps[s["shard"]])] = s["shard"]

        submit()
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc=f"{dataset} shards", unit="shard", file=sys.stderr)
        task_seconds = 0.0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                try:
                    part = ray.get(ref)
                except Exception as e:  # a bug or an OS error (disk full...) in the task: name the shard
                    raise BuildError(f"writing shard {pending[ref]} failed: {e}") from e
                task_seconds += part.get("seconds", 0.0)
                parts[pending.pop(ref)] = part
                if bar:
                    bar.update(1)
            submit()
        if bar:
            bar.close()
        timings["shards_s"] = time.perf_counter() - t2
        timings["shard_task_s"] = task_seconds
        t_stop = time.perf_counter()

    t3 = time.perf_counter()
    timings["ray_stop_s"] = t3 - t_stop
    rows, infos = [], []
    from dmcdata.shards import ShardInfo

    for name in sorted(parts):
        p = parts[name]
        rows.extend(p["rows"])
        rejects.extend(p["rejects"])
        infos.append(ShardInfo(**p["shard"]))
    if dataset == "signaltrain":
        from manifests import paired as schema_mod
    else:
        from manifests import multitrack as schema_mod
    table = schema_mod.to_table(rows)
    n_rejected = len({(r["dataset"], r["song"]) for r in rejects})
    manifests.write_table(manifests.shard_table(infos), out / "shards.parquet")
    write_reject_table(out, rejects)
    command = canonical_command(sys.argv[1:] if argv is None else argv)
    write_atomic(out / "dataset_card.md", dataset_card(dataset, rows, len(infos), sorted(
        rejects, key=lambda r: (r["song"], r["file"] or "")), cfg, command).encode())
    if cfg.strict and rejects:
        raise BuildError(f"--strict: {n_rejected} item(s) rejected while reading audio (see {out / 'rejects.parquet'})")
    manifests.write_table(table, out / "manifest.parquet")
    timings["finish_s"] = time.perf_counter() - t3
    return {"dataset": dataset, "samples": len(rows), "shards": len(infos), "written": len(todo),
            "skipped": len(specs) - len(todo), "rejected": n_rejected, "removed": removed,
            "hours": sum(r["duration_s"] for r in rows) / 3600,
            "per_split": {s: sum(1 for r in rows if r["split"] == s) for s in SPLITS},
            "songs": len({r["song"] for r in rows}), "timings": timings, "out": str(out)}


def write_reject_table(out: Path, rejects: list[dict]) -> None:
    import manifests

    manifests.write_table(manifests.rejects_table(rejects), out / "rejects.parquet")


def main(args) -> int:
    try:
        summary = build(args, getattr(args, "argv", None))
    except (BuildError, RayStartError) as e:
        print(f"dmcdata build: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. --out not writable, disk full: name the file, no traceback
        print(f"dmcdata build: error: {e}", file=sys.stderr)
        return 2
    s = summary
    print(f"{s['dataset']}: {s['samples']} samples from {s['songs']} songs/items "
          f"(train {s['per_split']['train']}, val {s['per_split']['val']}, test {s['per_split']['test']}), "
          f"{s['hours']:.3f} h of audio, {s['shards']} shards ({s['written']} written, {s['skipped']} already done)")
    print(f"rejected: {s['rejected']}" + (f" (reasons in {Path(s['out']) / 'rejects.parquet'})" if s["rejected"] else ""))
    print(f"output: {s['out']}/manifest.parquet")
    return 0
