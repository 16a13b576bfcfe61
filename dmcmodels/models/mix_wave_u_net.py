"""Mix-Wave-U-Net (thesis §5.5; Martínez Ramírez et al. 2021): a baseline that predicts the stereo
mix directly from a fixed number of input channels.

The tracks are the channels of one multichannel input: (B, N, T) with N ≤ ``inputs``, unused
inputs zero-filled, in the order given (the network is *not* permutation invariant, unlike the
DMC). The body is :class:`dmcmodels.models.wave_u_net.WaveUNet` with ``inputs`` input and 2 output
channels and a constant conditioning (nothing to condition on). The input is zero-padded by the
network's reach so the output covers every input sample, as the DMC's. It chooses no console
parameters: ``names`` is empty and its mixes have no mix document.
"""

from __future__ import annotations

import torch
from torch import nn

from dmcmodels.models.dmc import as_batch


class MixWaveUNet(nn.Module):
    names: tuple = ()

    def __init__(self, inputs: int = 16, depth: int = 6, channels: int = 16, kernel_size: int = 8, stride: int = 4,
                 **kwargs):
        super().__init__()
        from dmcmodels.models.wave_u_net import WaveUNet

        if inputs < 1:
            raise ValueError(f"inputs must be >= 1, got {inputs}")
        self.inputs = int(inputs)
        self.net = WaveUNet(depth=depth, channels=channels, cond_dim=1, kernel_size=kernel_size, stride=stride,
                            in_channels=self.inputs, out_channels=2, **kwargs)

    def forward(self, tracks: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        from dmcmodels.process import block_geometry

        x, mask = as_batch(tracks, mask)
        b, n, t = x.shape
        if n > self.inputs:
            raise ValueError(f"Mix-Wave-U-Net was built for at most {self.inputs} tracks, got {n}")
        x = x * mask[..., None].to(x.dtype)
        if n < self.inputs:
            x = torch.cat([x, x.new_zeros(b, self.inputs - n, t)], dim=1)
        length, _, left = block_geometry(self.net, t)
        padded = torch.nn.functional.pad(x, (left, length - left - t))
        mix = self.net(padded, x.new_zeros(b, 1))[..., :t]
        return {"mix": mix, "params": x.new_zeros(b, n, 0), "active": mask}
