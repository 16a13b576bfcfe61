"""Augmentations of dry mono patches for effect-chain training data (DESIGN §3, thesis §4.4).

Six small functions, each ``f(x, rng, ...) -> y`` on a float32 mono patch ``x`` of shape (n,):

- :func:`scale_amplitude`   y = a·x,  a = 10^(g/20), g ~ U(scale_db)                 [dB]
- :func:`invert_polarity`   y = −x
- :func:`mix_two`           y = x + b·other,  b = 10^(g/20), g ~ U(mix_db)            [dB]
- :func:`add_white_noise`   y = x + σ·w,  w ~ N(0, 1),  σ = rms(x)·10^(−snr/20), snr ~ U(noise_snr_db)
- :func:`zero_samples`      y[i] = 0 for each i with probability q,  q ~ U(zero_fraction)
- :func:`zero_block`        y[s:s+L] = 0,  L = round(f·n), f ~ U(block_fraction), s ~ U{0..n−L}

:func:`augment` applies them in that order, each with its own probability (``p_*`` in
:class:`AugmentConfig`; 0 switches one off, ``enabled=False`` switches all off). The random draws
come from the one ``numpy.random.Generator`` passed in, so a seed fixes the result. Every
augmentation that fired is named in the returned list (it goes into the example's JSON).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

AUGMENTATIONS = ("scale", "polarity", "mix", "noise", "zero_samples", "zero_block")


class AugmentError(ValueError):
    """An invalid augmentation setting or input; the message names the field."""


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations run, how often and how strongly.

    ``p_*`` are probabilities in [0, 1] (0 = off). Ranges are (low, high) tuples for uniform draws.
    """

    enabled: bool = True
    p_scale: float = 0.5
    scale_db: tuple[float, float] = (-12.0, 6.0)  # amplitude scaling, dB
    p_polarity: float = 0.5
    p_mix: float = 0.25
    mix_db: tuple[float, float] = (-12.0, 0.0)  # level of the second patch relative to its own, dB
    p_noise: float = 0.25
    noise_snr_db: tuple[float, float] = (20.0, 60.0)  # patch RMS over noise RMS, dB
    p_zero_samples: float = 0.1
    zero_fraction: tuple[float, float] = (0.001, 0.02)  # probability of zeroing each sample
    p_zero_block: float = 0.1
    block_fraction: tuple[float, float] = (0.01, 0.2)  # block length / patch length

    def __post_init__(self):
        for name in AUGMENTATIONS:
            p = getattr(self, "p_" + name)
            if not 0.0 <= float(p) <= 1.0:
                raise AugmentError(f"AugmentConfig.p_{name} must be in [0, 1], got {p!r}")
        for name in ("scale_db", "mix_db", "noise_snr_db", "zero_fraction", "block_fraction"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise AugmentError(f"AugmentConfig.{name} must be (low, high) with low <= high, got {(lo, hi)!r}")
        for name in ("zero_fraction", "block_fraction"):
            lo, hi = getattr(self, name)
            if lo < 0 or hi > 1:
                raise AugmentError(f"AugmentConfig.{name} must lie in [0, 1], got {(lo, hi)!r}")

    @classmethod
    def off(cls) -> "AugmentConfig":
        """No augmentation at all."""
        return cls(enabled=False)

    @classmethod
    def only(cls, *names: str, p: float = 1.0) -> "AugmentConfig":
        """Only the named augmentations, each with probability ``p`` (handy for tests and ablations)."""
        unknown = set(names) - set(AUGMENTATIONS)
        if unknown:
            raise AugmentError(f"unknown augmentation(s) {sorted(unknown)}; known: {', '.join(AUGMENTATIONS)}")
        return cls(**{"p_" + a: (p if a in names else 0.0) for a in AUGMENTATIONS})

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def _mono(x: np.ndarray, what: str = "x") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1:
        raise AugmentError(f"{what} must be a mono patch of shape (n,), got shape {x.shape}")
    return x.astype(np.float32, copy=False)


def scale_amplitude(x: np.ndarray, rng: np.random.Generator, scale_db=(-12.0, 6.0)) -> np.ndarray:
    """y = 10^(g/20)·x with g ~ U(scale_db) dB."""
    g = rng.uniform(*scale_db)
    return (_mono(x) * np.float32(10.0 ** (g / 20.0))).astype(np.float32)


def invert_polarity(x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """y = −x (``rng`` unused; kept so every augmentation has the same signature)."""
    return -_mono(x)


def mix_two(x: np.ndarray, other: np.ndarray, rng: np.random.Generator, mix_db=(-12.0, 0.0)) -> np.ndarray:
    """y = x + 10^(g/20)·other with g ~ U(mix_db) dB; ``other`` must have x's length."""
    x, other = _mono(x), _mono(other, "other")
    if other.shape != x.shape:
        raise AugmentError(f"mix_two: the second patch has {other.shape[0]} samples, the first {x.shape[0]}")
    b = np.float32(10.0 ** (rng.uniform(*mix_db) / 20.0))
    return (x + b * other).astype(np.float32)


def add_white_noise(x: np.ndarray, rng: np.random.Generator, snr_db=(20.0, 60.0)) -> np.ndarray:
    """y = x + σ·w, w ~ N(0, 1) i.i.d., σ = rms(x)·10^(−snr/20), snr ~ U(snr_db) dB.

    A silent patch (rms 0) gets no noise (σ = 0).
    """
    x = _mono(x)
    snr = rng.uniform(*snr_db)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    sigma = rms * 10.0 ** (-snr / 20.0)
    return (x + (sigma * rng.standard_normal(x.shape[0])).astype(np.float32)).astype(np.float32)


def zero_samples(x: np.ndarray, rng: np.random.Generator, zero_fraction=(0.001, 0.02)) -> np.ndarray:
    """Set each sample to 0 independently with probability q, q ~ U(zero_fraction)."""
    x = _mono(x)
    q = rng.uniform(*zero_fraction)
    y = x.copy()
    y[rng.random(x.shape[0]) < q] = 0.0
    return y


def zero_block(x: np.ndarray, rng: np.random.Generator, block_fraction=(0.01, 0.2)) -> np.ndarray:
    """Zero one contiguous block of L = round(f·n) samples, f ~ U(block_fraction), start ~ U{0..n−L}."""
    x = _mono(x)
    n = x.shape[0]
    length = min(n, int(round(rng.uniform(*block_fraction) * n)))
    start = int(rng.integers(0, n - length + 1))
    y = x.copy()
    y[start:start + length] = 0.0
    return y


def augment(x: np.ndarray, rng: np.random.Generator, config: AugmentConfig | None = None,
            other: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Apply the switched-on augmentations in the order of :data:`AUGMENTATIONS`.

    Each one fires with its probability ``p_*``; "mix" needs ``other`` (a second dry patch of the
    same length) and is skipped without it. Returns (augmented float32 patch, names that fired).
    One uniform draw decides each augmentation (also for switched-off ones), so switching one
    augmentation off does not change the decisions of the others for the same generator state.
    """
    config = AugmentConfig() if config is None else config
    y = _mono(x)
    applied: list[str] = []
    if not config.enabled:
        return y.copy(), applied
    decide = rng.random(len(AUGMENTATIONS))
    fire = {name: bool(decide[i] < getattr(config, "p_" + name)) for i, name in enumerate(AUGMENTATIONS)}
    if fire["scale"]:
        y = scale_amplitude(y, rng, config.scale_db)
        applied.append("scale")
    if fire["polarity"]:
        y = invert_polarity(y)
        applied.append("polarity")
    if fire["mix"] and other is not None:
        y = mix_two(y, other, rng, config.mix_db)
        applied.append("mix")
    if fire["noise"]:
        y = add_white_noise(y, rng, config.noise_snr_db)
        applied.append("noise")
    if fire["zero_samples"]:
        y = zero_samples(y, rng, config.zero_fraction)
        applied.append("zero_samples")
    if fire["zero_block"]:
        y = zero_block(y, rng, config.block_fraction)
        applied.append("zero_block")
    return (y if applied else y.copy()), applied
