"""Convolution reverb with wet/dry mix: ``y = dry · x + wet · (h_d ∗ x)[0:n]``.

``h_d`` is the bank's effective IR for (``reverb.ir``, ``reverb.decay``) (see
:mod:`dmcdata.console.ir`); the output keeps the input's length (the tail past the end is cut).
Only the first ``n`` outputs are needed, and they depend on the first ``n`` IR samples only, so an
IR longer than the input is cut to the input's length first.

FFT convolution, float32 (complex64 spectra; :mod:`dmcdata.console.fft`): for inputs up to about 8 IR lengths, one rfft of
size ``next_fast_len(n + m − 1)``; for longer inputs, overlap-save with a fixed FFT size
``N = next_fast_len(8 m)`` (hop N − m + 1), so memory stays bounded on whole songs. The IR's
spectrum comes from the bank's cache: a repeated (IR, decay, size) costs no IR transform.
``wet = 0`` skips the convolution (dry = 1, wet = 0 is exactly the identity).
"""

from __future__ import annotations

import numpy as np

from dmcdata.console import fft
from dmcdata.console.ir import IRBank

MIN_BLOCK = 1 << 14


def block_size(m: int) -> int:
    """The overlap-save FFT size used for an IR of ``m`` samples."""
    return fft.next_fast_len(max(8 * m, MIN_BLOCK))


def convolve_ir(x: np.ndarray, bank: IRBank, index: int, decay: float = 1.0) -> np.ndarray:
    """First ``len(x)`` samples of ``x ∗ h_d`` (float32)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    if n == 0:
        return x.copy()
    m = min(bank.effective_length(index, decay), n)
    big = block_size(m)
    if n + m - 1 <= big:  # one shot
        nfft = fft.next_fast_len(n + m - 1)
        spec = bank.spectrum(index, decay, nfft, m)
        X = fft.rfft(x, nfft)
        X *= spec
        return fft.irfft(X, nfft)[:n]
    # overlap-save
    spec = bank.spectrum(index, decay, big, m)
    hop = big - m + 1
    y = np.empty(n, dtype=np.float32)
    xp = np.concatenate([np.zeros(m - 1, dtype=np.float32), x])
    for start in range(0, n, hop):
        seg = xp[start: start + big]
        X = fft.rfft(seg, big)
        X *= spec
        blk = fft.irfft(X, big)
        stop = min(start + hop, n)
        y[start:stop] = blk[m - 1: m - 1 + stop - start]
    return y


def apply_reverb(x: np.ndarray, bank: IRBank, index: int, decay: float = 1.0,
                 dry: float = 1.0, wet: float = 0.0) -> np.ndarray:
    """``dry · x + wet · (h_d ∗ x)`` over the input's length (float32, a new array)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if wet == 0.0:
        return x * np.float32(dry) if dry != 1.0 else x.copy()
    y = convolve_ir(x, bank, index, decay)
    if wet != 1.0:
        y *= np.float32(wet)
    if dry != 0.0:
        y += np.float32(dry) * x if dry != 1.0 else x
    return y
