"""The console's hard-knee feed-forward compressor in torch (thesis §4.2, DESIGN §2).

Forward, exactly :mod:`dmcdata.console.compressor` (in float64)::

    x_G[n] = 20 log10 max(|x[n]|, 1e-30)
    x_L[n] = max(x_G[n] − T, 0) · (1 − 1/R)                     (hard knee: x_G − y_G)
    y_L[n] = α_A y_L[n−1] + (1 − α_A) x_L[n]   if x_L[n] > y_L[n−1]      (attack)
           = α_R y_L[n−1] + (1 − α_R) x_L[n]   otherwise                  (release)
    y[n]   = x[n] · 10^((M − y_L[n]) / 20),     α = exp(−1 / (τ Fs)),  y_L[−1] = 0

Two custom autograd Functions:

- :class:`LevelDetector`: the branching one-pole. Its forward (numba) stores y_L and the
  attack/release decision a_n ∈ {α_A, α_R} of every sample; the backward is the adjoint recursion
  run backwards in time with the decisions held fixed (the output is continuous where a decision
  flips, so this is the exact gradient almost everywhere)::

      λ[n] = g[n] + a_{n+1} λ[n+1]
      ∂L/∂x_L[n] = (1 − a_n) λ[n],   ∂L/∂α_A = Σ_{attack n} λ[n] (y_L[n−1] − x_L[n]),  likewise α_R

- :class:`KneeCurve`: x_L = max(z, 0)·s with z = x_G − T, s = 1 − 1/R. With the hard knee the
  gradient to T and R is exactly zero while the signal stays below threshold, so an optimiser
  starting there never moves them. ``surrogate_db`` = w > 0 keeps the forward unchanged and
  uses, in the backward pass only, the derivatives of the soft curve softplus_w(z)·s with
  softplus_w(z) = w·ln(1 + e^{z/w}): ∂/∂z = σ(z/w)·s, ∂/∂s = softplus_w(z). ``surrogate_db`` =
  None (default) gives the true gradient (what ``gradcheck`` checks).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
import torch.nn.functional as F

_DB = 20.0 / math.log(10.0)
_LN10_20 = math.log(10.0) / 20.0


@numba.njit(cache=True, nogil=True)
def detector_forward(xl, alpha_a, alpha_r, y, attack):
    """xl (B, n) float64 → y (B, n) and attack (B, n) uint8 (1 where the attack branch ran)."""
    n_b, n = xl.shape
    for b in range(n_b):
        aa = alpha_a[b]
        ar = alpha_r[b]
        prev = 0.0
        for t in range(n):
            v = xl[b, t]
            if v > prev:
                a = aa
                attack[b, t] = 1
            else:
                a = ar
                attack[b, t] = 0
            prev = v + a * (prev - v)
            y[b, t] = prev
    return y


@numba.njit(cache=True, nogil=True)
def detector_backward(g, xl, y, attack, alpha_a, alpha_r, gxl, galpha):
    """Adjoint of :func:`detector_forward`: g (B, n) → gxl (B, n), galpha (B, 2) = (∂α_A, ∂α_R)."""
    n_b, n = g.shape
    for b in range(n_b):
        aa = alpha_a[b]
        ar = alpha_r[b]
        lam = 0.0
        a_next = 0.0
        ga = 0.0
        gr = 0.0
        for t in range(n - 1, -1, -1):
            lam = g[b, t] + a_next * lam
            a = aa if attack[b, t] else ar
            gxl[b, t] = (1.0 - a) * lam
            prev = y[b, t - 1] if t > 0 else 0.0
            d = lam * (prev - xl[b, t])
            if attack[b, t]:
                ga += d
            else:
                gr += d
            a_next = a
        galpha[b, 0] = ga
        galpha[b, 1] = gr
    return gxl, galpha


class LevelDetector(torch.autograd.Function):
    """y_L = detector(x_L; α_A, α_R): x_L (B, n), α (B,) → (B, n) float64 (see module doc)."""

    @staticmethod
    def forward(ctx, xl: torch.Tensor, alpha_a: torch.Tensor, alpha_r: torch.Tensor) -> torch.Tensor:
        xd = xl.detach().to(torch.float64).contiguous().numpy()
        aa = alpha_a.detach().to(torch.float64).contiguous().numpy()
        ar = alpha_r.detach().to(torch.float64).contiguous().numpy()
        y = np.empty_like(xd)
        attack = np.empty(xd.shape, dtype=np.uint8)
        detector_forward(xd, aa, ar, y, attack)
        yt = torch.from_numpy(y)
        ctx.save_for_backward(torch.from_numpy(xd), yt, torch.from_numpy(attack),
                              torch.from_numpy(aa), torch.from_numpy(ar))
        return yt.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy: torch.Tensor):
        xd, y, attack, aa, ar = ctx.saved_tensors
        g = gy.detach().to(torch.float64).contiguous().numpy()
        gxl = np.empty_like(g)
        galpha = np.empty((g.shape[0], 2), dtype=np.float64)
        detector_backward(g, xd.numpy(), y.numpy(), attack.numpy(), aa.numpy(), ar.numpy(), gxl, galpha)
        ga = torch.from_numpy(galpha[:, 0].copy())
        gr = torch.from_numpy(galpha[:, 1].copy())
        return torch.from_numpy(gxl), ga, gr


class KneeCurve(torch.autograd.Function):
    """x_L = max(z, 0)·s (hard knee); backward exact, or the soft-knee surrogate of width w dB."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, slope: torch.Tensor, surrogate_db: float | None) -> torch.Tensor:
        ctx.save_for_backward(z, slope)
        ctx.w = surrogate_db
        return torch.clamp(z, min=0.0) * slope

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        z, slope = ctx.saved_tensors
        w = ctx.w
        if w:
            dz = torch.sigmoid(z / w)
            val = w * F.softplus(z / w)
        else:
            dz = (z > 0).to(z.dtype)
            val = torch.clamp(z, min=0.0)
        gz = g * dz * slope if ctx.needs_input_grad[0] else None
        gs = (g * val).sum(dim=-1, keepdim=True) if ctx.needs_input_grad[1] else None
        return gz, gs, None


def smoothing_coefficient(time_ms: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """α = exp(−1 / (τ Fs)) for τ = ``time_ms`` milliseconds."""
    return torch.exp(-1.0 / (time_ms * 1e-3 * sample_rate))


def apply_compressor(x: torch.Tensor, p: dict, sample_rate: float, surrogate_db: float | None = None) -> torch.Tensor:
    """Compress x (B, n) with per-track ``compressor.*`` (B,) tensors; float64 out.

    Ratio 1 gives x_L = 0, y_L = 0, gain 10^(M/20): the console's skipped identity, exactly.
    """
    x = x.to(torch.float64)
    ln_abs = torch.log(torch.clamp(torch.abs(x), min=1e-30))
    z = ln_abs * _DB - p["compressor.threshold_db"][:, None]
    slope = (1.0 - 1.0 / p["compressor.ratio"])[:, None]
    xl = KneeCurve.apply(z, slope, surrogate_db)
    y_l = LevelDetector.apply(xl, smoothing_coefficient(p["compressor.attack_ms"], sample_rate),
                              smoothing_coefficient(p["compressor.release_ms"], sample_rate))
    gain = torch.exp((p["compressor.makeup_db"][:, None] - y_l) * _LN10_20)
    return x * gain
