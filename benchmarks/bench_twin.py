"""Speed and memory of the differentiable console twin against the TCN-20 neural proxy, same run.

Forward + backward (gradient w.r.t. the normalized console parameters, what a controller trained
through the channel needs) of ``--tracks`` tracks × ``--seconds`` s at 44.1 kHz:

- twin: ``dmcmodels.twin.ChannelTwin`` on float32 audio, random full channels (EQ, compressor,
  reverb with the generated 8-IR bank, gain, polarity, pan), loss = mean square of the stereo out;
- TCN-20: ``dmcmodels.models.tcn.TCN(stacks=2)`` frozen in eval mode, input n + receptive field − 1
  samples so the output is n samples, loss = mean square, gradient w.r.t. its conditioning.

Every measurement runs in a fresh subprocess; its peak memory is that process's ``ru_maxrss``
(torch's allocations included, unlike tracemalloc), and the figure printed is the peak minus the
process's peak after imports and set-up, before a small warm-up call (the work's own memory); the
full peak is printed too.
TCN-20 needs about 4 GB per track of 5 s (forward + backward): at 16 tracks it would exhaust a
shared machine, and even 2 tracks × 5 s comes close to 8 GB. So it runs at 1 track × ``--seconds``,
and at ``--tcn-tracks`` (1 and 2) × ``--tcn-seconds`` (1 s) to measure what one more track costs;
16 tracks are EXTRAPOLATED linearly (printed as such): t16 = t1 · (1 + 15 · (t2 − t1)/t1) with the
per-track increment from the short runs, the same for memory.

    flock /tmp/dmc-cpu.lock python benchmarks/bench_twin.py
    python benchmarks/bench_twin.py --tracks 16 64 --seconds 5 --rounds 3 --tcn-tracks 1 2 --tcn-seconds 1
    python benchmarks/bench_twin.py --exactness 20     # twin vs console, 6 orders x 2 pan laws
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SR = 44100


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def child_twin(tracks: int, seconds: float, rounds: int) -> dict:
    import numpy as np
    import torch

    from dmcdata.console import IRBank, sample_channel_params
    from dmcmodels.twin import ChannelTwin

    rng = np.random.default_rng(0)
    twin = ChannelTwin(SR, IRBank.generate(SR))
    n = int(seconds * SR)

    def inputs(t, length):
        x = torch.from_numpy((0.3 * rng.standard_normal((t, length))).astype(np.float32))
        v = twin.vector([sample_channel_params(rng) for _ in range(t)]).requires_grad_(True)
        return x, v

    twin.torch_bank  # noqa: B018 (built before the baseline: it is part of the set-up, 7 MB)
    base = _peak_mb()
    x, v = inputs(2, 2000)  # warm-up: numba cache load / JIT, torch kernels
    twin(x, v).square().mean().backward()
    times = []
    for _ in range(rounds):
        x, v = inputs(tracks, n)
        t0 = time.perf_counter()
        loss = twin(x, v).square().mean()
        loss.backward()
        times.append(time.perf_counter() - t0)
        assert torch.isfinite(v.grad).all()
        del x, v, loss
    return {"time_s": float(np.median(times)), "times_s": times, "peak_mb": _peak_mb(), "base_mb": base}


def child_tcn(tracks: int, seconds: float, rounds: int) -> dict:
    import numpy as np
    import torch

    from dmcmodels.models.tcn import TCN

    torch.manual_seed(0)
    model = TCN(stacks=2).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    n = int(seconds * SR)
    length = n + model.receptive_field - 1

    def inputs(t, length):
        return torch.randn(t, 1, length) * 0.3, (torch.rand(t, 25) * 2 - 1).requires_grad_(True)

    base = _peak_mb()
    x, c = inputs(1, model.receptive_field + 1000)  # warm-up (smaller than any measured run)
    model(x, c).square().mean().backward()
    times = []
    for _ in range(rounds):
        x, c = inputs(tracks, length)
        t0 = time.perf_counter()
        out = model(x, c)
        assert out.shape[-1] == n
        out.square().mean().backward()
        times.append(time.perf_counter() - t0)
        del x, c, out
    return {"time_s": float(np.median(times)), "times_s": times, "peak_mb": _peak_mb(), "base_mb": base}


def child_console(tracks: int, seconds: float, rounds: int) -> dict:
    """The numba console itself, forward only (no gradients exist there): a reference row."""
    import numpy as np

    from dmcdata.console import ChannelStrip, IRBank, sample_channel_params

    rng = np.random.default_rng(0)
    strip = ChannelStrip(SR, IRBank.generate(SR))
    n = int(seconds * SR)
    base = _peak_mb()
    strip.process_batch((0.3 * rng.standard_normal((2, 2000))).astype(np.float32),
                        [sample_channel_params(rng) for _ in range(2)])
    times = []
    for _ in range(rounds):
        x = (0.3 * rng.standard_normal((tracks, n))).astype(np.float32)
        ps = [sample_channel_params(rng) for _ in range(tracks)]
        t0 = time.perf_counter()
        strip.process_batch(x, ps)
        times.append(time.perf_counter() - t0)
    return {"time_s": float(np.median(times)), "times_s": times, "peak_mb": _peak_mb(), "base_mb": base}


def exactness(n_channels: int, seconds: float, precision: str = "auto") -> int:
    """Twin vs ``ChannelStrip.process``: max |difference| / peak over random channels, 6 orders x 2 laws."""
    import numpy as np
    import torch

    from dmcdata.console import ORDERS, PAN_LAWS, ChannelStrip, IRBank, sample_channel_params
    from dmcmodels.twin import ChannelTwin

    bank = IRBank.generate(SR)
    n = int(seconds * SR)
    print(f"exactness: {n_channels} random channels per order and pan law, {seconds:g} s of noise with a swell "
          f"(random level -30..0 dBFS), float32 audio, twin precision {precision!r}; error = max |twin - console| / console peak")
    print(f"{'order':<34}{'pan law':<16}{'max':>10}{'median':>10}")
    worst = []
    for order in ORDERS:
        for law in PAN_LAWS:
            rng = np.random.default_rng(1000 * ORDERS.index(order) + PAN_LAWS.index(law))
            strip, twin = ChannelStrip(SR, bank, law, order), ChannelTwin(SR, bank, law, order, precision=precision)
            params = [sample_channel_params(rng) for _ in range(n_channels)]
            env = np.sin(np.linspace(0, 3 * np.pi, n)) ** 2 + 1e-3
            xs = (rng.standard_normal((n_channels, n)) * env * 10 ** rng.uniform(-1.5, 0, (n_channels, 1))).astype(np.float32)
            out = twin(torch.from_numpy(xs), twin.vector(params)).numpy()
            errs = []
            for i, p in enumerate(params):
                ref = strip.process(xs[i], p)
                errs.append(float(np.max(np.abs(out[i].astype(np.float64) - ref)) / np.max(np.abs(ref))))
            worst += errs
            print(f"{' -> '.join(order):<34}{law:<16}{max(errs):>10.2e}{np.median(errs):>10.2e}")
    print(f"all {len(worst)} channels: max {max(worst):.2e}, median {np.median(worst):.2e} (goal: < 1e-5)")
    return 0


CHILDREN = {"twin": child_twin, "tcn": child_tcn, "console": child_console}


def measure(kind: str, tracks: int, seconds: float, rounds: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--tracks", str(tracks),
           "--seconds", str(seconds), "--rounds", str(rounds)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} at {tracks} tracks failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["work_mb"] = res["peak_mb"] - res["base_mb"]
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, nargs="+", default=[16, 64], help="twin track counts (the first is compared with TCN-20)")
    ap.add_argument("--seconds", type=float, default=5.0, help="audio length per track, seconds at 44.1 kHz")
    ap.add_argument("--rounds", type=int, default=3, help="timed forward+backward rounds per twin measurement (median)")
    ap.add_argument("--tcn-tracks", type=int, nargs=2, default=[1, 2],
                    help="two track counts TCN-20 is run at, at --tcn-seconds, to measure the cost of one more track")
    ap.add_argument("--tcn-seconds", type=float, default=1.0, help="audio length of those two short TCN-20 runs")
    ap.add_argument("--tcn-rounds", type=int, default=1, help="timed rounds per TCN-20 measurement")
    ap.add_argument("--threads", type=int, default=None, help="torch threads in every measurement (default: torch's)")
    ap.add_argument("--exactness", type=int, default=0, metavar="N",
                    help="instead: compare the twin with the console on N random channels per order and pan law")
    ap.add_argument("--precision", default="auto", choices=("auto", "console", "float64"),
                    help="the twin's precision for --exactness (auto = console for float32 audio)")
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["DMC_BENCH_THREADS"] = str(args.threads)
    elif os.environ.get("DMC_BENCH_THREADS"):
        import torch

        torch.set_num_threads(int(os.environ["DMC_BENCH_THREADS"]))
    if args.exactness:
        return exactness(args.exactness, 1.0, args.precision)
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.tracks[0], args.seconds, args.rounds)))
        return 0

    import torch

    print(f"forward + backward, {args.seconds:g} s per track at {SR} Hz; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f}")
    print("memory = peak RSS of a fresh process minus its peak after imports and set-up (full peak in brackets)\n")
    print(f"{'what':<46}{'tracks':>7}{'time s':>10}{'memory MB':>12}{'  (peak MB)':>12}")
    rows = {}

    def show(label, t, r, note=""):
        print(f"{label:<46}{t:>7}{r['time_s']:>10.3f}{r['work_mb']:>12.0f}{'(' + format(r['peak_mb'], '.0f') + ')':>12}{note}")

    for t in args.tracks:
        rows[("twin", t)] = r = measure("twin", t, args.seconds, args.rounds)
        show("twin (ChannelTwin, float32 audio)", t, r)
    t0 = args.tracks[0]
    r = measure("console", t0, args.seconds, args.rounds)
    show("numba console, forward only (reference)", t0, r)
    r1 = measure("tcn", 1, args.seconds, args.tcn_rounds)
    show("TCN-20 (TCN(stacks=2), frozen, grad to cond)", 1, r1)
    (ta, tb) = args.tcn_tracks
    ra = measure("tcn", ta, args.tcn_seconds, args.tcn_rounds)
    rb = measure("tcn", tb, args.tcn_seconds, args.tcn_rounds)
    show(f"TCN-20 at {args.tcn_seconds:g} s (per-track slope)", ta, ra)
    show(f"TCN-20 at {args.tcn_seconds:g} s (per-track slope)", tb, rb)
    inc_t = (rb["time_s"] - ra["time_s"]) / (tb - ta) / (ra["time_s"] / ta)  # one more track / one track
    inc_m = (rb["work_mb"] - ra["work_mb"]) / (tb - ta) / (ra["work_mb"] / ta)
    est_t = r1["time_s"] * (1 + (t0 - 1) * inc_t)
    est_m = r1["work_mb"] * (1 + (t0 - 1) * inc_m)
    print(f"{'TCN-20, EXTRAPOLATED linearly (not run)':<46}{t0:>7}{est_t:>10.1f}{est_m:>12.0f}{'':>12}")
    print(f"\nTCN-20 one more track costs {inc_t:.2f}x one track's time and {inc_m:.2f}x its memory "
          f"(measured at {args.tcn_seconds:g} s, {ta} vs {tb} tracks)")
    tw = rows[("twin", t0)]
    print(f"at {t0} tracks: twin is {est_t / tw['time_s']:.0f}x faster and needs {est_m / tw['work_mb']:.1f}x less "
          f"memory than TCN-20 (extrapolated)")
    for t in args.tracks:
        r = rows[("twin", t)]
        print(f"twin at {t} tracks: {r['time_s']:.2f} s, {r['work_mb'] / 1024:.2f} GB work, {r['peak_mb'] / 1024:.2f} GB peak RSS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
