"""Feature-wise linear modulation (FiLM, Perez et al. 2018) as used by the TCN (DESIGN §4).

Two parts:

- :class:`FiLMGenerator`: an MLP that maps the conditioning vector c (B, cond_dim) -- the
  normalized console parameters in [−1, 1] -- to one global embedding e (B, embed_dim) that
  holds (γ, β) for the whole network: Linear → PReLU → Linear → PReLU → Linear.
- :class:`FiLM`: the per-block part: a linear adaptor maps e to this block's per-channel
  (γ_k, β_k) and modulates normalized activations: y[b, k, t] = γ_k[b]·x̂[b, k, t] + β_k[b],
  with x̂ = BatchNorm1d(x) without its own affine transform (FiLM supplies the affine part).
"""

from __future__ import annotations

import torch
from torch import nn


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
        return gamma.unsqueeze(-1) * self.norm(x) + beta.unsqueeze(-1)
