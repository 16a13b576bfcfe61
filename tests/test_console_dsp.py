"""Console DSP against independent references (scipy, plain-python equations, properties)."""

import math

import numpy as np
import pytest
import scipy.signal

from dmcdata.console import (CHANNEL_SPACE, ORDERS, ChannelStrip, ConsoleError, IRBank, pan_gains, render_mix,
                             sample_channel_params)
from dmcdata.console.compressor import apply_compressor
from dmcdata.console.eq import apply_eq
from dmcdata.console.reverb import apply_reverb, block_size, convolve_ir

FS = 44100


@pytest.fixture(scope="session")
def bank():
    return IRBank.generate(FS, n=3, seed=11, rt60_s=(0.3, 0.6))


def db(x):
    return 20 * math.log10(x)


def sine_amplitude(y, f, fs=FS):
    """Least-squares amplitude of a sinusoid at f over the second half of y (after settling)."""
    n = np.arange(len(y) // 2, len(y))
    basis = np.stack([np.sin(2 * np.pi * f * n / fs), np.cos(2 * np.pi * f * n / fs)], 1)
    coef, *_ = np.linalg.lstsq(basis, y[len(y) // 2:].astype(np.float64), rcond=None)
    return float(np.hypot(*coef))


# -- EQ ---------------------------------------------------------------------------------------
def cookbook_ba(kind, gain_db, f0, fs, q=None):
    """Independent transcription of the RBJ cookbook (un-normalized b, a), shelf slope S = 1."""
    A = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / fs
    cw, sw = math.cos(w0), math.sin(w0)
    if kind == "peak":
        alpha = sw / (2 * q)
        return [1 + alpha * A, -2 * cw, 1 - alpha * A], [1 + alpha / A, -2 * cw, 1 - alpha / A]
    alpha = sw / 2 * math.sqrt((A + 1 / A) * (1 / 1.0 - 1) + 2)
    r = 2 * math.sqrt(A) * alpha
    if kind == "low":
        b = [A * ((A + 1) - (A - 1) * cw + r), 2 * A * ((A - 1) - (A + 1) * cw), A * ((A + 1) - (A - 1) * cw - r)]
        a = [(A + 1) + (A - 1) * cw + r, -2 * ((A - 1) + (A + 1) * cw), (A + 1) + (A - 1) * cw - r]
    else:
        b = [A * ((A + 1) + (A - 1) * cw + r), -2 * A * ((A - 1) + (A + 1) * cw), A * ((A + 1) + (A - 1) * cw - r)]
        a = [(A + 1) - (A - 1) * cw + r, 2 * ((A - 1) - (A + 1) * cw), (A + 1) - (A - 1) * cw - r]
    return b, a


def test_eq_matches_lfilter_cascade():
    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal(8000)).astype(np.float32)
    for _ in range(4):
        p = sample_channel_params(rng, processors=("eq",))
        y = apply_eq(x, p, FS)
        ref = x.astype(np.float64)
        ref = scipy.signal.lfilter(*cookbook_ba("low", p["eq.low_shelf_gain_db"], p["eq.low_shelf_freq_hz"], FS), ref)
        for k in (1, 2, 3):
            ba = cookbook_ba("peak", p[f"eq.band{k}_gain_db"], p[f"eq.band{k}_freq_hz"], FS, p[f"eq.band{k}_q"])
            ref = scipy.signal.lfilter(*ba, ref)
        ref = scipy.signal.lfilter(*cookbook_ba("high", p["eq.high_shelf_gain_db"], p["eq.high_shelf_freq_hz"], FS), ref)
        assert y.dtype == np.float32 and y.shape == x.shape
        assert np.max(np.abs(y - ref)) < 1e-5 * np.max(np.abs(ref))


@pytest.mark.parametrize("k,gain,freq,q", [(1, 9.0, 1000.0, 2.0), (2, -12.0, 3000.0, 0.7), (3, 24.0, 7000.0, 8.0)])
def test_peaking_gain_at_centre(k, gain, freq, q):
    p = CHANNEL_SPACE.neutral()
    p.update({f"eq.band{k}_gain_db": gain, f"eq.band{k}_freq_hz": freq, f"eq.band{k}_q": q})
    t = np.arange(FS // 2) / FS
    x = (0.1 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    measured = db(sine_amplitude(apply_eq(x, p, FS), freq) / 0.1)
    assert abs(measured - gain) < 0.1


@pytest.mark.parametrize("gain", [-18.0, 10.0])
def test_shelf_gain_on_plateau_and_half_at_corner(gain):
    p = CHANNEL_SPACE.neutral()
    p.update({"eq.low_shelf_gain_db": gain, "eq.low_shelf_freq_hz": 800.0})
    t = np.arange(FS) / FS
    for f, want in ((25.0, gain), (800.0, gain / 2)):
        x = (0.1 * np.sin(2 * np.pi * f * t)).astype(np.float32)
        assert abs(db(sine_amplitude(apply_eq(x, p, FS), f) / 0.1) - want) < 0.1, f
    p = CHANNEL_SPACE.neutral()
    p.update({"eq.high_shelf_gain_db": gain, "eq.high_shelf_freq_hz": 8000.0})
    for f, want in ((21000.0, gain), (8000.0, gain / 2)):
        x = (0.1 * np.sin(2 * np.pi * f * t[: FS // 4])).astype(np.float32)
        assert abs(db(sine_amplitude(apply_eq(x, p, FS), f) / 0.1) - want) < 0.1, f


# -- compressor ---------------------------------------------------------------------------------
def compressor_reference(x, fs, T, R, attack_ms, release_ms, makeup):
    """Plain python of DESIGN §2, float64, one sample at a time."""
    aa = math.exp(-1 / (attack_ms * 1e-3 * fs))
    ar = math.exp(-1 / (release_ms * 1e-3 * fs))
    yl = 0.0
    out = []
    for v in x:
        xg = 20 * math.log10(max(abs(float(v)), 1e-30))
        yg = xg if xg < T else T + (xg - T) / R
        xl = xg - yg
        yl = aa * yl + (1 - aa) * xl if xl > yl else ar * yl + (1 - ar) * xl
        out.append(float(v) * 10 ** ((makeup - yl) / 20))
    return np.array(out)


def test_compressor_matches_plain_reference():
    rng = np.random.default_rng(9)
    env = np.repeat(rng.uniform(0.01, 1.0, 12), 500)
    x = (env * rng.standard_normal(env.size)).astype(np.float32)
    for T, R, a, r, m in [(-20, 4, 1.0, 100, 3), (-40, 10, 0.03, 50, -6), (-6, 1.5, 30, 3000, 12)]:
        y = apply_compressor(x, FS, T, R, a, r, m)
        ref = compressor_reference(x, FS, T, R, a, r, m)
        assert np.max(np.abs(y - ref)) < 2e-5 * np.max(np.abs(ref)), (T, R)


@pytest.mark.parametrize("level_db,T,R,makeup", [(-10, -30, 4, 0), (-3, -20, 10, 6), (-20, -24, 2, 0)])
def test_compressor_static_curve_dc_and_square(level_db, T, R, makeup):
    a = 10 ** (level_db / 20)
    n = FS // 4
    expected = (T + (level_db - T) / R if level_db >= T else level_db) + makeup
    square = a * np.sign(np.sin(2 * np.pi * 100 * np.arange(n) / FS + 0.1))
    for x in (np.full(n, a, np.float32), square.astype(np.float32)):
        y = apply_compressor(x, FS, T, R, attack_ms=5.0, release_ms=200.0, makeup_db=makeup)
        settled = np.abs(y[-FS // 20:])
        assert np.all(np.abs(20 * np.log10(settled) - expected) < 0.05)


def test_sine_peak_lands_between_curve_and_input():
    from dmcdata.console.compressor import sine_peak_table

    rows = sine_peak_table([(1000, -20, 4, 0.1, 100), (200, -30, 8, 10, 100)], sample_rate=FS)
    for r in rows:
        assert r["static_curve_db"] - 0.01 <= r["output_peak_db"] < r["input_peak_db"], r


def test_compressor_neutral_is_identity_and_silence_is_safe():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    assert np.array_equal(apply_compressor(x, FS, -30, 1.0, 1, 100, 0), x)
    z = apply_compressor(np.zeros(1000, np.float32), FS, -60, 10, 0.03, 50, 12)
    assert np.array_equal(z, np.zeros(1000, np.float32))


# -- reverb -----------------------------------------------------------------------------------
def test_reverb_matches_fftconvolve_one_shot(bank):
    x = np.random.default_rng(1).standard_normal(FS // 2).astype(np.float32)
    for i, decay in ((0, 1.0), (1, 0.4), (2, 0.05)):
        h = bank.effective_ir(i, decay)
        y = convolve_ir(x, bank, i, decay)
        ref = scipy.signal.fftconvolve(x.astype(np.float64), h.astype(np.float64))[: x.size]
        assert y.dtype == np.float32 and y.shape == x.shape
        assert np.max(np.abs(y - ref)) < 1e-5 * np.max(np.abs(ref))


def test_reverb_overlap_save_path_and_wet_dry():
    rng = np.random.default_rng(2)
    h = rng.standard_normal(700) * np.exp(-np.arange(700) / 150)
    small = IRBank.from_arrays([h], FS)
    x = rng.standard_normal(3 * block_size(700)).astype(np.float32)  # long input -> overlap-save
    y = apply_reverb(x, small, 0, 1.0, dry=0.3, wet=0.8)
    hn = small.effective_ir(0, 1.0).astype(np.float64)
    ref = 0.3 * x + 0.8 * scipy.signal.fftconvolve(x.astype(np.float64), hn)[: x.size]
    assert np.max(np.abs(y - ref)) < 1e-5 * np.max(np.abs(ref))


def test_input_shorter_than_ir(bank):
    dry_room = IRBank.generate(FS, n=1, seed=2, rt60_s=(0.3, 0.3), predelay_ms=(0, 0))  # no pre-delay
    x = np.random.default_rng(4).standard_normal(37).astype(np.float32)
    y = convolve_ir(x, dry_room, 0, 1.0)
    ref = scipy.signal.fftconvolve(x.astype(np.float64), dry_room[0].astype(np.float64))[:37]
    assert y.shape == (37,)
    assert np.max(np.abs(y - ref)) < 1e-5 * np.max(np.abs(ref))
    assert ChannelStrip(FS, bank).process(np.zeros(0, np.float32), {"reverb.wet": 1.0}).shape == (2, 0)


def test_generated_irs_deterministic_unit_energy_and_decaying():
    a = IRBank.generate(FS, n=2, seed=5, rt60_s=(0.5, 0.5), predelay_ms=(0, 0))
    b = IRBank.generate(FS, n=2, seed=5, rt60_s=(0.5, 0.5), predelay_ms=(0, 0))
    c = IRBank.generate(FS, n=2, seed=6, rt60_s=(0.5, 0.5), predelay_ms=(0, 0))
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert a[0].tobytes() != c[0].tobytes()
    for h in a.irs:
        assert abs(np.sum(h.astype(np.float64) ** 2) - 1) < 1e-5
        assert h.size == FS // 2
        k = h.size // 10
        first, last = np.sum(h[:k] ** 2), np.sum(h[-k:] ** 2)
        assert 10 * np.log10(first / last) > 40  # the tail ends ~60 dB down
    # decay: envelope is the documented one, applied from the onset; d = 1 is the IR itself
    h = a[0]
    assert a.effective_ir(0, 1.0) is h
    e = a.effective_ir(0, 0.5)
    t = np.arange(e.size) / FS
    env = 10 ** (-3 * t * (1 - 0.5) / (0.5 * (h.size / FS)))
    assert np.allclose(e, h[: e.size] * env, atol=1e-7)


def test_ir_folder_bank(tmp_path):
    import soundfile as sf

    rng = np.random.default_rng(0)
    sf.write(tmp_path / "b.wav", rng.standard_normal((2000, 2)) * 0.1, 22050)  # stereo, other rate
    sf.write(tmp_path / "a.wav", rng.standard_normal(3000) * 0.1, FS)
    (tmp_path / "notes.txt").write_text("not audio")
    bank = IRBank.from_folder(tmp_path, FS)
    assert bank.names == ["a.wav", "b.wav"]
    assert bank[1].size == 4000  # resampled 22050 -> 44100
    with pytest.raises(ConsoleError, match="does not exist"):
        IRBank.from_folder(tmp_path / "missing", FS)


# -- channel ----------------------------------------------------------------------------------
@pytest.mark.parametrize("law", ["linear", "constant_power"])
def test_neutral_channel_is_identity_in_every_order(law, bank):
    x = np.random.default_rng(0).standard_normal(3000).astype(np.float32)
    gl, gr = pan_gains(0.5, law)
    for order in ORDERS:
        y = ChannelStrip(FS, bank, law, order).process(x, CHANNEL_SPACE.neutral())
        assert y.shape == (2, 3000) and y.dtype == np.float32
        assert np.max(np.abs(y[0] - gl * x)) < 1e-6 * np.max(np.abs(x))
        assert np.max(np.abs(y[1] - gr * x)) < 1e-6 * np.max(np.abs(x))


def test_pan_laws():
    assert pan_gains(0.0, "linear") == (1.0, 0.0)
    assert pan_gains(1.0, "linear") == (0.0, 1.0)
    assert pan_gains(0.5, "linear") == (0.5, 0.5)
    for t in np.linspace(0, 1, 11):
        gl, gr = pan_gains(t, "constant_power")
        assert abs(gl * gl + gr * gr - 1) < 1e-12
        gl2, gr2 = pan_gains(t, "linear")
        assert abs(gl2 + gr2 - 1) < 1e-12
    assert abs(db(pan_gains(0.5, "constant_power")[0]) + 3.0103) < 1e-3
    assert abs(db(pan_gains(0.5, "linear")[0]) + 6.0206) < 1e-3
    with pytest.raises(ConsoleError, match="pan law"):
        pan_gains(0.5, "sine")


def test_gain_polarity_pan_compose():
    x = np.random.default_rng(1).standard_normal(500).astype(np.float32)
    p = CHANNEL_SPACE.neutral()
    p.update({"gain_db": -6.0, "polarity": 1, "pan": 0.25})
    y = ChannelStrip(FS).process(x, p)
    g = -(10 ** (-6 / 20))
    assert np.allclose(y[0], 0.75 * g * x, atol=1e-6) and np.allclose(y[1], 0.25 * g * x, atol=1e-6)


def test_order_changes_result_and_full_chain_is_safe(bank):
    rng = np.random.default_rng(8)
    p = sample_channel_params(rng, space=ChannelStrip(FS, bank).space)
    p.update({"compressor.ratio": 6.0, "compressor.threshold_db": -30.0, "reverb.wet": 0.7})
    x = (0.5 * rng.standard_normal(4000)).astype(np.float32)
    a = ChannelStrip(FS, bank, order=ORDERS[0]).process(x, p)
    b = ChannelStrip(FS, bank, order=ORDERS[5]).process(x, p)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    assert np.max(np.abs(a - b)) > 1e-3
    assert a.tobytes() == ChannelStrip(FS, bank, order=ORDERS[0]).process(x, p).tobytes()  # deterministic


@pytest.mark.parametrize("kind", ["silence", "dc", "square"])
def test_extreme_inputs_stay_finite(kind, bank):
    n = 6000
    x = {"silence": np.zeros(n), "dc": np.ones(n),
         "square": np.sign(np.sin(2 * np.pi * 50 * np.arange(n) / FS) + 1e-9)}[kind].astype(np.float32)
    strip = ChannelStrip(FS, bank)
    for seed in range(5):
        p = sample_channel_params(np.random.default_rng(seed), space=strip.space)
        y = strip.process(x, p)
        assert np.all(np.isfinite(y))
        if kind == "silence":
            assert not np.any(y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_a_clear_error(bad, bank):
    x = np.zeros(100, np.float32)
    x[42] = bad
    with pytest.raises(ConsoleError, match="sample 42.*NaN/Inf"):
        ChannelStrip(FS, bank).process(x, CHANNEL_SPACE.neutral())
    with pytest.raises(ConsoleError, match="track 1"):
        render_mix([np.zeros(100, np.float32), x], [{}, {}], FS, bank)


def test_bad_shapes_and_params_are_clear_errors(bank):
    strip = ChannelStrip(FS, bank)
    with pytest.raises(ConsoleError, match="mono"):
        strip.process(np.zeros((2, 10), np.float32), {})
    with pytest.raises(ConsoleError, match="compressor.attack_ms"):
        strip.process(np.zeros(10, np.float32), {"compressor.attack_ms": 0.0})
    with pytest.raises(ConsoleError, match="reverb.ir"):
        strip.process(np.ones(10, np.float32), {"reverb.ir": 5, "reverb.wet": 1.0})
    with pytest.raises(ConsoleError, match="sample rate"):
        ChannelStrip(48000, bank)


def test_batch_and_mix_equal_single_channels(bank):
    rng = np.random.default_rng(12)
    xs = (0.3 * rng.standard_normal((3, 2000))).astype(np.float32)
    ps = [sample_channel_params(rng, space=ChannelStrip(FS, bank).space) for _ in range(3)]
    strip = ChannelStrip(FS, bank, "constant_power")
    batch = strip.process_batch(xs, ps)
    singles = np.stack([strip.process(xs[i], ps[i]) for i in range(3)])
    assert np.array_equal(batch, singles)
    mix = render_mix(list(xs), ps, FS, bank, "constant_power")
    assert np.allclose(mix, singles.sum(0), atol=1e-6)


def test_integer_pcm_arrays_are_refused_lists_of_numbers_are_not(bank):
    strip = ChannelStrip(FS, bank)
    pcm = (np.sin(np.arange(200) * 0.1) * 16000).astype(np.int16)
    with pytest.raises(ConsoleError, match=r"integer samples \(dtype int16\).*x / 32768"):
        strip.process(pcm, {})
    with pytest.raises(ConsoleError, match=r"track 1: got integer samples"):
        render_mix([np.zeros(10, np.float32), pcm], [{}, {}], FS, bank)
    y = strip.process([0, 1, 0], {})  # a plain list of numbers is just numbers
    assert np.array_equal(y, np.array([[0, 0.5, 0], [0, 0.5, 0]], np.float32))
    with pytest.raises(ConsoleError, match=r"track 0: expected mono audio"):
        render_mix([0.5], [{}], FS, bank)  # a scalar, not an IndexError


def test_ir_generation_bounds_are_console_errors():
    with pytest.raises(ConsoleError, match="n must be a whole number"):
        IRBank.generate(FS, n=2.5)
    with pytest.raises(ConsoleError, match="predelay_ms"):
        IRBank.generate(FS, n=1, predelay_ms=(30000, 30000))
    with pytest.raises(ConsoleError, match="rt60_s"):
        IRBank.generate(FS, n=1, rt60_s=(1.0, float("inf")))


def test_short_track_reverb_tail_rings_on_in_the_mix(bank):
    """A track shorter than the mix is padded before its channel runs: its reverb tail (and EQ
    ringing) continues into the mix instead of stopping where its file ends."""
    rng = np.random.default_rng(9)
    short = (0.5 * rng.standard_normal(2000)).astype(np.float32)
    long_ = np.zeros(20000, np.float32)
    p = {"reverb.ir": 1, "reverb.wet": 1.0, "reverb.dry": 0.0, "eq.band1_gain_db": 12.0, "eq.band1_q": 8.0}
    mix = render_mix([short, long_], [p, {}], FS, bank)
    padded = np.concatenate([short, np.zeros(18000, np.float32)])
    h = bank.effective_ir(1, 1.0).astype(np.float64)
    eq = scipy.signal.lfilter(*_peaking_ba(12.0, 500.0, 8.0), padded.astype(np.float64))
    ref = 0.5 * scipy.signal.fftconvolve(eq, h)[:20000]        # linear pan, centre
    assert np.max(np.abs(mix[0, 2000:])) > 0.01                  # the tail is there after the file ends
    assert np.max(np.abs(mix[0] - ref)) < 1e-4 * np.max(np.abs(ref))
    assert np.array_equal(mix, render_mix([padded, long_], [p, {}], FS, bank))


def _peaking_ba(g_db, f0, q):
    """RBJ peaking biquad, transcribed here independently of dmcdata.console.eq."""
    A = 10 ** (g_db / 40)
    w0 = 2 * np.pi * f0 / FS
    al = np.sin(w0) / (2 * q)
    b = np.array([1 + al * A, -2 * np.cos(w0), 1 - al * A])
    a = np.array([1 + al / A, -2 * np.cos(w0), 1 - al / A])
    return b / a[0], a / a[0]
