"""Effect-chain training examples (thesis §4.4, DESIGN §3): dry patch → random channel → target.

Shared by ``dmcdata synth-chain`` (examples written to shards) and the on-the-fly effect loader
(examples made inside DataLoader workers); both call :func:`make_example`, so a shard example and
an on-the-fly example with the same seed and dry patch are identical.

One example:

- ``input``  (n,) float32     the dry mono patch after the augmentations of :mod:`dmcdata.augment`
- ``target`` (2, n) float32   ``ChannelStrip(order).process(input, named)`` (the DSP console)
- ``params`` (25,) float32    ``CHANNEL_SPACE.normalize(named)`` in [−1, 1];
             (31,)            variable order: followed by the 6-way one-hot of the processor order
- ``named``  dict             denormalized values by parameter name (units in the names: dB, Hz, ms)
- ``order``  tuple            order of ("eq", "compressor", "reverb") used for the target
- ``seed``   int              the example's own seed: :func:`example_from_seed` with this seed and
                              the same dry patch(es) rebuilds the example exactly
- ``augmentations`` list      names of the augmentations that fired

Parameters are drawn with :func:`dmcdata.console.sample_channel_params` from the example's own
generator; processors not in ``EffectConfig.processors`` are neutral (no effect).
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
from dataclasses import dataclass, field, replace
from typing import Iterator, Sequence

import numpy as np

from dmcdata import console
from dmcdata.augment import AugmentConfig, augment

PATCH_PRESETS = {"short": 0.37, "medium": 0.74, "long": 1.48}  # seconds (thesis receptive fields)
PROCESSORS = ("gain", "polarity", "eq", "compressor", "reverb", "pan")
PROCESSOR_ALIASES = {
    "gain": "gain", "polarity": "polarity", "phase": "polarity", "eq": "eq", "equalizer": "eq",
    "comp": "compressor", "compressor": "compressor", "reverb": "reverb", "verb": "reverb", "pan": "pan",
}
ORDER_MODES = ("static", "variable")
PAN_LAWS = ("linear", "constant_power")


class EffectError(ValueError):
    """Invalid effect-generation settings or input audio; the message names the field or source."""


def parse_processors(spec: str | Sequence[str]) -> tuple[str, ...]:
    """'eq,comp,reverb' (or a list) → canonical names in channel order; 'all' = every processor.

    Aliases: comp → compressor, equalizer → eq, phase → polarity, verb → reverb.
    """
    items = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [s for s in items if s]
    if not items:
        raise EffectError("processors: the list is empty (use 'all' or e.g. 'eq,comp,reverb')")
    if items == ["all"]:
        return PROCESSORS
    names = set()
    for s in items:
        if s not in PROCESSOR_ALIASES:
            raise EffectError(f"processors: unknown processor {s!r}; known: {', '.join(PROCESSORS)} "
                              f"(aliases: comp, equalizer, phase, verb) or 'all'")
        names.add(PROCESSOR_ALIASES[s])
    return tuple(p for p in PROCESSORS if p in names)


def parse_patch_seconds(value: str | float) -> float:
    """'short' / 'medium' / 'long' (0.37 / 0.74 / 1.48 s) or any positive number of seconds."""
    if isinstance(value, str):
        v = value.strip().lower()
        if v in PATCH_PRESETS:
            return PATCH_PRESETS[v]
        try:
            value = float(v)
        except ValueError:
            raise EffectError(f"patch_seconds: {value!r} is neither a preset "
                              f"({', '.join(PATCH_PRESETS)}) nor a number of seconds") from None
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise EffectError(f"patch_seconds must be a positive number of seconds, got {value!r}")
    return value


@dataclass(frozen=True)
class EffectConfig:
    """How examples are made.

    sample_rate (Hz) of the dry audio and targets; patch_seconds (or a preset name);
    order "static" (always eq → compressor → reverb, 25 params) or "variable" (one of the 6 orders
    per example, 25 + 6 params); processors that get random settings (others neutral); pan_law
    "linear" (thesis) or "constant_power"; ir_bank {"generated": {"n", "seed"}} or
    {"folder": path}; silence_db: patches whose RMS is below this (dBFS) are skipped;
    augment: :class:`AugmentConfig`.
    """

    sample_rate: int = 44100
    patch_seconds: float = 0.74
    order: str = "static"
    processors: tuple[str, ...] = PROCESSORS
    pan_law: str = "linear"
    ir_bank: dict = field(default_factory=lambda: {"generated": {"n": 8, "seed": 0}})
    silence_db: float = -60.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if not (isinstance(self.sample_rate, (int, np.integer)) and self.sample_rate > 0):
            raise EffectError(f"sample_rate must be a positive integer (Hz), got {self.sample_rate!r}")
        set_("sample_rate", int(self.sample_rate))
        set_("patch_seconds", parse_patch_seconds(self.patch_seconds))
        if int(round(self.patch_seconds * self.sample_rate)) < 1:
            raise EffectError(f"patch_seconds {self.patch_seconds!r} is shorter than one sample at "
                              f"{self.sample_rate} Hz")
        if self.order not in ORDER_MODES:
            raise EffectError(f"order must be one of {ORDER_MODES}, got {self.order!r}")
        set_("processors", parse_processors(self.processors))
        if self.pan_law not in PAN_LAWS:
            raise EffectError(f"pan_law must be one of {PAN_LAWS}, got {self.pan_law!r}")
        bank = self.ir_bank
        if not (isinstance(bank, dict) and len(bank) == 1 and next(iter(bank)) in ("generated", "folder")):
            raise EffectError(f"ir_bank must be {{'generated': {{'n': N, 'seed': S}}}} or {{'folder': PATH}}, got {bank!r}")
        if "generated" in bank:
            g = dict(bank["generated"] or {})
            unknown = set(g) - {"n", "seed"}
            if unknown:
                raise EffectError(f"ir_bank.generated: unknown field(s) {sorted(unknown)} (known: n, seed)")
            g.setdefault("n", 8)
            g.setdefault("seed", 0)
            if not 1 <= int(g["n"]) <= console.ir.MAX_GENERATED_IRS:
                raise EffectError(f"ir_bank.generated.n must be in 1..{console.ir.MAX_GENERATED_IRS}, got {g['n']!r}")
            set_("ir_bank", {"generated": {"n": int(g["n"]), "seed": int(g["seed"])}})
        else:
            set_("ir_bank", {"folder": str(bank["folder"])})
        if not math.isfinite(float(self.silence_db)):
            raise EffectError(f"silence_db must be a finite dBFS value, got {self.silence_db!r}")
        set_("silence_db", float(self.silence_db))
        if not isinstance(self.augment, AugmentConfig):
            raise EffectError(f"augment must be an AugmentConfig, got {type(self.augment).__name__}")

    @property
    def patch_len(self) -> int:
        """Patch length in samples: round(patch_seconds · sample_rate)."""
        return int(round(self.patch_seconds * self.sample_rate))

    @property
    def n_params(self) -> int:
        return 25 + (6 if self.order == "variable" else 0)

    def replace(self, **changes) -> "EffectConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready description (what a synth-chain run records and checks on resume)."""
        return {"sample_rate": self.sample_rate, "patch_seconds": self.patch_seconds,
                "patch_len": self.patch_len, "order": self.order, "processors": list(self.processors),
                "pan_law": self.pan_law, "ir_bank": self.ir_bank, "silence_db": self.silence_db,
                "augment": self.augment.to_dict()}


# ---------------------------------------------------------------------------------------------
# console objects, built once per process and configuration

_CACHE: dict = {}
_LOCK = threading.Lock()


def ir_bank(config: EffectConfig):
    """The :class:`dmcdata.console.IRBank` named by ``config.ir_bank`` (cached per process)."""
    key = ("bank", config.sample_rate, json.dumps(config.ir_bank, sort_keys=True))
    with _LOCK:
        if key not in _CACHE:
            if "generated" in config.ir_bank:
                g = config.ir_bank["generated"]
                _CACHE[key] = console.IRBank.generate(sample_rate=config.sample_rate, n=g["n"], seed=g["seed"])
            else:
                _CACHE[key] = console.IRBank.from_folder(config.ir_bank["folder"], config.sample_rate)
        return _CACHE[key]


def parameter_space(config: EffectConfig):
    """The 25-parameter channel space; ``reverb.ir`` ranges over this config's IR bank."""
    n = len(ir_bank(config))
    key = ("space", n)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = console.channel_space(n)
        return _CACHE[key]


def channel_strip(config: EffectConfig, order: Sequence[str]):
    """A :class:`dmcdata.console.ChannelStrip` for this config and processor order (cached)."""
    bank = ir_bank(config)
    key = ("strip", config.sample_rate, json.dumps(config.ir_bank, sort_keys=True), config.pan_law, tuple(order))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = console.ChannelStrip(config.sample_rate, ir_bank=bank, pan_law=config.pan_law,
                                                  order=tuple(order))
        return _CACHE[key]


def orders() -> tuple:
    return tuple(tuple(o) for o in console.ORDERS)


# ---------------------------------------------------------------------------------------------
# dry audio

def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS: 10·log10(mean(x²)); −inf for digital silence or an empty array."""
    x = np.asarray(x, dtype=np.float64)
    ms = float(np.mean(x * x)) if x.size else 0.0
    return 10.0 * math.log10(ms) if ms > 0 else -math.inf


def to_mono(audio: np.ndarray, where: str = "audio") -> np.ndarray:
    """(n,) or (n, channels) → (n,) float32; several channels are averaged (downmix)."""
    a = np.asarray(audio)
    if a.ndim == 2:
        a = a.mean(axis=1) if a.shape[1] > 1 else a[:, 0]
    elif a.ndim != 1:
        raise EffectError(f"{where}: expected (frames,) or (frames, channels) audio, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


def patch_starts(audio: np.ndarray, patch_len: int, rng: np.random.Generator,
                 silence_db: float = -60.0) -> list[int]:
    """Start frames of the non-silent patches of ``audio``.

    The patches are consecutive and non-overlapping from a random offset in [0, patch_len)
    (bounded so that at least one patch fits); a patch whose RMS (dBFS) is below ``silence_db``
    is skipped. Audio shorter than ``patch_len`` gives none.
    """
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise EffectError(f"dry audio must be mono (n,), got shape {audio.shape}; downmix with to_mono()")
    if patch_len < 1:
        raise EffectError(f"patch_len must be >= 1 sample, got {patch_len}")
    n = audio.shape[0]
    if n < patch_len:
        return []
    offset = int(rng.integers(0, min(patch_len, n - patch_len + 1)))
    starts = np.arange(offset, n - patch_len + 1, patch_len)
    # mean square of every patch at once: the patches tile audio[offset:offset + k·patch_len]
    tiles = np.asarray(audio[offset:offset + starts.size * patch_len], dtype=np.float64).reshape(starts.size, patch_len)
    mean_sq = np.einsum("ij,ij->i", tiles, tiles) / patch_len
    threshold = 10.0 ** (silence_db / 10.0)
    return [int(s) for s, ms in zip(starts, mean_sq) if ms > 0 and ms >= threshold]


def dry_patches(audio: np.ndarray, patch_len: int, rng: np.random.Generator,
                silence_db: float = -60.0) -> Iterator[np.ndarray]:
    """Yield the non-silent float32 mono patches of ``audio`` (see :func:`patch_starts`)."""
    audio = np.asarray(audio)
    for s in patch_starts(audio, patch_len, rng, silence_db):
        yield np.asarray(audio[s:s + patch_len], dtype=np.float32)


_TRACK_MEMBER = re.compile(r"^t\d+\.(flac|wav)$")
_INPUT_MEMBER = re.compile(r"^input\.(flac|wav)$")


def dry_member_names(members: Sequence[str]) -> list[str]:
    """The members of a built sample that hold dry audio, in sorted order.

    Multitrack samples: every track member ``tNN.flac|wav`` (not the mix, not ENST's dry/wet
    mixes); SignalTrain samples: the ``input`` member (never the target).
    """
    return sorted(m for m in members if _TRACK_MEMBER.match(m) or _INPUT_MEMBER.match(m))


def decode_mono(data: bytes, where: str, sample_rate: int | None = None) -> np.ndarray:
    """Decode a FLAC/WAV member to float32 mono (stereo averaged); checks the sample rate."""
    import soundfile as sf

    try:
        audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types
        raise EffectError(f"{where}: cannot decode audio: {e}") from e
    if sample_rate is not None and sr != sample_rate:
        raise EffectError(f"{where}: sample rate {sr} Hz, but the effect config uses {sample_rate} Hz")
    return to_mono(audio, where)


def dry_tracks(sample: dict, sample_rate: int | None = None) -> list[tuple[str, np.ndarray]]:
    """A WebDataset sample dict (extension → bytes, plus ``__key__``) → [(member, mono float32)].

    Uses :func:`dry_member_names`; a sample with no dry member gives an empty list.
    """
    key = sample.get("__key__", "?")
    return [(m, decode_mono(sample[m], f"{key}.{m}", sample_rate)) for m in dry_member_names(list(sample))]


# ---------------------------------------------------------------------------------------------
# examples

def _plain(v):
    """numpy scalars → python int/float (JSON-ready, exact)."""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return float(v)


def conditioning(named: dict, order: Sequence[str], config: EffectConfig) -> np.ndarray:
    """Normalized parameter vector: (25,) static, (25 + 6,) variable (one-hot of the order)."""
    vec = parameter_space(config).normalize(named)
    if config.order == "variable":
        vec = np.concatenate([vec, console.order_one_hot(tuple(order))])
    return vec.astype(np.float32)


def named_from_conditioning(vec: np.ndarray, config: EffectConfig) -> tuple[dict, tuple]:
    """Inverse of :func:`conditioning`: (named values, order)."""
    vec = np.asarray(vec, dtype=np.float32)
    if vec.shape != (config.n_params,):
        raise EffectError(f"params vector must have shape ({config.n_params},), got {vec.shape}")
    named = parameter_space(config).denormalize(vec[:25])
    order = orders()[int(np.argmax(vec[25:]))] if config.order == "variable" else orders()[0]
    return named, order


def render_target(x: np.ndarray, named: dict, order: Sequence[str], config: EffectConfig) -> np.ndarray:
    """(2, n) float32: the channel (gain → polarity → order → pan) applied to ``x``."""
    y = channel_strip(config, order).process(np.ascontiguousarray(x, dtype=np.float32), named)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        raise EffectError(f"the console produced non-finite output for parameters {named}")
    return y


def example_from_seed(dry_patch: np.ndarray, seed: int, config: EffectConfig,
                      mix_with: np.ndarray | None = None) -> dict:
    """The example that ``seed`` determines for this dry patch (and optional second patch).

    Draw order from ``default_rng(seed)``: augmentations, then (variable order only) the order
    index, then the channel parameters.
    """
    dry = to_mono(dry_patch, "dry_patch")
    if mix_with is not None:
        mix_with = to_mono(mix_with, "mix_with")
    rng = np.random.default_rng(int(seed))
    x, applied = augment(dry, rng, config.augment, other=mix_with)
    all_orders = orders()
    order = all_orders[int(rng.integers(len(all_orders)))] if config.order == "variable" else all_orders[0]
    named = {k: _plain(v) for k, v in console.sample_channel_params(
        rng, config.processors, space=parameter_space(config)).items()}
    return {
        "input": x,
        "target": render_target(x, named, order, config),
        "params": conditioning(named, order, config),
        "named": named,
        "order": tuple(order),
        "seed": int(seed),
        "augmentations": applied,
    }


def make_example(dry_patch: np.ndarray, rng: np.random.Generator, config: EffectConfig | None = None,
                 mix_with: np.ndarray | None = None) -> dict:
    """One example from a dry mono patch: draws the example's seed from ``rng``, then
    :func:`example_from_seed`. ``mix_with`` is a second dry patch of the same length for the
    "mix two samples" augmentation (without it that augmentation never fires)."""
    config = EffectConfig() if config is None else config
    seed = int(rng.integers(0, 2**63 - 1))
    return example_from_seed(dry_patch, seed, config, mix_with=mix_with)
