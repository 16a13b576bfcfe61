"""``dmcmodels process`` speed and memory: a 4-minute mono track through TCN-10 / TCN-20 on one
core, in blocks (the command's default 10 s) against one pass over the whole file (the baseline,
same run). Every variant runs in a fresh process so its peak RSS is its own; the block output
must equal the one-pass output to float tolerance.

    python benchmarks/bench_process.py --minutes 4 --models tcn-10 tcn-20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def worker(model_name: str, minutes: float, block_s: float) -> dict:
    import resource

    import numpy as np
    import torch

    from dmcmodels.models import build_model
    from dmcmodels.process import process_mono

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(model_name, 25).eval()
    n = int(minutes * 60 * 44100)
    x = (0.1 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
    cond = np.zeros(25, np.float32)
    t = time.perf_counter()
    y = process_mono(model, x, cond, block=int(block_s * 44100) if block_s > 0 else n)
    wall = time.perf_counter() - t
    np.save(f"/tmp/bench_process_{model_name}_{block_s}.npy", y[::997])  # a sparse sample for the equality check
    return {"wall_s": wall, "x_realtime": n / 44100 / wall, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--models", nargs="+", default=["tcn-10", "tcn-20"])
    ap.add_argument("--block-seconds", type=float, default=10.0)
    ap.add_argument("--no-one-pass", action="store_true", help="blocks only (no one-pass baseline, no equality check)")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], float(a.worker[1]), float(a.worker[2]))))
        return 0
    print(f"{a.minutes:g} min mono track, 1 thread; block = {a.block_seconds:g} s windows vs one pass (block 0)")
    print(f"{'model':<8} {'mode':<10} {'wall s':>8} {'x real time':>11} {'peak MB':>8} {'max |diff|':>10}")
    for name in a.models:
        ref = None
        for block in ((a.block_seconds,) if a.no_one_pass else (0.0, a.block_seconds)):
            r = subprocess.run([sys.executable, __file__, "--worker", name, str(a.minutes), str(block)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{name:<8} block {block:g}: failed: {r.stderr.strip()[-300:]}")
                continue
            res = json.loads(r.stdout.strip().splitlines()[-1])
            y = np.load(f"/tmp/bench_process_{name}_{block}.npy")
            ref = y if ref is None else ref
            mode = "one pass" if block == 0 else f"{block:g} s blocks"
            print(f"{name:<8} {mode:<10} {res['wall_s']:8.1f} {res['x_realtime']:11.2f} {res['peak_mb']:8.0f} "
                  f"{float(np.max(np.abs(y - ref))):10.2e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
