"""The console channel strip as a differentiable, batched torch module (the exact twin).

Signal flow, as :class:`dmcdata.console.ChannelStrip`::

    gain → polarity → [EQ, compressor, reverb in one of the 6 orders] → pan

``ChannelTwin(x, v)``: x (tracks, samples) mono, v (tracks, 25) the console's normalized vector
(:data:`CHANNEL_SPACE` order; see :mod:`dmcmodels.twin.space`) → (tracks, 2, samples); a mix is
the sum over tracks (:meth:`ChannelTwin.mix`). Parameter names, ranges and neutral values all come
from the console's :class:`ParameterSpace`.

Numerics: the recursions run in float64 (numba), like the console's; for float32 audio the twin
also keeps the console's float32 storage (each stage's output rounded to float32, gradient straight
through) and its float32 FFT reverb, because a compressor after a reverb can turn the console's
float32 rounding noise (1e−7 of a loud input) into 1e−5 of a heavily reduced output. float64 audio
is float64 throughout. The output is cast back to x's dtype. For random settings in all 6 orders and both pan laws the
float32 output equals ``ChannelStrip.process`` within 1e−5 of the peak (tests/test_twin_channel.py).

Gradients reach x and every continuous parameter. ``polarity`` and ``reverb.ir`` are discrete
and rounded as the console rounds them: zero gradient (see docs/differentiable-console.md for
how ``dmcmodels fit`` searches them). ``surrogate_knee_db``: see
:mod:`dmcmodels.twin.compressor` (backward-only soft knee; None = true gradient).

Gain: y = ±10^(g/20)·x. Pan: linear L = (1 − θ)x, R = θx (thesis) or constant power
L = cos(θπ/2)x, R = sin(θπ/2)x.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dmcdata.console.ir import IRBank
from dmcdata.console.pan import check_pan_law
from dmcdata.console.params import CHANNEL_SPACE, DEFAULT_N_IRS, ORDERS, channel_space, check_order
from dmcmodels.twin.compressor import apply_compressor
from dmcmodels.twin.eq import apply_eq
from dmcmodels.twin.reverb import TorchIRBank, apply_reverb
from dmcmodels.twin.space import SpaceTensors, denormalize, params_to_vector


def round_float32(x: torch.Tensor) -> torch.Tensor:
    """x rounded to float32 values (kept float64); the gradient passes straight through."""
    return x + (x.detach().to(torch.float32).to(torch.float64) - x.detach())


def apply_gain(x: torch.Tensor, p: dict, console_float32: bool = False) -> torch.Tensor:
    """y = s·10^(g/20)·x, s = −1 when ``polarity`` = 1 (rounded; no gradient to it).

    ``console_float32``: the factor rounded to float32 first, as the console multiplies."""
    sign = 1.0 - 2.0 * p["polarity"].detach()
    g = sign * torch.pow(10.0, p["gain_db"] / 20.0)
    if console_float32:
        g = round_float32(g)
    return x.to(torch.float64) * g[:, None]


def pan_gains(theta: torch.Tensor, law: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(left, right) gains (B,) for pan θ (B,) ∈ [0, 1] under ``law``."""
    if law == "linear":
        return 1.0 - theta, theta
    return torch.cos(theta * (math.pi / 2.0)), torch.sin(theta * (math.pi / 2.0))


def apply_pan(y: torch.Tensor, theta: torch.Tensor, law: str) -> torch.Tensor:
    """Mono (B, n) → stereo (B, 2, n)."""
    gl, gr = pan_gains(theta, law)
    return torch.stack([gl[:, None] * y, gr[:, None] * y], dim=1)


def resolve_orders(order, n_tracks: int, default) -> list[tuple]:
    """None, one order, a list of one order per track, or a (tracks, 6) one-hot → a list of orders."""
    if order is None:
        return [default] * n_tracks
    if isinstance(order, torch.Tensor):
        if order.shape != (n_tracks, len(ORDERS)):
            raise ValueError(f"order one-hot must have shape ({n_tracks}, {len(ORDERS)}), got {tuple(order.shape)}")
        return [ORDERS[i] for i in order.argmax(dim=1).tolist()]
    order = list(order)
    if order and all(isinstance(o, str) for o in order):
        return [check_order(order)] * n_tracks
    if len(order) != n_tracks:
        raise ValueError(f"{n_tracks} tracks but {len(order)} orders")
    return [check_order(o) for o in order]


class ChannelTwin(nn.Module):
    """The differentiable twin of ``ChannelStrip(sample_rate, ir_bank, pan_law, order)``.

    ``ir_bank``: the reverb's :class:`IRBank` (None: ``IRBank.generate(sample_rate)``, built on
    first use, as the console does). ``surrogate_knee_db``: None (true gradient) or the width in
    dB of the compressor's backward-only soft knee. ``precision``: "console" rounds the signal to
    float32 after every stage (gradient straight through), multiplies by the float32 gain factor
    and convolves with the console's float32 FFT code, as the console does; "float64" keeps
    everything float64 (smooth in every input: what ``gradcheck`` needs); "auto" (default) is
    "console" for float32 audio and "float64" for float64 audio.
    """

    def __init__(self, sample_rate: int, ir_bank: IRBank | None = None, pan_law: str = "linear",
                 order=ORDERS[0], surrogate_knee_db: float | None = None, precision: str = "auto"):
        super().__init__()
        if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive whole number of Hz, got {sample_rate!r}")
        self.sample_rate = int(sample_rate)
        if ir_bank is not None and ir_bank.sample_rate != self.sample_rate:
            raise ValueError(f"IR bank sample rate {ir_bank.sample_rate} Hz differs from the channel sample rate {self.sample_rate} Hz")
        self._bank = ir_bank
        self._tbank = None
        self.pan_law = check_pan_law(pan_law)
        self.order = check_order(order)
        self.surrogate_knee_db = surrogate_knee_db
        if precision not in ("auto", "console", "float64"):
            raise ValueError(f"precision must be 'auto', 'console' or 'float64', got {precision!r}")
        self.precision = precision
        n_irs = DEFAULT_N_IRS if ir_bank is None else len(ir_bank)
        self.space = CHANNEL_SPACE if n_irs == DEFAULT_N_IRS else channel_space(n_irs)
        self.st = SpaceTensors(self.space)

    @property
    def ir_bank(self) -> IRBank:
        if self._bank is None:
            self._bank = IRBank.generate(self.sample_rate)
        return self._bank

    @property
    def torch_bank(self) -> TorchIRBank:
        if self._tbank is None:
            self._tbank = TorchIRBank(self.ir_bank)
        return self._tbank

    # -- parameters --------------------------------------------------------------------------
    def vector(self, params) -> torch.Tensor:
        """Named values (a dict or a list of dicts) → float64 normalized vectors (B, 25)."""
        return params_to_vector(params, self.st)

    def named(self, v: torch.Tensor) -> dict:
        """(B, 25) normalized → name → (B,) float64 tensors (differentiable in continuous columns)."""
        x = denormalize(v, self.st)
        return {n: x[:, i] for i, n in enumerate(self.st.names)}

    # -- processing --------------------------------------------------------------------------
    def _check(self, x: torch.Tensor, v: torch.Tensor) -> None:
        if x.ndim != 2:
            raise ValueError(f"audio must have shape (tracks, samples), got {tuple(x.shape)}")
        if x.device.type != "cpu" or v.device.type != "cpu":
            raise ValueError("the twin runs on the CPU (its recursions are numba kernels): move the audio and "
                             f"parameters to the CPU (got {x.device} and {v.device})")
        if v.ndim != 2 or v.shape != (x.shape[0], len(self.st)):
            raise ValueError(f"normalized parameters must have shape ({x.shape[0]}, {len(self.st)}), got {tuple(v.shape)}")

    def _chain(self, y: torch.Tensor, p: dict, order, ir_weights) -> torch.Tensor:
        f32 = self.precision == "console" or (self.precision == "auto" and y.dtype != torch.float64)
        rnd = round_float32 if f32 else (lambda t: t)
        y = rnd(apply_gain(y, p, f32))
        for name in order:
            if name == "eq":
                y = apply_eq(y, p, self.sample_rate)
            elif name == "compressor":
                y = apply_compressor(y, p, self.sample_rate, self.surrogate_knee_db)
            else:
                y = apply_reverb(y, p, self.torch_bank, ir_weights, f32)
            y = rnd(y)
        return y

    def mono(self, x: torch.Tensor, v: torch.Tensor, order=None, ir_weights=None) -> torch.Tensor:
        """Everything before the pan: (B, n), (B, 25) → float64 (B, n)."""
        self._check(x, v)
        p = self.named(v)
        orders = resolve_orders(order, x.shape[0], self.order)
        groups: dict = {}
        for i, o in enumerate(orders):
            groups.setdefault(o, []).append(i)
        if len(groups) == 1:
            return self._chain(x, p, orders[0], ir_weights)
        outs, pos = [], []
        for o, ids in groups.items():
            sel = torch.tensor(ids)
            sub = {k: t[sel] for k, t in p.items()}
            outs.append(self._chain(x[sel], sub, o, None if ir_weights is None else ir_weights[sel]))
            pos += ids
        inverse = torch.empty(len(pos), dtype=torch.long)
        inverse[torch.tensor(pos)] = torch.arange(len(pos))
        return torch.cat(outs)[inverse]

    def forward(self, x: torch.Tensor, v: torch.Tensor, order=None, ir_weights=None) -> torch.Tensor:
        """(tracks, n) mono, (tracks, 25) normalized → (tracks, 2, n) in x's dtype.

        ``order``: None (the twin's), one order, one per track, or a (tracks, 6) one-hot.
        ``ir_weights``: optional (tracks, n_irs) convex weights replacing ``reverb.ir``.
        """
        y = self.mono(x, v, order, ir_weights)
        theta = denormalize(v, self.st)[:, self.st.index["pan"]]
        return apply_pan(y, theta, self.pan_law).to(x.dtype)

    def mix(self, x: torch.Tensor, v: torch.Tensor, order=None, ir_weights=None) -> torch.Tensor:
        """The stereo mix (2, n): the sum of the channels."""
        return self.forward(x, v, order, ir_weights).sum(dim=0)
