"""The whole twin channel: equal to ChannelStrip.process in all 6 orders and both pan laws, batched,
and differentiable (gradcheck in float64 w.r.t. the normalized vector and the input)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmcdata.console import CHANNEL_SPACE, ORDERS, ChannelStrip, IRBank, order_one_hot, render_mix, sample_channel_params
from dmcmodels.twin import ChannelTwin, linear_to_log, log_to_linear, vector_to_params

SR = 44100
LAWS = ("linear", "constant_power")


@pytest.fixture(scope="module")
def bank():
    return IRBank.generate(SR)


def _signal(rng, n):
    env = np.sin(np.linspace(0, 2 * np.pi * rng.uniform(1, 4), n)) ** 2 + 1e-3
    return (rng.standard_normal(n) * env * 10 ** rng.uniform(-1.5, 0)).astype(np.float32)


def _rel(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("order", ORDERS)
def test_twin_equals_console(bank, order, law):
    rng = np.random.default_rng(2 * ORDERS.index(order) + LAWS.index(law))
    n = 12000
    params = [sample_channel_params(rng) for _ in range(3)]
    # the hard cases: a 20 Hz shelf at +24 dB, and heavy compression of a loud reverb
    params[0].update({"eq.low_shelf_freq_hz": 20.0, "eq.low_shelf_gain_db": 24.0, "compressor.release_ms": 3000.0})
    params[1].update({"gain_db": 12.0, "compressor.threshold_db": -45.0, "compressor.ratio": 8.0,
                      "compressor.attack_ms": 0.05, "reverb.wet": 0.9, "reverb.dry": 0.1})
    xs = np.stack([_signal(rng, n) for _ in params])
    strip = ChannelStrip(SR, bank, law, order)
    twin = ChannelTwin(SR, bank, law, order)
    out = twin(torch.from_numpy(xs), twin.vector(params))
    assert out.dtype == torch.float32 and out.shape == (3, 2, n)
    for i, p in enumerate(params):
        ref = strip.process(xs[i], p)
        assert _rel(out[i].numpy(), ref) < 1e-5, (i, p)


def test_per_track_orders_and_one_hot_equal_console_batch(bank):
    rng = np.random.default_rng(11)
    params = [sample_channel_params(rng) for _ in ORDERS]
    xs = np.stack([_signal(rng, 6000) for _ in params])
    ref = ChannelStrip(SR, bank).process_batch(xs, params, orders=list(ORDERS))
    twin = ChannelTwin(SR, bank)
    v = twin.vector(params)
    by_list = twin(torch.from_numpy(xs), v, order=list(ORDERS)).numpy()
    one_hot = torch.from_numpy(np.stack([order_one_hot(o) for o in ORDERS]))
    by_hot = twin(torch.from_numpy(xs), v, order=one_hot).numpy()
    np.testing.assert_array_equal(by_list, by_hot)
    for i in range(len(ORDERS)):
        assert _rel(by_list[i], ref[i]) < 1e-5
    # a batch is its channels: track 2 alone gives the same numbers
    alone = twin(torch.from_numpy(xs[2:3]), v[2:3], order=[ORDERS[2]]).numpy()
    np.testing.assert_array_equal(alone[0], by_list[2])


def test_mix_equals_render_mix(bank):
    rng = np.random.default_rng(12)
    params = [sample_channel_params(rng) for _ in range(4)]
    xs = np.stack([_signal(rng, 5000) for _ in params])
    twin = ChannelTwin(SR, bank, "constant_power")
    mix = twin.mix(torch.from_numpy(xs), twin.vector(params)).numpy()
    ref = render_mix(list(xs), params, SR, bank, "constant_power")
    assert _rel(mix, ref) < 1e-5


@pytest.mark.parametrize("law", LAWS)
def test_neutral_is_pan_gain_times_input(bank, law):
    x = _signal(np.random.default_rng(13), 3000)
    twin = ChannelTwin(SR, bank, law)
    out = twin(torch.from_numpy(x)[None], twin.vector([CHANNEL_SPACE.neutral()]))[0].numpy()
    g = 0.5 if law == "linear" else np.cos(np.pi / 4)
    np.testing.assert_allclose(out, np.stack([g * x, g * x]), rtol=0, atol=1e-7)


@pytest.fixture(scope="module")
def short_bank():
    rng = np.random.default_rng(21)
    irs = []
    for k in range(4):
        h = np.zeros(48)
        h[2 + k:] = rng.standard_normal(46 - k) * np.exp(-np.arange(46 - k) / 10.0)
        irs.append(h)
    return IRBank.from_arrays(irs, SR)


def _gradcheck_params(rng, n_tracks, n_irs):
    out = []
    for _ in range(n_tracks):
        p = sample_channel_params(rng)
        p["compressor.threshold_db"] = float(rng.uniform(-30.0, -10.0))
        p["reverb.ir"] = int(rng.integers(0, n_irs))
        p["reverb.decay"] = float(rng.uniform(0.2, 0.9))
        p["reverb.wet"] = float(rng.uniform(0.2, 0.9))
        p["polarity"] = int(rng.integers(0, 2))
        out.append(p)
    return out


@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("order", ORDERS)
def test_channel_gradcheck(short_bank, order, law):
    """Every one of the 25 normalized values and every input sample, float64, all orders, both laws.

    Discrete values (polarity, reverb.ir) must get exactly zero gradient, which gradcheck's
    finite differences confirm (the values sit away from a rounding boundary)."""
    rng = np.random.default_rng(ORDERS.index(order) + 10 * LAWS.index(law))
    twin = ChannelTwin(SR, short_bank, law, order)
    v = twin.vector(_gradcheck_params(rng, 2, len(short_bank))).clamp(-0.98, 0.98).requires_grad_(True)
    x = torch.tensor(rng.standard_normal((2, 64)) * 0.5, requires_grad=True)
    full = order == ORDERS[0] and law == "linear"  # every Jacobian entry once; random projections elsewhere
    assert torch.autograd.gradcheck(lambda x, v: twin(x, v), (x, v), fast_mode=not full)


def test_discrete_parameters_get_zero_gradient(short_bank):
    twin = ChannelTwin(SR, short_bank)
    rng = np.random.default_rng(31)
    v = twin.vector(_gradcheck_params(rng, 2, len(short_bank))).requires_grad_(True)
    x = torch.tensor(rng.standard_normal((2, 200)))
    (g,) = torch.autograd.grad(twin(x, v).square().sum(), v)
    for name in ("polarity", "reverb.ir"):
        assert torch.all(g[:, twin.st.index[name]] == 0)
    others = [i for i, n in enumerate(twin.st.names) if n not in ("polarity", "reverb.ir")]
    assert torch.all(g[:, others].abs().sum(dim=0) > 0)


def test_vector_round_trip_and_log_parametrisation():
    twin = ChannelTwin(SR)
    rng = np.random.default_rng(41)
    params = [sample_channel_params(rng) for _ in range(5)]
    back = vector_to_params(twin.vector(params), twin.st)
    for p, q in zip(params, back):
        for k in p:
            assert q[k] == pytest.approx(p[k], rel=1e-12, abs=1e-12)
    u = torch.tensor(rng.uniform(-1, 1, (5, 25)))
    np.testing.assert_allclose(linear_to_log(log_to_linear(u, twin.st), twin.st).numpy(), u.numpy(), atol=1e-9)
    # u = 0 is the geometric middle of a log-uniform range, v = 0 the arithmetic one
    mid = twin.named(log_to_linear(torch.zeros(1, 25, dtype=torch.float64), twin.st))
    assert mid["eq.low_shelf_freq_hz"].item() == pytest.approx(np.sqrt(20.0 * 1000.0))
    assert mid["gain_db"].item() == pytest.approx(0.0)


def test_bad_shapes_raise_clear_errors():
    twin = ChannelTwin(SR)
    with pytest.raises(ValueError, match="shape"):
        twin(torch.zeros(100), torch.zeros(1, 25))
    with pytest.raises(ValueError, match="25"):
        twin(torch.zeros(2, 100), torch.zeros(2, 24))
    with pytest.raises(ValueError, match="orders"):
        twin(torch.zeros(2, 100), torch.zeros(2, 25), order=[ORDERS[0]] * 3)
    with pytest.raises(ValueError, match="sample rate"):
        ChannelTwin(48000, IRBank.from_arrays([np.ones(4)], SR))
