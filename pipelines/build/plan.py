"""Plan: items -> segments -> seeded sample order -> shards ``<dataset>-<split>-NNNNNN.tar``
packed by sample count or by uncompressed PCM bytes; and the fingerprint of each shard's plan."""

from __future__ import annotations

import hashlib
import json
import sys

from pipelines.build.items import stable_order
from pipelines.build.options import SPLITS


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
