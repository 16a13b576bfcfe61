"""Demucs-style Wave-U-Net with FiLM conditioning (thesis §4.3.2, Figs. 11–13, Table 4; DESIGN §4).

Input x (B, 1, n) mono audio and conditioning c (B, cond_dim) (25 static order, 31 variable
order, 2 for the LA2A knobs); output (B, 1, m), m = :meth:`WaveUNet.output_length` (n) < n.

Encoder block i = 0 … depth−1 (C_i = channels·growth^i output channels, C_{−1} = 1):

    h      = Conv1d(C_{i−1} → C_i; kernel k, stride s)      valid: L → ⌊(L − k)/s⌋ + 1
    h      = PReLU(FiLM(h))                                 FiLM = BatchNorm(affine=False), γ·x̂ + β
    skip_i = GLU(Conv1d(C_i → 2·C_i; kernel 1))             saved for decoder i

Decoder block i = depth−1 … 0 (its input h has C_i channels; the deepest one starts from the
bottleneck h = skip_{depth−1}, so it adds that tensor to itself, as Demucs does without its LSTM):

    h = h + skip_i (the samples of skip_i at h's positions)
    h = GLU(Conv1d(C_i → 2·C_i; kernel ``context``))         valid: L → L − context + 1
    h = ConvTranspose1d(C_i → C_{i−1}; kernel k, stride s)  then the k − s samples at each end
                                                            (those that get fewer than k/s taps) are cut
    h = PReLU(FiLM(h))                                      not in decoder 0, which outputs 1 channel
                                                            linearly (as Demucs: no activation on audio)

No zero padding anywhere (like the TCN), so every output sample is computed from real input
samples only, and the network is exactly equivariant to shifts of the input by multiples of
:attr:`stride` = s^depth (the down-sampling grid is anchored at the first input sample). The
skip connections are sliced at the offsets where their samples sit at the same positions as h's
(integer offsets, because ``context`` is odd). The natural output of the decoders starts a fixed
number of samples into the input; :meth:`forward` then crops it further so that it is aligned
like ``center_crop(x, m)`` from ``dmcmodels.models.tcn``: output sample j is input sample
j + ⌈(n − m)/2⌉, for every accepted n (this cut depends only on n).

Block processing: output sample j depends only on the input samples within
[p − ⌈(r − 1)/2⌉, p + ⌊(r − 1)/2⌋], p = j + ⌈(n − m)/2⌉, r = :attr:`receptive_field` (a bound,
computed layer by layer), exactly as for the TCN; blocks must also start at multiples of
:attr:`stride` apart so the down-sampling grid stays the same (the result is then exact; BatchNorm
in eval mode).

Initialisation: Demucs' weight rescaling, reimplemented from its description: every (transposed)
convolution's weight and bias are divided by sqrt(std(weight) / ``rescale``), ``rescale`` = 0.1
(thesis Table 4 "weight scaling 0.1"), which moves each layer's weight std to sqrt(std·0.1).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn
from torch.nn import functional as F

from dmcmodels.models.film import FiLM, FiLMGenerator

#: The thesis' Wave-U-Net variants (Tables 6 and 9). "6-8" and "6-16" are depth 6 with kernel 8 and
#: kernel 16 (16 base channels, Table 4): the receptive fields the thesis prints, 216.6 ms and
#: 464.3 ms, are its Eq. 4.14 recursion over the encoder, 1 + (k − 1)·(4^6 − 1)/3 samples at
#: 44.1 kHz = 9556 (216.7 ms) and 20476 (464.3 ms) for k = 8 and 16.
PRESETS: dict[str, dict] = {
    "wave-u-net-6-8": {"depth": 6, "channels": 16, "kernel_size": 8},
    "wave-u-net-6-16": {"depth": 6, "channels": 16, "kernel_size": 16},
}


def rescale_conv_weights(module: nn.Module, reference: float = 0.1) -> None:
    """Divide each Conv1d / ConvTranspose1d weight and bias by sqrt(std(weight) / reference) (Demucs' trick)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
            with torch.no_grad():
                scale = math.sqrt(m.weight.std().item() / reference)
                m.weight.div_(scale)
                if m.bias is not None:
                    m.bias.div_(scale)


class EncoderBlock(nn.Module):
    """Conv1d(k, s) → FiLM → PReLU → 1×1 Conv1d (×2 channels) → GLU."""

    def __init__(self, in_channels: int, channels: int, kernel_size: int, stride: int, embed_dim: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, channels, kernel_size, stride=stride)
        self.film = FiLM(channels, embed_dim)
        self.act = nn.PReLU(channels)
        self.expand = nn.Conv1d(channels, 2 * channels, 1)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.act(self.film(self.conv(x), embedding))
        return F.glu(self.expand(h), dim=1)


class DecoderBlock(nn.Module):
    """Conv1d(context, ×2 channels) → GLU → ConvTranspose1d(k, s), edges cut → FiLM → PReLU (unless ``last``)."""

    def __init__(self, channels: int, out_channels: int, kernel_size: int, stride: int, context: int,
                 embed_dim: int, last: bool):
        super().__init__()
        self.context = nn.Conv1d(channels, 2 * channels, context)
        self.up = nn.ConvTranspose1d(channels, out_channels, kernel_size, stride=stride)
        self.trim = kernel_size - stride
        self.last = last
        if not last:
            self.film = FiLM(out_channels, embed_dim)
            self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.up(F.glu(self.context(x), dim=1))
        if self.trim:
            h = h[..., self.trim:h.shape[-1] - self.trim]
        if self.last:
            return h
        return self.act(self.film(h, embedding))


class WaveUNet(nn.Module):
    """FiLM-conditioned Demucs-style Wave-U-Net without LSTM; presets in :data:`PRESETS`.

    Parameters: depth (encoder/decoder levels), channels (base width C_0; level i has
    channels·growth^i), cond_dim (conditioning size), kernel_size k and stride s of the
    (transposed) strided convolutions (k ≥ s), context (odd kernel of the decoder's first conv),
    growth (channel factor per level), film_hidden / film_embed (FiLM generator widths and the size
    of its global embedding), rescale (reference std of the initial weight rescaling; None = off),
    in_channels / out_channels (1 for an effect; Mix-Wave-U-Net uses N inputs and 2 outputs).
    """

    def __init__(self, depth: int = 6, channels: int = 16, cond_dim: int = 25, kernel_size: int = 8,
                 stride: int = 4, context: int = 3, growth: int = 2, film_hidden: tuple[int, ...] = (128, 256),
                 film_embed: int = 128, rescale: float | None = 0.1, in_channels: int = 1, out_channels: int = 1):
        super().__init__()
        if min(depth, channels, kernel_size, stride, context, growth) < 1:
            raise ValueError("depth, channels, kernel_size, stride, context and growth must all be >= 1")
        if kernel_size < stride:
            raise ValueError(f"kernel_size ({kernel_size}) must be >= stride ({stride})")
        if context % 2 == 0:
            raise ValueError(f"context must be odd (so skip connections align sample-exactly), got {context}")
        self.depth, self.channels, self.cond_dim = depth, channels, cond_dim
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self._stride, self.context, self.growth = kernel_size, stride, context, growth
        self.generator = FiLMGenerator(cond_dim, film_hidden, film_embed)
        widths = [channels * growth ** i for i in range(depth)]
        self.encoders = nn.ModuleList(
            EncoderBlock(self.in_channels if i == 0 else widths[i - 1], widths[i], kernel_size, stride, film_embed)
            for i in range(depth))
        self.decoders = nn.ModuleList(
            DecoderBlock(widths[i], self.out_channels if i == 0 else widths[i - 1], kernel_size, stride, context, film_embed,
                         last=(i == 0))
            for i in range(depth))  # decoders[i] undoes encoders[i]; run from depth−1 down to 0
        if rescale is not None:
            rescale_conv_weights(self, rescale)
        # decoder offsets: decoder i's input starts a_{i+1} samples (at its rate) into skip_i;
        # a_depth = 0, a_i = s·a_{i+1} + s·(context − 1)/2 + (k − s); a_0 = natural output's start
        a = [0] * (depth + 1)
        for i in reversed(range(depth)):
            a[i] = stride * a[i + 1] + stride * (context - 1) // 2 + (kernel_size - stride)
        self._offsets = tuple(a)

    # ------------------------------------------------------------------ geometry

    @property
    def stride(self) -> int:
        """Total down-sampling s^depth: shifting the input by a multiple of it shifts the output exactly."""
        return self._stride ** self.depth

    def _natural_length(self, n: int) -> int:
        """Length of the decoders' output for n input samples (0 if the input is too short)."""
        k, s, c = self.kernel_size, self._stride, self.context
        enc = [n]
        for _ in range(self.depth):
            if enc[-1] < k:
                return 0
            enc.append((enc[-1] - k) // s + 1)
        x = enc[-1]
        for i in reversed(range(self.depth)):
            if x < 1 or self._offsets[i + 1] + x > enc[i + 1]:
                return 0
            y = x - (c - 1)
            if y < 1:
                return 0
            x = s * (y + 1) - k
        return max(x, 0)

    def _crop(self, n: int) -> tuple[int, int]:
        """(start within the natural output, m) of the centred output for n input samples; m = 0 if none."""
        m_nat = self._natural_length(n)
        if m_nat < 1:
            return 0, 0
        left, right = self._offsets[0], n - self._offsets[0] - m_nat  # margins of the natural output
        # centred: ⌈q/2⌉ samples cut at the start (>= left), ⌊q/2⌋ at the end (>= right); smallest such q
        q = max(n - m_nat, 2 * left - 1, 2 * right)
        m = n - q
        return (q + 1) // 2 - left, max(m, 0)

    def output_length(self, n: int) -> int:
        """Output samples for n input samples (0 if n < :attr:`min_input_length`)."""
        n = int(n)
        return self._crop(n)[1] if n >= self.min_input_length else 0

    @functools.cached_property
    def min_input_length(self) -> int:
        """Smallest n from which on every input length has a non-empty output.

        (The centring crop makes output_length a saw-tooth: within each period of :attr:`stride`
        input samples the natural output keeps its length while the centred window shrinks by one
        sample per added input sample, then it grows by ``stride``. Just above the very first
        non-empty length a few lengths still give an output, then none until the next period; those
        few are refused too, so that every n >= min_input_length is accepted.)
        """
        need = self.context + 1  # lower bound: the encoder alone must leave context + 1 samples at the bottom
        for _ in range(self.depth):
            need = (need - 1) * self._stride + self.kernel_size
        first = need
        while self._crop(first)[1] < 1:
            first += 1
        last_empty = max((n for n in range(first, first + 2 * self.stride + 1) if self._crop(n)[1] < 1),
                         default=first - 1)
        return last_empty + 1

    def valid_length(self, m: int) -> int:
        """Smallest n with output_length(n) >= m."""
        if m < 1:
            return self.min_input_length
        lo, hi = self.min_input_length, max(self.min_input_length, 1)
        while self._natural_length(hi) < m:  # necessary condition: the natural output must be long enough
            hi *= 2
        while lo < hi:
            mid = (lo + hi) // 2
            if self._natural_length(mid) >= m:
                hi = mid
            else:
                lo = mid + 1
        n = lo
        while self.output_length(n) < m:
            n += 1
        return n

    @functools.cached_property
    def _reach(self) -> tuple[int, int]:
        """(left, right): output sample at input position p depends on inputs in [p − left, p + right].

        Per-layer half-widths of the dependency interval, in input samples: a strided conv at input
        spacing S adds S·(k−1)/2, a context conv at spacing S adds S·(context−1)/2, a transposed conv
        to spacing S adds S·(k−1)/2 (the union over the output's grid phases).
        """
        k, s, c = self.kernel_size, self._stride, self.context
        half = 0.0  # per-element dependency half-widths, grown layer by layer (symmetric)
        spacing = 1
        for _ in range(self.depth):
            half += spacing * (k - 1) / 2  # strided conv; the 1×1 conv adds nothing
            spacing *= s
        for _ in range(self.depth):  # adding a skip takes the union, which the decoder path already covers
            half += spacing * (c - 1) / 2  # context conv at this rate
            spacing //= s
            half += spacing * (k - 1) / 2  # transposed conv: taps from input elements within ±spacing·(k−1)/2
        return math.ceil(half), math.ceil(half)

    @property
    def receptive_field(self) -> int:
        """In samples: 1 + 2·reach, reach = Σ_enc s^i (k−1)/2 + Σ_dec (s^{i+1}(context−1)/2 + s^i (k−1)/2).

        A bound for every output sample and exact for the worst grid phase (the tests find outputs
        whose gradient reaches exactly ``reach`` samples to either side). Larger than the thesis'
        figure (:attr:`encoder_receptive_field`), which counts the encoder only.
        """
        left, right = self._reach
        return 1 + 2 * max(left, right)

    def receptive_field_ms(self, sample_rate: float = 44100.0) -> float:
        return 1000.0 * self.receptive_field / sample_rate

    @property
    def encoder_receptive_field(self) -> int:
        """The thesis' figure (Eq. 4.14 over the encoder's strided convs): 1 + (k − 1)·Σ_{i<depth} s^i."""
        return 1 + (self.kernel_size - 1) * sum(self._stride ** i for i in range(self.depth))

    # ------------------------------------------------------------------ forward

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"input must have shape (batch, {self.in_channels}, samples), got {tuple(x.shape)}")
        n = x.shape[-1]
        start, m = self._crop(n)
        if n < self.min_input_length:
            raise ValueError(f"input has {n} samples, fewer than the minimum input length "
                             f"({self.min_input_length}); the output would be empty")
        if cond.ndim != 2 or cond.shape[0] != x.shape[0]:
            raise ValueError(f"conditioning must have shape (batch={x.shape[0]}, {self.cond_dim}), "
                             f"got {tuple(cond.shape)}")
        embedding = self.generator(cond)
        skips = []
        h = x
        for enc in self.encoders:
            h = enc(h, embedding)
            skips.append(h)
        for i in reversed(range(self.depth)):
            a = self._offsets[i + 1]
            h = h + skips[i][..., a:a + h.shape[-1]]
            h = self.decoders[i](h, embedding)
        return h[..., start:start + m]
