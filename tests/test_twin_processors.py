"""Each processor of the torch twin against the numba console, and its gradients (gradcheck, float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmcdata.console import CHANNEL_SPACE, IRBank
from dmcdata.console.compressor import apply_compressor as console_compressor
from dmcdata.console.compressor import compressor_params
from dmcdata.console.eq import apply_eq as console_eq
from dmcdata.console.reverb import apply_reverb as console_reverb
from dmcmodels.twin import ChannelTwin
from dmcmodels.twin.biquad import biquad_cascade
from dmcmodels.twin.compressor import KneeCurve, LevelDetector, apply_compressor
from dmcmodels.twin.eq import apply_eq
from dmcmodels.twin.reverb import ConsoleConvolution, TorchIRBank, apply_reverb, fft_convolve

SR = 44100


def _signal(rng, n, dtype=np.float32):
    """Noise with a slow swell (quiet and loud parts, so compressors attack and release)."""
    env = np.sin(np.linspace(0, 3 * np.pi, n)) ** 2 + 0.01
    return (0.8 * rng.standard_normal(n) * env).astype(dtype)


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b)))


@pytest.fixture(scope="module")
def twin():
    return ChannelTwin(SR, IRBank.generate(SR))


@pytest.fixture(scope="module")
def short_bank():
    """Three short IRs with a pre-delay (so the decay envelope and the onset matter) for gradchecks."""
    rng = np.random.default_rng(5)
    irs = []
    for k in range(3):
        h = np.zeros(40 + 10 * k)
        h[3 + k:] = rng.standard_normal(h.shape[0] - 3 - k) * np.exp(-np.arange(h.shape[0] - 3 - k) / 12.0)
        irs.append(h)
    return IRBank.from_arrays(irs, SR)


def _named(twin, params):
    return twin.named(twin.vector(params))


# -- exactness per processor ---------------------------------------------------------------------

def test_eq_matches_console(twin):
    rng = np.random.default_rng(0)
    ps = [CHANNEL_SPACE.sample(rng, ("eq",)) for _ in range(4)]
    ps[0]["eq.low_shelf_freq_hz"], ps[0]["eq.low_shelf_gain_db"] = 20.0, 24.0  # the hardest corner
    xs = np.stack([_signal(rng, 8000) for _ in ps])
    out = apply_eq(torch.from_numpy(xs), _named(twin, ps), SR).numpy()
    for i, p in enumerate(ps):
        ref = console_eq(xs[i], p, SR)
        assert _rel(out[i], ref) < 1e-6, p


def test_compressor_matches_console(twin):
    rng = np.random.default_rng(1)
    ps = [CHANNEL_SPACE.sample(rng, ("compressor",)) for _ in range(4)]
    ps[0].update({"compressor.threshold_db": -40.0, "compressor.ratio": 10.0, "compressor.attack_ms": 0.03,
                  "compressor.release_ms": 3000.0})
    xs = np.stack([_signal(rng, 8000) for _ in ps])
    out = apply_compressor(torch.from_numpy(xs), _named(twin, ps), SR).numpy()
    for i, p in enumerate(ps):
        ref = console_compressor(xs[i], SR, **compressor_params(p))
        assert _rel(out[i], ref) < 1e-6, p


def test_compressor_ratio_one_is_identity(twin):
    rng = np.random.default_rng(2)
    x = torch.from_numpy(_signal(rng, 2000, np.float64))[None]
    p = _named(twin, [{"compressor.threshold_db": -50.0, "compressor.ratio": 1.0}])
    assert torch.equal(apply_compressor(x, p, SR), x)


@pytest.mark.parametrize("n", [3000, 200000])  # one-shot FFT, and the console's overlap-save path
def test_reverb_matches_console(twin, n):
    rng = np.random.default_rng(3)
    ps = [{"reverb.ir": int(rng.integers(0, 8)), "reverb.decay": float(rng.uniform(0.05, 1.0)),
           "reverb.dry": float(rng.uniform()), "reverb.wet": float(rng.uniform())} for _ in range(2)]
    ps[0]["reverb.decay"] = 1.0
    xs = np.stack([_signal(rng, n) for _ in ps])
    bank = twin.torch_bank
    p = _named(twin, ps)
    out64 = apply_reverb(torch.from_numpy(xs), p, bank, console_fft=False).numpy()
    out32 = apply_reverb(torch.from_numpy(xs), p, bank, console_fft=True).numpy()
    for i, q in enumerate(ps):
        ref = console_reverb(xs[i], twin.ir_bank, q["reverb.ir"], q["reverb.decay"], q["reverb.dry"], q["reverb.wet"])
        assert _rel(out64[i], ref) < 2e-6
        assert _rel(out32[i], ref) < 2e-7


def test_effective_ir_matches_console(twin):
    for idx, d in [(0, 1.0), (3, 0.0), (5, 0.3), (7, 0.999)]:
        h = twin.torch_bank.effective(torch.tensor([idx]), torch.tensor([d], dtype=torch.float64), 10 ** 6)[0].numpy()
        ref = twin.ir_bank.effective_ir(idx, d)
        assert h.shape == ref.shape
        np.testing.assert_allclose(h, ref, atol=1e-7 * np.abs(ref).max())


# -- gradients ---------------------------------------------------------------------------------

def test_biquad_cascade_gradcheck():
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.standard_normal((2, 60)), requires_grad=True)
    # stable sections: poles at radius 0.9 and 0.6
    sos = []
    for r, th in [(0.9, 0.3), (0.6, 1.2), (0.95, 2.0)]:
        sos.append([1.0 + 0.1 * th, -0.5, 0.2, -2 * r * np.cos(th), r * r])
    sos = torch.tensor([sos, sos[::-1]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(biquad_cascade, (x, sos))


def test_detector_gradcheck():
    rng = np.random.default_rng(5)
    xl = torch.tensor(np.abs(rng.standard_normal((2, 80))) * 6.0, requires_grad=True)
    aa = torch.tensor([0.5, 0.8], dtype=torch.float64, requires_grad=True)
    ar = torch.tensor([0.95, 0.99], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LevelDetector.apply, (xl, aa, ar))


def _grad_fn(twin, x, v_fixed, cols, processor):
    """The processor as a function of (x, the listed normalized columns) for gradcheck."""
    def f(x, vc):
        v = v_fixed.clone()
        v[:, cols] = vc
        p = twin.named(v)
        if processor == "eq":
            return apply_eq(x, p, twin.sample_rate)
        if processor == "compressor":
            return apply_compressor(x, p, twin.sample_rate)
        return apply_reverb(x, p, twin.torch_bank, console_fft=False)
    return f


@pytest.mark.parametrize("processor", ["eq", "compressor", "reverb"])
def test_processor_gradcheck(processor, short_bank):
    twin = ChannelTwin(SR, short_bank)
    rng = np.random.default_rng(6)
    names = [n for n in CHANNEL_SPACE.names if n.startswith(processor + ".") and not CHANNEL_SPACE[n].discrete]
    cols = [twin.st.index[n] for n in names]
    params = []
    for _ in range(2):
        p = CHANNEL_SPACE.sample(rng, (processor,))
        if processor == "compressor":
            p["compressor.threshold_db"] = float(rng.uniform(-30, -10))  # part of the signal above
        if processor == "reverb":
            p["reverb.ir"] = int(rng.integers(0, 3))
            p["reverb.decay"] = float(rng.uniform(0.2, 0.9))
        params.append(p)
    v = twin.vector(params)
    x = torch.tensor(np.stack([_signal(rng, 96, np.float64) for _ in params]), requires_grad=True)
    vc = v[:, cols].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(_grad_fn(twin, x, v, cols, processor), (x, vc))


def test_console_convolution_backward_equals_float64_autograd(short_bank):
    tb = TorchIRBank(short_bank)
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.standard_normal((2, 300)), requires_grad=True)
    decay = torch.tensor([0.4, 0.8], dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([0.0, 2.0])
    g = torch.tensor(rng.standard_normal((2, 300)))
    grads = []
    for console in (False, True):
        h = tb.effective(idx, decay, 300)
        y = ConsoleConvolution.apply(x, h, short_bank, [0, 2], decay.tolist()) if console else fft_convolve(x, h)
        grads.append(torch.autograd.grad((y * g).sum(), (x, decay)))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_soft_knee_surrogate_changes_gradient_not_output():
    z = torch.tensor([[-30.0, -12.0, -1.0, 2.0, 8.0]], dtype=torch.float64, requires_grad=True)
    s = torch.tensor([[0.75]], dtype=torch.float64, requires_grad=True)
    hard = KneeCurve.apply(z, s, None)
    soft = KneeCurve.apply(z, s, 6.0)
    assert torch.equal(hard, soft)
    gz_h, gs_h = torch.autograd.grad(hard.sum(), (z, s))
    gz_s, gs_s = torch.autograd.grad(soft.sum(), (z, s))
    assert torch.all(gz_h[0, :3] == 0) and torch.all(gz_s[0, :3] > 0)  # below threshold: only the surrogate moves T
    torch.testing.assert_close(gz_h[0, 3:], torch.full((2,), 0.75, dtype=torch.float64))
    assert gs_s.item() > gs_h.item() > 0


def test_compressor_surrogate_gives_threshold_gradient_below_threshold():
    """A signal entirely below threshold: the true gradient w.r.t. T and R is 0, the surrogate's is not."""
    rng = np.random.default_rng(8)
    x = torch.tensor(0.01 * rng.standard_normal((1, 500)))  # about −40 dBFS
    grads = {}
    for w in (None, 6.0):
        T = torch.tensor([-20.0], dtype=torch.float64, requires_grad=True)
        R = torch.tensor([4.0], dtype=torch.float64, requires_grad=True)
        p = {"compressor.threshold_db": T, "compressor.ratio": R, "compressor.attack_ms": torch.tensor([1.0], dtype=torch.float64),
             "compressor.release_ms": torch.tensor([100.0], dtype=torch.float64),
             "compressor.makeup_db": torch.tensor([0.0], dtype=torch.float64)}
        y = apply_compressor(x, p, SR, surrogate_db=w)
        grads[w] = [g.item() for g in torch.autograd.grad(y.square().sum(), (T, R))]
    assert grads[None] == [0.0, 0.0]
    assert grads[6.0][0] != 0.0 and grads[6.0][1] != 0.0
