"""Mixing baselines that learn nothing (thesis §5.5, DESIGN §4): mono sum and random gain/pan.

Both have the mixer interface of :mod:`dmcmodels.models.dmc` and DMC-basic's gain–pan channel, so
their choices are mix documents like a DMC's and `dmcdata render` reproduces their mixes.

- :class:`MonoMix`: every track at 0 dB, panned centre: L = R = a(0.5)·Σ x_i (the console's neutral
  settings; a(0.5) = 0.5 for the linear law, 1/√2 for constant power).
- :class:`RandomMix`: gain uniform in ±12 dB, pan uniform in [0, 1], per track, from a seeded
  generator: the same seed and the same sequence of calls give the same mixes.
"""

from __future__ import annotations

import torch
from torch import nn

from dmcdata.console.params import CHANNEL_SPACE
from dmcmodels.models.dmc import GainPanChannel, as_batch, full_vector

BASELINES = ("mono", "random")
RANDOM_GAIN_DB = 12.0


def normalized(name: str, value: torch.Tensor) -> torch.Tensor:
    p = CHANNEL_SPACE[name]
    return 2.0 * (value - p.min) / (p.max - p.min) - 1.0


class _GainPanBaseline(nn.Module):
    names = GainPanChannel.names

    def __init__(self, pan_law: str = "linear"):
        super().__init__()
        self.channel = GainPanChannel(pan_law)

    def choose(self, b: int, n: int, device) -> torch.Tensor:
        raise NotImplementedError

    def full_vector(self, params: torch.Tensor) -> torch.Tensor:
        return full_vector(params, self.names)

    def forward(self, tracks: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x, mask = as_batch(tracks, mask)
        b, n, t = x.shape
        params = self.choose(b, n, x.device).to(x.dtype)
        y = self.channel(x.reshape(b * n, t), params.reshape(b * n, -1)).reshape(b, n, 2, t)
        y = y * mask[:, :, None, None].to(y.dtype)
        return {"mix": y.sum(dim=1), "params": params, "active": mask}


class MonoMix(_GainPanBaseline):
    """0 dB, centre pan for every track."""

    def choose(self, b, n, device):
        p = torch.stack([normalized("gain_db", torch.tensor(0.0)), normalized("pan", torch.tensor(0.5))])
        return p.expand(b, n, 2).to(device)


class RandomMix(_GainPanBaseline):
    """Gain ~ U(−12, 12) dB, pan ~ U(0, 1) per track, from ``torch.Generator().manual_seed(seed)``."""

    def __init__(self, pan_law: str = "linear", seed: int = 0):
        super().__init__(pan_law)
        self.generator = torch.Generator().manual_seed(int(seed))

    def choose(self, b, n, device):
        u = torch.rand(b, n, 2, generator=self.generator, dtype=torch.float64)
        gain = (2.0 * u[..., 0] - 1.0) * RANDOM_GAIN_DB
        return torch.stack([normalized("gain_db", gain), normalized("pan", u[..., 1])], dim=-1).float().to(device)
