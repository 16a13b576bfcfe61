"""Each augmentation does what its docstring claims, and each can be switched off."""

import numpy as np
import pytest

from dmcdata.augment import (AUGMENTATIONS, AugmentConfig, AugmentError, add_white_noise, augment,
                             invert_polarity, mix_two, scale_amplitude, zero_block, zero_samples)


@pytest.fixture
def x():
    t = np.arange(4096) / 44100.0
    return (0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.05).astype(np.float32)  # no zeros in it


def rng(seed=0):
    return np.random.default_rng(seed)


def test_scale_amplitude_is_a_gain_in_range(x):
    y = scale_amplitude(x, rng(), (-12.0, 6.0))
    ratio = y / x
    assert np.allclose(ratio, ratio[0], rtol=1e-5)
    assert 10 ** (-12 / 20) - 1e-6 <= ratio[0] <= 10 ** (6 / 20) + 1e-6
    # the gain is the first uniform draw of the generator, in dB
    g = rng().uniform(-12.0, 6.0)
    assert ratio[0] == pytest.approx(10 ** (g / 20), rel=1e-5)


def test_polarity_inversion(x):
    assert np.array_equal(invert_polarity(x), -x)


def test_mix_two_adds_scaled_second_patch(x):
    other = np.cos(np.arange(x.size) * 0.01).astype(np.float32)
    y = mix_two(x, other, rng(), (-6.0, -6.0))
    np.testing.assert_allclose(y, x + 10 ** (-6 / 20) * other, rtol=1e-5, atol=1e-6)
    with pytest.raises(AugmentError, match="second patch"):
        mix_two(x, other[:-1], rng())


def test_white_noise_snr_and_whiteness(x):
    y = add_white_noise(x, rng(3), (30.0, 30.0))
    noise = (y - x).astype(np.float64)
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise ** 2))
    assert snr == pytest.approx(30.0, abs=0.5)
    # white: autocorrelation at lags 1..10 near zero, mean near zero
    r = [np.corrcoef(noise[:-k], noise[k:])[0, 1] for k in range(1, 11)]
    assert max(abs(v) for v in r) < 0.1
    assert abs(noise.mean()) < 4 * noise.std() / np.sqrt(noise.size)


def test_zero_samples_fraction(x):
    y = zero_samples(x, rng(5), (0.1, 0.1))
    zeroed = y == 0
    assert 0.07 < zeroed.mean() < 0.13
    assert np.array_equal(y[~zeroed], x[~zeroed])  # the rest untouched
    assert np.all(x != 0)


def test_zero_block_is_one_contiguous_block(x):
    y = zero_block(x, rng(7), (0.1, 0.1))
    idx = np.flatnonzero(y == 0)
    assert idx.size == round(0.1 * x.size)
    assert np.all(np.diff(idx) == 1)
    keep = np.ones(x.size, bool)
    keep[idx] = False
    assert np.array_equal(y[keep], x[keep])


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_each_switch(name, x):
    other = np.flip(x).copy()
    only = AugmentConfig.only(name)
    # probability 1: it fires and changes the patch
    for seed in range(3):
        y, applied = augment(x, rng(seed), only, other=other)
        assert applied == [name]
        assert not np.array_equal(y, x)
    # the same switch set to 0 leaves the patch alone
    y, applied = augment(x, rng(0), AugmentConfig.only(name, p=0.0), other=other)
    assert applied == [] and np.array_equal(y, x)


def test_all_off_and_probabilities(x):
    y, applied = augment(x, rng(0), AugmentConfig.off(), other=x)
    assert applied == [] and np.array_equal(y, x) and y is not x
    # default probabilities are honoured over many draws
    cfg = AugmentConfig()
    counts = {a: 0 for a in AUGMENTATIONS}
    g = rng(11)
    for _ in range(400):
        for a in augment(x[:64], g, cfg, other=x[:64])[1]:
            counts[a] += 1
    for a in AUGMENTATIONS:
        assert abs(counts[a] / 400 - getattr(cfg, "p_" + a)) < 0.08, (a, counts[a])


def test_mix_needs_second_patch(x):
    y, applied = augment(x, rng(0), AugmentConfig.only("mix"))
    assert applied == [] and np.array_equal(y, x)


def test_same_seed_same_result_and_input_untouched(x):
    before = x.copy()
    a = augment(x, rng(42), AugmentConfig(p_scale=1, p_noise=1, p_zero_block=1), other=x)
    b = augment(x, rng(42), AugmentConfig(p_scale=1, p_noise=1, p_zero_block=1), other=x)
    assert a[1] == b[1] and np.array_equal(a[0], b[0]) and a[0].dtype == np.float32
    assert np.array_equal(x, before)


def test_bad_config_and_input():
    with pytest.raises(AugmentError, match="p_noise"):
        AugmentConfig(p_noise=1.5)
    with pytest.raises(AugmentError, match="scale_db"):
        AugmentConfig(scale_db=(6.0, -6.0))
    with pytest.raises(AugmentError, match="unknown"):
        AugmentConfig.only("reverse")
    with pytest.raises(AugmentError, match="mono"):
        augment(np.zeros((2, 10), np.float32), rng())
