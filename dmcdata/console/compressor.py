"""Feed-forward, hard-knee compressor with make-up gain (thesis §4.2, DESIGN §2).

Per sample n, with threshold T (dB), ratio R, make-up M (dB):

    x_G[n] = 20 log10 |x[n]|                      (|x| floored at 1e-30, i.e. −600 dB)
    y_G[n] = x_G[n]                 if x_G[n] < T
           = T + (x_G[n] − T) / R   otherwise
    x_L[n] = x_G[n] − y_G[n]                      (the gain reduction the static curve asks for)
    y_L[n] = α_A y_L[n−1] + (1 − α_A) x_L[n]   if x_L[n] > y_L[n−1]   (attack)
           = α_R y_L[n−1] + (1 − α_R) x_L[n]   otherwise               (release)
    y[n]   = x[n] · 10^((M − y_L[n]) / 20)

with α = exp(−1 / (τ Fs)) for the attack / release time τ (seconds) and y_L[−1] = 0.
The detector acts on the instantaneous level |x[n]|: a constant-magnitude signal (DC, square
wave) settles exactly on the static curve, a sine's peaks land between the curve and the input
(see notes/README-console.md for measured figures). The decision attack vs. release is taken per
sample on the current x_L[n] (not per block).

Ratio 1 with 0 dB make-up is skipped: exactly the identity.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_LN10_20 = math.log(10.0) / 20.0


def smoothing_coefficient(time_ms: float, sample_rate: float) -> float:
    """α = exp(−1 / (τ Fs)) for a time constant of ``time_ms`` milliseconds."""
    return math.exp(-1.0 / (float(time_ms) * 1e-3 * float(sample_rate)))


@numba.njit(cache=True, nogil=True)
def level_detector(ln_abs_x, threshold_db, ratio, alpha_a, alpha_r, out):
    """Static curve + branching one-pole detector, fused in one pass.

    ``ln_abs_x`` = ln |x| (float32); writes y_L (dB, ≥ 0) into ``out`` (may alias the input).
    x_L = max(x_G − T, 0)·(1 − 1/R) is the same as x_G − y_G of the hard-knee curve.
    """
    c = 20.0 / np.log(10.0)
    slope = 1.0 - 1.0 / ratio
    y = 0.0
    for n in range(ln_abs_x.shape[0]):
        v = max(np.float64(ln_abs_x[n]) * c - threshold_db, 0.0) * slope
        a = alpha_a if v > y else alpha_r
        y = v + a * (y - v)  # = a·y + (1 − a)·v
        out[n] = y
    return out


def gain_reduction_db(x: np.ndarray, threshold_db: float, ratio: float) -> np.ndarray:
    """Static-curve gain reduction x_L = x_G − y_G (dB, float64, ≥ 0) for every sample (no smoothing)."""
    x_g = 20.0 * np.log10(np.maximum(np.abs(np.asarray(x, dtype=np.float64)), 1e-30))
    return np.maximum(x_g - threshold_db, 0.0) * (1.0 - 1.0 / ratio)


def apply_compressor(x: np.ndarray, sample_rate: float, threshold_db: float = 0.0, ratio: float = 1.0,
                     attack_ms: float = 10.0, release_ms: float = 100.0, makeup_db: float = 0.0) -> np.ndarray:
    """Compress float32 ``x``; returns a new float32 array of the same length."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if ratio == 1.0:
        if makeup_db == 0.0:
            return x.copy()
        return x * np.float32(10.0 ** (makeup_db / 20.0))
    # ln|x| with numpy's SIMD float32 log, then one numba pass for curve + detector
    buf = np.abs(x)
    np.maximum(buf, np.float32(1e-30), out=buf)
    np.log(buf, out=buf)
    y_l = level_detector(buf, float(threshold_db), float(ratio), smoothing_coefficient(attack_ms, sample_rate),
                         smoothing_coefficient(release_ms, sample_rate), buf)
    # gain = 10^((M − y_L)/20) = exp((M − y_L)·ln10/20), numpy's SIMD float32 exp
    g = y_l
    np.subtract(np.float32(makeup_db), g, out=g)
    g *= np.float32(_LN10_20)
    np.exp(g, out=g)
    g *= x
    return g


def compressor_params(params: dict) -> dict:
    """The keyword arguments of :func:`apply_compressor` from channel parameter names."""
    return dict(threshold_db=params["compressor.threshold_db"], ratio=params["compressor.ratio"],
                attack_ms=params["compressor.attack_ms"], release_ms=params["compressor.release_ms"],
                makeup_db=params["compressor.makeup_db"])


def sine_peak_table(settings=None, sample_rate: int = 44100, level_db: float = -6.0) -> list[dict]:
    """Where a sine's settled output peak lands relative to the static curve.

    For each (frequency Hz, threshold dB, ratio, attack ms, release ms) a 2 s sine with peak
    ``level_db`` is compressed; the output peak over the last 0.5 s is compared with the static
    curve T + (x − T)/R and with the input peak. notes/README-console.md shows these rows
    (:func:`print_sine_peak_table`).
    """
    settings = settings or [(1000, -20, 4, 0.1, 100), (1000, -20, 4, 1, 100), (1000, -20, 4, 10, 100),
                            (1000, -20, 4, 10, 1000), (100, -20, 4, 10, 100), (100, -20, 4, 1, 50),
                            (1000, -30, 10, 0.03, 50), (1000, -30, 10, 30, 3000)]
    rows = []
    t = np.arange(2 * sample_rate) / sample_rate
    for f, T, R, a, r in settings:
        x = (10 ** (level_db / 20) * np.sin(2 * np.pi * f * t)).astype(np.float32)
        y = apply_compressor(x, sample_rate, T, R, a, r, 0.0)
        peak = 20 * np.log10(np.max(np.abs(y[-sample_rate // 2:])))
        curve = T + (level_db - T) / R if level_db > T else level_db
        rows.append({"freq_hz": f, "threshold_db": T, "ratio": R, "attack_ms": a, "release_ms": r,
                     "input_peak_db": level_db, "static_curve_db": round(curve, 2), "output_peak_db": round(peak, 2),
                     "above_curve_db": round(peak - curve, 2)})
    return rows



def print_sine_peak_table() -> None:
    cols = ["freq_hz", "threshold_db", "ratio", "attack_ms", "release_ms", "input_peak_db", "static_curve_db",
            "output_peak_db", "above_curve_db"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in sine_peak_table():
        print("| " + " | ".join(str(row[c]) for c in cols) + " |")
