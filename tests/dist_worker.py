"""Helpers for the streaming tests, and the script one torchrun rank runs.

As a script (``torchrun --nproc_per_node 2 tests/dist_worker.py SHARD_DIR OUT_DIR WORKERS``):
initialises a gloo process group, streams one epoch of the multitrack shards in SHARD_DIR
through a StreamingLoader with WORKERS DataLoader workers, and writes the keys this rank saw
(one ``key@start`` per line, with the slot) to ``OUT_DIR/rank<R>.txt``, plus the merged loader
state to ``OUT_DIR/state.json`` from rank 0.

As a module: functions that write small, real multitrack / paired shards with ShardWriter.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 8000


def flac(audio: np.ndarray, sr: int = SR) -> bytes:
    """float audio in [-1, 1], (frames,) or (frames, ch) → 16-bit FLAC bytes."""
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def tone(frames: int, freq: float, rng: np.random.Generator, channels: int = 1, sr: int = SR) -> np.ndarray:
    t = np.arange(frames) / sr
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(frames)
    x = x.astype(np.float32)
    return x if channels == 1 else np.stack([x, 0.5 * x], axis=1)


def multitrack_sample(song: str, segment: int, n_tracks: int, frames: int, rng, sr: int = SR,
                      dataset: str = "medleydb", stereo_track: bool = False) -> tuple[str, dict, dict]:
    """One multitrack sample per the shard contract: (key, members, manifest row)."""
    key = f"{dataset}-{song}-{segment:06d}"
    tracks, members, instruments = [], {}, []
    for i in range(n_tracks):
        ch = 2 if (stereo_track and i == 0) else 1
        a = tone(frames, 110.0 * (i + 1), rng, ch, sr)
        m = f"t{i:02d}.flac"
        members[m] = flac(a, sr)
        inst = ["bass", "drums", "piano", "vocals", "guitar"][i % 5]
        instruments.append(inst)
        tracks.append({"name": f"{song}_{i}", "instrument": inst, "kind": "raw", "channels": ch, "member": m})
    mix = tone(frames, 55.0, rng, 2, sr)
    members["mix.flac"] = flac(mix, sr)
    meta = {"dataset": dataset, "song": song, "segment": segment, "start": segment * frames, "frames": frames,
            "sample_rate": sr, "split": "train", "tracks": tracks, "mix": "mix.flac"}
    members["json"] = json.dumps(meta).encode()
    row = {"key": key, "dataset": dataset, "split": "train", "song": song, "segment": segment,
           "start_s": segment * frames / sr, "duration_s": frames / sr, "sample_rate": sr, "n_tracks": n_tracks,
           "instruments": instruments}
    return key, members, row


def write_multitrack_shards(out: Path, n_shards: int, per_shard: int, frames: int = 2 * SR,
                            seed: int = 0, track_counts=(2, 3, 4, 5), dataset: str = "medleydb") -> list[dict]:
    """Write ``n_shards`` shards of ``per_shard`` samples + manifest.parquet; return manifest rows."""
    import pandas as pd

    from dmcdata.shards import ShardWriter

    rng = np.random.default_rng(seed)
    rows = []
    k = 0
    out.mkdir(parents=True, exist_ok=True)
    for s in range(n_shards):
        name = f"{dataset}-train-{s:06d}.tar"
        with ShardWriter(out / name) as w:
            for _ in range(per_shard):
                n = track_counts[k % len(track_counts)]
                key, members, row = multitrack_sample(f"song{k:03d}", k % 3, n, frames, rng, dataset=dataset)
                w.write(key, members)
                row["shard"] = name
                rows.append(row)
                k += 1
    pd.DataFrame(rows).to_parquet(out / "manifest.parquet", index=False)
    return rows


def write_paired_shard(path: Path, n: int, frames: int, seed: int = 0) -> list[str]:
    """SignalTrain-like samples: input noise+tone, target = tanh(2·input)·0.5, knobs vary."""
    from dmcdata.shards import ShardWriter

    rng = np.random.default_rng(seed)
    keys = []
    with ShardWriter(path) as w:
        for i in range(n):
            key = f"signaltrain-{i:03d}-{0:06d}"
            x = tone(frames, 220.0 + 10 * i, rng)
            y = (0.5 * np.tanh(2 * x)).astype(np.float32)
            meta = {"dataset": "signaltrain", "id": f"{i:03d}", "segment": 0, "start": 0, "frames": frames,
                    "sample_rate": SR, "split": "train", "unit": "LA2A", "limit": i % 2,
                    "peak_reduction": 10 * (i % 11)}
            w.write(key, {"json": json.dumps(meta).encode(), "input.flac": flac(x), "target.flac": flac(y)})
            keys.append(key)
    return keys


def keep_list(batch: list) -> list:
    """A collate function that keeps the samples as a list."""
    return batch


def main(argv: list[str]) -> int:
    import torch.distributed as dist

    from dmcdata.streaming import MultitrackDataset, StreamingLoader, gather_state

    shard_dir, out_dir, workers = Path(argv[0]), Path(argv[1]), int(argv[2])
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    ds = MultitrackDataset(str(shard_dir / "medleydb-train-{000000..000004}.tar"), patch_seconds=0.5,
                           shuffle_buffer=4, seed=7)
    loader = StreamingLoader(ds, batch_size=2, num_workers=workers, collate_fn=keep_list)
    lines = []
    for batch in loader:
        lines += [f"{s['key']}@{s['start']}" for s in batch]
    (out_dir / f"rank{rank}.txt").write_text("\n".join(lines) + "\n")
    state = gather_state(loader)
    if rank == 0:
        (out_dir / "state.json").write_text(json.dumps(state))
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main(sys.argv[1:]))
