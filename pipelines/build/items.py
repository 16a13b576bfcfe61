"""The recipes: what one build item (song / take / pair) is made of, per dataset.

Each ``<dataset>_items(home, cfg)`` scans the user's copy with the dataset's loader and returns
``(items, rejects)``; an item names its source files (``sources``: member name, path, role) and
its split, assigned by a seeded hash order over every item found (so a subset never reshuffles
the split). ``nothing_found_message`` says why a scan gave nothing usable.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

from pipelines.build.options import DATASETS, SPLITS, BuildError


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
