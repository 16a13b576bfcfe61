"""Effect-chain training examples (DESIGN §3), two modes behind one interface.

``mode="shards"``: read ``dmcdata synth-chain`` shards (``input.npy``, ``target.npy``,
``params.npy``, ``json``). ``mode="generate"``: read dry audio shards from ``dmcdata build``
(multitrack track members ``tNN.flac|wav``, SignalTrain ``input`` members; see
:func:`dmcdata.effects.dry_member_names`), cut non-silent patches and make every example on the
fly in the loader worker with :func:`dmcdata.effects.example_from_seed` — augmentations
(:class:`dmcdata.augment.AugmentConfig`, each switchable) and the numba console. Every epoch
draws new parameters, so the data is effectively unlimited.

One output sample (numpy float32), identical fields in both modes:

- ``input``  (1, n)  the (augmented) dry patch;  ``target`` (2, n)  stereo console output
- ``params`` (25,) or (31,)  normalized conditioning vector in [-1, 1]
- ``key``  sample id;  ``seed``  the example's seed (generate mode: ``example_from_seed(patch,
  seed, config, mix_with=partner)`` rebuilds it, the patch being frames ``start:start+n`` of
  dry ``member`` and the partner those from ``mix_start`` of ``mix_member``; shards mode: the
  seed stored in the JSON, member "" and start -1)
- ``pan_law`` the pan law the target was rendered with ("linear" or "constant_power"; what a
  trainer needs to take the pan back out of the stereo target)

In generate mode the example seed is ``key_seed(seed, epoch, key, member, start)``, so an
example's content does not depend on the number of ranks or workers. The "mix two samples"
augmentation mixes in another non-silent patch of the same sample (another track or another
span), chosen by that seed.
"""

from __future__ import annotations

import io
import json

import numpy as np

from dmcdata.streaming.base import Item, ShardStream, check_kind
from dmcdata.streaming.reader import SampleDecodeError
from dmcdata.streaming.shardlist import key_seed

MODES = ("shards", "generate")


def _npy(data: bytes, where: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as e:  # numpy raises several types for bad files
        raise SampleDecodeError(f"{where}: cannot read .npy: {e}") from None


class EffectDataset(ShardStream):
    """Effect-chain examples read from synth-chain shards or generated from dry-audio shards.

    mode: "shards" or "generate". config: :class:`dmcdata.effects.EffectConfig` (generate mode:
    sample rate, patch length, order, processors, IR bank, silence threshold, augmentations).
    patches_per_track: generate mode, None = every non-silent patch of every dry member, or at
    most k random ones. Plus every ShardStream option (use ``item_shuffle_buffer`` in generate
    mode so that the patches of one song spread over many batches).
    """

    def __init__(self, urls, *, mode: str = "shards", config=None, patches_per_track: int | None = None,
                 **kwargs):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        if mode == "generate":
            from dmcdata.effects import EffectConfig

            self.config = EffectConfig() if config is None else config
            if not isinstance(self.config, EffectConfig):
                raise TypeError(f"config must be a dmcdata.effects.EffectConfig, got {type(config).__name__}")
        else:
            self.config = config
        if patches_per_track is not None and patches_per_track < 1:
            raise ValueError(f"patches_per_track must be None or >= 1, got {patches_per_track!r}")
        self.patches_per_track = patches_per_track
        super().__init__(urls, **kwargs)  # after the argument checks: they are cheaper

    def expand(self, key, members, url):
        if self.mode == "shards":
            check_kind("EffectDataset(mode='shards')", key, members, url, ("synth",))
            yield Item(key, "", lambda: self._from_shard(key, members))
        else:
            check_kind("EffectDataset(mode='generate')", key, members, url, ("multitrack", "paired"))
            yield from self._generate_items(key, members)

    # -- shards mode ------------------------------------------------------------------------
    def _from_shard(self, key, members) -> dict:
        for m in ("input.npy", "target.npy", "params.npy"):
            if m not in members:
                raise SampleDecodeError(f"{key}: no {m} member (members: {sorted(members)}); is this a "
                                        f"synth-chain shard? use mode='generate' for dry audio shards")
        x = _npy(members["input.npy"], f"{key}.input.npy").astype(np.float32, copy=False)
        y = _npy(members["target.npy"], f"{key}.target.npy").astype(np.float32, copy=False)
        p = _npy(members["params.npy"], f"{key}.params.npy").astype(np.float32, copy=False)
        if x.ndim != 1 or y.shape != (2, x.shape[0]) or p.ndim != 1:
            raise SampleDecodeError(f"{key}: shapes input {x.shape}, target {y.shape}, params {p.shape}; "
                                    f"expected (n,), (2, n), (P,)")
        seed, pan_law = -1, "linear"
        if "json" in members:
            try:
                doc = json.loads(members["json"])
                seed = int(doc.get("seed", -1))
                pan_law = str(doc.get("pan_law", "linear"))
            except (ValueError, TypeError, AttributeError):
                seed = -1
        return {"key": key, "input": x[None], "target": y, "params": p, "seed": seed, "member": "",
                "start": -1, "mix_member": "", "mix_start": -1, "pan_law": pan_law}

    # -- generate mode ----------------------------------------------------------------------
    def _generate_items(self, key, members):
        from dmcdata import effects

        cfg = self.config
        names = effects.dry_member_names(list(members))
        if not names:
            raise SampleDecodeError(f"{key}: no dry audio member (tNN.flac|wav or input.flac|wav) in "
                                    f"{sorted(members)}")
        spans = []  # (member, start, audio)
        for m in names:
            try:
                audio = effects.decode_mono(members[m], f"{key}.{m}", cfg.sample_rate)
            except effects.EffectError as e:
                raise SampleDecodeError(str(e)) from None
            rng = self.item_seed(key, ("starts", m))
            starts = effects.patch_starts(audio, cfg.patch_len, rng, cfg.silence_db)
            if self.patches_per_track is not None and len(starts) > self.patches_per_track:
                starts = sorted(rng.choice(starts, self.patches_per_track, replace=False).tolist())
            spans.extend((m, int(s), audio) for s in starts)
        n = cfg.patch_len
        for i, (m, s, audio) in enumerate(spans):
            seed = key_seed(self.seed, self.epoch, key, m, s)
            partner = None
            if len(spans) > 1:
                j = int(np.random.default_rng(seed ^ 0x6D6978).integers(len(spans) - 1))
                j = j + 1 if j >= i else j
                pm, ps, pa = spans[j]
                partner = (pa, ps, pm)
            yield Item(key, f"{m}:{s}", lambda audio=audio, s=s, seed=seed, partner=partner, m=m:
                       self._make(key, m, s, audio[s:s + n], seed, partner))

    def _make(self, key, member, start, dry, seed, partner) -> dict:
        from dmcdata import effects

        n = self.config.patch_len
        mix_with = None if partner is None else partner[0][partner[1]:partner[1] + n]
        try:
            ex = effects.example_from_seed(dry, seed, self.config, mix_with=mix_with)
        except effects.EffectError as e:
            raise SampleDecodeError(f"{key}.{member}: {e}") from None
        return {"key": key, "input": np.asarray(ex["input"], np.float32)[None],
                "target": np.asarray(ex["target"], np.float32), "params": np.asarray(ex["params"], np.float32),
                "seed": int(ex["seed"]), "member": member, "start": int(start),
                "mix_member": "" if partner is None else partner[2],
                "mix_start": -1 if partner is None else int(partner[1]), "pan_law": self.config.pan_law}
