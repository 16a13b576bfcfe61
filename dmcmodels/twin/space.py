"""The console's normalized parameter vector, in torch (DESIGN §2, :mod:`dmcdata.console.params`).

Everything here is read from a :class:`dmcdata.console.params.ParameterSpace` (by default
:data:`CHANNEL_SPACE`): names, ranges, neutral values, which parameters are discrete and which are
drawn log-uniformly. Nothing is restated.

- :func:`denormalize`: v ∈ [−1, 1] → x = min + (v + 1)(max − min)/2 (the console's
  ``ParameterSpace.denormalize``: v clipped to [−1, 1], discrete values rounded), float64,
  differentiable in the continuous columns.
- :func:`params_to_vector`: named values → float64 v (the console's ``normalize`` without its
  float32 cast, so ``denormalize(params_to_vector(p))`` gives back ``p`` to ~1e−16).
- Log-frequency parametrisation (:func:`log_to_linear`, :func:`linear_to_log`): the console
  normalizes frequencies, Q and times *linearly*, but draws them log-uniformly, and a step in v is
  a step in Hz: the low shelf's 20–1000 Hz range puts 20–100 Hz in the bottom 8 % of v. For
  optimisation, u ∈ [−1, 1] with log x = log min + (u + 1)(log max − log min)/2 for every
  ``log_uniform`` parameter (u = v for the others) spreads octaves evenly; the twin itself always
  takes v, so the two meet in :func:`log_to_linear`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dmcdata.console.params import CHANNEL_SPACE, ParameterSpace


class SpaceTensors:
    """float64 tensors (min, span, masks) of a parameter space, and its name → column index."""

    def __init__(self, space: ParameterSpace = CHANNEL_SPACE):
        self.space = space
        self.names = space.names
        self.index = {n: i for i, n in enumerate(self.names)}
        lo = np.array([p.min for p in space.params], dtype=np.float64)
        hi = np.array([p.max for p in space.params], dtype=np.float64)
        self.lo = torch.from_numpy(lo)
        self.hi = torch.from_numpy(hi)
        # a one-way choice (bank of one IR) has no span: the console uses 1.0 there too
        self.span = torch.from_numpy(np.where(hi > lo, hi - lo, 1.0))
        self.discrete = torch.tensor([p.discrete for p in space.params])
        self.log = torch.tensor([p.dist == "log_uniform" for p in space.params])
        safe_lo = np.where(self.log.numpy(), lo, 1.0)
        safe_hi = np.where(self.log.numpy(), hi, math.e)
        self.log_lo = torch.from_numpy(np.log(safe_lo))
        self.log_span = torch.from_numpy(np.log(safe_hi) - np.log(safe_lo))

    def __len__(self) -> int:
        return len(self.names)

    def column(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Column ``name`` of a (..., n_params) tensor."""
        return x[..., self.index[name]]


def denormalize(v: torch.Tensor, st: SpaceTensors) -> torch.Tensor:
    """(..., P) normalized → (..., P) float64 values in each parameter's unit.

    Values outside [−1, 1] are clipped (zero gradient there, as the console clips them);
    discrete columns (polarity, reverb.ir) are rounded half to even like ``round`` and carry no
    gradient.
    """
    if v.shape[-1] != len(st):
        raise ValueError(f"normalized vector must have {len(st)} values in the last dimension, got shape {tuple(v.shape)}")
    v = v.to(torch.float64).clamp(-1.0, 1.0)
    x = st.lo + (v + 1.0) * 0.5 * st.span
    x = torch.minimum(torch.maximum(x, st.lo), st.hi)
    return torch.where(st.discrete, x.detach().round(), x)


def params_to_vector(params: list[dict] | dict, st: SpaceTensors) -> torch.Tensor:
    """Named values (one dict or a list of dicts; missing names are neutral) → float64 (B, P) v."""
    single = isinstance(params, dict)
    rows = []
    for i, p in enumerate([params] if single else params):
        full = st.space.validate(p, where="" if single else f"track {i}: ")
        rows.append([float(full[n]) for n in st.names])
    x = torch.tensor(rows, dtype=torch.float64).reshape(-1, len(st))
    v = 2.0 * (x - st.lo) / st.span - 1.0
    v = v.clamp(-1.0, 1.0)
    return v[0] if single else v


def vector_to_params(v: torch.Tensor, st: SpaceTensors) -> list[dict]:
    """(B, P) normalized → one dict of named values per row (ints for discrete parameters)."""
    x = denormalize(v.detach().reshape(-1, len(st)), st)
    out = []
    for row in x.tolist():
        out.append({n: (int(round(val)) if st.discrete[i] else float(val)) for i, (n, val) in enumerate(zip(st.names, row))})
    return out


def log_to_linear(u: torch.Tensor, st: SpaceTensors) -> torch.Tensor:
    """Log-frequency parametrisation u → the console's normalized v (same shape, float64).

    For ``log_uniform`` parameters x = exp(log min + (u + 1)/2 · log(max/min)), then
    v = 2 (x − min)/(max − min) − 1; other columns pass through (v = u).
    """
    u = u.to(torch.float64)
    x = torch.exp(st.log_lo + (u.clamp(-1.0, 1.0) + 1.0) * 0.5 * st.log_span)
    v_log = 2.0 * (x - st.lo) / st.span - 1.0
    return torch.where(st.log, v_log, u)


def linear_to_log(v: torch.Tensor, st: SpaceTensors) -> torch.Tensor:
    """Inverse of :func:`log_to_linear` (no gradient needed: used to initialise)."""
    v = v.to(torch.float64).clamp(-1.0, 1.0)
    x = st.lo + (v + 1.0) * 0.5 * st.span
    x_safe = torch.where(st.log, x.clamp_min(1e-300), torch.ones_like(x))
    u_log = 2.0 * (torch.log(x_safe) - st.log_lo) / st.log_span - 1.0
    return torch.where(st.log, u_log.clamp(-1.0, 1.0), v)
