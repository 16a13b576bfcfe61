"""Losses and metrics for audio-effect and mixing models (thesis §4.6.1, §5.4, §5.6; DESIGN §5).

Every function takes ``pred`` and ``target`` of the same shape, (batch, channels, samples) or
(batch, samples) (read as one channel), and ``reduction``:

- ``"mean"``: one scalar, the mean over the batch of the per-example values;
- ``"none"``: one value per example, shape (batch,).

Per-example values reduce over channels and samples as each docstring says.

Training losses (``nn.Module`` wrappers, built by name with :func:`make_loss`, names in
:data:`LOSSES`): ``"l1"``, ``"mrstft"``, ``"l1+mrstft"``, ``"l1+mrstft+mcd"``, ``"stereo-mrstft"``.
Evaluation metrics: :data:`METRICS` maps ``"mae"``, ``"esr"``, ``"mcd"``, ``"mr_stft"`` to the
functions; call them as ``METRICS[name](pred, target, reduction="none")``; ``mcd`` also takes
``sample_rate=`` (Hz, keyword; default 44100) because its mel filterbank depends on it.

Differences from ``auraloss.freq.MultiResolutionSTFTLoss`` (auraloss 0.4.0, default weights
w_sc = w_log_mag = 1, all other terms 0), which :func:`mr_stft` otherwise follows — same STFT
(``torch.stft``, centred, reflect padding, periodic Hann window of ``win`` samples centred in
``n_fft``), same clamp (|X| = sqrt(max(Re² + Im², 1e-8))), same natural log, same mean over
resolutions:

- auraloss folds channels into the batch and computes the spectral convergence as one ratio of
  Frobenius norms over the whole (batch·channels) tensor, and the log-magnitude L1 as one mean
  over it. Here both are computed per example and per channel, then averaged over channels, then
  (``"mean"``) over the batch. For one mono example the two are equal (the tests check this to
  float tolerance); for a batch the log-magnitude term is still equal, the spectral convergence
  (a mean of ratios here, a ratio of sums there) is not.
- auraloss has no per-example reduction; ``reduction="none"`` here gives one value per example.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: (n_fft, hop, win) of the thesis' MR-STFT (DESIGN §5), in samples.
THESIS_RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((512, 50, 240), (1024, 120, 600), (2048, 240, 1200))

#: Floor on the squared STFT magnitude: |X| = sqrt(max(|X|², STFT_EPS)), so |X| >= 1e-4 (as auraloss).
STFT_EPS = 1e-8

#: MCD scale α = 10·√2 / ln 10 (thesis Eq. 4.21).
MCD_ALPHA = 10.0 * math.sqrt(2.0) / math.log(10.0)

REDUCTIONS = ("mean", "none")


def _as_bcs(pred: torch.Tensor, target: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Check shapes and return both as (batch, channels, samples)."""
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.ndim == 2:
        return pred.unsqueeze(1), target.unsqueeze(1)
    if pred.ndim != 3:
        raise ValueError(f"{name}: expected (batch, channels, samples) or (batch, samples), got {tuple(pred.shape)}")
    if pred.shape[0] == 0 or pred.shape[1] == 0 or pred.shape[2] == 0:
        raise ValueError(f"{name}: empty input {tuple(pred.shape)}")
    return pred, target


def _reduce(per_example: torch.Tensor, reduction: str, name: str) -> torch.Tensor:
    if reduction == "mean":
        return per_example.mean()
    if reduction == "none":
        return per_example
    raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


# ----------------------------------------------------------------------------- time domain

def mae(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean absolute error (thesis Eq. 4.18): mean over channels and samples of |ŷ − y|."""
    pred, target = _as_bcs(pred, target, "mae")
    return _reduce((pred - target).abs().mean(dim=(1, 2)), reduction, "mae")


def mse(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error: mean over channels and samples of (ŷ − y)²."""
    pred, target = _as_bcs(pred, target, "mse")
    return _reduce((pred - target).pow(2).mean(dim=(1, 2)), reduction, "mse")


def esr(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8, reduction: str = "mean") -> torch.Tensor:
    """Error-to-signal ratio (thesis Eq. 4.19): Σ(ŷ − y)² / (Σ y² + eps), sums over channels and samples.

    ``eps`` keeps a silent target finite (then ESR = Σŷ² / eps, large).
    """
    pred, target = _as_bcs(pred, target, "esr")
    err = (pred - target).pow(2).sum(dim=(1, 2))
    energy = target.pow(2).sum(dim=(1, 2))
    return _reduce(err / (energy + eps), reduction, "esr")


# ----------------------------------------------------------------------------- MR-STFT

def stft_magnitude(x: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """|STFT| of x (N, samples) → (N, n_fft // 2 + 1, frames), clamped: sqrt(max(Re² + Im², STFT_EPS)).

    ``torch.stft`` with ``center=True`` (reflect padding by n_fft // 2 on both sides, so the
    signal needs more than n_fft // 2 samples) and a periodic Hann window of ``win`` samples,
    zero-padded to ``n_fft`` and centred.
    """
    if x.shape[-1] <= n_fft // 2:
        raise ValueError(f"STFT with n_fft={n_fft} needs more than {n_fft // 2} samples, got {x.shape[-1]}")
    window = torch.hann_window(win, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=hop, win_length=win, window=window, center=True,
                      pad_mode="reflect", return_complex=True)
    return torch.sqrt(torch.clamp(spec.real.pow(2) + spec.imag.pow(2), min=STFT_EPS))


def mr_stft(pred: torch.Tensor, target: torch.Tensor,
            resolutions: tuple[tuple[int, int, int], ...] = THESIS_RESOLUTIONS,
            reduction: str = "mean") -> torch.Tensor:
    """Multi-resolution STFT distance (thesis Eq. 4.22 + log-magnitude term; Yamamoto et al. 2020).

    For each resolution (n_fft, hop, win) and each channel separately, with |Y|, |Ŷ| from
    :func:`stft_magnitude` (magnitudes clamped below at sqrt(1e-8) = 1e-4):

        SC  = ‖|Y| − |Ŷ|‖_F / ‖|Y|‖_F                         (spectral convergence)
        LOG = mean over bins and frames of |ln|Y| − ln|Ŷ||    (log-magnitude L1)

    The per-example value is the mean over resolutions of (SC + LOG), averaged over channels.
    Needs more than max(n_fft) // 2 samples (1024 with the thesis' resolutions).
    See the module docstring for how this differs from auraloss.
    """
    pred, target = _as_bcs(pred, target, "mr_stft")
    b, c, n = pred.shape
    p, t = pred.reshape(b * c, n), target.reshape(b * c, n)
    total = pred.new_zeros(b * c)
    for n_fft, hop, win in resolutions:
        mp, mt = stft_magnitude(p, n_fft, hop, win), stft_magnitude(t, n_fft, hop, win)
        sc = torch.linalg.vector_norm(mt - mp, dim=(1, 2)) / torch.linalg.vector_norm(mt, dim=(1, 2))
        log = (torch.log(mt) - torch.log(mp)).abs().mean(dim=(1, 2))
        total = total + sc + log
    per_example = (total / len(resolutions)).reshape(b, c).mean(dim=1)
    return _reduce(per_example, reduction, "mr_stft")


def stereo_mr_stft(pred: torch.Tensor, target: torch.Tensor,
                   resolutions: tuple[tuple[int, int, int], ...] = THESIS_RESOLUTIONS,
                   reduction: str = "mean") -> torch.Tensor:
    """Sum-and-difference MR-STFT (thesis §5.4): mr_stft(L+R) + mr_stft(L−R), inputs (batch, 2, samples).

    Invariant to swapping left and right (L+R is unchanged, L−R only changes sign, and |STFT| is
    sign-invariant); not invariant to the stereo width. auraloss' SumAndDifferenceSTFTLoss returns
    (w_sum·sum_loss + w_diff·diff_loss) / 2, i.e. half of this with its default weights 1; here the
    two terms are added, as DESIGN §5 says.
    """
    if pred.ndim != 3 or pred.shape[1] != 2 or target.ndim != 3 or target.shape[1] != 2:
        raise ValueError(f"stereo_mr_stft: inputs must be stereo (batch, 2, samples), got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")
    ps, pd = pred[:, 0] + pred[:, 1], pred[:, 0] - pred[:, 1]
    ts, td = target[:, 0] + target[:, 1], target[:, 0] - target[:, 1]
    per_example = (mr_stft(ps, ts, resolutions, reduction="none")
                   + mr_stft(pd, td, resolutions, reduction="none"))
    return _reduce(per_example, reduction, "stereo_mr_stft")


# ----------------------------------------------------------------------------- MCD

def _hz_to_mel_slaney(f: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic above (27 mels per factor 6.4)."""
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return torch.where(f >= min_log_hz, min_log_mel + torch.log(torch.clamp(f, min=1e-10) / min_log_hz) / logstep,
                       f / f_sp)


def _mel_to_hz_slaney(m: torch.Tensor) -> torch.Tensor:
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return torch.where(m >= min_log_mel, min_log_hz * torch.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sample_rate: float, n_fft: int, n_mels: int, dtype=torch.float64) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters on Slaney's mel scale, 0 Hz to sample_rate / 2,
    each scaled by 2 / (its bandwidth in Hz) ("Slaney" area normalisation)."""
    fft_hz = torch.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1, dtype=torch.float64)
    mel_max = _hz_to_mel_slaney(torch.tensor(sample_rate / 2.0, dtype=torch.float64))
    edges = _mel_to_hz_slaney(torch.linspace(0.0, float(mel_max), n_mels + 2, dtype=torch.float64))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (fft_hz[None] - lo) / (mid - lo)
    falling = (hi - fft_hz[None]) / (hi - mid)
    fb = torch.clamp(torch.minimum(rising, falling), min=0.0) * (2.0 / (hi - lo))
    return fb.to(dtype)


def dct_ortho_matrix(n_in: int, n_out: int, dtype=torch.float64) -> torch.Tensor:
    """(n_out, n_in) orthonormal DCT-II: c_k = s_k Σ_m x_m cos(π k (2m + 1) / (2 n_in)),
    s_0 = sqrt(1 / n_in), s_k = sqrt(2 / n_in)."""
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    m = torch.arange(n_in, dtype=torch.float64)[None]
    d = torch.cos(math.pi * k * (2 * m + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    d[0] /= math.sqrt(2.0)
    return d.to(dtype)


def mfcc(x: torch.Tensor, sample_rate: float = 44100.0, n_mfcc: int = 25, n_fft: int = 2048, hop: int = 512,
         n_mels: int = 128, top_db: float | None = 80.0) -> torch.Tensor:
    """MFCCs of x (N, samples) → (N, n_mfcc, frames), the definition of ``librosa.feature.mfcc`` defaults.

    1. power spectrogram |STFT|²: n_fft 2048, hop 512, periodic Hann window of n_fft samples,
       centred frames with zero padding of n_fft // 2 on both sides;
    2. ``n_mels`` = 128 Slaney mel filters (0 Hz – sample_rate / 2, Slaney area normalisation);
    3. log: 10·log10(max(S, 1e-10)) dB, then floored at (max over the signal − top_db), top_db 80;
    4. orthonormal DCT-II over the mel axis, first ``n_mfcc`` coefficients c_0 … c_{n_mfcc−1}.
    """
    window = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=hop, win_length=n_fft, window=window, center=True,
                      pad_mode="constant", return_complex=True)
    power = spec.real.pow(2) + spec.imag.pow(2)
    fb = mel_filterbank(sample_rate, n_fft, n_mels, dtype=x.dtype).to(x.device)
    mel = torch.einsum("mf,nft->nmt", fb, power)
    db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
    if top_db is not None:
        db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - top_db)
    dct = dct_ortho_matrix(n_mels, n_mfcc, dtype=x.dtype).to(x.device)
    return torch.einsum("km,nmt->nkt", dct, db)


def mcd(pred: torch.Tensor, target: torch.Tensor, sample_rate: float = 44100.0, n_mfcc: int = 25,
        include_c0: bool = False, reduction: str = "mean") -> torch.Tensor:
    """Mel-cepstral distortion on 25 MFCCs (thesis Eq. 4.20–4.21; Kubichek 1993, Kominek et al. 2008).

        MCD = (1 / frames) Σ_t α · sqrt(Σ_{k=1}^{24} (c_{t,k} − ĉ_{t,k})²),   α = 10·√2 / ln 10 ≈ 6.14185

    with c, ĉ the MFCCs of target and prediction from :func:`mfcc` (``sample_rate`` in Hz; dB-scaled
    log-mel, so the values are in the hundreds as in the thesis' tables). Of the 25 coefficients c_0
    is excluded by default (``include_c0=True`` keeps it), as in Kominek et al.'s definition that the
    thesis cites: c_0 is the frame's mean log-mel level, i.e. loudness, not spectral shape, and a pure
    gain change moves c_0 only. Computed per channel and averaged over channels. A metric, not a
    training loss (it is differentiable, but nothing here relies on that).
    """
    pred, target = _as_bcs(pred, target, "mcd")
    b, c, n = pred.shape
    cp = mfcc(pred.reshape(b * c, n), sample_rate, n_mfcc)
    ct = mfcc(target.reshape(b * c, n), sample_rate, n_mfcc)
    first = 0 if include_c0 else 1
    # vector_norm rather than sqrt(Σ …): its gradient at a zero difference is 0, not NaN
    dist = torch.linalg.vector_norm(ct[:, first:] - cp[:, first:], dim=1)  # (N, frames)
    per_channel = MCD_ALPHA * dist.mean(dim=1)
    return _reduce(per_channel.reshape(b, c).mean(dim=1), reduction, "mcd")


# ----------------------------------------------------------------------------- modules

class L1Loss(nn.Module):
    """Training loss: :func:`mae` (thesis default for the effect models)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return mae(pred, target)


class MRSTFTLoss(nn.Module):
    """Training loss: :func:`mr_stft` with the given resolutions (default the thesis')."""

    def __init__(self, resolutions: tuple[tuple[int, int, int], ...] = THESIS_RESOLUTIONS):
        super().__init__()
        self.resolutions = tuple(tuple(r) for r in resolutions)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return mr_stft(pred, target, self.resolutions)


class L1MRSTFTLoss(nn.Module):
    """Training loss: mae + mr_stft, unweighted sum."""

    def __init__(self, resolutions: tuple[tuple[int, int, int], ...] = THESIS_RESOLUTIONS):
        super().__init__()
        self.resolutions = tuple(tuple(r) for r in resolutions)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return mae(pred, target) + mr_stft(pred, target, self.resolutions)


class L1MRSTFTMCDLoss(L1MRSTFTLoss):
    """Training loss: mae + mr_stft + 0.01 · mcd (MCD in its tables' units, ~100× MR-STFT's, so 0.01
    puts the two on one scale). The MCD (c₀ excluded) is blind to level and sees spectral shape in
    every mel band in dB; MR-STFT's log-magnitude term is an L1, whose gradient per bin is the sign
    of the error, so a level error of a few dB drowns the shape of the spectrum, and an EQ curve
    learns little from it (docs/neural-effects.md). ``sample_rate`` in Hz (the mel filterbank)."""

    MCD_WEIGHT = 0.01

    def __init__(self, resolutions: tuple[tuple[int, int, int], ...] = THESIS_RESOLUTIONS,
                 sample_rate: float = 44100.0):
        super().__init__(resolutions)
        self.sample_rate = float(sample_rate)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(pred, target) + self.MCD_WEIGHT * mcd(pred, target, sample_rate=self.sample_rate)


class StereoMRSTFTLoss(nn.Module):
    """Training loss for stereo mixes: :func:`stereo_mr_stft`, inputs (batch, 2, samples)."""

    def __init__(self, resolutions: tuple[tuple[int, int, int], ...] = THESIS_RESOLUTIONS):
        super().__init__()
        self.resolutions = tuple(tuple(r) for r in resolutions)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return stereo_mr_stft(pred, target, self.resolutions)


_LOSS_CLASSES = {"l1": L1Loss, "mrstft": MRSTFTLoss, "l1+mrstft": L1MRSTFTLoss, "l1+mrstft+mcd": L1MRSTFTMCDLoss,
                 "stereo-mrstft": StereoMRSTFTLoss}

#: Names accepted by :func:`make_loss`.
LOSSES: tuple[str, ...] = tuple(_LOSS_CLASSES)


def make_loss(name: str, sample_rate: float = 44100.0) -> nn.Module:
    """The training loss called ``name`` (one of :data:`LOSSES`); ``sample_rate`` (Hz) for those with an MCD term."""
    if name not in _LOSS_CLASSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    if name == "l1+mrstft+mcd":
        return _LOSS_CLASSES[name](sample_rate=sample_rate)
    return _LOSS_CLASSES[name]()


#: Evaluation metrics by name; each is f(pred, target, reduction=...); "mcd" also takes sample_rate= (Hz).
METRICS = {"mae": mae, "esr": esr, "mcd": mcd, "mr_stft": mr_stft}
