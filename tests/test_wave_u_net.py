"""Wave-U-Net + FiLM: lengths, centred alignment, shift equivariance by the stride, receptive field,
conditioning, gradients, preset sizes vs the thesis."""

import math

import numpy as np
import pytest
import torch

from dmcmodels.models.tcn import center_crop, count_parameters
from dmcmodels.models.wave_u_net import PRESETS, WaveUNet


def _small(**kw):
    # depth 3, stride 4 → total stride 64; tiny widths so float64 runs are fast
    kw = {"depth": 3, "channels": 4, "cond_dim": 3, "film_hidden": (8,), "film_embed": 8, **kw}
    return WaveUNet(**kw)


def _eval64(seed=0, **kw):
    torch.manual_seed(seed)
    m = _small(**kw).double().eval()
    # non-trivial BatchNorm statistics so eval mode is not the identity normalisation
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 2.0)
    return m


def _start(model, n):
    """Input index of output sample 0: the centre_crop convention."""
    q = n - model.output_length(n)
    return q - q // 2


def test_lengths_for_many_n_and_forward_shapes():
    m = _small().eval()
    n0 = m.min_input_length
    # every n from the minimum on is accepted (checked over three strides), nothing below it
    assert all(m.output_length(n) >= 1 for n in range(n0, n0 + 3 * m.stride))
    assert m.output_length(n0 - 1) == 0
    c = torch.zeros(2, 3)
    for n in (n0, n0 + 1, n0 + 63, n0 + 64, 1000, 1777):
        x = torch.randn(2, 1, n)
        y = m(x, c)
        assert y.shape == (2, 1, m.output_length(n)), n
        assert 1 <= y.shape[-1] < n
    with pytest.raises(ValueError, match="minimum input length"):
        m(torch.randn(1, 1, n0 - 1), torch.zeros(1, 3))


def test_valid_length_is_the_smallest_sufficient_input():
    m = _small()
    for want in (1, 5, 64, 100, 300):
        n = m.valid_length(want)
        assert m.output_length(n) >= want
        assert all(m.output_length(k) < want for k in range(m.min_input_length, n)), want


def test_stride_and_geometry_of_the_presets():
    for p in PRESETS.values():
        m = WaveUNet(**p)
        assert m.stride == 4 ** 6
        n = m.valid_length(44100)
        assert m.output_length(n) >= 44100 and n - m.output_length(n) <= m.receptive_field


def test_shift_by_stride_is_exact_and_other_shifts_are_not():
    m = _eval64(1)
    S = m.stride
    torch.manual_seed(2)
    x = torch.randn(1, 1, 1500, dtype=torch.float64)
    c = torch.randn(1, 3, dtype=torch.float64)
    y = m(x, c)[0, 0]
    p0 = _start(m, 1500)

    def compare(shift):
        xs = x[..., shift:]
        ys = m(xs, c)[0, 0]
        ps = shift + _start(m, xs.shape[-1])  # absolute input position of ys[0]
        lo, hi = max(p0, ps), min(p0 + len(y), ps + len(ys))
        assert hi - lo > 100
        return y[lo - p0:hi - p0], ys[lo - ps:hi - ps]

    for shift in (S, 2 * S, 3 * S):
        a, b = compare(shift)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    a, b = compare(S // 2 + 1)  # off the down-sampling grid: values differ
    assert (a - b).abs().max() > 1e-6


def test_longer_input_cropped_equals_shorter_centred_sub_input():
    """Output j of any n is input sample j + ⌈(n − m)/2⌉, as center_crop: a sub-input at a stride
    multiple gives the same values at the same input positions, whatever its length."""
    m = _eval64(3)
    torch.manual_seed(4)
    n1 = 2000
    x = torch.randn(2, 1, n1, dtype=torch.float64)
    c = torch.randn(2, 3, dtype=torch.float64)
    y1 = m(x, c)
    for off, n2 in ((0, 700), (64, 777), (128, 1023), (640, 1360)):
        sub = x[..., off:off + n2]
        y2 = m(sub, c)
        p1, p2 = _start(m, n1), off + _start(m, n2)  # input positions of y1[0] and y2[0]
        lo, hi = max(p1, p2), min(p1 + y1.shape[-1], p2 + y2.shape[-1])
        assert hi - lo >= min(y2.shape[-1], 200), (off, n2)
        torch.testing.assert_close(y1[..., lo - p1:hi - p1], y2[..., lo - p2:hi - p2], rtol=0, atol=1e-12)
    # the positions are those of center_crop
    n = 1111
    pos = torch.arange(n, dtype=torch.float64).view(1, 1, n)
    assert _start(m, n) == int(center_crop(pos, m.output_length(n))[0, 0, 0])


def test_block_processing_with_hops_of_the_stride_equals_one_shot():
    """The recipe in the docs: hop H a multiple of the stride, block input valid_length(H), keep the
    first H outputs of each block → the same samples as one pass over the whole input."""
    m = _eval64(10)
    torch.manual_seed(11)
    N = 3000
    x = torch.randn(1, 1, N, dtype=torch.float64)
    c = torch.randn(1, 3, dtype=torch.float64)
    full = m(x, c)[0, 0]
    p_full = _start(m, N)
    H = 2 * m.stride
    n = m.valid_length(H)
    pieces, b = [], 0
    while b * H + n <= N:
        pieces.append(m(x[..., b * H:b * H + n], c)[0, 0, :H])
        b += 1
    blocks = torch.cat(pieces)
    p_blocks = _start(m, n)  # input position of blocks[0]
    lo, hi = max(p_full, p_blocks), min(p_full + len(full), p_blocks + len(blocks))
    assert hi - lo > N // 2
    torch.testing.assert_close(blocks[lo - p_blocks:hi - p_blocks], full[lo - p_full:hi - p_full], rtol=0, atol=1e-12)


def test_output_depends_only_on_inputs_within_the_receptive_field():
    m = _eval64(5)
    rf = m.receptive_field
    left, right = math.ceil((rf - 1) / 2), (rf - 1) // 2
    torch.manual_seed(6)
    n = 1600
    x = torch.randn(1, 1, n, dtype=torch.float64)
    c = torch.randn(1, 3, dtype=torch.float64)
    y = m(x, c)[0, 0]
    p0 = _start(m, n)
    for j in (0, 37, len(y) // 2, len(y) - 1):
        p = p0 + j
        outside = torch.ones(n, dtype=torch.bool)
        outside[max(0, p - left):p + right + 1] = False
        x2 = x.clone()
        x2[0, 0, outside] += torch.randn(int(outside.sum()), dtype=torch.float64)
        assert abs(m(x2, c)[0, 0, j] - y[j]) < 1e-12, j
    # the bound is tight: over one stride of outputs (every phase of the down-sampling grid) the
    # exact dependency span (non-zero gradient entries) reaches exactly `left` and `right` samples
    xg = x.clone().requires_grad_(True)
    yg = m(xg, c)[0, 0]
    reach_l = reach_r = 0
    for j in range(100, 100 + m.stride):
        (g,) = torch.autograd.grad(yg[j], xg, retain_graph=True)
        idx = torch.nonzero(g[0, 0]).flatten()
        reach_l, reach_r = max(reach_l, p0 + j - int(idx.min())), max(reach_r, int(idx.max()) - p0 - j)
    assert (reach_l, reach_r) == (left, right)


def test_conditioning_changes_output_and_eval_is_deterministic():
    torch.manual_seed(7)
    m = _small().eval()
    x = torch.randn(1, 1, 800)
    y_a = m(x, torch.full((1, 3), -0.5))
    y_b = m(x, torch.full((1, 3), 0.5))
    assert not torch.allclose(y_a, y_b)
    assert torch.equal(m(x, torch.full((1, 3), -0.5)), y_a)
    # FiLM sits in every encoder block and in every decoder block but the last (linear output)
    assert all(hasattr(e, "film") for e in m.encoders)
    assert [hasattr(d, "film") for d in m.decoders] == [False, True, True]


def test_gradient_flows_to_every_parameter():
    torch.manual_seed(8)
    m = _small().train()
    x = torch.randn(3, 1, 600, requires_grad=True)
    c = torch.randn(3, 3, requires_grad=True)
    m(x, c).pow(2).mean().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    assert x.grad.abs().sum() > 0 and c.grad.abs().sum() > 0


def test_weight_rescaling():
    torch.manual_seed(9)
    plain = _small(rescale=None)
    torch.manual_seed(9)
    scaled = _small(rescale=0.1)
    w0, w1 = plain.encoders[1].conv.weight, scaled.encoders[1].conv.weight
    std = w0.std().item()
    torch.testing.assert_close(w1, w0 / math.sqrt(std / 0.1))
    assert abs(w1.std().item() - math.sqrt(std * 0.1)) < 1e-6


def _expected_params(depth, channels, k, cond_dim=25, growth=2, context=3, hidden=(128, 256), embed=128):
    """Layer-by-layer arithmetic of the description, independent of the module code."""
    gen, width = 0, cond_dim
    for h in hidden:
        gen += width * h + h + 1  # Linear + PReLU (one slope)
        width = h
    gen += width * embed + embed
    total = gen
    widths = [channels * growth ** i for i in range(depth)]
    for i, c in enumerate(widths):
        c_in = 1 if i == 0 else widths[i - 1]
        total += c_in * c * k + c  # strided conv
        total += embed * 2 * c + 2 * c + c  # FiLM adaptor, PReLU
        total += c * 2 * c + 2 * c  # 1×1 conv to 2C
        c_out = 1 if i == 0 else widths[i - 1]
        total += c * 2 * c * context + 2 * c  # context conv
        total += c * c_out * k + c_out  # transposed conv
        if i > 0:
            total += embed * 2 * c_out + 2 * c_out + c_out  # decoder FiLM, PReLU
    return total


@pytest.mark.parametrize("name,kernel,thesis_ms", [("wave-u-net-6-8", 8, 216.6), ("wave-u-net-6-16", 16, 464.3)])
def test_presets_sizes_and_thesis_receptive_fields(name, kernel, thesis_ms):
    m = WaveUNet(**PRESETS[name])
    n = count_parameters(m)
    assert n == _expected_params(6, 16, kernel)
    # thesis Table 6 prints "9M" for Wave-U-Net-6-16; its Wave-U-Net-6-8 figure is not legible
    if name == "wave-u-net-6-16":
        assert abs(n - 9e6) / 9e6 < 0.05
    # the thesis' receptive field is Eq. 4.14 over the encoder
    assert abs(1000 * m.encoder_receptive_field / 44100 - thesis_ms) < 0.15
    assert m.receptive_field > m.encoder_receptive_field


def test_bad_shapes_and_arguments_give_clear_errors():
    m = _small()
    x = torch.randn(2, 1, 800)
    with pytest.raises(ValueError, match=r"\(batch, 1, samples\)"):
        m(torch.randn(2, 2, 800), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(batch, 1, samples\)"):
        m(torch.randn(2, 800), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="conditioning"):
        m(x, torch.zeros(2, 25))
    with pytest.raises(ValueError, match="conditioning"):
        m(x, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="context must be odd"):
        WaveUNet(context=4)
    with pytest.raises(ValueError, match="kernel_size"):
        WaveUNet(kernel_size=2, stride=4)


def test_summary_lists_wave_u_nets(capsys):
    from dmcmodels.cli import main

    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    for name, preset in PRESETS.items():
        m = WaveUNet(**preset)
        line = next(l for l in out.splitlines() if l.lower().startswith(name))
        assert f"{count_parameters(m):,}" in line and f"{m.receptive_field:,}" in line
    assert "TCN-20" in out and "528k" in out
