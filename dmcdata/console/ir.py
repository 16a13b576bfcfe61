"""Impulse-response banks for the convolution reverb.

- :meth:`IRBank.generate`: built-in, seeded synthetic rooms, so nothing needs downloading. Each IR
  is a pre-delay of silence, a handful of early reflections (sparse taps of random sign over the
  first ~80 ms), then a late tail of Gaussian noise split into three bands (< 500 Hz, 500–4000 Hz,
  > 4 kHz) that decay exponentially with RT60s of 1.0×, 0.8× and 0.5× the IR's RT60 (high
  frequencies die first, as in real rooms). Length = pre-delay + RT60 (the tail ends at −60 dB).
  IR ``i`` depends only on ``(seed, i, sample_rate, rt60_s, predelay_ms)``, not on ``n``.
- :meth:`IRBank.from_folder`: a user's folder of WAV/FLAC/AIFF IRs (sorted by file name, hidden files skipped;
  multichannel files are averaged to mono; other sample rates are resampled with
  ``scipy.signal.resample_poly``).
- :meth:`IRBank.from_arrays`: any float arrays.

Every IR is scaled to unit energy (Σ h² = 1), so ``reverb.wet`` = 1 gives a wet signal of about
the dry signal's RMS for broadband input, whatever the IR.

``reverb.decay`` = d ∈ [0, 1] shortens the tail (:meth:`IRBank.effective_ir`): from the IR's onset
(first sample ≥ 1e-3 of its peak) on, h is multiplied by 10^(−3 t (1 − d) / (d L)) with t the
time since the onset and L the IR length after the onset (seconds). An IR whose own RT60 is R
then decays with RT60' = 1 / (1/R + (1 − d)/(d L)); for the built-in IRs (R = L), RT60' = d·R.
d = 1 leaves the IR untouched, d = 0 keeps only its first tap. The effective IR is cut where the
extra attenuation passes 120 dB, which also makes short decays cheaper.

The bank caches the rfft of each effective IR per FFT size (LRU, bounded in bytes), so a reverb
costs two FFTs of the signal once an (IR, decay, size) has been seen.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from dmcdata.console import fft
from dmcdata.console.errors import ConsoleError

AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff")
BAND_EDGES_HZ = (500.0, 4000.0)
BAND_RT60_FACTORS = (1.0, 0.8, 0.5)
ONSET_FRACTION = 1e-3
MAX_EXTRA_DB = 120.0
#: Bounds of :meth:`IRBank.generate` (and of a mix document's ``ir_bank.generated``): a typo such
#: as a pre-delay of 30000 ms must be an error, not gigabytes of IR.
MAX_GENERATED_IRS = 1024
MAX_RT60_S = 60.0
MAX_PREDELAY_MS = 1000.0


def _unit_energy(h: np.ndarray, name: str) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 1 or h.shape[0] == 0:
        raise ConsoleError(f"impulse response {name}: expected a non-empty mono array, got shape {h.shape}")
    if not np.all(np.isfinite(h)):
        raise ConsoleError(f"impulse response {name}: contains NaN/Inf")
    e = float(np.sqrt(np.sum(h * h)))
    if e == 0.0:
        raise ConsoleError(f"impulse response {name}: is silent")
    return (h / e).astype(np.float32)


@lru_cache(maxsize=64)
def _generated_ir(sample_rate: int, seed: int, index: int, rt60_s: tuple, predelay_ms: tuple) -> np.ndarray:
    import scipy.signal  # imported here: it is slow to import and only IR generation needs it

    rng = np.random.default_rng([int(seed), int(index), 0x1B])
    lo, hi = rt60_s
    rt60 = lo if lo == hi else math.exp(rng.uniform(math.log(lo), math.log(hi)))
    pre = int(round(rng.uniform(*predelay_ms) * 1e-3 * sample_rate)) if predelay_ms[1] > predelay_ms[0] \
        else int(round(predelay_ms[0] * 1e-3 * sample_rate))
    n_tail = max(int(round(rt60 * sample_rate)), 16)
    t = np.arange(n_tail) / sample_rate
    # late tail: three noise bands with their own exponential decay (−60 dB at their RT60)
    noise = rng.standard_normal(n_tail)
    nyq = 0.5 * sample_rate
    edges = [e for e in BAND_EDGES_HZ if e < 0.95 * nyq]
    bands = []
    if len(edges) == 2:
        bands.append(scipy.signal.sosfilt(scipy.signal.butter(4, edges[0] / nyq, "low", output="sos"), noise))
        bands.append(scipy.signal.sosfilt(scipy.signal.butter(2, [edges[0] / nyq, edges[1] / nyq], "band", output="sos"), noise))
        bands.append(scipy.signal.sosfilt(scipy.signal.butter(4, edges[1] / nyq, "high", output="sos"), noise))
    else:  # very low sample rates: one band
        bands.append(noise)
    tail = np.zeros(n_tail)
    for band, factor in zip(bands, BAND_RT60_FACTORS):
        tail += band * 10.0 ** (-3.0 * t / (rt60 * factor))
    # a 10 ms fade-in so the tail grows out of the early reflections
    fade = min(n_tail, max(1, int(0.01 * sample_rate)))
    tail[:fade] *= np.linspace(0.0, 1.0, fade)
    # early reflections: sparse taps over the first ~80 ms, decaying with the broadband RT60
    n_taps = int(rng.integers(8, 20))
    span = min(n_tail - 1, int(0.08 * sample_rate))
    pos = np.sort(rng.integers(0, span + 1, size=n_taps))
    pos[0] = 0
    amp = rng.uniform(0.3, 1.0, size=n_taps) * rng.choice([-1.0, 1.0], size=n_taps)
    amp[0] = 1.0
    amp *= 10.0 ** (-3.0 * (pos / sample_rate) / rt60)
    early = np.zeros(n_tail)
    np.add.at(early, pos, amp * 4.0 * np.std(tail[: max(span, 2)]))
    h = np.concatenate([np.zeros(pre), early + tail])
    out = _unit_energy(h, f"generated #{index}")
    out.setflags(write=False)
    return out


class IRBank:
    """An ordered list of mono float32 impulse responses at one sample rate (``reverb.ir`` indexes it)."""

    def __init__(self, irs: list[np.ndarray], sample_rate: int, names: list[str] | None = None,
                 description: dict | None = None, cache_bytes: int = 256 << 20, _normalized: bool = False):
        if not irs:
            raise ConsoleError("an IR bank needs at least one impulse response")
        self.sample_rate = int(sample_rate)
        self.names = list(names) if names is not None else [f"ir{i:02d}" for i in range(len(irs))]
        self.irs = []
        for i, h in enumerate(irs):
            if _normalized:
                self.irs.append(h)  # generated: already unit energy, read-only
            else:
                a = _unit_energy(h, self.names[i])
                a.setflags(write=False)
                self.irs.append(a)
        self.description = description or {"arrays": len(irs)}
        self._onsets = [int(np.argmax(np.abs(h) >= ONSET_FRACTION * np.max(np.abs(h)))) for h in self.irs]
        self._cache: OrderedDict = OrderedDict()
        self._cache_bytes = 0
        self.cache_limit = int(cache_bytes)

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def generate(cls, sample_rate: int = 44100, n: int = 8, seed: int = 0,
                 rt60_s: tuple[float, float] = (0.3, 2.5),
                 predelay_ms: tuple[float, float] = (0.0, 30.0)) -> "IRBank":
        """``n`` synthetic rooms; RT60 log-uniform in ``rt60_s`` (s), pre-delay uniform in
        ``predelay_ms``. Same arguments -> the same IRs, bit for bit."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_GENERATED_IRS:
            raise ConsoleError(f"IRBank.generate: n must be a whole number in [1, {MAX_GENERATED_IRS}], got {n!r}")
        n = int(n)
        rt = (float(rt60_s[0]), float(rt60_s[1]))
        pd = (float(predelay_ms[0]), float(predelay_ms[1]))
        if not (0 < rt[0] <= rt[1] <= MAX_RT60_S):
            raise ConsoleError(f"IRBank.generate: rt60_s={list(rt60_s)} must be [low, high] seconds with "
                               f"0 < low <= high <= {MAX_RT60_S:g}")
        if not (0 <= pd[0] <= pd[1] <= MAX_PREDELAY_MS):
            raise ConsoleError(f"IRBank.generate: predelay_ms={list(predelay_ms)} must be [low, high] ms with "
                               f"0 <= low <= high <= {MAX_PREDELAY_MS:g}")
        irs = [_generated_ir(int(sample_rate), int(seed), i, rt, pd) for i in range(n)]
        return cls(irs, sample_rate, names=[f"generated-{seed}-{i:02d}" for i in range(n)],
                   description={"generated": {"n": n, "seed": seed, "rt60_s": list(rt), "predelay_ms": list(pd)}},
                   _normalized=True)

    @classmethod
    def from_folder(cls, path: str | os.PathLike, sample_rate: int) -> "IRBank":
        """Every audio file in ``path`` (not recursive), sorted by name."""
        folder = Path(path)
        if not folder.is_dir():
            raise ConsoleError(f"IR folder {str(folder)!r} does not exist or is not a folder")
        files = sorted(p for p in folder.iterdir()  # hidden files (macOS "._x.wav") are not IRs
                       if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file() and not p.name.startswith("."))
        if not files:
            raise ConsoleError(f"IR folder {str(folder)!r} holds no {'/'.join(AUDIO_SUFFIXES)} files")
        from dmcdata import audio as dmc_audio

        irs = []
        for f in files:
            try:  # the build's completeness checks: a truncated WAV is refused, not used shortened
                info = dmc_audio.probe(f)
            except dmc_audio.AudioError as e:
                raise ConsoleError(f"impulse response {e}") from None
            if info.frames == 0:
                raise ConsoleError(f"impulse response {str(f)!r}: empty audio file (0 frames)")
            try:
                data, sr = sf.read(str(f), dtype="float64", always_2d=True)
            except Exception as e:  # soundfile raises its own types
                raise ConsoleError(f"impulse response {str(f)!r}: cannot read ({e})") from None
            h = data.mean(axis=1)
            if sr != sample_rate:
                import scipy.signal

                g = math.gcd(int(sr), int(sample_rate))
                h = scipy.signal.resample_poly(h, int(sample_rate) // g, int(sr) // g)
            a = _unit_energy(h, repr(str(f)))
            a.setflags(write=False)
            irs.append(a)
        return cls(irs, sample_rate, names=[f.name for f in files], description={"folder": str(folder)},
                   _normalized=True)

    @classmethod
    def from_arrays(cls, irs: list[np.ndarray], sample_rate: int, names: list[str] | None = None) -> "IRBank":
        return cls([np.array(h, dtype=np.float64) for h in irs], sample_rate, names=names)

    # -- access ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.irs)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.irs[self.check_index(i)]

    def check_index(self, i) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < len(self.irs):
            raise ConsoleError(f"reverb.ir: index {i!r} not in this IR bank (0..{len(self.irs) - 1})")
        return int(i)

    def effective_ir(self, index: int, decay: float = 1.0) -> np.ndarray:
        """The IR convolved for ``reverb.ir = index``, ``reverb.decay = decay`` (see module doc)."""
        h = self[index]
        d = float(decay)
        if not 0.0 <= d <= 1.0:
            raise ConsoleError(f"reverb.decay: value {d:g} out of range [0, 1]")
        if d == 1.0:
            return h
        on = self._onsets[int(index)]
        if d == 0.0:
            return h[: on + 1].copy()
        length_s = max(h.shape[0] - on, 1) / self.sample_rate
        rate_db = 60.0 * (1.0 - d) / (d * length_s)  # extra attenuation, dB per second
        n_keep = min(h.shape[0] - on, int(math.ceil(MAX_EXTRA_DB / rate_db * self.sample_rate)) + 1)
        t = np.arange(n_keep, dtype=np.float64) / self.sample_rate
        out = h[: on + n_keep].copy()
        out[on:] = (out[on:] * 10.0 ** (-rate_db * t / 20.0)).astype(np.float32)
        return out

    def effective_length(self, index: int, decay: float) -> int:
        """Length in samples of :meth:`effective_ir` (without building it)."""
        h = self[index]
        d = float(decay)
        if d == 1.0:
            return h.shape[0]
        on = self._onsets[int(index)]
        if d <= 0.0:
            return on + 1
        length_s = max(h.shape[0] - on, 1) / self.sample_rate
        rate_db = 60.0 * (1.0 - d) / (d * length_s)
        return on + min(h.shape[0] - on, int(math.ceil(MAX_EXTRA_DB / rate_db * self.sample_rate)) + 1)

    def spectrum(self, index: int, decay: float, nfft: int, length: int | None = None) -> np.ndarray:
        """Cached complex64 rfft (size ``nfft``) of :meth:`effective_ir`, cut to its first
        ``length`` samples (all when None)."""
        key = (int(index), float(decay), int(nfft), None if length is None else int(length))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        h = self.effective_ir(index, decay)
        if length is not None:
            h = h[: int(length)]
        spec = fft.rfft(h, nfft)
        spec.setflags(write=False)
        self._cache[key] = spec
        self._cache_bytes += spec.nbytes
        while self._cache_bytes > self.cache_limit and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= old.nbytes
        return spec

    def __repr__(self) -> str:
        return f"IRBank({len(self)} IRs at {self.sample_rate} Hz, {self.description})"
