"""The DMC's track encoder: musicnn's log-mel front end in torch + the MTT_vgg / MSD_vgg network.

Thesis §5.2 (DESIGN §4): each input track is turned into one 128-d embedding. Here, per track:

1. resample the track to 16 kHz (band-limited, by FFT: the spectrum cut at 8 kHz; musicnn's own
   front end uses librosa/soxr, whose passband differs slightly near 8 kHz);
2. musicnn's log-mel (:mod:`dmcmodels.judge.frontend`, reproduced in torch): STFT n_fft 512, hop 256,
   periodic Hann, centred with zero padding, power → 96 Slaney mel bands → float16 rounding →
   log10(10000·x + 1);
3. patches of 187 frames (2.99 s) that cover the whole track: ``n = ceil((F − 187) / 187) + 1``
   evenly spaced starts (they overlap when F is not a multiple of 187; a track shorter than one
   patch is zero-padded to 187 frames). A 5-s training patch gives 2 patches, a 4-minute song 81;
4. the VGG (:class:`dmcmodels.judge.vgg.MusicnnVGG` without its tag layer) embeds each patch
   (pool5 averaged, 128 values); the track's embedding is the mean over its patches.

The front end has no parameters and no gradient (the controller never needs d/dx of its own
input); the VGG is initialised from ``weights`` = ``"msd_vgg"`` or ``"mtt_vgg"`` (fetched from the
musicnn wheel on first use: ``dmcmodels weights fetch``) or randomly (``None``), and fine-tuned
unless ``trainable=False``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from dmcmodels.judge import frontend as fe
from dmcmodels.judge.vgg import N_FILTERS, MusicnnVGG

ENCODER_WEIGHTS = ("msd_vgg", "mtt_vgg", "none")


def resample_fft(x: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """(..., T) at ``orig`` Hz → (..., round(T·new/orig)) at ``new`` Hz: the spectrum kept below
    min(orig, new)/2 and the signal resynthesised at the new length (amplitude preserved)."""
    if orig == new:
        return x
    t = x.shape[-1]
    m = max(1, int(round(t * new / orig)))
    spec = torch.fft.rfft(x.to(torch.float64), n=t)
    keep = min(spec.shape[-1], m // 2 + 1)
    return (torch.fft.irfft(spec[..., :keep], n=m) * (m / t)).to(x.dtype)


class LogMel(nn.Module):
    """musicnn's network input from audio at ``sample_rate``: (B, T) → (B, frames, 96) float32."""

    def __init__(self, sample_rate: int):
        super().__init__()
        import librosa

        self.sample_rate = int(sample_rate)
        fb = librosa.filters.mel(sr=fe.SAMPLE_RATE, n_fft=fe.N_FFT, n_mels=fe.N_MELS)  # Slaney scale and norm
        self.register_buffer("fb", torch.from_numpy(np.asarray(fb, np.float32)), persistent=False)
        self.register_buffer("window", torch.hann_window(fe.N_FFT, periodic=True), persistent=False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = resample_fft(x.float(), self.sample_rate, fe.SAMPLE_RATE)
        spec = torch.stft(y, fe.N_FFT, fe.HOP, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)
        mel = torch.matmul(self.fb, spec.abs() ** 2).transpose(1, 2)  # (B, frames, 96)
        mel16 = mel.clamp(max=65504.0).half().float()
        return torch.log10(10000.0 * mel16 + 1.0)


def patch_starts(frames: int, size: int = fe.PATCH_FRAMES) -> list[int]:
    """Starts of the patches that cover ``frames`` frames (see the module doc, step 3)."""
    if frames <= size:
        return [0]
    n = math.ceil((frames - size) / size) + 1
    return [int(round(i * (frames - size) / (n - 1))) for i in range(n)]


def to_patches(logmel: torch.Tensor, size: int = fe.PATCH_FRAMES) -> torch.Tensor:
    """(B, F, 96) → (B, n, size, 96) covering patches (zero-padded when F < size)."""
    b, f, m = logmel.shape
    if f < size:
        logmel = torch.cat([logmel, logmel.new_zeros(b, size - f, m)], dim=1)
        f = size
    return torch.stack([logmel[:, s:s + size] for s in patch_starts(f, size)], dim=1)


def load_vgg_weights(vgg: MusicnnVGG, weights: str) -> None:
    """Copy ``msd_vgg`` / ``mtt_vgg`` into ``vgg`` (conv and batch-norm layers; the tag layer is not
    used), fetching them from the package index first if they are not in the cache yet."""
    import sys

    from dmcmodels.judge import weights as w

    if not w.weights_path(weights).is_file():
        print(f"dmcmodels: {weights} weights not in {w.weights_path(weights).parent}; fetching them "
              f"({w.FETCH_COMMAND})", file=sys.stderr)
        w.fetch()  # raises WeightsError with what to do when the index cannot be reached
    net, _ = w.load_model(weights)
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("dense.")}
    vgg.load_state_dict(state)


class TrackEncoder(nn.Module):
    """(M, T) mono tracks at ``sample_rate`` → (M, filters) embeddings (mean over covering patches).

    ``weights``: "msd_vgg", "mtt_vgg" or None/"none" (random init); ``filters``: VGG width (128 for
    the pretrained weights; smaller only for tests); ``trainable``: fine-tune the VGG (default) or
    freeze it (no gradients, batch-norm kept in eval mode).
    """

    def __init__(self, sample_rate: int = 44100, weights: str | None = "msd_vgg", filters: int = N_FILTERS,
                 trainable: bool = True):
        super().__init__()
        weights = None if weights in (None, "none") else weights
        if weights is not None and weights not in ENCODER_WEIGHTS:
            raise ValueError(f"unknown encoder weights {weights!r}; choose one of {', '.join(ENCODER_WEIGHTS)}")
        if weights is not None and filters != N_FILTERS:
            raise ValueError(f"pretrained encoder weights need filters={N_FILTERS}, got {filters}")
        self.frontend = LogMel(sample_rate)
        self.vgg = MusicnnVGG(n_tags=0, filters=filters)
        self.dim = filters
        self.trainable = trainable
        if weights is not None:
            load_vgg_weights(self.vgg, weights)
        if not trainable:
            self.vgg.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.trainable:
            self.vgg.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            raise ValueError(f"encoder input must be (tracks, samples), got {tuple(x.shape)}")
        if x.shape[0] == 0:
            return x.new_zeros(0, self.dim)
        patches = to_patches(self.frontend(x))  # (M, n, 187, 96)
        m, n = patches.shape[:2]
        emb = self.vgg.embed(patches.reshape(m * n, *patches.shape[2:]))
        return emb.reshape(m, n, -1).mean(dim=1)
