"""Deterministic WAV writing for the demo corpus (no timestamps, atomic replace).

16-bit files hold ``q = clip(round(x * 32768), -32768, 32767)``; reading them back as float
(soundfile, ``dtype='float32'``) gives exactly ``q / 32768`` — :func:`quantize16` returns that
value so mixes can be rendered from precisely what is on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dmcdata.audio import wav_bytes
from dmcdata.shards import write_atomic


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def quantize16(x: np.ndarray) -> np.ndarray:
    """The float32 values a 16-bit file of ``x`` reads back as."""
    return (to_int16(x).astype(np.float32) / np.float32(32768.0)).astype(np.float32)


def write_wav(path: str | os.PathLike, x: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> int:
    """Write mono ``(n,)`` or multichannel ``(channels, n)`` audio; returns bytes written.

    ``subtype`` is ``PCM_16`` (values quantized as in :func:`to_int16`) or ``FLOAT`` (float32).
    """
    x = np.asarray(x)
    data = x if x.ndim == 1 else x.T
    if subtype == "PCM_16":
        data = to_int16(data)
    elif subtype == "FLOAT":
        data = np.asarray(data, np.float32)
    else:
        raise ValueError(f"{path}: unsupported subtype {subtype!r} (PCM_16 or FLOAT)")
    blob = wav_bytes(np.ascontiguousarray(data), int(sample_rate), subtype)
    write_atomic(Path(path), blob)
    return len(blob)
