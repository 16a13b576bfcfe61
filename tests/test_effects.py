"""Effect examples: shapes, parameter round trip, neutral processors, silence, determinism."""

import numpy as np
import pytest

from dmcdata.augment import AugmentConfig
from dmcdata.console import CHANNEL_SPACE, ORDERS, ChannelStrip, IRBank
from dmcdata.effects import (PATCH_PRESETS, EffectConfig, EffectError, dry_patches, dry_tracks, example_from_seed,
                             make_example, named_from_conditioning, parse_patch_seconds, parse_processors,
                             patch_starts, rms_db, to_mono)

SR = 44100


@pytest.fixture(scope="module")
def patch():
    n = int(0.37 * SR)
    t = np.arange(n) / SR
    return (0.25 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)


def test_presets_and_parsing():
    assert PATCH_PRESETS == {"short": 0.37, "medium": 0.74, "long": 1.48}
    assert EffectConfig(patch_seconds="long").patch_len == round(1.48 * SR)
    assert parse_patch_seconds("0.5") == 0.5
    with pytest.raises(EffectError, match="patch_seconds"):
        parse_patch_seconds("huge")
    assert parse_processors("reverb,comp,EQ") == ("eq", "compressor", "reverb")
    assert parse_processors("all") == ("gain", "polarity", "eq", "compressor", "reverb", "pan")
    with pytest.raises(EffectError, match="unknown processor 'chorus'"):
        parse_processors("eq,chorus")
    with pytest.raises(EffectError, match="order"):
        EffectConfig(order="random")
    with pytest.raises(EffectError, match="ir_bank"):
        EffectConfig(ir_bank={"download": "x"})
    for n in (0, 1025):
        with pytest.raises(EffectError, match=r"ir_bank.generated.n must be in 1\.\.1024"):
            EffectConfig(ir_bank={"generated": {"n": n, "seed": 0}})
    assert EffectConfig(ir_bank={"generated": {"n": 1024}}).ir_bank == {"generated": {"n": 1024, "seed": 0}}


@pytest.mark.parametrize("order,n", [("static", 25), ("variable", 31)])
def test_example_shapes_and_round_trip(patch, order, n):
    cfg = EffectConfig(patch_seconds="short", order=order)
    ex = make_example(patch, np.random.default_rng(1), cfg)
    assert ex["input"].shape == patch.shape and ex["input"].dtype == np.float32
    assert ex["target"].shape == (2, patch.size) and ex["target"].dtype == np.float32
    assert ex["params"].shape == (n,) and ex["params"].dtype == np.float32
    assert np.all(np.abs(ex["params"]) <= 1.0)
    assert set(ex["named"]) == set(CHANNEL_SPACE.names)
    # normalized → named: the plain equation x = min + (v + 1)(max − min)/2 per parameter
    for i, p in enumerate(CHANNEL_SPACE.params):
        x = p.min + (float(ex["params"][i]) + 1.0) * (p.max - p.min) / 2.0
        if p.discrete:
            assert round(x) == ex["named"][p.name]
        else:
            assert abs(x - ex["named"][p.name]) <= 1e-6 * (p.max - p.min), p.name
    named, o = named_from_conditioning(ex["params"], cfg)
    assert o == ex["order"]
    for k in named:
        rng = CHANNEL_SPACE[k].max - CHANNEL_SPACE[k].min
        assert abs(named[k] - ex["named"][k]) <= 1e-6 * rng, k
    if order == "variable":
        one_hot = ex["params"][25:]
        assert one_hot.sum() == 1.0 and ORDERS[int(np.argmax(one_hot))] == ex["order"]
    else:
        assert ex["order"] == ("eq", "compressor", "reverb")


def test_variable_order_covers_all_orders(patch):
    cfg = EffectConfig(patch_seconds=0.01, order="variable", augment=AugmentConfig.off())
    rng = np.random.default_rng(2)
    seen = {make_example(patch[:441], rng, cfg)["order"] for _ in range(60)}
    assert seen == set(ORDERS)


def test_target_is_the_console_output(patch):
    """Independently: a fresh ChannelStrip with the example's named params gives the same target."""
    cfg = EffectConfig(patch_seconds="short", order="variable")
    ex = make_example(patch, np.random.default_rng(3), cfg)
    strip = ChannelStrip(SR, ir_bank=IRBank.generate(SR, n=8, seed=0), pan_law="linear", order=ex["order"])
    np.testing.assert_array_equal(strip.process(ex["input"], ex["named"]), ex["target"])


def test_processor_subset_leaves_the_rest_neutral(patch):
    cfg = EffectConfig(patch_seconds="short", processors="comp", augment=AugmentConfig.off())
    neutral = CHANNEL_SPACE.neutral()
    for seed in range(5):
        ex = make_example(patch, np.random.default_rng(seed), cfg)
        changed = {k for k in neutral if ex["named"][k] != neutral[k]}
        assert changed and all(k.startswith("compressor.") for k in changed)
    # only gain random: y = 10^(g/20)·x through neutral EQ/compressor/reverb, then the centre pan
    # (linear law: 0.5 on each side)
    cfg_none = EffectConfig(patch_seconds="short", processors="gain", augment=AugmentConfig.off())
    ex = make_example(patch, np.random.default_rng(0), cfg_none)
    g = 10 ** (ex["named"]["gain_db"] / 20)
    np.testing.assert_allclose(ex["target"], 0.5 * g * np.stack([patch, patch]), rtol=1e-5, atol=1e-7)


def test_same_seed_same_example_and_seed_rebuilds_it(patch):
    cfg = EffectConfig(patch_seconds="short")
    other = patch[::-1].copy()
    a = make_example(patch, np.random.default_rng(9), cfg, mix_with=other)
    b = make_example(patch, np.random.default_rng(9), cfg, mix_with=other)
    c = example_from_seed(patch, a["seed"], cfg, mix_with=other)
    for k in ("input", "target", "params"):
        assert a[k].tobytes() == b[k].tobytes() == c[k].tobytes()
    assert a["named"] == b["named"] == c["named"]
    d = make_example(patch, np.random.default_rng(10), cfg, mix_with=other)
    assert d["named"] != a["named"]


def test_augmentation_switched_off_keeps_input(patch):
    ex = make_example(patch, np.random.default_rng(4), EffectConfig(patch_seconds="short", augment=AugmentConfig.off()))
    assert np.array_equal(ex["input"], patch) and ex["augmentations"] == []


def test_silence_skipped():
    rng = np.random.default_rng(5)
    L = 1000
    audio = np.zeros(10 * L, np.float32)
    audio[3 * L:5 * L] = 0.1 * rng.standard_normal(2 * L)  # loud part
    audio[7 * L:8 * L] = 1e-5  # -100 dBFS: silence
    for seed in range(5):
        starts = patch_starts(audio, L, np.random.default_rng(seed), silence_db=-60.0)
        assert starts, seed
        for s in starts:
            assert rms_db(audio[s:s + L]) >= -60.0
            assert s + L > 3 * L and s < 5 * L  # only patches overlapping the loud part
        assert all(b - a >= L for a, b in zip(starts, starts[1:]))  # no overlap
    patches = list(dry_patches(audio, L, np.random.default_rng(0)))
    assert patches and all(p.shape == (L,) and p.dtype == np.float32 for p in patches)
    assert list(dry_patches(np.zeros(5 * L), L, rng)) == []
    assert list(dry_patches(np.ones(L - 1), L, rng)) == []  # too short
    with pytest.raises(EffectError, match="mono"):
        list(dry_patches(np.zeros((L, 2)), L, rng))


def test_dry_tracks_from_a_sample_dict():
    import io

    import soundfile as sf

    def flac(a):
        buf = io.BytesIO()
        sf.write(buf, a, SR, format="FLAC", subtype="PCM_16")
        return buf.getvalue()

    st = np.stack([np.full(100, 0.5), np.full(100, -0.25)], 1)
    sample = {"__key__": "k", "json": b"{}", "t00.flac": flac(st), "t01.flac": flac(np.full(100, 0.125)),
              "mix.flac": flac(st), "dry_mix.flac": flac(st)}
    tracks = dry_tracks(sample, SR)
    assert [m for m, _ in tracks] == ["t00.flac", "t01.flac"]
    np.testing.assert_allclose(tracks[0][1], 0.125, atol=1e-4)  # stereo downmix = mean
    paired = {"__key__": "p", "input.flac": flac(np.full(50, 0.25)), "target.flac": flac(np.full(50, 0.5))}
    assert [m for m, _ in dry_tracks(paired)] == ["input.flac"]
    with pytest.raises(EffectError, match="sample rate"):
        dry_tracks(sample, 48000)
    assert to_mono(np.ones((4, 2))).shape == (4,)
