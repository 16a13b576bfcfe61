"""Paired input/target patches with knob conditioning (SignalTrain LA-2A), with mixup.

One output sample (numpy float32):

- ``input``  (1, T)  dry patch;  ``target`` (1, T)  the same span of the LA-2A recording
- ``params`` (2,)    conditioning ``[limit, peak_reduction / 100]`` (limit: 0 compress, 1 limit;
  peak reduction knob 0–100 → [0, 1])
- ``lam``            the mixup weight used (1.0 = not mixed); ``key``, ``partner`` (mixup
  partner's key or ""), ``start``

Mixup (Zhang et al. 2018; thesis §4.4, DESIGN §3): after the shuffles, items are taken in
consecutive pairs (a, b) and each is emitted once as the *primary* of a mix with the other::

    λ ~ Beta(α, α)   (a fresh draw per output; with probability 1 − mixup_prob λ = 1)
    input  = λ·x_a + (1 − λ)·x_b
    target = λ·y_a + (1 − λ)·y_b
    params = λ·c_a + (1 − λ)·c_b

so every pair is still seen once per epoch as a primary. An odd last item is passed unmixed.
The thesis used α ≤ 0.4 (small α: λ mostly near 0 or 1).
"""

from __future__ import annotations

import io
import json
import math
import warnings

import numpy as np
import soundfile as sf

from dmcdata.streaming.base import Item, ShardStream, check_kind, db_to_rms, patch_starts
from dmcdata.streaming.reader import SampleDecodeError


def sample_lambda(rng: np.random.Generator, alpha: float, size=None):
    """Mixup weight(s) λ ~ Beta(α, α), α > 0."""
    if not alpha > 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha!r}")
    return rng.beta(alpha, alpha, size=size)


def mix_pair(a: dict, b: dict, lam: float) -> dict:
    """The mixup of two samples: λ·a + (1 − λ)·b for input, target and params (float32)."""
    out = dict(a)
    for f in ("input", "target", "params"):
        out[f] = (lam * a[f].astype(np.float64) + (1.0 - lam) * b[f].astype(np.float64)).astype(np.float32)
    out["lam"] = float(lam)
    out["partner"] = b["key"]
    return out


def _decode(data: bytes, where: str) -> tuple[np.ndarray, int]:
    try:
        a, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile raises several types
        raise SampleDecodeError(f"{where}: cannot decode audio: {e}") from None
    return a.mean(axis=1).astype(np.float32) if a.shape[1] > 1 else a[:, 0], int(sr)


def _member(members: dict, stem: str, key: str) -> str:
    for ext in ("flac", "wav"):
        if f"{stem}.{ext}" in members:
            return f"{stem}.{ext}"
    raise SampleDecodeError(f"{key}: no {stem}.flac or {stem}.wav member (members: {sorted(members)})")


class PairedDataset(ShardStream):
    """Input/target patches from paired shards (``signaltrain-…``) with knob conditioning.

    patch_seconds: patch length (default 1.48 s, the thesis' longest). patches: "all" (tile
    every segment, random offset per epoch; default) or k random crops. silence_db: skip patches
    whose input RMS is below this (dBFS; None keeps all). mixup_alpha: None (off) or α of
    Beta(α, α); mixup_prob: probability that an output is mixed. Plus every ShardStream option.
    """

    def __init__(self, urls, *, patch_seconds: float = 1.48, patches: int | str = "all",
                 silence_db: float | None = None, mixup_alpha: float | None = None, mixup_prob: float = 1.0,
                 **kwargs):
        if not patch_seconds > 0:
            raise ValueError(f"patch_seconds must be > 0, got {patch_seconds!r}")
        if mixup_alpha is not None:
            if not mixup_alpha > 0:
                raise ValueError(f"mixup_alpha must be > 0 (or None for no mixup), got {mixup_alpha!r}")
            if mixup_alpha > 0.4:
                warnings.warn(f"mixup_alpha={mixup_alpha} > 0.4, above the range the thesis used", stacklevel=2)
        if not 0.0 <= mixup_prob <= 1.0:
            raise ValueError(f"mixup_prob must be in [0, 1], got {mixup_prob!r}")
        super().__init__(urls, **kwargs)  # after the argument checks: they are cheaper
        self.patch_seconds = float(patch_seconds)
        self.patches = patches
        self.silence_db = silence_db
        self.mixup_alpha = mixup_alpha
        self.mixup_prob = float(mixup_prob)

    def expand(self, key, members, url):
        check_kind("PairedDataset", key, members, url, ("paired",))
        if "json" not in members:
            raise SampleDecodeError(f"{key}: no {key}.json member")
        try:
            meta = json.loads(members["json"])
            params = np.array([float(meta["limit"]), float(meta["peak_reduction"]) / 100.0], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as e:
            raise SampleDecodeError(f"{key}.json: missing or invalid field ({e!r})") from None
        mi, mt = _member(members, "input", key), _member(members, "target", key)
        x, sr = _decode(members[mi], f"{key}.{mi}")
        y, sr_t = _decode(members[mt], f"{key}.{mt}")
        if sr != sr_t or len(x) != len(y):
            raise SampleDecodeError(f"{key}: input ({len(x)} frames, {sr} Hz) and target ({len(y)} frames, "
                                    f"{sr_t} Hz) differ")
        patch = int(round(self.patch_seconds * sr))
        floor = None if self.silence_db is None else db_to_rms(self.silence_db)
        for start in patch_starts(len(x), patch, self.item_seed(key, "starts"), self.patches):
            xs = np.zeros(patch, np.float32)
            ys = np.zeros(patch, np.float32)
            n = min(patch, len(x) - start)
            xs[:n], ys[:n] = x[start:start + n], y[start:start + n]
            if floor is not None and math.sqrt(float(np.mean(xs.astype(np.float64) ** 2))) < floor:
                continue
            out = {"key": key, "start": start, "input": xs[None], "target": ys[None], "params": params,
                   "lam": 1.0, "partner": ""}
            yield Item(key, str(start), lambda out=out: dict(out))

    def pair_items(self, items):
        if self.mixup_alpha is None:
            yield from items
            return
        it = iter(items)
        for a in it:
            b = next(it, None)
            if b is None:
                yield a
                return
            for p, q in ((a, b), (b, a)):
                rng = self.item_seed(p.key, ("mixup", p.item_id, q.key, q.item_id))
                mixed = rng.random() < self.mixup_prob
                lam = float(sample_lambda(rng, self.mixup_alpha)) if mixed else 1.0
                yield Item(p.key, p.item_id, lambda p=p, q=q, lam=lam: mix_pair(p.thunk(), q.thunk(), lam), p.url)
