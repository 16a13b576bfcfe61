"""Training-step speed: the project's step (``dmcmodels.training.trainer.train_step``, optionally
``torch.compile``d as ``dmcmodels train --compile`` does) against a plain eager loop of the same
model on the same batch, in one run. Every variant runs in a fresh process (so its peak memory is
its own) and must reach the same loss as the eager loop after the same steps.

    python benchmarks/bench_train.py --models tcn-10 tcn-20 --batch-size 8 --steps 6

``eager`` is the plain loop anyone would write, on stock PyTorch operations (``nn.Conv1d``'s own
backward, BatchNorm1d then FiLM's multiply and add: :func:`dmcmodels.models.conv.fast_backward`
``(False)``); ``project`` is the trainer's step with the project's CPU kernels
(:class:`dmcmodels.models.conv.FastConv1d`'s backward, the fused BatchNorm + FiLM);
``compiled`` is that step under ``torch.compile`` (``dmcmodels train --compile``).

Prints, per model and variant: seconds per step (median after warm-up), examples/s, peak RSS,
the final loss, and the ratio eager ÷ variant (> 1: faster than the plain loop).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def worker(model_name: str, variant: str, batch: int, seconds: float, steps: int, warmup: int, threads: int) -> dict:
    import resource

    import torch

    from dmcmodels.losses import make_loss
    from dmcmodels.models import build_model
    from dmcmodels.models.conv import fast_backward
    from dmcmodels.models.tcn import center_crop
    from dmcmodels.training.trainer import train_step

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(model_name, 25)
    n = int(round(seconds * 44100))
    g = torch.Generator().manual_seed(1)
    batch_d = {"input": 0.1 * torch.randn(batch, 1, n, generator=g), "params": torch.rand(batch, 25, generator=g) * 2 - 1,
               "target": 0.1 * torch.randn(batch, 1, n, generator=g), "key": [str(i) for i in range(batch)]}
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    loss_fn = make_loss("l1")
    times, losses = [], []
    if variant == "eager":  # the plain loop anyone would write, on stock PyTorch ops (nn.Conv1d's own backward)
        with fast_backward(False):
            x, c, y = batch_d["input"], batch_d["params"], batch_d["target"]
            for _ in range(warmup + steps):
                t = time.perf_counter()
                out = model(x, c)
                loss = (out - center_crop(y, out.shape[-1])).abs().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                times.append(time.perf_counter() - t)
                losses.append(float(loss))
    else:
        fwd = torch.compile(model) if variant == "compiled" else model
        params = list(model.parameters())
        for _ in range(warmup + steps):
            t = time.perf_counter()
            loss, _, _ = train_step(fwd, params, opt, loss_fn, "la2a", [batch_d])  # la2a: batch used as is
            times.append(time.perf_counter() - t)
            losses.append(float(loss))
    return {"step_s": statistics.median(times[warmup:]), "first_s": times[0], "losses": losses,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "threads": torch.get_num_threads()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["tcn-10", "tcn-20"])
    ap.add_argument("--variants", nargs="+", default=["eager", "project", "compiled"])
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=None, help="patch length (default: 0.74 s TCN-10, 1.48 s others)")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        name, variant, secs = a.worker[0], a.worker[1], float(a.worker[2])
        print(json.dumps(worker(name, variant, a.batch_size, secs, a.steps, a.warmup, a.threads)))
        return 0
    print(f"batch {a.batch_size}, {a.steps} timed steps after {a.warmup} warm-up, L1, Adam 3e-4; one process per variant")
    print(f"{'model':<8} {'variant':<9} {'s/step':>7} {'first s':>8} {'ex/s':>6} {'peak MB':>8} {'final loss':>11} "
          f"{'loss diff':>9} {'speed-up':>8}")
    for name in a.models:
        secs = a.seconds or (0.74 if name == "tcn-10" else 1.48)
        base = None
        for variant in a.variants:
            cmd = [sys.executable, __file__, "--worker", name, variant, str(secs), "x", "--batch-size",
                   str(a.batch_size), "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{name:<8} {variant:<9} failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
                continue
            res = json.loads(r.stdout.strip().splitlines()[-1])
            if base is None:
                base = res
            diff = max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(res["losses"], base["losses"]))
            print(f"{name:<8} {variant:<9} {res['step_s']:7.3f} {res['first_s']:8.2f} {a.batch_size / res['step_s']:6.2f} "
                  f"{res['peak_mb']:8.0f} {res['losses'][-1]:11.6f} {diff:9.1e} {base['step_s'] / res['step_s']:7.2f}x",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
