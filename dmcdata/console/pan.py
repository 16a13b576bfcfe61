"""Panning a mono signal to stereo.

``pan`` = θ in [0, 1] (0 = hard left, 0.5 = centre, 1 = hard right).

- ``linear`` (the thesis):           L = (1 − θ) x,          R = θ x         (centre: −6.02 dB each)
- ``constant_power`` (−3 dB centre): L = cos(θ π/2) x,  R = sin(θ π/2) x (centre: −3.01 dB each;
  L² + R² = x² at every θ)
"""

from __future__ import annotations

import math

import numpy as np

from dmcdata.console.errors import ConsoleError

PAN_LAWS = ("linear", "constant_power")


def check_pan_law(law: str) -> str:
    if law not in PAN_LAWS:
        raise ConsoleError(f"pan law {law!r} unknown; use one of {list(PAN_LAWS)}")
    return law


def pan_gains(theta: float, law: str = "linear") -> tuple[float, float]:
    """(left, right) linear gains for pan position ``theta`` under ``law``."""
    check_pan_law(law)
    t = float(theta)
    if not 0.0 <= t <= 1.0:
        raise ConsoleError(f"pan: value {t:g} out of range [0, 1]")
    if law == "linear":
        return 1.0 - t, t
    return math.cos(t * math.pi / 2.0), math.sin(t * math.pi / 2.0)


def apply_pan(x: np.ndarray, theta: float, law: str = "linear", out: np.ndarray | None = None) -> np.ndarray:
    """Mono (n,) -> stereo float32 (2, n)."""
    gl, gr = pan_gains(theta, law)
    x = np.asarray(x, dtype=np.float32)
    if out is None:
        out = np.empty((2, x.shape[0]), dtype=np.float32)
    np.multiply(x, np.float32(gl), out=out[0])
    np.multiply(x, np.float32(gr), out=out[1])
    return out
