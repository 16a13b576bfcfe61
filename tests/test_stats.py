"""BS.1770 loudness and silence flags (dmcdata.stats) against the standard and pyloudnorm."""

import math

import numpy as np
import pytest
from scipy.signal import lfilter

from dmcdata import stats

# ITU-R BS.1770-4, Tables 1 and 2: K-weighting coefficients at 48 kHz
BS1770_SHELF = ([1.53512485958697, -2.69169618940638, 1.19839281085285], [1.0, -1.69065929318241, 0.73248077421585])
BS1770_HP = ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621])


def sine(f, fs, seconds, amp=1.0, channels=1):
    t = np.arange(int(fs * seconds)) / fs
    x = amp * np.sin(2 * np.pi * f * t)
    return np.repeat(x[:, None], channels, axis=1)


def test_k_weighting_matches_bs1770_table():
    sos = stats.k_weighting_sos(48000)
    np.testing.assert_allclose(sos[0, :3], BS1770_SHELF[0], atol=1e-8)
    np.testing.assert_allclose(sos[0, 3:], BS1770_SHELF[1], atol=1e-8)
    np.testing.assert_allclose(sos[1, :3], BS1770_HP[0], atol=1e-8)
    np.testing.assert_allclose(sos[1, 3:], BS1770_HP[1], atol=1e-8)


@pytest.mark.parametrize("fs", [44100, 48000])
def test_full_scale_997hz_sine_is_minus_3_01(fs):
    assert stats.integrated_loudness(sine(997, fs, 3.0), fs) == pytest.approx(-3.01, abs=0.01)
    # two identical channels add 3.01 dB; -20 dBFS amplitude subtracts 20 dB
    assert stats.integrated_loudness(sine(997, fs, 3.0, channels=2), fs) == pytest.approx(0.0, abs=0.01)
    assert stats.integrated_loudness(sine(997, fs, 3.0, amp=0.1), fs) == pytest.approx(-23.01, abs=0.01)


def reference_loudness(x, fs):
    """Plain re-implementation of the BS.1770 equations with scipy.lfilter and python loops."""
    y = lfilter(*BS1770_SHELF, x, axis=0) if fs == 48000 else None
    y = lfilter(*BS1770_HP, y, axis=0)
    block, step = int(0.4 * fs), int(0.1 * fs)
    zs = [np.mean(y[j:j + block] ** 2, axis=0) for j in range(0, len(y) - block + 1, step)]
    lj = [-0.691 + 10 * math.log10(sum(z)) if sum(z) > 0 else -math.inf for z in zs]
    kept = [z for z, l in zip(zs, lj) if l > -70]
    gamma_r = -0.691 + 10 * math.log10(sum(np.mean(kept, axis=0))) - 10
    kept = [z for z, l in zip(zs, lj) if l > -70 and l > gamma_r]
    return -0.691 + 10 * math.log10(sum(np.mean(kept, axis=0)))


def test_gated_loudness_matches_plain_reimplementation():
    rng = np.random.default_rng(3)
    fs = 48000
    x = rng.normal(0, 0.2, (fs * 4, 2))
    x[fs:2 * fs] *= 0.01  # -40 dB passage: removed by the relative gate
    x[3 * fs:] = 0.0  # silence: removed by the absolute gate
    assert stats.integrated_loudness(x, fs) == pytest.approx(reference_loudness(x, fs), abs=1e-6)
    assert stats.integrated_loudness(x, fs, fused=False) == pytest.approx(reference_loudness(x, fs), abs=1e-6)


def test_agrees_with_pyloudnorm():
    pyln = pytest.importorskip("pyloudnorm")
    rng = np.random.default_rng(5)
    for fs in (44100, 48000):
        x = rng.normal(0, 0.1, (fs * 3, 2)) * np.linspace(0.01, 1, fs * 3)[:, None]
        # pyloudnorm counts blocks slightly differently; 0.1 LU is far below audible differences
        assert stats.integrated_loudness(x, fs) == pytest.approx(pyln.Meter(fs).integrated_loudness(x), abs=0.1)


def test_integer_inputs_scale_to_full_scale():
    fs = 44100
    x = sine(997, fs, 1.0, amp=0.5)
    i16 = np.round(x * 32767).astype(np.int16)
    i24 = (np.round(x * 8388607).astype(np.int32) << 8)
    ref = stats.integrated_loudness(x, fs)
    assert stats.integrated_loudness(i16, fs) == pytest.approx(ref, abs=1e-3)
    assert stats.integrated_loudness(i24, fs) == pytest.approx(ref, abs=1e-4)


def test_silence_and_short_signals():
    fs = 44100
    assert stats.integrated_loudness(np.zeros((fs, 2)), fs) == -math.inf
    assert math.isnan(stats.integrated_loudness(np.ones((fs // 10, 1)) * 0.5, fs))  # < 400 ms
    # the absolute gate drops appended silence: doubling the length with zeros would lower an
    # ungated mean by 3 dB; gated loudness moves only by the few blocks straddling the edge
    x = sine(440, fs, 10.0, amp=0.3)
    padded = np.concatenate([x, np.zeros((fs * 10, 1))])
    assert stats.integrated_loudness(padded, fs) == pytest.approx(stats.integrated_loudness(x, fs), abs=0.1)


def test_silence_flag_threshold():
    assert stats.is_silent(np.zeros((100, 1), np.int16))
    assert stats.is_silent(np.full((100, 1), 10, np.int16))  # peak -70 dBFS
    assert not stats.is_silent(np.full((100, 1), 100, np.int16))  # peak -50 dBFS
    assert stats.peak_dbfs(np.array([[0.5]], np.float32)) == pytest.approx(-6.0206, abs=1e-4)
    assert not stats.is_silent(np.array([[-2147483648]], np.int32))
