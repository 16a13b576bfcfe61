"""A Conv1d with a faster CPU backward pass: :class:`FastConv1d` (same parameters, same outputs).

Where a CPU training step of the TCN goes (``torch.profiler``, TCN-10, batch 8 × 0.74 s, 2
threads): two thirds of it is ``aten::convolution_backward``, 6–8× the time of the forward
convolution of the same layer. Of the two gradients it computes, the one for the input is the
slower (oneDNN's backward-data for a dilated 1-D convolution runs far below its forward speed),
yet it is itself a forward convolution — the adjoint of a "valid" cross-correlation is a "full"
convolution with the kernel reversed:

    y[b, o, t] = Σ_i Σ_j w[o, i, j] · x[b, i, t + j·d] + bias[o]
    ∂L/∂x[b, i, s] = Σ_o Σ_j w[o, i, j] · g[b, o, s − j·d]
                  = conv1d(pad(g, (k − 1)·d on both sides), w̃; dilation d),  w̃[i, o, j] = w[o, i, k − 1 − j]

:class:`FastConv1d` computes it that way, at the forward convolution's speed, and leaves the
weight and bias gradients to ``aten::convolution_backward``. Results equal ``nn.Conv1d``'s to
float rounding (the sums run in another order; tested with ``gradcheck`` in float64);
``benchmarks/bench_train.py`` measures the step.

Used on CPU when autograd needs the input's gradient and the layer is a plain one (stride 1, no
padding, one group — every TCN layer); otherwise, on CUDA, in inference, or after
:func:`set_fast_backward` ``(False)`` it is ``nn.Conv1d`` exactly.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
import torch.nn.functional as F

_ENABLED = True


def set_fast_backward(enabled: bool) -> None:
    """Switch the faster backward on or off for every :class:`FastConv1d` (default on)."""
    global _ENABLED
    _ENABLED = bool(enabled)


@contextlib.contextmanager
def fast_backward(enabled: bool):
    """``with fast_backward(False): ...`` runs the stock ``nn.Conv1d`` backward inside the block."""
    global _ENABLED
    before, _ENABLED = _ENABLED, bool(enabled)
    try:
        yield
    finally:
        _ENABLED = before


class _FastBackward(torch.autograd.Function):
    """y = conv1d(x, w, b; dilation d) as usual; ∂L/∂x as a forward convolution (module doc)."""

    @staticmethod
    def forward(ctx, x, weight, bias, dilation):
        ctx.save_for_backward(x, weight)
        ctx.dilation, ctx.has_bias = dilation, bias is not None
        return F.conv1d(x, weight, bias, 1, 0, dilation, 1)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        d, k = ctx.dilation, weight.shape[-1]
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            # the adjoint of a valid correlation is a full convolution: pad by (k − 1)·d, flip the taps,
            # swap in and out channels
            w_adj = weight.flip(-1).transpose(0, 1).contiguous()
            # explicit zero padding: oneDNN's own (padding=(k − 1)·d) is slower at these widths
            gx = F.conv1d(F.pad(grad, ((k - 1) * d, (k - 1) * d)), w_adj, None, 1, 0, d, 1)
        need_b = ctx.has_bias and ctx.needs_input_grad[2]
        if ctx.needs_input_grad[1] or need_b:
            _, gw, gb = torch.ops.aten.convolution_backward(
                grad, x, weight, [weight.shape[0]] if ctx.has_bias else None, [1], [0], [d], False, [0], 1,
                [False, ctx.needs_input_grad[1], need_b])
        return gx, gw, gb, None


class FastConv1d(nn.Conv1d):
    """``nn.Conv1d`` (same constructor, parameters and state dict) with the faster CPU backward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (_ENABLED and x.device.type == "cpu" and torch.is_grad_enabled() and self.stride == (1,)
                and self.padding == (0,) and self.groups == 1 and x.requires_grad):
            return _FastBackward.apply(x, self.weight, self.bias, self.dilation[0])
        return super().forward(x)
