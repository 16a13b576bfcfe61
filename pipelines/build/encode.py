"""The writer: one Ray task per shard reads its segments bit-exactly, encodes them losslessly,
measures loudness and silence, writes the tar atomically and then its manifest part
``.parts/<shard>.json`` (atomically too)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from pipelines.build.items import reject
from pipelines.build.options import PARTS_DIR


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
