"""5-band parametric EQ: low shelf, three peaking bands, high shelf (RBJ Audio-EQ-Cookbook).

Coefficients (per section, before normalizing by a0), with A = 10^(G/40), w0 = 2π F / Fs,
c = cos w0, and α = sin(w0) / (2 Q):

- peaking:    b = [1 + αA, −2c, 1 − αA],  a = [1 + α/A, −2c, 1 − α/A]
- low shelf:  b = A·[(A+1) − (A−1)c + 2√A α,  2((A−1) − (A+1)c),  (A+1) − (A−1)c − 2√A α]
              a = [(A+1) + (A−1)c + 2√A α,  −2((A−1) + (A+1)c),  (A+1) + (A−1)c − 2√A α]
- high shelf: b = A·[(A+1) + (A−1)c + 2√A α, −2((A−1) + (A+1)c),  (A+1) + (A−1)c − 2√A α]
              a = [(A+1) − (A−1)c + 2√A α,  2((A−1) − (A+1)c),   (A+1) − (A−1)c − 2√A α]

Shelves use slope S = 1 (α = sin(w0)/√2, i.e. Q = 1/√2): the gain at the corner frequency is
G/2 dB and the plateau (far from the corner) is G dB. Frequencies above 0.49·Fs are clamped to
0.49·Fs (only matters below 44.1 kHz). A band at 0 dB is skipped, so a flat EQ is exactly the
identity. All sections run in one pass over the signal (transposed direct form II, float64
state, float32 in and out).
"""

from __future__ import annotations

import math

import numba
import numpy as np

BANDS = ("low_shelf", "band1", "band2", "band3", "high_shelf")
SHELF_Q = 1.0 / math.sqrt(2.0)


def _w0(freq_hz: float, sample_rate: float) -> float:
    f = min(float(freq_hz), 0.49 * float(sample_rate))
    return 2.0 * math.pi * f / float(sample_rate)


def peaking_terms(A, c, alpha) -> tuple:
    """RBJ peaking biquad, normalized (b0, b1, b2, a1, a2), from A = 10^(G/40), c = cos w0 and
    α = sin w0 / (2Q). Plain arithmetic: floats here, torch tensors in the differentiable twin."""
    a0 = 1.0 + alpha / A
    return ((1.0 + alpha * A) / a0, -2.0 * c / a0, (1.0 - alpha * A) / a0, -2.0 * c / a0, (1.0 - alpha / A) / a0)


def shelf_terms(A, c, k, high: bool) -> tuple:
    """RBJ low (``high=False``) or high shelf with S = 1, normalized (b0, b1, b2, a1, a2), from
    A = 10^(G/40), c = cos w0 and k = 2√A·α. Plain arithmetic, as :func:`peaking_terms`."""
    s = 1.0 if high else -1.0  # the shelves differ by the sign of the (A−1)c terms and of b1/a1
    b0 = A * ((A + 1) + s * (A - 1) * c + k)
    b1 = -s * 2 * A * ((A - 1) + s * (A + 1) * c)
    b2 = A * ((A + 1) + s * (A - 1) * c - k)
    a0 = (A + 1) - s * (A - 1) * c + k
    a1 = s * 2 * ((A - 1) - s * (A + 1) * c)
    a2 = (A + 1) - s * (A - 1) * c - k
    return (b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0)


def peaking_coefficients(gain_db: float, freq_hz: float, q: float, sample_rate: float) -> np.ndarray:
    """Normalized [b0, b1, b2, a1, a2] (a0 = 1) of an RBJ peaking filter."""
    A = 10.0 ** (gain_db / 40.0)
    w0 = _w0(freq_hz, sample_rate)
    return np.array(peaking_terms(A, math.cos(w0), math.sin(w0) / (2.0 * q)))


def shelf_coefficients(gain_db: float, freq_hz: float, sample_rate: float, high: bool) -> np.ndarray:
    """Normalized [b0, b1, b2, a1, a2] of an RBJ low (``high=False``) or high shelf, S = 1."""
    A = 10.0 ** (gain_db / 40.0)
    w0 = _w0(freq_hz, sample_rate)
    k = 2.0 * math.sqrt(A) * math.sin(w0) / (2.0 * SHELF_Q)  # 2 √A α
    return np.array(shelf_terms(A, math.cos(w0), k, high))


def eq_sections(params: dict, sample_rate: float) -> np.ndarray:
    """float64 (k, 5) sections [b0, b1, b2, a1, a2] of the bands with non-zero gain (k ≤ 5)."""
    rows = []
    g = params.get("eq.low_shelf_gain_db", 0.0)
    if g != 0.0:
        rows.append(shelf_coefficients(g, params["eq.low_shelf_freq_hz"], sample_rate, high=False))
    for k in (1, 2, 3):
        g = params.get(f"eq.band{k}_gain_db", 0.0)
        if g != 0.0:
            rows.append(peaking_coefficients(g, params[f"eq.band{k}_freq_hz"], params[f"eq.band{k}_q"], sample_rate))
    g = params.get("eq.high_shelf_gain_db", 0.0)
    if g != 0.0:
        rows.append(shelf_coefficients(g, params["eq.high_shelf_freq_hz"], sample_rate, high=True))
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


@numba.njit(cache=True, nogil=True)
def biquad_cascade(x, sections, out):
    """Run float32 ``x`` through all ``sections`` (k, 5) in one pass (TDF-II) into ``out``."""
    k = sections.shape[0]
    z1 = np.zeros(k)
    z2 = np.zeros(k)
    b0 = sections[:, 0].copy()
    b1 = sections[:, 1].copy()
    b2 = sections[:, 2].copy()
    a1 = sections[:, 3].copy()
    a2 = sections[:, 4].copy()
    for n in range(x.shape[0]):
        v = np.float64(x[n])
        for j in range(k):
            y = b0[j] * v + z1[j]
            z1[j] = b1[j] * v - a1[j] * y + z2[j]
            z2[j] = b2[j] * v - a2[j] * y
            v = y
        out[n] = v
    return out


@numba.njit(cache=True, nogil=True)
def biquad_cascade5(x, s, out):
    """:func:`biquad_cascade` for exactly 5 sections with the state in registers (faster)."""
    b00, b01, b02, a01, a02 = s[0, 0], s[0, 1], s[0, 2], s[0, 3], s[0, 4]
    b10, b11, b12, a11, a12 = s[1, 0], s[1, 1], s[1, 2], s[1, 3], s[1, 4]
    b20, b21, b22, a21, a22 = s[2, 0], s[2, 1], s[2, 2], s[2, 3], s[2, 4]
    b30, b31, b32, a31, a32 = s[3, 0], s[3, 1], s[3, 2], s[3, 3], s[3, 4]
    b40, b41, b42, a41, a42 = s[4, 0], s[4, 1], s[4, 2], s[4, 3], s[4, 4]
    z01 = z02 = z11 = z12 = z21 = z22 = z31 = z32 = z41 = z42 = 0.0
    for n in range(x.shape[0]):
        v = np.float64(x[n])
        y = b00 * v + z01
        z01 = b01 * v - a01 * y + z02
        z02 = b02 * v - a02 * y
        v = y
        y = b10 * v + z11
        z11 = b11 * v - a11 * y + z12
        z12 = b12 * v - a12 * y
        v = y
        y = b20 * v + z21
        z21 = b21 * v - a21 * y + z22
        z22 = b22 * v - a22 * y
        v = y
        y = b30 * v + z31
        z31 = b31 * v - a31 * y + z32
        z32 = b32 * v - a32 * y
        v = y
        y = b40 * v + z41
        z41 = b41 * v - a41 * y + z42
        z42 = b42 * v - a42 * y
        out[n] = y
    return out


def apply_eq(x: np.ndarray, params: dict, sample_rate: float) -> np.ndarray:
    """The 5-band EQ of ``params`` (``eq.*`` names) on float32 ``x``; returns a new float32 array."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    sec = eq_sections(params, sample_rate)
    if sec.shape[0] == 0:
        return x.copy()
    kernel = biquad_cascade5 if sec.shape[0] == 5 else biquad_cascade
    return kernel(x, sec, np.empty_like(x))
