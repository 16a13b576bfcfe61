"""Per-sample statistics for manifests: ITU-R BS.1770-4 integrated loudness and silence flags.

Loudness (LUFS) of a ``(frames, channels)`` signal ``x`` at ``fs`` Hz:

1. K-weighting: a high-shelf (pre-filter, +4 dB above ~1.7 kHz) then a high-pass (RLB,
   ~38 Hz), both biquads obtained from their analog prototypes with the bilinear transform, so
   that at 48 kHz they equal the coefficients tabulated in BS.1770 and any other rate is exact too.
2. Gating blocks of 400 ms with 75 % overlap (step 100 ms). For block ``j`` and channel ``i``,
   ``z_ij`` is the mean square of the K-weighted samples and the block loudness is
   ``l_j = -0.691 + 10 log10(sum_i G_i z_ij)`` (``G_i`` = 1 for L/R/C, 1.41 for surrounds).
3. Absolute gate: keep blocks with ``l_j > -70 LUFS``. Relative gate ``Γr`` = loudness of the
   kept blocks - 10 LU; keep blocks above both gates.
4. ``L = -0.691 + 10 log10(sum_i G_i mean_j z_ij)`` over the blocks kept.

Returns ``nan`` when the signal is shorter than one 400 ms block (loudness undefined) and
``-inf`` when no block passes the absolute gate (silence).

Integer inputs are scaled to full scale = 1.0 (int16 / 2**15, int32 / 2**31; soundfile's
24-bit-in-int32 convention therefore also maps to full scale 1.0).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
BLOCK_S = 0.4
STEP_S = 0.1

# Analog prototypes of the two K-weighting stages (they reproduce BS.1770's 48 kHz table).
_SHELF_F0, _SHELF_GAIN_DB, _SHELF_Q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
_HP_F0, _HP_Q = 38.13547087602444, 0.5003270373238773


@lru_cache(maxsize=16)
def k_weighting_sos(fs: int) -> np.ndarray:
    """Second-order sections ``[[b0 b1 b2 1 a1 a2], ...]`` of the K-weighting filter at ``fs`` Hz."""
    k = math.tan(math.pi * _SHELF_F0 / fs)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [(vh + vb * k / _SHELF_Q + k * k) / a0, 2.0 * (k * k - vh) / a0,
             (vh - vb * k / _SHELF_Q + k * k) / a0,
             1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _SHELF_Q + k * k) / a0]
    k = math.tan(math.pi * _HP_F0 / fs)
    a0 = 1.0 + k / _HP_Q + k * k
    hp = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HP_Q + k * k) / a0]
    return np.array([shelf, hp], dtype=np.float64)


def to_float(x: np.ndarray) -> np.ndarray:
    """Samples as float64 with full scale 1.0 (see module docstring for integer scaling)."""
    x = np.asarray(x)
    if x.dtype == np.int16:
        return x.astype(np.float64) / 32768.0
    if x.dtype == np.int32:
        return x.astype(np.float64) / 2147483648.0
    if x.dtype.kind == "f":
        return x.astype(np.float64, copy=False)
    raise TypeError(f"unsupported sample dtype {x.dtype}")


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 channel weights: 1.0, except 1.41 for the surround pair of a 5-channel (L R C Ls Rs) signal."""
    g = np.ones(channels)
    if channels == 5:
        g[3:5] = 1.41
    return g


def integrated_loudness(x: np.ndarray, fs: int, fused: bool = True) -> float:
    """BS.1770-4 gated integrated loudness of ``x`` (``(frames,)`` or ``(frames, channels)``) in LUFS.

    ``fused`` (default) runs the K-filter and the per-hop sums of squares in one numba pass when a
    400 ms block is exactly four 100 ms hops (44.1 / 48 / 96 kHz ...); otherwise, or with
    ``fused=False``, scipy's ``sosfilt`` and a cumulative sum are used. Both give the same value.
    """
    x = np.asarray(x)
    x = x[:, None] if x.ndim == 1 else x
    if not (x.dtype in (np.int16, np.int32) or x.dtype.kind == "f"):
        raise TypeError(f"unsupported sample dtype {x.dtype}")
    n, channels = x.shape
    block = int(round(BLOCK_S * fs))
    step = int(round(STEP_S * fs))
    if n < block:
        return float("nan")
    n_blocks = 1 + (n - block) // step
    if fused and block == 4 * step:
        scale = {np.dtype(np.int16): 1 / 32768.0, np.dtype(np.int32): 1 / 2147483648.0}.get(x.dtype, 1.0)
        xs = np.ascontiguousarray(x if x.dtype in (np.int16, np.int32, np.float32, np.float64) else x.astype(np.float64))
        hops = _k_hop_energy(xs, scale, k_weighting_sos(int(fs)), step, n_blocks + 3)
        z = (hops[:-3] + hops[1:-2] + hops[2:-1] + hops[3:]) / block  # (n_blocks, channels)
    else:
        from scipy.signal import sosfilt

        y = sosfilt(k_weighting_sos(int(fs)), to_float(x), axis=0)
        c = np.zeros((n + 1, channels))
        np.cumsum(y * y, axis=0, out=c[1:])
        starts = np.arange(n_blocks) * step
        z = (c[starts + block] - c[starts]) / block  # (n_blocks, channels)
    g = channel_weights(channels)
    power = z @ g
    with np.errstate(divide="ignore"):
        lj = -0.691 + 10.0 * np.log10(power)
    keep = lj > ABSOLUTE_GATE_LUFS
    if not keep.any():
        return float("-inf")
    rel = -0.691 + 10.0 * math.log10(float(power[keep].mean())) + RELATIVE_GATE_LU
    keep &= lj > rel
    return float(-0.691 + 10.0 * math.log10(float(power[keep].mean())))


@njit(cache=True, nogil=True)
def _k_hop_energy(x, scale, sos, step, n_hops):
    """Sum of squared K-weighted samples per hop of ``step`` frames: ``(n_hops, channels)``.

    Both biquads run in transposed direct form II in float64, sample by sample, one channel at a
    time with the filter state in local variables.
    """
    ch = x.shape[1]
    e = np.zeros((n_hops, ch))
    b10, b11, b12, a11, a12 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
    b20, b21, b22, a21, a22 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5]
    for c in range(ch):
        s10 = s11 = s20 = s21 = 0.0
        i = 0
        for h in range(n_hops):
            acc = 0.0
            for _ in range(step):
                v = x[i, c] * scale
                y1 = b10 * v + s10
                s10 = b11 * v - a11 * y1 + s11
                s11 = b12 * v - a12 * y1
                y2 = b20 * y1 + s20
                s20 = b21 * y1 - a21 * y2 + s21
                s21 = b22 * y1 - a22 * y2
                acc += y2 * y2
                i += 1
            e[h, c] = acc
    return e


def peak_dbfs(x: np.ndarray) -> float:
    """Sample peak in dB relative to full scale (``-inf`` for digital silence)."""
    x = np.asarray(x)
    if x.size == 0:
        return float("-inf")
    if x.dtype.kind == "i":
        full = 32768.0 if x.dtype == np.int16 else 2147483648.0
        peak = max(abs(int(x.max())), abs(int(x.min()))) / full
    else:
        peak = float(np.max(np.abs(x)))
    return 20.0 * math.log10(peak) if peak > 0 else float("-inf")


def is_silent(x: np.ndarray, threshold_dbfs: float = -60.0) -> bool:
    """True when the sample peak of ``x`` stays below ``threshold_dbfs`` (digital silence included)."""
    return peak_dbfs(x) < threshold_dbfs
