"""The console's convolution reverb in torch: ``y = dry·x + wet·(h_d ∗ x)[0:n]``.

Same IRs and the same effective IR as :mod:`dmcdata.console.ir` / :mod:`dmcdata.console.reverb`:
``reverb.decay`` = d multiplies the IR from its onset on by 10^(−3 t (1 − d)/(d L)) (t seconds
since the onset, L the IR length after the onset) and cuts it where that extra attenuation passes
120 dB; d = 1 leaves it as is, d = 0 keeps the first tap only. The IR is cut to the input's length
(only the first n outputs are kept, and they need only the first n IR samples).

Two forward paths for the convolution, one backward:

- float64 (``console_fft=False``): one torch FFT of size ``next_fast_len(n + m − 1)`` over the
  batch, float64 throughout (what ``gradcheck`` checks);
- console (``console_fft=True``, the twin's choice for float32 audio): the console's own
  ``convolve_ir`` (float32 FFTs, overlap-save on long inputs), so the twin's reverb *is* the
  console's, rounding included. This matters when a compressor follows the reverb: the console's
  float32 FFT leaves an error of ~2e−7 of the reverb's peak on every sample, and heavy gain
  reduction afterwards lowers the peak, not that error.

The backward pass is the float64 adjoint of the first-n convolution, by FFT:
∂L/∂x[t] = Σ_k h[k] g[t + k] and ∂L/∂h[k] = Σ_t g[t] x[t − k] (correlations), so gradients reach
the input, ``decay`` (through the envelope), ``dry`` and ``wet``.

``reverb.ir`` is discrete: the twin uses the rounded index (the console's value), so the output
is piecewise constant in it and its gradient is zero. ``ir_weights`` (B, K) optionally replaces
the index by a convex mix Σ_k w_k h_k of the bank — a relaxation for search, not the console.
"""

from __future__ import annotations

import numpy as np
import torch

from dmcdata.console import fft
from dmcdata.console.ir import IRBank
from dmcdata.console.reverb import convolve_ir


class TorchIRBank:
    """The IRs of an :class:`IRBank` as one zero-padded float64 tensor (K, L_max) + onsets, lengths."""

    def __init__(self, bank: IRBank):
        self.bank = bank
        self.sample_rate = bank.sample_rate
        lengths = [int(h.shape[0]) for h in bank.irs]
        self.lengths = torch.tensor(lengths)
        self.max_length = max(lengths)
        irs = np.zeros((len(bank), self.max_length), dtype=np.float64)
        for i, h in enumerate(bank.irs):
            irs[i, : h.shape[0]] = h
        self.irs = torch.from_numpy(irs)
        self.onsets = torch.tensor([int(bank._onsets[i]) for i in range(len(bank))])

    def __len__(self) -> int:
        return len(self.bank)

    def effective(self, index: torch.Tensor, decay: torch.Tensor, n: int) -> torch.Tensor:
        """(B,) int index, (B,) float64 decay → (B, m) effective IRs, m ≤ n (differentiable in decay)."""
        idx = index.long()
        keep = [min(self.bank.effective_length(int(i), float(d)), n) for i, d in zip(idx.tolist(), decay.detach().tolist())]
        m = max(keep)
        h = self.irs[idx, :m]
        return h * self._envelope(idx, decay, m, keep)

    def effective_mix(self, weights: torch.Tensor, decay: torch.Tensor, n: int) -> torch.Tensor:
        """Σ_k w_k · effective(k, decay) for (B, K) weights (the relaxation of ``reverb.ir``)."""
        out = 0.0
        for k in range(len(self)):
            idx = torch.full((weights.shape[0],), k, dtype=torch.long)
            h = self.effective(idx, decay, n)
            pad = min(n, self.max_length) - h.shape[1]
            h = torch.nn.functional.pad(h, (0, max(pad, 0)))
            out = out + weights[:, k:k + 1] * h
        return out

    def _envelope(self, idx, decay, m, keep) -> torch.Tensor:
        on = self.onsets[idx]
        length_s = torch.clamp(self.lengths[idx] - on, min=1).to(torch.float64) / self.sample_rate
        d = decay.to(torch.float64)
        d_safe = torch.clamp(d, min=1e-12)
        rate_db = 60.0 * (1.0 - d) / (d_safe * length_s)  # extra attenuation, dB per second
        pos = torch.arange(m)
        t = torch.clamp(pos[None, :] - on[:, None], min=0).to(torch.float64) / self.sample_rate
        env = torch.pow(10.0, -rate_db[:, None] * t / 20.0)
        mask = pos[None, :] < torch.tensor(keep)[:, None]
        return torch.where(mask, env, torch.zeros_like(env))


def fft_convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """First n samples of x ∗ h for x (B, n), h (B, m): one real FFT per row, float64."""
    n, m = x.shape[-1], h.shape[-1]
    nfft = fft.next_fast_len(n + m - 1)
    X = torch.fft.rfft(x.to(torch.float64), n=nfft)
    H = torch.fft.rfft(h.to(torch.float64), n=nfft)
    return torch.fft.irfft(X * H, n=nfft)[..., :n]


class ConsoleConvolution(torch.autograd.Function):
    """First n samples of x ∗ h_d: forward by the console's float32 ``convolve_ir`` (the same
    numbers as the console), backward the float64 adjoint. ``h`` (B, m) must be the effective IRs
    of (``index``, ``decay``) (it is used by the backward pass only)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, h: torch.Tensor, bank: IRBank, index: list, decay: list) -> torch.Tensor:
        x32 = x.detach().to(torch.float32).contiguous().numpy()
        out = np.empty(x32.shape, dtype=np.float64)
        for b in range(x32.shape[0]):
            out[b] = convolve_ir(x32[b], bank, int(index[b]), float(decay[b]))
        ctx.save_for_backward(x.detach().to(torch.float64), h.detach().to(torch.float64))
        return torch.from_numpy(out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: torch.Tensor):
        x, h = ctx.saved_tensors
        gx, gh = convolution_adjoint(g.to(torch.float64), x, h)
        return (gx if ctx.needs_input_grad[0] else None), (gh if ctx.needs_input_grad[1] else None), None, None, None


def convolution_adjoint(g: torch.Tensor, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of y = (x ∗ h)[0:n] for ∂L/∂y = g: (∂L/∂x (B, n), ∂L/∂h (B, m)), float64 FFT correlations."""
    n, m = x.shape[-1], h.shape[-1]
    nfft = fft.next_fast_len(n + m - 1)
    G = torch.fft.rfft(g, n=nfft)
    gx = torch.fft.irfft(G * torch.fft.rfft(h, n=nfft).conj(), n=nfft)[..., :n]
    gh = torch.fft.irfft(G * torch.fft.rfft(x, n=nfft).conj(), n=nfft)[..., :m]
    return gx, gh


def apply_reverb(x: torch.Tensor, p: dict, bank: TorchIRBank, ir_weights: torch.Tensor | None = None,
                 console_fft: bool = False) -> torch.Tensor:
    """``dry·x + wet·(h_d ∗ x)`` on x (B, n) with per-track ``reverb.*`` (B,) tensors; float64 out."""
    x = x.to(torch.float64)
    dry = p["reverb.dry"][:, None]
    wet = p["reverb.wet"][:, None]
    if not bool((wet != 0).any()) and not wet.requires_grad:
        return dry * x  # no convolution needed (the console skips it too)
    n = x.shape[-1]
    if ir_weights is not None:
        return dry * x + wet * fft_convolve(x, bank.effective_mix(ir_weights, p["reverb.decay"], n))
    h = bank.effective(p["reverb.ir"], p["reverb.decay"], n)
    if console_fft:
        wet_sig = ConsoleConvolution.apply(x, h, bank.bank, p["reverb.ir"].long().tolist(), p["reverb.decay"].tolist())
    else:
        wet_sig = fft_convolve(x, h)
    return dry * x + wet * wet_sig

