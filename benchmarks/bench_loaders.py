"""Throughput of the streaming loaders, and how long a training loop waits for data.

Writes its own data (real FLAC shards via ShardWriter, noise-plus-tones at 44.1 kHz) into a
temporary folder, then measures, in one run:

(a) on-the-fly effect examples per second per worker (EffectDataset mode="generate": decode,
    patch, augment, random console) beside the bare cost of decoding the same dry audio
(b) multitrack 5 s patches of 16 tracks + stereo mix per second per worker
    (MultitrackDataset) beside the bare cost of decoding the same segments whole
(c) the data-wait fraction of a training loop: TCN (1 stack of 10 dilated blocks, kernel 15,
    32 channels, FiLM) forward + backward + Adam on every batch from a StreamingLoader with
    ``--workers`` loader workers over on-the-fly effect examples; the main process uses
    torch.set_num_threads(1). wait = time blocked waiting for the next batch.

"Per worker" figures run the dataset in one process (what one DataLoader worker does).

    python benchmarks/bench_loaders.py            # defaults: 0.74 s patches, batch 4, 8 steps
    python benchmarks/bench_loaders.py --device cuda --steps 30 --workers 4
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100


def _flac(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    sf.write(b, a, SR, format="FLAC", subtype="PCM_16")
    return b.getvalue()


def _tracks(rng, n_tracks: int, frames: int) -> list[np.ndarray]:
    t = np.arange(frames) / SR
    out = []
    for i in range(n_tracks):
        f = 55.0 * (i + 1) * (1 + 0.01 * rng.standard_normal())
        env = 0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t + i)  # slow amplitude movement
        x = 0.25 * env * np.sin(2 * np.pi * f * t) + 0.02 * rng.standard_normal(frames)
        out.append(x.astype(np.float32))
    return out


def write_shards(root: Path, name: str, n_shards: int, per_shard: int, n_tracks: int, seconds: float,
                 seed: int) -> Path:
    """Multitrack shards per the shard contract (json, tNN.flac mono raw tracks, mix.flac)."""
    from dmcdata.shards import ShardWriter

    rng = np.random.default_rng(seed)
    out = root / name
    frames = int(seconds * SR)
    k = 0
    for s in range(n_shards):
        with ShardWriter(out / f"{name}-train-{s:06d}.tar") as w:
            for _ in range(per_shard):
                tr = _tracks(rng, n_tracks, frames)
                members = {f"t{i:02d}.flac": _flac(x) for i, x in enumerate(tr)}
                mix = np.stack([sum(tr) * 0.2, sum(tr) * 0.15], axis=1).astype(np.float32)
                members["mix.flac"] = _flac(mix)
                meta = {"dataset": name, "song": f"song{k:03d}", "segment": 0, "start": 0, "frames": frames,
                        "sample_rate": SR, "split": "train", "mix": "mix.flac",
                        "tracks": [{"name": f"tr{i}", "instrument": "synth", "kind": "raw", "channels": 1,
                                    "member": f"t{i:02d}.flac"} for i in range(n_tracks)]}
                members["json"] = json.dumps(meta).encode()
                w.write(f"{name}-song{k:03d}-000000", members)
                k += 1
    return out


def decode_all(folder: Path, members_filter) -> tuple[float, int]:
    """Seconds to read and fully decode the selected members of every shard; frames decoded."""
    from dmcdata.streaming.reader import ShardReader

    t0 = time.perf_counter()
    frames = 0
    reader = ShardReader(strict=True)
    for url in sorted(str(p) for p in folder.glob("*.tar")):
        for key, members in reader.samples(url):
            for m, data in members.items():
                if members_filter(m):
                    a, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
                    frames += a.shape[0]
    return time.perf_counter() - t0, frames


def bare_patch_decode(folder: Path, spans: list[tuple[str, int]], frames: int) -> float:
    """Seconds for plain tarfile + soundfile to decode the given (key, start) spans of every FLAC member."""
    import tarfile

    want: dict[str, list[int]] = {}
    for key, start in spans:
        want.setdefault(key, []).append(start)
    t0 = time.perf_counter()
    for _pass in range(max(len(v) for v in want.values())):
        for p in sorted(folder.glob("*.tar")):
            with tarfile.open(p) as t:
                for m in t:
                    key, _, ext = m.name.partition(".")
                    if not ext.endswith("flac") or key not in want or _pass >= len(want[key]):
                        continue
                    with sf.SoundFile(io.BytesIO(t.extractfile(m).read())) as f:
                        f.seek(want[key][_pass])
                        a = f.read(frames, dtype="float32", always_2d=True)
                        a.mean(axis=1)
    return time.perf_counter() - t0


def rate(ds, limit: int, seconds: float) -> tuple[float, int, float]:
    """(items per second, items, seconds) iterating ``ds`` in this process."""
    from dmcdata.streaming.shardlist import Slot

    t0 = time.perf_counter()
    n = 0
    for _ in ds.iter_slot(Slot()):
        n += 1
        if n >= limit or time.perf_counter() - t0 > seconds:
            break
    dt = time.perf_counter() - t0
    return n / dt, n, dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patch-seconds", type=float, default=0.74,
                    help="effect patch length in seconds (thesis presets 0.37 / 0.74 / 1.48)")
    ap.add_argument("--batch-size", type=int, default=4, help="training-loop batch size")
    ap.add_argument("--steps", type=int, default=8, help="training steps measured (after 1 warm-up step)")
    ap.add_argument("--workers", type=int, default=1, help="loader worker processes in the training loop")
    ap.add_argument("--device", default="cpu", help="torch device of the model in the training loop")
    ap.add_argument("--seconds", type=float, default=20.0, help="time cap of each throughput measurement")
    ap.add_argument("--workdir", default=None, help="where to write the benchmark shards (default: a temp dir)")
    args = ap.parse_args(argv)

    import torch

    from dmcdata.effects import EffectConfig
    from dmcdata.streaming import EffectDataset, MultitrackDataset, StreamingLoader
    from dmcdata.streaming.shardlist import Slot
    from dmcmodels.models.tcn import TCN

    torch.set_num_threads(1)
    tmp = tempfile.TemporaryDirectory() if args.workdir is None else None
    root = Path(args.workdir or tmp.name)
    t0 = time.perf_counter()
    dry = write_shards(root, "dry", n_shards=4, per_shard=2, n_tracks=4, seconds=20.0, seed=1)
    mt = write_shards(root, "mt16", n_shards=4, per_shard=2, n_tracks=16, seconds=10.0, seed=2)
    print(f"wrote benchmark shards in {time.perf_counter() - t0:.1f} s under {root}", file=sys.stderr)
    print(f"cpu cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, load avg: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    # (a) on-the-fly effect examples -----------------------------------------------------------
    cfg = EffectConfig(sample_rate=SR, patch_seconds=args.patch_seconds)
    ds = EffectDataset(str(dry), mode="generate", config=cfg, seed=0)
    rate(ds, 4, 60.0)  # numba compilation and IR bank generation, not measured
    ex_rate, n_ex, _ = rate(ds, 10**9, args.seconds)
    dec_s, dec_frames = decode_all(dry, lambda m: m.startswith("t"))
    ex_total = EffectDataset(str(dry), mode="generate", config=cfg, seed=0).count_items()
    dec_rate = ex_total / dec_s
    print(f"(a) on-the-fly effect examples ({args.patch_seconds} s, full channel, augmentations on): "
          f"{ex_rate:.1f} examples/s per worker ({n_ex} measured); bare FLAC decode of the same audio: "
          f"{dec_rate:.0f} examples/s -> generating costs {dec_rate / ex_rate:.0f}x decoding")

    # (b) multitrack 5 s patches of 16 tracks ---------------------------------------------------
    epochs = 3
    mds = MultitrackDataset(str(mt), patch_seconds=5.0, seed=0)  # one random 5 s crop per segment
    spans = []
    t0 = time.perf_counter()
    for e in range(epochs):
        mds.set_epoch(e)
        spans += [(s["key"], s["start"]) for s in mds.iter_slot(Slot())]
    mt_rate = len(spans) / (time.perf_counter() - t0)
    bare_span = bare_patch_decode(mt, spans, int(5.0 * SR)) / len(spans)
    dec_s, _ = decode_all(mt, lambda m: m.endswith(".flac"))
    bare_whole = dec_s / 8  # 8 segments of 10 s
    print(f"(b) multitrack 5 s patches, 16 tracks + stereo mix (one random crop of each 10 s segment): "
          f"{mt_rate:.2f} patches/s per worker ({len(spans)} measured); bare tar read + FLAC decode of the "
          f"same 5 s spans: {1 / bare_span:.2f} patches/s (loader overhead x{(1 / bare_span) / mt_rate:.2f}); "
          f"decoding the whole 10 s segments instead: {1 / bare_whole:.2f} segments/s")

    # (c) training loop with the TCN ------------------------------------------------------------
    device = torch.device(args.device)
    model = TCN(n_blocks=10, kernel_size=15, channels=32, cond_dim=cfg.n_params, stacks=1).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    ds = EffectDataset(str(dry), mode="generate", config=cfg, seed=1, item_shuffle_buffer=64)
    loader = StreamingLoader(ds, batch_size=args.batch_size, num_workers=args.workers)
    waits, steps = [], []
    it = iter(loader)
    for step in range(args.steps + 1):
        tw = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            loader.set_epoch(loader.epoch)
            it = iter(loader)
            batch = next(it)
        tc = time.perf_counter()
        x = batch["input"].to(device)
        y = batch["target"].to(device).mean(dim=1, keepdim=True)  # mono target for the benchmark
        c = batch["params"].to(device)
        out = model(x, c)
        yc = y[..., (y.shape[-1] - out.shape[-1]) // 2:][..., :out.shape[-1]]
        loss = torch.nn.functional.l1_loss(out, yc)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        te = time.perf_counter()
        waits.append(tc - tw)
        steps.append(te - tw)
    it.close()  # ends the loader's generator: its worker shuts down
    w, s = np.array(waits[1:]), np.array(steps[1:])
    print(f"(c) training loop, TCN-10 (kernel 15, 32 ch, FiLM, {sum(p.numel() for p in model.parameters())} "
          f"params) on {device}, batch {args.batch_size} x {cfg.patch_len} samples, {args.workers} loader "
          f"worker(s): step {s.mean() * 1000:.0f} ms, data wait {w.mean() * 1000:.1f} ms = "
          f"{100 * w.sum() / s.sum():.2f} % of step time over {len(s)} steps "
          f"(first step incl. worker start and numba compile: {waits[0]:.1f} s wait)")
    need = args.batch_size / s.mean()
    print(f"    the model consumes {need:.1f} examples/s; one worker makes {ex_rate:.1f} -> "
          f"{int(np.ceil(need / ex_rate))} worker(s) keep it fed")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
