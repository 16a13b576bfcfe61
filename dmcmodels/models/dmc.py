"""The differentiable mixing console (thesis §5.2, DESIGN §4): DMC-basic and DMC-full.

Every mixer of the project (these two, the baselines in :mod:`dmcmodels.models.baselines` and
:mod:`dmcmodels.models.mix_wave_u_net`) has one interface::

    out = mixer(tracks, mask)        tracks (B, N, T) mono at ``sample_rate``, mask (B, N) bool
    out["mix"]     (B, 2, T)         the stereo mix, sample-aligned with the tracks
    out["params"]  (B, N, P)         the normalized settings the mixer chose (P = len(mixer.names))
    mixer.names                      which console parameters those P columns are
    mixer.full_vector(params)        (..., 25) the whole console vector (others neutral)

A DMC, for the tracks of one song (weights shared across tracks and songs)::

    e_i = encoder(x_i)                                 128-d, mean over covering 3-s patches
    c   = mean of e_i over the *active* tracks         active: real (mask) and peak > silence_db
    p_i = tanh(MLP([e_i, c]))                          3 × (Linear 2048 → PReLU → Dropout 0.1)
    y_i = channel(x_i, p_i)                            (2, T) per track
    mix = Σ_i y_i over the real tracks

Because c is a mean and the MLP and channel act per track, permuting the tracks permutes the
p_i and leaves the mix unchanged (up to the order of a float sum); padded tracks (mask False) and
digitally silent tracks (all zeros) add nothing and do not move c; a track that is quiet but not
zero (below ``silence_db``) is left out of c but still mixed.

Channels (``channel``): ``gain-pan`` (DMC-basic: y = 10^(g/20)·x panned; P = 2), ``dsp`` (DMC-full
through :class:`dmcmodels.twin.ChannelTwin`, the exact twin of the console; P = 25) and ``tcn``
(DMC-full through a frozen neural channel from ``dmcmodels train effect``; gain, polarity and pan
applied exactly, EQ → compressor → reverb by the network; P = 25). Parameter ranges are the
console's (:data:`dmcdata.console.params.CHANNEL_SPACE`), so ``full_vector`` is what a mix
document stores, denormalized.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dmcdata.console.params import CHANNEL_SPACE, ORDERS
from dmcmodels.models.encoder import TrackEncoder

CHANNELS = ("gain-pan", "dsp", "tcn")
NEUTRAL = torch.from_numpy(CHANNEL_SPACE.normalize(CHANNEL_SPACE.neutral()).astype(np.float32))


def denorm(v: torch.Tensor, name: str) -> torch.Tensor:
    """Normalized column → the parameter's unit: min + (v + 1)(max − min)/2 (v clipped to [−1, 1])."""
    p = CHANNEL_SPACE[name]
    return p.min + (v.clamp(-1.0, 1.0) + 1.0) * 0.5 * (p.max - p.min)


def full_vector(params: torch.Tensor, names) -> torch.Tensor:
    """(..., P) normalized values of ``names`` → (..., 25): the other console parameters neutral."""
    names = list(names)
    if names == CHANNEL_SPACE.names:
        return params
    out = NEUTRAL.to(params.device, params.dtype).expand(*params.shape[:-1], len(NEUTRAL)).clone()
    for j, n in enumerate(names):
        out[..., CHANNEL_SPACE.names.index(n)] = params[..., j]
    return out


class GainPanChannel(nn.Module):
    """DMC-basic's channel: (L, R) = (a_L, a_R)·10^(g/20)·x; g ∈ [−24, 24] dB, θ ∈ [0, 1] (console ranges)."""

    names = ("gain_db", "pan")

    def __init__(self, pan_law: str = "linear"):
        super().__init__()
        self.pan_law = pan_law

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        g = torch.pow(10.0, denorm(v[:, 0], "gain_db") / 20.0)
        from dmcmodels.twin.channel import pan_gains

        left, right = pan_gains(denorm(v[:, 1], "pan"), self.pan_law)
        y = x * g[:, None]
        return torch.stack([left[:, None] * y, right[:, None] * y], dim=1)


class ConsoleChannel(nn.Module):
    """DMC-full through the exact differentiable twin of the console (all 25 parameters).

    Polarity and the IR choice are discrete: rounded as the console rounds them, no gradient."""

    names = tuple(CHANNEL_SPACE.names)

    def __init__(self, sample_rate: int, pan_law: str = "linear", order=ORDERS[0]):
        super().__init__()
        from dmcmodels.twin import ChannelTwin

        self.twin = ChannelTwin(sample_rate, pan_law=pan_law, order=order)

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":  # the twin's recursions are numba kernels
            return self.twin(x.cpu(), v.cpu()).to(x.device)
        return self.twin(x, v)


class NeuralChannel(nn.Module):
    """DMC-full through a frozen effect network (``dmcmodels train effect``, task ``channel``).

    Gain and polarity are applied exactly before the network, the pan after it
    (:mod:`dmcmodels.tasks`); the input is zero-padded by the network's receptive field so the
    output covers every input sample. Tracks go through in chunks of ``chunk`` with activation
    checkpointing (``checkpointing``): the backward pass recomputes one chunk at a time, so memory
    grows with the chunk, not the track count. The network's weights never get gradients and its
    batch norm stays in eval mode.
    """

    names = tuple(CHANNEL_SPACE.names)

    def __init__(self, model: nn.Module, cond_dim: int, pan_law: str = "linear", chunk: int = 2,
                 checkpointing: bool = True):
        super().__init__()
        if cond_dim not in (25, 31):
            raise ValueError(f"the neural channel must be conditioned on 25 or 31 values, got {cond_dim}")
        self.model = model.eval().requires_grad_(False)
        self.cond_dim = cond_dim
        self.pan_law = pan_law
        self.chunk = max(1, int(chunk))
        self.checkpointing = checkpointing

    def train(self, mode: bool = True):
        super().train(mode)
        self.model.eval()
        return self

    def _run(self, x_in: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        from dmcmodels.process import block_geometry

        t = x_in.shape[-1]
        n, hop, left = block_geometry(self.model, t)
        padded = torch.nn.functional.pad(x_in, (left, n - left - t))
        return self.model(padded, cond)[..., :t]

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        from torch.utils.checkpoint import checkpoint

        from dmcmodels import tasks

        x_in = tasks.channel_input(x[:, None], v)
        cond = v.float()
        if self.cond_dim == 31:  # variable-order model: the console's order, one-hot
            onehot = torch.zeros(v.shape[0], len(ORDERS), device=v.device, dtype=cond.dtype)
            onehot[:, 0] = 1.0
            cond = torch.cat([cond, onehot * 2.0 - 1.0], dim=1)
        outs = []
        for i in range(0, x.shape[0], self.chunk):
            xs, cs = x_in[i:i + self.chunk], cond[i:i + self.chunk]
            if self.checkpointing and torch.is_grad_enabled():
                outs.append(checkpoint(self._run, xs, cs, use_reentrant=False))
            else:
                outs.append(self._run(xs, cs))
        return tasks.channel_output(torch.cat(outs), v, self.pan_law)


class PostProcessor(nn.Module):
    """[track, context] (2·dim) → ``layers`` × (Linear ``hidden`` → PReLU → Dropout) → Linear → tanh."""

    def __init__(self, dim: int, n_params: int, hidden: int = 2048, layers: int = 3, dropout: float = 0.1):
        super().__init__()
        mods, width = [], 2 * dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.PReLU(), nn.Dropout(dropout)]
            width = hidden
        mods.append(nn.Linear(width, n_params))
        self.net = nn.Sequential(*mods)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(h))


def as_batch(tracks: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T) or (B, N, T) tracks and an optional (B, N) mask → (B, N, T), (B, N) bool."""
    if tracks.ndim == 2:
        tracks = tracks[None]
        mask = None if mask is None else mask.reshape(1, -1)
    if tracks.ndim != 3:
        raise ValueError(f"tracks must be (tracks, samples) or (songs, tracks, samples), got {tuple(tracks.shape)}")
    if mask is None:
        mask = torch.ones(tracks.shape[:2], dtype=torch.bool, device=tracks.device)
    if mask.shape != tracks.shape[:2]:
        raise ValueError(f"mask must have shape {tuple(tracks.shape[:2])}, got {tuple(mask.shape)}")
    return tracks, mask.to(torch.bool)


class DMC(nn.Module):
    """Differentiable mixing console: encoder + context + post-processor + channel (module doc).

    sample_rate: of the tracks (Hz). channel: "gain-pan" (DMC-basic), "dsp" or "tcn" (DMC-full;
    ``tcn`` needs ``channel_model``, the frozen network, and ``channel_cond_dim``). pan_law:
    linear (thesis) or constant_power. encoder_filters: VGG width (128 = the pretrained weights').
    hidden / layers / dropout: the post-processor. trainable_encoder: fine-tune the encoder
    (default) or freeze it. silence_db: peak level (dBFS) below which a track is left out of the
    context. chunk / checkpointing: the neural channel's memory knobs.
    """

    def __init__(self, sample_rate: int = 44100, channel: str = "gain-pan", pan_law: str = "linear",
                 encoder_filters: int = 128, hidden: int = 2048, layers: int = 3, dropout: float = 0.1,
                 trainable_encoder: bool = True, silence_db: float = -60.0, channel_model: nn.Module | None = None,
                 channel_cond_dim: int = 25, chunk: int = 2, checkpointing: bool = True):
        super().__init__()
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; choose one of {', '.join(CHANNELS)}")
        if pan_law not in ("linear", "constant_power"):
            raise ValueError(f"pan_law must be linear or constant_power, got {pan_law!r}")
        self.sample_rate = int(sample_rate)
        self.pan_law = pan_law
        self.channel_kind = channel
        self.silence = 10.0 ** (silence_db / 20.0)
        self.encoder = TrackEncoder(sample_rate, weights=None, filters=encoder_filters, trainable=trainable_encoder)
        if channel == "gain-pan":
            self.channel = GainPanChannel(pan_law)
        elif channel == "dsp":
            self.channel = ConsoleChannel(sample_rate, pan_law)
        else:
            if channel_model is None:
                raise ValueError("channel 'tcn' needs channel_model: a network from `dmcmodels train effect`")
            self.channel = NeuralChannel(channel_model, channel_cond_dim, pan_law, chunk, checkpointing)
        self.names = tuple(self.channel.names)
        self.post = PostProcessor(self.encoder.dim, len(self.names), hidden, layers, dropout)

    def full_vector(self, params: torch.Tensor) -> torch.Tensor:
        return full_vector(params, self.names)

    def forward(self, tracks: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x, mask = as_batch(tracks, mask)
        b, n, t = x.shape
        flat = x.reshape(b * n, t)
        peak = flat.detach().abs().amax(dim=1)
        real = mask.reshape(-1)
        active = real & (peak > self.silence)
        emb = flat.new_zeros(b * n, self.encoder.dim)
        idx = active.nonzero().squeeze(1)
        if idx.numel():
            emb = emb.index_copy(0, idx, self.encoder(flat[idx]).to(emb.dtype))
        w = active.reshape(b, n, 1).to(emb.dtype)
        emb = emb.reshape(b, n, -1)
        context = (emb * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)
        params = self.post(torch.cat([emb, context[:, None].expand(-1, n, -1)], dim=-1))  # (B, N, P)
        mixed = (real & (peak > 0)).nonzero().squeeze(1)  # digital silence and padding add nothing
        y = flat.new_zeros(b * n, 2, t)
        if mixed.numel():
            y = y.index_copy(0, mixed, self.channel(flat[mixed], params.reshape(b * n, -1)[mixed]).to(y.dtype))
        return {"mix": y.reshape(b, n, 2, t).sum(dim=1), "params": params, "active": active.reshape(b, n)}
