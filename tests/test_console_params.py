"""Parameter spaces: fixed order, exact round trips, seeded sampling, validation errors."""

import math

import numpy as np
import pytest

from dmcdata.console import (CHANNEL_SPACE, ORDERS, ConsoleError, channel_space, order_one_hot,
                             sample_channel_params)

EXPECTED_NAMES = [
    "gain_db", "polarity",
    "eq.low_shelf_gain_db", "eq.low_shelf_freq_hz",
    "eq.band1_gain_db", "eq.band1_freq_hz", "eq.band1_q",
    "eq.band2_gain_db", "eq.band2_freq_hz", "eq.band2_q",
    "eq.band3_gain_db", "eq.band3_freq_hz", "eq.band3_q",
    "eq.high_shelf_gain_db", "eq.high_shelf_freq_hz",
    "compressor.threshold_db", "compressor.ratio", "compressor.attack_ms",
    "compressor.release_ms", "compressor.makeup_db",
    "reverb.ir", "reverb.decay", "reverb.dry", "reverb.wet",
    "pan",
]


def test_fixed_order_and_count():
    assert CHANNEL_SPACE.names == EXPECTED_NAMES
    assert len(CHANNEL_SPACE) == 25
    for p in CHANNEL_SPACE.params:
        assert p.min <= p.default <= p.max
        assert p.dist in ("uniform", "log_uniform", "bernoulli", "choice")
        if p.name.endswith("_hz") or p.name.endswith("_ms") or p.name.endswith("_q"):
            assert p.dist == "log_uniform", p.name


def test_design_ranges():
    s = CHANNEL_SPACE
    assert (s["gain_db"].min, s["gain_db"].max) == (-24, 24)
    assert (s["eq.low_shelf_freq_hz"].min, s["eq.low_shelf_freq_hz"].max) == (20, 1000)
    assert (s["eq.band3_freq_hz"].min, s["eq.band3_freq_hz"].max) == (2000, 10000)
    assert (s["eq.high_shelf_freq_hz"].min, s["eq.high_shelf_freq_hz"].max) == (8000, 20000)
    assert (s["compressor.attack_ms"].min, s["compressor.attack_ms"].max) == (0.03, 30)
    assert (s["compressor.release_ms"].min, s["compressor.release_ms"].max) == (50, 3000)
    assert (s["compressor.makeup_db"].min, s["compressor.makeup_db"].max) == (-12, 12)
    assert s["polarity"].p == 0.2


def test_round_trip_is_exact_to_float_precision():
    rng = np.random.default_rng(1)
    for _ in range(200):
        p = sample_channel_params(rng)
        v = CHANNEL_SPACE.normalize(p)
        assert v.dtype == np.float32 and v.shape == (25,)
        assert np.all(v >= -1) and np.all(v <= 1)
        q = CHANNEL_SPACE.denormalize(v)
        for prm in CHANNEL_SPACE.params:
            if prm.discrete:
                assert q[prm.name] == p[prm.name]
            else:  # float32 quantization of a value in [-1, 1], scaled by the range
                assert abs(q[prm.name] - p[prm.name]) <= 1e-7 * (prm.max - prm.min) * 1.01, prm.name
        # and normalized -> named -> normalized is exact in float32
        assert np.array_equal(CHANNEL_SPACE.normalize(q), v)


def test_normalize_endpoints():
    lo = {p.name: p.min for p in CHANNEL_SPACE.params}
    hi = {p.name: p.max for p in CHANNEL_SPACE.params}
    assert np.array_equal(CHANNEL_SPACE.normalize(lo), -np.ones(25, np.float32))
    assert np.array_equal(CHANNEL_SPACE.normalize(hi), np.ones(25, np.float32))


def test_seeded_sampling_is_deterministic_and_seed_dependent():
    a = sample_channel_params(np.random.default_rng(123))
    b = sample_channel_params(np.random.default_rng(123))
    c = sample_channel_params(np.random.default_rng(124))
    assert a == b
    assert a != c


def test_unlisted_processors_are_neutral_and_listed_ones_unchanged():
    neutral = CHANNEL_SPACE.neutral()
    full = sample_channel_params(np.random.default_rng(5))
    only_eq = sample_channel_params(np.random.default_rng(5), processors=("eq",))
    for name in CHANNEL_SPACE.names:
        if name.startswith("eq."):
            assert only_eq[name] == full[name]  # a processor's draw does not depend on the others
        else:
            assert only_eq[name] == neutral[name]
    with pytest.raises(ConsoleError, match="unknown processor"):
        sample_channel_params(np.random.default_rng(0), processors=("chorus",))


def test_sampling_distributions():
    rng = np.random.default_rng(0)
    draws = [sample_channel_params(rng) for _ in range(3000)]
    pol = np.mean([d["polarity"] for d in draws])
    assert 0.17 < pol < 0.23
    f = np.array([d["eq.low_shelf_freq_hz"] for d in draws])
    assert f.min() >= 20 and f.max() <= 1000
    # log-uniform: the median is the geometric mean of the range (141 Hz), not the midpoint (510 Hz)
    assert abs(np.median(f) - math.sqrt(20 * 1000)) < 20
    irs = {d["reverb.ir"] for d in draws}
    assert irs == set(range(8))


def test_validation_names_the_parameter():
    with pytest.raises(ConsoleError, match="compressor.ratio.*out of range"):
        CHANNEL_SPACE.validate({"compressor.ratio": 11.0})
    with pytest.raises(ConsoleError, match="unknown parameter.*'gain'"):
        CHANNEL_SPACE.validate({"gain": 1.0})
    with pytest.raises(ConsoleError, match="pan.*not finite"):
        CHANNEL_SPACE.validate({"pan": float("nan")})
    with pytest.raises(ConsoleError, match="polarity.*integer"):
        CHANNEL_SPACE.validate({"polarity": 0.5})
    with pytest.raises(ConsoleError, match="missing"):
        CHANNEL_SPACE.normalize({"gain_db": 0.0})
    with pytest.raises(ConsoleError, match="shape"):
        CHANNEL_SPACE.denormalize(np.zeros(24))
    with pytest.raises(ConsoleError, match="NaN"):
        CHANNEL_SPACE.denormalize(np.full(25, np.nan))


def test_channel_space_follows_bank_size():
    s = channel_space(3)
    assert s.names == CHANNEL_SPACE.names
    assert s["reverb.ir"].max == 2
    assert {s.sample(np.random.default_rng(i))["reverb.ir"] for i in range(200)} == {0, 1, 2}


def test_orders_one_hot():
    assert len(ORDERS) == 6 and len(set(ORDERS)) == 6
    assert ORDERS[0] == ("eq", "compressor", "reverb")
    hots = np.stack([order_one_hot(o) for o in ORDERS])
    assert hots.dtype == np.float32
    assert np.array_equal(hots, np.eye(6, dtype=np.float32))
    with pytest.raises(ConsoleError, match="permutation"):
        order_one_hot(("eq", "eq", "reverb"))


def test_bank_of_one_ir_is_a_one_way_choice():
    s = channel_space(1)
    assert s["reverb.ir"].max == 0
    assert {s.sample(np.random.default_rng(i))["reverb.ir"] for i in range(50)} == {0}
    p = s.sample(np.random.default_rng(0))
    v = s.normalize(p)
    assert v[s.names.index("reverb.ir")] == -1.0
    assert s.denormalize(v)["reverb.ir"] == 0
