"""A Conv1d with a faster CPU backward pass: :class:`FastConv1d` (same parameters, same outputs).

Where a CPU training step of the TCN goes (``torch.profiler``, TCN-10, batch 8 × 0.74 s, 2
threads): two thirds of it is ``aten::convolution_backward``, 6–8× the time of the forward
convolution of the same layer — oneDNN's backward passes of a dilated 1-D convolution run far
below its forward speed. Both gradients have simpler forms that run at full speed:

    y[b, o, t]     = Σ_i Σ_j w[o, i, j] · x[b, i, t + j·d] + bias[o]
    ∂L/∂x[b, i, s] = Σ_o Σ_j w[o, i, j] · g[b, o, s − j·d]
                   = conv1d(pad(g, (k − 1)·d on both sides), w̃; dilation d),   w̃[i, o, j] = w[o, i, k − 1 − j]
    ∂L/∂w[o, i, j] = Σ_b (g[b] · x[b, :, j·d : j·d + T_out]ᵀ)[o, i]              (k batched matrix products)
    ∂L/∂bias[o]    = Σ_b Σ_t g[b, o, t]

the input gradient as a forward convolution (the adjoint of a "valid" cross-correlation is a
"full" convolution with the kernel reversed and in/out channels swapped), the weight gradient as
batched matrix products per tap on strided views of the saved input (no copy), blocked in time
(:data:`WEIGHT_GRAD_BLOCK` samples) so that every block of the gradient is still in cache for all k
taps. Measured per layer at the TCN's shapes (32 channels, kernel 15, 8 × 32634 samples, 2
threads): input gradient 2–5×, weight gradient ~2× faster than ``aten::convolution_backward``;
the time blocking took the weight gradient from 0.12–0.13 to 0.08 s per layer (dilations 1–512). Results equal ``nn.Conv1d``'s to float rounding
(the sums run in another order; ``gradcheck`` in float64 in the tests);
``benchmarks/bench_train.py`` measures the whole step.

Used on CPU when autograd needs a gradient and the layer is a plain one (stride 1, no padding,
one group — every TCN layer); otherwise, on CUDA, in inference, or after
:func:`fast_backward` ``(False)`` it is ``nn.Conv1d`` exactly.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
import torch.nn.functional as F

_ENABLED = True

#: Time block (samples) of the weight gradient's products (see ``_FastBackward.backward``).
WEIGHT_GRAD_BLOCK = 2048


@contextlib.contextmanager
def fast_backward(enabled: bool):
    """``with fast_backward(False): ...`` runs stock PyTorch inside the block: ``nn.Conv1d``'s own
    backward here, ``BatchNorm1d`` + FiLM as separate operations in :mod:`dmcmodels.models.film`."""
    global _ENABLED
    before, _ENABLED = _ENABLED, bool(enabled)
    try:
        yield
    finally:
        _ENABLED = before


def enabled() -> bool:
    """Whether the project's CPU training kernels are on (this module's and the FiLM layer's)."""
    return _ENABLED


class _FastBackward(torch.autograd.Function):
    """y = conv1d(x, w, b; dilation d) as usual; the gradients in the forms of the module doc."""

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
        if ctx.needs_input_grad[1]:
            # ∂L/∂w[o, i, j] = Σ_b Σ_t g[b, o, t] · x[b, i, t + j·d]: batched matrix products per tap
            # on strided views of x (no copy), blocked in time: each block of the gradient (and of x)
            # serves all k taps while it is still in cache
            n = grad.shape[-1]
            acc = grad.new_zeros(k, grad.shape[0], grad.shape[1], x.shape[1])
            for s in range(0, n, WEIGHT_GRAD_BLOCK):
                m = min(WEIGHT_GRAD_BLOCK, n - s)
                g = grad[:, :, s:s + m]
                for j in range(k):
                    acc[j].baddbmm_(g, x[:, :, s + j * d:s + j * d + m].transpose(1, 2))
            gw = acc.sum(1).permute(1, 2, 0).contiguous()
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = grad.sum(dim=(0, 2))
        return gx, gw, gb, None


class FastConv1d(nn.Conv1d):
    """``nn.Conv1d`` (same constructor, parameters and state dict) with the faster CPU backward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (_ENABLED and x.device.type == "cpu" and torch.is_grad_enabled() and self.stride == (1,)
                and self.padding == (0,) and self.groups == 1 and (x.requires_grad or self.weight.requires_grad)):
            return _FastBackward.apply(x, self.weight, self.bias, self.dilation[0])
        return super().forward(x)
