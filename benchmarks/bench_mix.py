"""DMC-full memory and speed against the track count: how many tracks train at 5-s patches.

For ``--channel tcn`` (a frozen TCN channel, the thesis' design) and ``--channel dsp`` (the exact
differentiable twin) one training step — forward, stereo MR-STFT loss, backward, Adam — of the
full-size DMC (VGG encoder 128 filters, fine-tuned; post-processor 3 x 2048) on one song of N
tracks x 5 s at 44.1 kHz, in a fresh process per (channel, N): the peak resident memory
(``ru_maxrss``) and the seconds of that step (after a warm-up step on 0.5 s of one track). A watchdog kills a process whose resident
memory passes ``--limit-gb`` (default 22: this machine has 24), which ends that channel's series.

The baseline in the same run is the thesis' approach without the memory measures: the TCN channel
with all tracks in one chunk and no activation checkpointing (``--channel tcn-plain``), i.e. what
held the thesis to songs of at most 5 tracks.

    python benchmarks/bench_mix.py       # tcn-plain at 1 2 4 8, tcn at 1 4 16 32, dsp at 1 4 16 64 tracks
    python benchmarks/bench_mix.py --channels dsp --tracks 16 32 64
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SR = 44100


def one(channel: str, n: int, seconds: float, tcn: str, chunk: int) -> dict:
    import resource

    import torch

    from dmcmodels.losses import stereo_mr_stft
    from dmcmodels.models import build_mixer

    torch.manual_seed(0)
    kw = {}
    if channel.startswith("tcn"):
        kw = {"channel": "tcn", "channel_model": {"model": tcn, "model_args": {}, "cond_dim": 25},
              "chunk": chunk if channel == "tcn" else n, "checkpointing": channel == "tcn"}
    else:
        kw = {"channel": "dsp"}
    m = build_mixer("dmc-full", sample_rate=SR, **kw).train()
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=3e-4)
    t = int(seconds * SR)
    g = torch.Generator().manual_seed(1)
    x = 0.1 * torch.randn(1, n, t, generator=g)
    y = 0.1 * torch.randn(1, 2, t, generator=g)
    def step(x, y):
        loss = stereo_mr_stft(m(x)["mix"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(x[:, :1, : SR // 2], y[..., : SR // 2])  # warm-up on 0.5 s of one track: numba compiles, first allocations
    t0 = time.perf_counter()
    step(x, y)
    return {"channel": channel, "tracks": n, "seconds_per_step": time.perf_counter() - t0,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def run_child(channel: str, n: int, args) -> dict | None:
    cmd = [sys.executable, __file__, "--child", channel, str(n), "--seconds", str(args.seconds), "--tcn", args.tcn,
           "--chunk", str(args.chunk)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    peak = 0.0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 2**20
            peak = max(peak, rss)
        except (OSError, StopIteration):
            pass
        if peak > args.limit_gb:
            p.kill()
            p.wait()
            return {"channel": channel, "tracks": n, "killed_at_gb": round(peak, 1)}
        time.sleep(0.2)
    out = p.stdout.read().strip().splitlines()
    return json.loads(out[-1]) if p.returncode == 0 and out else {"channel": channel, "tracks": n, "failed": p.returncode}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", nargs="+", default=["tcn-plain", "tcn", "dsp"])
    ap.add_argument("--tracks", nargs="+", type=int, default=None,
                    help="track counts (default: tcn-plain 1 2 4 8, tcn 1 4 16 32, dsp 1 4 16 64)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--tcn", default="tcn-20", help="the frozen channel network (default tcn-20, the thesis')")
    ap.add_argument("--chunk", type=int, default=1, help="tracks per checkpointed chunk of the TCN channel")
    ap.add_argument("--limit-gb", type=float, default=22.0)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(args.child[0], int(args.child[1]), args.seconds, args.tcn, args.chunk)))
        return 0
    rows = []
    default = {"tcn-plain": [1, 2, 4, 8], "tcn": [1, 4, 16, 32], "dsp": [1, 4, 16, 64]}
    for ch in args.channels:
        for n in args.tracks or default[ch]:
            r = run_child(ch, n, args)
            rows.append(r)
            print(json.dumps(r), flush=True)
            if "seconds_per_step" not in r:
                break
    print(f"\nDMC-full, one training step on {args.seconds:g} s x N tracks at {SR} Hz ({args.tcn} channel; "
          f"limit {args.limit_gb:g} GB)")
    print("| channel | tracks | s / step | peak memory (GB) |\n|---|---|---|---|")
    for r in rows:
        if "seconds_per_step" in r:
            print(f"| {r['channel']} | {r['tracks']} | {r['seconds_per_step']:.1f} | {r['peak_rss_gb']:.1f} |")
        else:
            print(f"| {r['channel']} | {r['tracks']} | - | over the limit ({r.get('killed_at_gb', 'failed')}) |")
    for ch in args.channels:
        ok = [r["tracks"] for r in rows if r["channel"] == ch and "seconds_per_step" in r]
        print(f"{ch}: largest track count that trains: {max(ok) if ok else 0}")
    base = {r["tracks"]: r for r in rows if r["channel"] == "tcn-plain" and "seconds_per_step" in r}
    for r in rows:
        if r["channel"] == "tcn" and r["tracks"] in base and "peak_rss_gb" in r:
            b = base[r["tracks"]]
            print(f"tcn vs tcn-plain at {r['tracks']} tracks: memory {b['peak_rss_gb'] / r['peak_rss_gb']:.2f}x less, "
                  f"time {r['seconds_per_step'] / b['seconds_per_step']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
