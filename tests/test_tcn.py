"""TCN + FiLM: receptive field, output length, conditioning, gradients, sizes vs the thesis."""

import math

import numpy as np
import pytest
import torch

from dmcmodels.models.film import FiLM
from dmcmodels.models.tcn import TCN, center_crop, count_parameters, fir_valid, minimum_phase


def _small(**kw):
    # 4 blocks, kernel 3: receptive field 1 + 2·(1+2+4+8) = 31 samples
    return TCN(n_blocks=4, kernel_size=3, channels=8, cond_dim=5, film_hidden=(16,), film_embed=8, **kw)


@pytest.mark.parametrize("stacks", [1, 2, 3])
def test_receptive_field_formula(stacks):
    m = TCN(stacks=stacks)
    assert m.receptive_field == 1 + 14 * 1023 * stacks
    # independent: the layer recursion r_i = r_{i-1} + (k - 1)·d_i over the actual conv layers
    r = 1
    for block in m.blocks:
        (k,), (d,) = block.conv.kernel_size, block.conv.dilation
        r += (k - 1) * d
    assert r == m.receptive_field


def test_receptive_field_is_the_true_dependency_span():
    """Perturb one input sample: exactly the outputs within the receptive field change."""
    torch.manual_seed(0)
    m = _small().eval()
    rf = m.receptive_field
    T = 100
    x = torch.randn(1, 1, T)
    c = torch.randn(1, 5)
    y0 = m(x, c)
    x2 = x.clone()
    x2[0, 0, 50] += 1.0
    changed = (m(x2, c) - y0).abs()[0, 0] > 0
    idx = torch.nonzero(changed).flatten().tolist()
    # output j sees inputs j .. j + rf - 1
    assert idx == [j for j in range(T - rf + 1) if j <= 50 <= j + rf - 1]


def test_output_length_and_batch():
    m = TCN(cond_dim=31)
    T = m.receptive_field + 99
    y = m(torch.randn(2, 1, T), torch.rand(2, 31) * 2 - 1)
    assert y.shape == (2, 1, 100)
    with pytest.raises(ValueError, match="receptive field"):
        m(torch.randn(1, 1, m.receptive_field - 1), torch.zeros(1, 31))
    with pytest.raises(ValueError, match="conditioning"):
        m(torch.randn(1, 1, T), torch.zeros(1, 25))


def test_conditioning_changes_output():
    torch.manual_seed(1)
    m = _small().eval()
    x = torch.randn(1, 1, 200)
    y_a = m(x, torch.full((1, 5), -0.5))
    y_b = m(x, torch.full((1, 5), 0.5))
    assert not torch.allclose(y_a, y_b)
    assert torch.equal(m(x, torch.full((1, 5), -0.5)), y_a)  # and is deterministic in eval mode


def test_gradient_flows_to_every_parameter():
    torch.manual_seed(2)
    m = _small(stacks=2).train()
    x = torch.randn(3, 1, 120, requires_grad=True)
    c = torch.randn(3, 5, requires_grad=True)
    m(x, c).pow(2).mean().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    assert x.grad.abs().sum() > 0 and c.grad.abs().sum() > 0


def test_residual_gain_initialised_to_one_and_clamped():
    torch.manual_seed(3)
    m = _small().eval()
    assert all(b.res_gain.item() == 1.0 for b in m.blocks)
    block = m.blocks[1]
    x = torch.randn(1, 8, 50)
    emb = m.generator(torch.zeros(1, 5))
    h = block.act(block.film(block.conv(x), emb))
    with torch.no_grad():
        block.res_gain.fill_(5.0)  # clamped to 1
        np.testing.assert_allclose(block(x, emb), h + center_crop(x, h.shape[-1]), atol=1e-6)
        block.res_gain.fill_(-2.0)  # clamped to 0
        np.testing.assert_allclose(block(x, emb), h, atol=1e-6)


def test_residual_gain_recovers_after_a_step_past_one():
    """The gain starts on the clamp's edge (1.0): a step that pushes it up must not freeze it."""
    torch.manual_seed(5)
    m = _small().train()
    block = m.blocks[1]
    opt = torch.optim.SGD([block.res_gain], lr=0.5)
    x, c = torch.randn(2, 1, 64), torch.randn(2, 5)
    # step 1: a loss that wants a larger gain takes the raw parameter past 1
    (-m(x, c).pow(2).mean() * 1e3).backward()
    opt.step()
    opt.zero_grad()
    # step 2: the next forward keeps the gain in [0, 1] and the opposite loss gets a gradient
    loss = m(x, c).pow(2).mean() * 1e3
    assert 0.0 <= block.res_gain.item() <= 1.0
    loss.backward()
    assert block.res_gain.grad is not None and block.res_gain.grad.abs().item() > 0
    opt.step()
    assert block.res_gain.item() < 1.0


def test_film_equation():
    """y = γ·BN(x) + β with BN without affine, (γ, β) from the block's linear adaptor."""
    torch.manual_seed(4)
    f = FiLM(4, embed_dim=6).train()
    assert f.norm.affine is False
    x = torch.randn(3, 4, 20)
    e = torch.randn(3, 6)
    w, b = f.adaptor.weight.detach(), f.adaptor.bias.detach()
    gb = e @ w.T + b
    gamma, beta = gb[:, :4], gb[:, 4:]
    mean = x.mean(dim=(0, 2), keepdim=True)
    var = x.var(dim=(0, 2), unbiased=False, keepdim=True)
    ref = gamma[:, :, None] * (x - mean) / torch.sqrt(var + f.norm.eps) + beta[:, :, None]
    torch.testing.assert_close(f(x, e), ref, atol=1e-5, rtol=1e-5)


def test_center_crop():
    x = torch.arange(10.0)
    assert center_crop(x, 6).tolist() == [2, 3, 4, 5, 6, 7]
    assert center_crop(x, 7).tolist() == [2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize("stacks,thesis", [(1, 290_000), (2, 528_000), (3, 764_000)])
def test_parameter_counts_near_thesis(stacks, thesis):
    n = count_parameters(TCN(stacks=stacks))
    assert abs(n - thesis) / thesis < 0.01, (stacks, n, thesis)
    # the per-block arithmetic of the description: conv 32·32·15 + 32, FiLM adaptor 128·64 + 64,
    # PReLU 32, residual gain 1; first block's conv has 1 input channel; generator 25→128→256→128
    conv_full, adaptor, extra = 32 * 32 * 15 + 32, 128 * 64 + 64, 32 + 1
    first = 1 * 32 * 15 + 32 + adaptor + extra
    gen = (25 * 128 + 128) + 1 + (128 * 256 + 256) + 1 + (256 * 128 + 128)
    expected = gen + first + (10 * stacks - 1) * (conv_full + adaptor + extra) + (32 + 1)
    assert n == expected


def test_summary_cli_rejects_bad_numbers(capsys):
    from dmcmodels.cli import main

    for bad in (["--cond-dim", "0"], ["--sample-rate", "-1"]):
        assert main(["summary", *bad]) == 2
        assert bad[0] in capsys.readouterr().err


#: a tiny TCN with the dry path, for the tests of the dry-path options
TINY_SKIP = dict(n_blocks=3, kernel_size=3, channels=4, film_hidden=(8,), film_embed=8, input_skip=True)


def test_input_skip_starts_as_the_identity_and_learns_from_there():
    torch.manual_seed(0)
    m = TCN(**TINY_SKIP)
    x, c = torch.randn(2, 1, 64), torch.rand(2, 25) * 2 - 1
    y = m(x, c)
    assert torch.equal(y, center_crop(x, y.shape[-1]))
    plain = TCN(n_blocks=3, kernel_size=3, channels=4, film_hidden=(8,), film_embed=8)
    assert count_parameters(m) == count_parameters(plain) + 8 + 1  # the dry-gain Linear(8, 1)
    loss = (y - 0.5 * center_crop(x, y.shape[-1])).pow(2).mean()
    loss.backward()
    assert m.output.weight.grad.abs().sum() > 0  # the zero-initialised output conv gets a gradient
    assert m.dry_gain.weight.grad.abs().sum() > 0 and m.dry_gain.bias.grad.item() > 0  # and the dry level


def test_dry_envelope_starts_as_the_identity_and_can_follow_a_gain_in_time():
    torch.manual_seed(0)
    kw = dict(TINY_SKIP)
    m = TCN(**kw, dry_envelope=True)
    x, c = torch.randn(2, 1, 200), torch.rand(2, 25) * 2 - 1
    y = m(x, c)
    dry = center_crop(x, y.shape[-1])
    assert torch.equal(y, dry)
    assert count_parameters(m) == count_parameters(TCN(**kw)) + 4 + 1  # Conv1d(4, 1, 1)
    # a target whose gain changes halfway: only the envelope can make the dry path follow it
    ramp = torch.ones_like(dry)
    ramp[..., dry.shape[-1] // 2:] = 0.25
    ((y - ramp * dry) ** 2).mean().backward()
    assert m.envelope.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs input_skip"):
        TCN(n_blocks=3, kernel_size=3, channels=4, dry_envelope=True)
    # the envelope sees only what the skips see: receptive field and block processing unchanged
    assert m.receptive_field == TCN(**kw).receptive_field


def test_level_db_starts_as_the_identity_and_sets_levels_in_nepers():
    torch.manual_seed(0)
    kw = dict(TINY_SKIP)
    m = TCN(**kw, level_db=True)
    x, c = torch.randn(2, 1, 120), torch.rand(2, 25) * 2 - 1
    y = m(x, c)
    dry = center_crop(x, y.shape[-1])
    assert torch.equal(y, dry)
    assert count_parameters(m) == count_parameters(TCN(**kw)) + 8 + 1  # the wet-level Linear(8, 1)
    ((y - 0.5 * dry) ** 2).mean().backward()
    assert m.dry_gain.bias.grad.item() > 0 and m.output.weight.grad.abs().sum() > 0
    lam = TCN.LOG_GAIN_LIMIT * math.tanh(-3.0 / TCN.LOG_GAIN_LIMIT)  # the soft limit λ(u) at u = -3
    with torch.no_grad():  # the dry level u = -3: gain exp(λ(-3)) = exp(-2.94) (-25.5 dB)
        m.dry_gain.bias.fill_(-3.0)
        assert torch.allclose(m(x, c), math.exp(lam) * dry, rtol=1e-4, atol=0)
        m.dry_gain.bias.fill_(1e4)  # far past the limit: the gain saturates at exp(12), finite
        big = m(x, c)
    assert torch.isfinite(big).all() and torch.allclose(big, math.exp(TCN.LOG_GAIN_LIMIT) * dry, rtol=1e-4)
    with pytest.raises(ValueError, match="needs input_skip"):
        TCN(n_blocks=3, kernel_size=3, channels=4, level_db=True)


def test_wet_false_is_a_gain_computer():
    torch.manual_seed(0)
    kw = dict(TINY_SKIP, dry_envelope=True, level_db=True)
    m = TCN(**kw, wet=False)
    assert m.output is None and not hasattr(m, "wet_gain")
    assert count_parameters(m) == count_parameters(TCN(**kw)) - (4 + 1) - (8 + 1)  # no output conv, no wet level
    with torch.no_grad():
        m.envelope.weight.normal_()
    x, c = torch.randn(2, 1, 200), torch.rand(2, 25) * 2 - 1
    y = m(x, c)
    dry = center_crop(x, y.shape[-1])
    ratio = y / dry  # the output is the input times a positive gain that moves in time
    assert (ratio > 0).all() and ratio.std() > 1e-3
    for bad in (dict(wet=False), dict(wet=False, dry_envelope=True), dict(wet=False, level_db=True)):
        with pytest.raises(ValueError, match="wet=False needs"):
            TCN(n_blocks=3, kernel_size=3, channels=4, input_skip=True, **bad)


def test_envelope_window_smooths_the_gain_and_widens_the_receptive_field():
    torch.manual_seed(0)
    kw = dict(TINY_SKIP, dry_envelope=True, level_db=True, wet=False)
    raw, smooth = TCN(**kw), TCN(**kw, envelope_window=101)
    assert smooth.receptive_field == raw.receptive_field + 100
    assert torch.isclose(smooth.smoothing.sum(), torch.tensor(1.0)) and "smoothing" not in smooth.state_dict()
    x, c = torch.randn(2, 1, 2000), torch.rand(2, 25) * 2 - 1
    y = smooth(x, c)
    assert torch.allclose(y, center_crop(x, y.shape[-1]))  # zero-initialised: still the identity
    smooth.load_state_dict(raw.state_dict())  # same weights, random envelope: the gain wobbles sample by sample
    with torch.no_grad():
        for m in (raw, smooth):
            m.envelope.weight.normal_(generator=torch.Generator().manual_seed(5))
        wobble = {}
        for name, m in (("raw", raw), ("smooth", smooth)):
            y = m(x, c)
            log_gain = torch.log(y / center_crop(x, y.shape[-1]))
            wobble[name] = log_gain.diff(dim=-1).abs().mean().item()
    assert wobble["smooth"] < wobble["raw"] / 20
    for bad in (0, 2, -3):
        with pytest.raises(ValueError, match="odd number"):
            TCN(**kw, envelope_window=bad)
    with pytest.raises(ValueError, match="needs dry_envelope"):
        TCN(n_blocks=3, kernel_size=3, channels=4, input_skip=True, envelope_window=5)


def test_dry_eq_starts_flat_and_its_filter_is_centred_on_the_output():
    torch.manual_seed(0)
    kw = dict(TINY_SKIP)
    m = TCN(**kw, dry_eq=(6, 255))
    assert m.receptive_field == 255  # the filter is longer than the TCN's 15 samples: it sets the span
    # the band weights' own MLP: 25 → 128 → 128 → 6 (PReLU)
    assert count_parameters(m) == count_parameters(TCN(**kw)) + (25 * 128 + 128 + 1) + (128 * 128 + 128 + 1) + 128 * 6 + 6
    assert count_parameters(TCN(**kw, dry_eq=(6, 255), eq_hidden=())) == count_parameters(TCN(**kw)) + 25 * 6 + 6
    x, c = torch.randn(2, 1, 500), torch.rand(2, 25) * 2 - 1
    y = m(x, c)
    torch.testing.assert_close(y, center_crop(x, y.shape[-1]), rtol=0, atol=1e-5)  # 0 dB: h = δ
    with torch.no_grad():
        m.eq_gain.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 0.0]))  # one unit, +12 dB around band 4
        h = m.eq_filters(c)[0]
        assert torch.allclose(h, h.flip(-1), atol=1e-6)  # zero phase: symmetric taps
        response = 20 * torch.log10(torch.fft.rfft(h, 4096).abs())
        centre = float(torch.logspace(math.log10(5e-4), math.log10(0.5), 6)[4])  # band 4 (of 0..5)
        assert 9.0 < response[round(centre * 4096)] < 13.0 and abs(response[0]) < 1.0
        # an impulse comes out centred where center_crop puts the target sample of the same time
        n = 600
        imp = torch.zeros(1, 1, n)
        imp[0, 0, 300] = 1.0
        out = m(imp, c[:1])[0, 0]
        pos = int(center_crop(torch.arange(n, dtype=torch.float32), out.shape[-1])[int(out.abs().argmax())])
        assert pos == 300
    for bad in ((0, 31), (4, 30), (4, 1)):
        with pytest.raises(ValueError, match="odd taps"):
            TCN(**kw, dry_eq=bad)
    with pytest.raises(ValueError, match="needs input_skip"):
        TCN(n_blocks=3, kernel_size=3, channels=4, dry_eq=(4, 31))


def test_minimum_phase_reproduces_the_consoles_biquads():
    """RBJ shelves and peaks are minimum phase: their |H| in dB → the folded cepstrum → their impulse response."""
    from dmcdata.console.eq import biquad_cascade, peaking_coefficients, shelf_coefficients

    size, n = 16384, 600
    sections = np.stack([peaking_coefficients(12.0, 1000.0, 2.0, 44100.0),
                         peaking_coefficients(-18.0, 250.0, 0.7, 44100.0),
                         shelf_coefficients(9.0, 8000.0, 44100.0, high=True)])
    imp = np.zeros(size, dtype=np.float32)
    imp[0] = 1.0
    truth = biquad_cascade(imp, sections, np.zeros(size))
    db = 20 * torch.log10(torch.fft.rfft(torch.from_numpy(truth)).abs())
    h = minimum_phase(db, size)
    assert float((h[:n] - torch.from_numpy(truth[:n])).abs().max()) < 1e-6 * float(np.abs(truth).max()) + 1e-9
    # a zero-phase filter of the same magnitude is a different waveform
    zero = torch.fft.irfft(torch.from_numpy(np.abs(np.fft.rfft(truth))), n=size)
    assert float((zero[:n] - torch.from_numpy(truth[:n])).abs().max()) > 0.1
    with pytest.raises(ValueError, match="even size"):
        minimum_phase(db, size + 2)


def test_minimum_phase_eq_starts_flat_and_is_causal_about_the_centre():
    torch.manual_seed(3)
    kw = dict(TINY_SKIP)
    m = TCN(**kw, dry_eq=(6, 255), eq_phase="minimum")
    zero = TCN(**kw, dry_eq=(6, 255))
    assert m.receptive_field == zero.receptive_field == 255 and count_parameters(m) == count_parameters(zero)
    x, c = torch.randn(2, 1, 500), torch.rand(2, 25) * 2 - 1
    y = m(x, c)
    torch.testing.assert_close(y, center_crop(x, y.shape[-1]), rtol=0, atol=1e-5)  # 0 dB: h = δ
    with torch.no_grad():
        curve = torch.tensor([6.0, -3.0, 0.0, 9.0, 12.0, -6.0]) / m.EQ_UNIT_DB
        m.eq_gain.bias.copy_(curve)
        zero.eq_gain.bias.copy_(curve)
        h = m.eq_filters(c)[0]
        assert float(h[:127].abs().max()) == 0.0 and float(h[127].abs()) > 0.1  # causal taps from the centre on
        # the same dB curve as the zero-phase filter, to within the windows' smoothing
        db = [20 * torch.log10(torch.fft.rfft(f.eq_filters(c)[0], 4096).abs()) for f in (m, zero)]
        band = slice(40, 1900)  # 430 Hz – 20 kHz, where 255 taps resolve the bands
        assert float((db[0][band] - db[1][band]).abs().max()) < 1.0
    # output j depends on inputs up to the centre sample of its window (j + 127) and on none after it
    # (the TCN path is still switched off; the FFT filter leaves float noise, no more)
    xg = torch.randn(1, 1, 400, requires_grad=True)
    m(xg, c[:1])[0, 0, 20].backward()
    g = xg.grad[0, 0].abs()
    assert float(g[20 + 128:].max()) < 1e-5 * float(g.max()) and float(g[20 + 127]) > 0.1 * float(g.max())
    with pytest.raises(ValueError, match="'zero' or 'minimum'"):
        TCN(**kw, dry_eq=(6, 255), eq_phase="linear")
    with pytest.raises(ValueError, match="needs dry_eq"):
        TCN(**kw, eq_phase="minimum")


@pytest.mark.parametrize("eq_phase", ["zero", "minimum"])
def test_structured_dry_path_keeps_the_receptive_field_exact(eq_phase):
    """Envelope window + dry EQ: output j depends on inputs j .. j + rf − 1 and on nothing else."""
    torch.manual_seed(1)
    m = TCN(n_blocks=2, kernel_size=3, channels=3, film_hidden=(4,), film_embed=4, input_skip=True,
            dry_envelope=True, level_db=True, envelope_window=9, dry_eq=(3, 7), eq_phase=eq_phase).eval()
    with torch.no_grad():
        for p in (m.envelope.weight, m.eq_gain.bias, m.output.weight):
            p.normal_()
    assert m.receptive_field == 1 + max(2 * (1 + 2) + 8, 6)
    rf, n, j = m.receptive_field, 80, 11
    x = torch.randn(1, 1, n, requires_grad=True)
    m(x, torch.zeros(1, 25))[0, 0, j].backward()
    g = x.grad[0, 0].abs()
    nz = torch.nonzero(g > 1e-6 * g.max()).flatten()  # the FFT filter leaves float noise, no more
    assert nz.min().item() == j and nz.max().item() == j + rf - 1


def test_fir_valid_equals_a_direct_convolution():
    torch.manual_seed(2)
    x = torch.randn(3, 1, 500, dtype=torch.float64)
    per_example, shared = torch.randn(3, 41, dtype=torch.float64), torch.randn(41, dtype=torch.float64)
    direct = torch.cat([torch.nn.functional.conv1d(x[i:i + 1], per_example[i].flip(-1)[None, None]) for i in range(3)])
    torch.testing.assert_close(fir_valid(x, per_example), direct)
    torch.testing.assert_close(fir_valid(x, shared), torch.nn.functional.conv1d(x, shared.flip(-1)[None, None]))
