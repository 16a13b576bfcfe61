"""The project's CPU training kernels: FastConv1d has the same gradients as nn.Conv1d (its faster
backward is the exact adjoint); the fused BatchNorm + FiLM equals the separate stock operations."""

import pytest
import torch
from torch import nn

from dmcmodels.models import conv
from dmcmodels.models.conv import FastConv1d, _FastBackward, fast_backward
from dmcmodels.models.film import FiLM, _NormFiLM


@pytest.mark.parametrize("cin,cout,k,d,bias", [(1, 4, 3, 1, True), (3, 5, 15, 4, True), (4, 2, 5, 16, False),
                                               (6, 6, 1, 1, True)])
@pytest.mark.parametrize("block", [2048, 7])  # 7: the weight gradient in many time blocks and a remainder
def test_gradients_equal_nn_conv1d(cin, cout, k, d, bias, block, monkeypatch):
    monkeypatch.setattr(conv, "WEIGHT_GRAD_BLOCK", block)
    torch.manual_seed(0)
    fast = FastConv1d(cin, cout, k, dilation=d, bias=bias)
    ref = nn.Conv1d(cin, cout, k, dilation=d, bias=bias)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(3, cin, 40 + (k - 1) * d)
    g = torch.randn(3, cout, 40)
    grads = []
    for m in (fast, ref):
        xi = x.clone().requires_grad_()
        y = m(xi)
        (y * g).sum().backward()
        grads.append((y.detach(), xi.grad, m.weight.grad, m.bias.grad if bias else None))
    (yf, xf, wf, bf), (yr, xr, wr, br) = grads
    assert torch.equal(yf, yr)  # the forward is nn.Conv1d's own
    torch.testing.assert_close(xf, xr, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(wf, wr, rtol=1e-5, atol=1e-5)
    if bias:
        torch.testing.assert_close(bf, br, rtol=1e-5, atol=1e-5)


def test_the_input_gradient_is_the_exact_adjoint_gradcheck():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 30, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: _FastBackward.apply(x, w, b, 3), (x, w, b))


def test_other_layers_and_the_switch_take_the_stock_path():
    torch.manual_seed(2)
    strided = FastConv1d(2, 2, 3, stride=2)
    x = torch.randn(1, 2, 20, requires_grad=True)
    assert strided(x).grad_fn.name() != "_FastBackwardBackward"
    plain = FastConv1d(2, 2, 3)
    assert plain(x).grad_fn.name() == "_FastBackwardBackward"
    with fast_backward(False):
        assert plain(x).grad_fn.name() != "_FastBackwardBackward"
    with torch.no_grad():
        assert plain(x).grad_fn is None
    assert plain(x).grad_fn.name() == "_FastBackwardBackward"  # switched back on after the block


def test_fused_norm_film_equals_batchnorm_then_film():
    torch.manual_seed(3)
    fused, stock = FiLM(5, embed_dim=6).train(), FiLM(5, embed_dim=6).train()
    stock.load_state_dict(fused.state_dict())
    x, e, g = torch.randn(3, 5, 50) * 4 + 1, torch.randn(3, 6), torch.randn(3, 5, 50)
    results = []
    for m, on in ((fused, True), (stock, False)):
        xi, ei = x.clone().requires_grad_(), e.clone().requires_grad_()
        with fast_backward(on):
            for _ in range(2):  # twice: the running statistics move the same way
                y = m(xi, ei)
            (y * g).sum().backward()
        results.append((y.detach(), xi.grad, ei.grad, m.adaptor.weight.grad, m.norm.running_mean.clone(),
                        m.norm.running_var.clone(), m.norm.num_batches_tracked.clone()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    fused.eval()  # inference uses the running statistics: the stock path, identical modules
    stock.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(x, e), stock(x, e))


def test_fused_norm_film_gradcheck():
    torch.manual_seed(4)
    x = torch.randn(2, 3, 9, dtype=torch.float64, requires_grad=True)
    gamma = (torch.rand(2, 3, dtype=torch.float64) + 0.5).requires_grad_()
    beta = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, gm, bt: _NormFiLM.apply(x, gm, bt, 1e-5)[0], (x, gamma, beta))
