"""A differentiable biquad cascade: numba forward (the console's recursion), adjoint backward.

Each of the K sections is the console's transposed direct form II (``dmcdata.console.eq``)::

    y[n]  = b0 v[n] + z1[n−1]
    z1[n] = b1 v[n] − a1 y[n] + z2[n−1]
    z2[n] = b2 v[n] − a2 y[n]

i.e. A(z) y = B(z) v with A = 1 + a1 z⁻¹ + a2 z⁻², B = b0 + b1 z⁻¹ + b2 z⁻², zero initial state.
The backward pass of a loss L with ∂L/∂y = g is the adjoint (transposed) system, run backwards
in time::

    u[n]      = g[n] − a1 u[n+1] − a2 u[n+2]          (u = A⁻ᵀ g, anti-causal all-pole)
    ∂L/∂b_k   = Σ_n u[n] v[n−k]                        k = 0, 1, 2
    ∂L/∂a_k   = −Σ_n u[n] y[n−k]                       k = 1, 2
    ∂L/∂v[m]  = b0 u[m] + b1 u[m+1] + b2 u[m+2]        (Bᵀ u, the next section's g)

Sections are processed last to first. All arithmetic is float64 (the console's state is float64
too); the forward keeps every section's input (K + 1 signals) for the backward pass. Tracks are
independent and run in parallel (numba ``prange``).
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(cache=True, nogil=True)
def cascade_forward(x, sos, states):
    """x (B, n) float64, sos (B, K, 5) [b0, b1, b2, a1, a2] → states (B, K + 1, n); states[:, K] = y."""
    n_b, n = x.shape
    k = sos.shape[1]
    for b in range(n_b):
        for t in range(n):
            states[b, 0, t] = x[b, t]
        for j in range(k):
            b0, b1, b2, a1, a2 = sos[b, j, 0], sos[b, j, 1], sos[b, j, 2], sos[b, j, 3], sos[b, j, 4]
            z1 = 0.0
            z2 = 0.0
            src = states[b, j]
            dst = states[b, j + 1]
            for t in range(n):
                v = src[t]
                y = b0 * v + z1
                z1 = b1 * v - a1 * y + z2
                z2 = b2 * v - a2 * y
                dst[t] = y
    return states


@numba.njit(cache=True, nogil=True)
def cascade_backward(gy, sos, states, gx, gsos):
    """Adjoint of :func:`cascade_forward`: gy (B, n) → gx (B, n), gsos (B, K, 5)."""
    n_b, n = gy.shape
    k = sos.shape[1]
    for b in range(n_b):
        g = gy[b].copy()
        u = np.empty(n)
        for j in range(k - 1, -1, -1):
            b0, b1, b2, a1, a2 = sos[b, j, 0], sos[b, j, 1], sos[b, j, 2], sos[b, j, 3], sos[b, j, 4]
            v = states[b, j]
            y = states[b, j + 1]
            u1 = 0.0
            u2 = 0.0
            for t in range(n - 1, -1, -1):
                ut = g[t] - a1 * u1 - a2 * u2
                u[t] = ut
                u2 = u1
                u1 = ut
            db0 = 0.0
            db1 = 0.0
            db2 = 0.0
            da1 = 0.0
            da2 = 0.0
            for t in range(n):
                ut = u[t]
                db0 += ut * v[t]
                if t >= 1:
                    db1 += ut * v[t - 1]
                    da1 -= ut * y[t - 1]
                if t >= 2:
                    db2 += ut * v[t - 2]
                    da2 -= ut * y[t - 2]
            gsos[b, j, 0] = db0
            gsos[b, j, 1] = db1
            gsos[b, j, 2] = db2
            gsos[b, j, 3] = da1
            gsos[b, j, 4] = da2
            for t in range(n):
                acc = b0 * u[t]
                if t + 1 < n:
                    acc += b1 * u[t + 1]
                if t + 2 < n:
                    acc += b2 * u[t + 2]
                g[t] = acc
        for t in range(n):
            gx[b, t] = g[t]
    return gx, gsos


class BiquadCascade(torch.autograd.Function):
    """y = cascade(x; sos): x (B, n), sos (B, K, 5) → y (B, n) float64 (see module doc)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sos: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or sos.ndim != 3 or sos.shape[0] != x.shape[0] or sos.shape[2] != 5:
            raise ValueError(f"biquad cascade: expected x (B, n) and sos (B, K, 5), got {tuple(x.shape)} and {tuple(sos.shape)}")
        xd = x.detach().to(torch.float64).contiguous().numpy()
        sd = sos.detach().to(torch.float64).contiguous().numpy()
        states = np.empty((xd.shape[0], sd.shape[1] + 1, xd.shape[1]), dtype=np.float64)
        cascade_forward(xd, sd, states)
        st = torch.from_numpy(states)
        ctx.save_for_backward(st, sos.detach().to(torch.float64))
        ctx.x_dtype = x.dtype
        return st[:, -1].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy: torch.Tensor):
        st, sos = ctx.saved_tensors
        g = gy.detach().to(torch.float64).contiguous().numpy()
        gx = np.empty_like(g)
        gsos = np.empty(sos.shape, dtype=np.float64)
        cascade_backward(g, sos.contiguous().numpy(), st.numpy(), gx, gsos)
        gx_t = torch.from_numpy(gx).to(ctx.x_dtype) if ctx.needs_input_grad[0] else None
        gs_t = torch.from_numpy(gsos) if ctx.needs_input_grad[1] else None
        return gx_t, gs_t


def biquad_cascade(x: torch.Tensor, sos: torch.Tensor) -> torch.Tensor:
    """Differentiable cascade of biquads (TDF-II, float64): x (B, n), sos (B, K, 5) → (B, n)."""
    return BiquadCascade.apply(x, sos)
