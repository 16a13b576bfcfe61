"""Console speed: a random full channel (EQ + compressor + 2 s reverb + gain + pan) on 5 s of
44.1 kHz mono, one thread, against Spotify's pedalboard and a scipy baseline in the same run.

    python benchmarks/bench_console.py [--rounds 20] [--seed 0]

Implementations (timed interleaved, round after round, so machine load hits them alike):

- dmc:            ChannelStrip.process (numba biquads + compressor, cached-IR-spectrum FFT reverb)
- dmc, new IR:    the same, but with a new reverb.decay each call (the IR spectrum is recomputed:
                  what random-chain data generation pays)
- pedalboard:     Pedalboard([Gain, (Invert), LowShelfFilter, 3 x PeakFilter, HighShelfFilter,
                  Compressor, Gain(make-up), Convolution(mix=wet)]) + numpy pan. pedalboard's
                  Convolution rescales the IR and its Compressor is another design: this compares
                  the work done, not the output levels.
- scipy:          sosfilt (same 5 sections) + fftconvolve (no spectrum cache) + numpy gain/pan; the
                  compressor is dmc's (a plain-python compressor would take seconds; there is none in
                  scipy), so this row isolates EQ + reverb implementations.

Also printed: dmc's per-processor cost split and numba's JIT cost in a fresh process with an empty
cache (cold) and with the on-disk cache filled (warm).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402
import soundfile as sf  # noqa: E402

from dmcdata.console import ChannelStrip, IRBank, channel_space, sample_channel_params  # noqa: E402
from dmcdata.console.compressor import apply_compressor, compressor_params  # noqa: E402
from dmcdata.console.eq import apply_eq, eq_sections  # noqa: E402
from dmcdata.console.gain import gain_factor  # noqa: E402
from dmcdata.console.pan import apply_pan, pan_gains  # noqa: E402
from dmcdata.console.fft import BACKEND as fft_backend  # noqa: E402
from dmcdata.console.reverb import apply_reverb  # noqa: E402

SR = 44100
DUR = 5.0

COLD_SNIPPET = r"""
import os, time
t0 = time.perf_counter()
import numpy as np
from dmcdata.console import ChannelStrip, IRBank, sample_channel_params, channel_space
t1 = time.perf_counter()
bank = IRBank.from_arrays([np.r_[1.0, np.zeros(99)]], 44100)
p = sample_channel_params(np.random.default_rng(0), space=channel_space(1))
p.update({"reverb.wet": 0.5, "eq.band1_gain_db": 3.0})
x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
ChannelStrip(44100, bank).process(x, p)
t2 = time.perf_counter()
p["eq.band1_gain_db"] = 0.0  # 4 EQ sections: the generic cascade kernel
ChannelStrip(44100, bank).process(x, p)
t3 = time.perf_counter()
print(f"{t1 - t0:.3f} {t3 - t1:.3f}")
"""


def jit_cost() -> tuple[tuple[float, float], tuple[float, float]]:
    """(import s, first calls s) in a fresh process: cache cold, then warm."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        res = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", COLD_SNIPPET], env=env, capture_output=True, text=True,
                                 check=True)
            res.append(tuple(float(v) for v in out.stdout.split()))
    return res[0], res[1]


def make_signal(rng) -> np.ndarray:
    """5 s of band-limited noise bursts with a varying envelope (a stand-in for a drum/voice stem)."""
    n = int(SR * DUR)
    noise = scipy.signal.sosfilt(scipy.signal.butter(2, [80, 8000], "band", fs=SR, output="sos"),
                                 rng.standard_normal(n))
    env = np.repeat(rng.uniform(0.05, 1.0, 50), n // 50 + 1)[:n]
    x = noise * env
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20, help="interleaved timing rounds per implementation")
    ap.add_argument("--seed", type=int, default=0, help="seed of the signal and the random channel")
    args = ap.parse_args()
    try:
        import pedalboard as pb
    except ImportError:
        pb = None

    rng = np.random.default_rng(args.seed)
    x = make_signal(rng)
    ir = IRBank.generate(SR, n=1, seed=args.seed, rt60_s=(2.0, 2.0), predelay_ms=(0.0, 0.0))[0]
    assert ir.size == 2 * SR
    bank = IRBank.from_arrays([ir], SR)
    space = channel_space(1)
    p = sample_channel_params(rng, space=space)
    # every processor active, the whole 2 s IR used
    p.update({"reverb.decay": 1.0, "reverb.wet": max(p["reverb.wet"], 0.2),
              "compressor.ratio": max(p["compressor.ratio"], 2.0),
              "compressor.threshold_db": min(p["compressor.threshold_db"], -12.0)})
    strip = ChannelStrip(SR, bank, "linear")
    strip.process(x[:4096], p)  # JIT / cache load outside the timings

    # pedalboard board
    tmp = tempfile.TemporaryDirectory()
    ir_path = os.path.join(tmp.name, "ir.wav")
    sf.write(ir_path, ir, SR, subtype="FLOAT")
    gl, gr = pan_gains(p["pan"], "linear")
    if pb is not None:
        plugins = [pb.Gain(gain_db=p["gain_db"])]
        if p["polarity"]:
            plugins.append(pb.Invert())
        plugins += [pb.LowShelfFilter(cutoff_frequency_hz=p["eq.low_shelf_freq_hz"], gain_db=p["eq.low_shelf_gain_db"]),
                    *[pb.PeakFilter(cutoff_frequency_hz=p[f"eq.band{k}_freq_hz"], gain_db=p[f"eq.band{k}_gain_db"],
                                    q=p[f"eq.band{k}_q"]) for k in (1, 2, 3)],
                    pb.HighShelfFilter(cutoff_frequency_hz=p["eq.high_shelf_freq_hz"], gain_db=p["eq.high_shelf_gain_db"]),
                    pb.Compressor(threshold_db=p["compressor.threshold_db"], ratio=p["compressor.ratio"],
                                  attack_ms=p["compressor.attack_ms"], release_ms=p["compressor.release_ms"]),
                    pb.Gain(gain_db=p["compressor.makeup_db"]),
                    pb.Convolution(ir_path, mix=p["reverb.wet"] / (p["reverb.wet"] + p["reverb.dry"]))]
        board = pb.Pedalboard(plugins)
        conv_only = pb.Pedalboard([pb.Convolution(ir_path, mix=0.5)])

        def run_pedalboard():
            y = board(x, SR)
            return np.stack([y.reshape(-1) * np.float32(gl), y.reshape(-1) * np.float32(gr)])

    sos = np.concatenate([eq_sections(p, SR)[:, :3], np.ones((5, 1)), eq_sections(p, SR)[:, 3:]], axis=1)
    g = np.float32(gain_factor(p["gain_db"], p["polarity"]))

    def run_scipy():
        y = scipy.signal.sosfilt(sos, x * g)
        y = apply_compressor(y.astype(np.float32), SR, **compressor_params(p))
        y = p["reverb.dry"] * y + p["reverb.wet"] * scipy.signal.fftconvolve(y, ir)[: y.size]
        return np.stack([y * np.float32(gl), y * np.float32(gr)])

    decays = iter(np.linspace(0.999, 0.99, 100000))

    def run_dmc_new_ir():
        q = dict(p)
        q["reverb.decay"] = float(next(decays))
        return strip.process(x, q)

    y0 = x * g
    y1 = apply_eq(y0, p, SR)
    y2 = apply_compressor(y1, SR, **compressor_params(p))
    y3 = apply_reverb(y2, bank, 0, 1.0, p["reverb.dry"], p["reverb.wet"])
    impls = {"dmc": lambda: strip.process(x, p), "dmc, new IR spectrum each call": run_dmc_new_ir}
    if pb is not None:
        impls["pedalboard"] = run_pedalboard
    impls["scipy (sosfilt+fftconvolve, dmc compressor)"] = run_scipy
    parts = {"dmc gain+polarity": lambda: x * g, "dmc eq (5 biquads)": lambda: apply_eq(y0, p, SR),
             "dmc compressor": lambda: apply_compressor(y1, SR, **compressor_params(p)),
             "dmc reverb (2 s IR, cached spectrum)": lambda: apply_reverb(y2, bank, 0, 1.0, p["reverb.dry"],
                                                                          p["reverb.wet"]),
             "dmc pan": lambda: apply_pan(y3, p["pan"], "linear"),
             "scipy sosfilt (5 sections)": lambda: scipy.signal.sosfilt(sos, y0),
             "scipy fftconvolve (2 s IR)": lambda: scipy.signal.fftconvolve(y2, ir)}
    if pb is not None:
        parts["pedalboard Convolution alone"] = lambda: conv_only(y2, SR)
    allf = {**impls, **parts}
    for f in allf.values():  # warm-up
        f()
    load0 = " ".join(f"{v:.2f}" for v in os.getloadavg())
    wall = {k: [] for k in allf}
    cpu = {k: [] for k in allf}
    for _ in range(args.rounds):
        for k, f in allf.items():
            c, t = time.process_time(), time.perf_counter()
            f()
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    # CPU time of this process (all its threads) is what "per core" means and is much less
    # disturbed by other processes on a shared machine than wall time; both are printed.
    times = cpu

    print(f"signal: {DUR:g} s mono at {SR} Hz; IR {ir.size / SR:g} s; {args.rounds} interleaved rounds; "
          f"threads: 1 (numba / BLAS / FFT); dmc FFT backend: {fft_backend}")
    print("channel:", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in p.items()})
    print(f"load average before the timings: {load0}")
    print(f"\n{'implementation':46s} {'CPU ms':>8s} {'x realtime':>11s}   {'wall ms':>8s} {'x realtime':>11s}  (medians)")
    for k in impls:
        med, medw = np.median(cpu[k]), np.median(wall[k])
        print(f"{k:46s} {med * 1e3:8.2f} {DUR / med:11.1f}   {medw * 1e3:8.2f} {DUR / medw:11.1f}")
    if pb is not None:
        r_cpu = np.median(cpu["pedalboard"]) / np.median(cpu["dmc"])
        r_wall = np.median(wall["pedalboard"]) / np.median(wall["dmc"])
        r_new = np.median(cpu["pedalboard"]) / np.median(cpu["dmc, new IR spectrum each call"])
        print(f"\ndmc speed / pedalboard speed: {r_cpu:.2f}x (CPU time), {r_wall:.2f}x (wall time); "
              f"{r_new:.2f}x (CPU) with a new IR spectrum every call")
    tot = sum(np.median(times[k]) for k in parts if k.startswith("dmc"))
    print(f"\n{'processor (CPU time)':46s} {'median ms':>10s} {'share of dmc':>13s}")
    for k in parts:
        med = np.median(times[k])
        share = f"{100 * med / tot:12.1f}%" if k.startswith("dmc") else ""
        print(f"{k:46s} {med * 1e3:10.2f} {share}")
    (cold_imp, cold_first), (warm_imp, warm_first) = jit_cost()
    print(f"\nfresh process, numba cache cold: import {cold_imp:.2f} s, first calls (JIT compile) {cold_first:.2f} s")
    print(f"fresh process, numba cache warm: import {warm_imp:.2f} s, first calls (cache load) {warm_first:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
