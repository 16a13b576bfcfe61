"""FastConv1d: the same gradients as nn.Conv1d (its faster CPU backward is the exact adjoint)."""

import pytest
import torch
from torch import nn

from dmcmodels.models.conv import FastConv1d, _FastBackward, fast_backward


@pytest.mark.parametrize("cin,cout,k,d,bias", [(1, 4, 3, 1, True), (3, 5, 15, 4, True), (4, 2, 5, 16, False),
                                               (6, 6, 1, 1, True)])
def test_gradients_equal_nn_conv1d(cin, cout, k, d, bias):
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
