"""Gain and polarity: scalar multiplies, ``y = s * 10^(g/20) * x`` with ``s = -1`` when inverted."""

from __future__ import annotations

import numpy as np


def gain_factor(gain_db: float, polarity: int = 0) -> float:
    """Linear factor of gain ``gain_db`` (dB) and polarity (0 = as is, 1 = inverted)."""
    g = 10.0 ** (float(gain_db) / 20.0)
    return -g if int(polarity) else g


def apply_gain(x: np.ndarray, gain_db: float, polarity: int = 0) -> np.ndarray:
    """float32 ``y = ±10^(gain_db/20) x`` (a new array; the input is left untouched)."""
    f = gain_factor(gain_db, polarity)
    if f == 1.0:
        return np.array(x, dtype=np.float32, copy=True)
    return (np.asarray(x, dtype=np.float32) * np.float32(f)).astype(np.float32, copy=False)
