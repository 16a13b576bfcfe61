"""The console's 5-band EQ in torch: RBJ cookbook coefficients (differentiable) → biquad cascade.

Same equations as :mod:`dmcdata.console.eq` (see its docstring), in float64 torch so the
coefficients carry gradients to gain, frequency and Q: with A = 10^(G/40), w0 = 2π min(F,
0.49 Fs)/Fs, c = cos w0, α = sin(w0)/(2Q) (shelves: Q = 1/√2, slope S = 1):

- peaking:    b = [1 + αA, −2c, 1 − αA],  a = [1 + α/A, −2c, 1 − α/A]
- low shelf:  b = A·[(A+1) − (A−1)c + 2√A α,  2((A−1) − (A+1)c),  (A+1) − (A−1)c − 2√A α]
              a = [(A+1) + (A−1)c + 2√A α,  −2((A−1) + (A+1)c),  (A+1) + (A−1)c − 2√A α]
- high shelf: the low shelf with the sign of the (A−1)c terms and of b1, a1 flipped.

The console skips a band at 0 dB; here it runs, and a band at A = 1 has b = a exactly, so it is
the identity to the last bit (the twin keeps one code path, and the gradient w.r.t. a band's
gain at 0 dB exists).
"""

from __future__ import annotations

import math

import torch

from dmcdata.console.eq import SHELF_Q, peaking_terms, shelf_terms
from dmcmodels.twin.biquad import biquad_cascade



def _w0(freq_hz: torch.Tensor, sample_rate: float) -> torch.Tensor:
    return 2.0 * math.pi * torch.clamp(freq_hz, max=0.49 * sample_rate) / sample_rate


def peaking_sos(gain_db: torch.Tensor, freq_hz: torch.Tensor, q: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """(B,) gain dB, centre Hz, Q → (B, 5) normalized [b0, b1, b2, a1, a2] (RBJ peaking EQ)."""
    A = torch.pow(10.0, gain_db / 40.0)
    w0 = _w0(freq_hz, sample_rate)
    return torch.stack(peaking_terms(A, torch.cos(w0), torch.sin(w0) / (2.0 * q)), dim=-1)


def shelf_sos(gain_db: torch.Tensor, freq_hz: torch.Tensor, sample_rate: float, high: bool) -> torch.Tensor:
    """(B,) gain dB, corner Hz → (B, 5) normalized coefficients of an RBJ low / high shelf, S = 1."""
    A = torch.pow(10.0, gain_db / 40.0)
    w0 = _w0(freq_hz, sample_rate)
    k = 2.0 * torch.sqrt(A) * torch.sin(w0) / (2.0 * SHELF_Q)  # 2 √A α
    return torch.stack(shelf_terms(A, torch.cos(w0), k, high), dim=-1)


def eq_sos(p: dict, sample_rate: float) -> torch.Tensor:
    """Named (B,) float64 tensors (``eq.*`` names) → (B, 5, 5): low shelf, bands 1–3, high shelf."""
    rows = [shelf_sos(p["eq.low_shelf_gain_db"], p["eq.low_shelf_freq_hz"], sample_rate, high=False)]
    for k in (1, 2, 3):
        rows.append(peaking_sos(p[f"eq.band{k}_gain_db"], p[f"eq.band{k}_freq_hz"], p[f"eq.band{k}_q"], sample_rate))
    rows.append(shelf_sos(p["eq.high_shelf_gain_db"], p["eq.high_shelf_freq_hz"], sample_rate, high=True))
    return torch.stack(rows, dim=1)


def apply_eq(x: torch.Tensor, p: dict, sample_rate: float) -> torch.Tensor:
    """The 5-band EQ on x (B, n) with per-track parameters ``p`` (name → (B,) tensor); float64 out."""
    return biquad_cascade(x, eq_sos(p, sample_rate))
