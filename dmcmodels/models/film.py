"""Feature-wise linear modulation (FiLM, Perez et al. 2018) as used by the TCN (DESIGN §4).

Two parts:

- :class:`FiLMGenerator`: an MLP that maps the conditioning vector c (B, cond_dim) -- the
  normalized console parameters in [−1, 1] -- to one global embedding e (B, embed_dim) that
  holds (γ, β) for the whole network: Linear → PReLU → Linear → PReLU → Linear.
- :class:`FiLM`: the per-block part: a linear adaptor maps e to this block's per-channel
  (γ_k, β_k) and modulates normalized activations: y[b, k, t] = γ_k[b]·x̂[b, k, t] + β_k[b],
  with x̂ = BatchNorm1d(x) without its own affine transform (FiLM supplies the affine part).

In training on CPU the normalisation and the modulation run as one operation with a hand-written
backward (:class:`_NormFiLM`, same result to float rounding, same running statistics): with
μ_k, σ_k the batch statistics over (b, t),

    y = s·x + h,   s[b, k] = γ_k[b] / σ_k,   h[b, k] = β_k[b] − s[b, k]·μ_k           (one pass)
    ∂L/∂β_k[b] = Σ_t g,   ∂L/∂γ_k[b] = Σ_t g·x̂
    ∂L/∂x = s·g − (m1_k + x̂·m2_k) / σ_k,   m1_k = mean_(b,t) γ·g,  m2_k = mean_(b,t) γ·g·x̂

(BatchNorm's backward with ∂L/∂x̂ = γ·g): one fused multiply-add instead of normalise, multiply and
add, and no normalised copy kept for the backward (forward + backward of one TCN layer's pair:
131 → 107 ms in a one-thread microbenchmark). :func:`dmcmodels.models.conv.fast_backward`
``(False)`` switches back to the separate stock operations, and under ``torch.compile`` they are
used too (inductor fuses them itself; tracing the custom one doubled a 3-block TCN's compile time).
"""

from __future__ import annotations

import torch
from torch import nn

from dmcmodels.models import conv


class FiLMGenerator(nn.Module):
    """cond (B, cond_dim) → global FiLM embedding (B, embed_dim)."""

    def __init__(self, cond_dim: int = 25, hidden: tuple[int, ...] = (128, 256), embed_dim: int = 128):
        super().__init__()
        if cond_dim < 1:
            raise ValueError(f"cond_dim must be >= 1, got {cond_dim}")
        layers: list[nn.Module] = []
        width = cond_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.PReLU()]
            width = h
        layers.append(nn.Linear(width, embed_dim))
        self.net = nn.Sequential(*layers)
        self.cond_dim = cond_dim
        self.embed_dim = embed_dim

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        if cond.ndim != 2 or cond.shape[1] != self.cond_dim:
            raise ValueError(f"conditioning must have shape (batch, {self.cond_dim}), got {tuple(cond.shape)}")
        return self.net(cond)


class FiLM(nn.Module):
    """BatchNorm1d(affine=False) followed by y = γ·x̂ + β, (γ, β) = Linear(embedding) per channel."""

    def __init__(self, channels: int, embed_dim: int = 128):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels, affine=False)
        self.adaptor = nn.Linear(embed_dim, 2 * channels)
        self.channels = channels

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.adaptor(embedding).chunk(2, dim=-1)  # (B, C) each
        norm = self.norm
        if (self.training and norm.track_running_stats and conv.enabled() and x.device.type == "cpu"
                and torch.is_grad_enabled() and not torch.compiler.is_compiling()
                and x.ndim == 3 and x.shape[0] * x.shape[2] > 1):  # compiled: inductor fuses the stock ops
            y, mean, var = _NormFiLM.apply(x, gamma.contiguous(), beta.contiguous(), norm.eps)
            with torch.no_grad():  # the running statistics exactly as BatchNorm1d updates them
                norm.num_batches_tracked.add_(1)
                m = norm.momentum if norm.momentum is not None else 1.0 / float(norm.num_batches_tracked)
                n = x.shape[0] * x.shape[2]
                norm.running_mean.mul_(1.0 - m).add_(mean, alpha=m)
                norm.running_var.mul_(1.0 - m).add_(var * (n / (n - 1)), alpha=m)
            return y
        return gamma.unsqueeze(-1) * norm(x) + beta.unsqueeze(-1)


class _NormFiLM(torch.autograd.Function):
    """y = γ·BatchNorm(x) + β with batch statistics, in one pass; the backward of the module doc."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        var, mean = torch.var_mean(x, dim=(0, 2), correction=0)
        invstd = torch.rsqrt(var + eps)
        scale = gamma * invstd                                  # (B, C)
        shift = beta - scale * mean
        y = torch.addcmul(shift.unsqueeze(-1), x, scale.unsqueeze(-1))
        ctx.save_for_backward(x, gamma, mean, invstd)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad, _grad_mean, _grad_var):
        x, gamma, mean, invstd = ctx.saved_tensors
        b, c, t = x.shape
        grad = grad.contiguous()
        s1 = grad.sum(-1)                                                             # Σ_t g
        s2 = torch.bmm(grad.view(b * c, 1, t), x.contiguous().view(b * c, t, 1)).view(b, c)  # Σ_t g·x
        g_gamma = (s2 - mean * s1) * invstd                                           # Σ_t g·x̂
        n = b * t
        m1 = (gamma * s1).sum(0) / n
        m2 = (gamma * g_gamma).sum(0) / n
        d = -m2 * invstd * invstd                     # ∂L/∂x = a·g + d·x + e
        e = -m1 * invstd - d * mean
        gx = torch.addcmul(e[None, :, None], x, d[None, :, None])
        gx.addcmul_(grad, (gamma * invstd).unsqueeze(-1))
        return gx, g_gamma, s1, None
