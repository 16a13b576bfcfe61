"""What a neural effect model learns: the part of the console channel it stands in for.

Two tasks share one trainer, one evaluation and one block processor; each turns a batch of the
streaming datasets into ``(model input, conditioning, target)`` and, after the network, turns the
network's mono output back into what the user hears.

**channel** (``dmcmodels train effect``; thesis §4, DESIGN §2). The console channel is
gain → polarity → [EQ, compressor, reverb in one of 6 orders] → pan. Gain, polarity and pan are
a multiplication each, and the thesis' DMC applies them exactly; only the middle part is worth a
network. So the network models the *processor block* P (mono in, mono out):

    x_in     = 10^(g/20) · (−1)^p · x                        gain and polarity, applied exactly
    y_mono   = P(x_in; EQ, compressor, reverb settings)      the network's job
    (L, R)   = (a_L · y_mono, a_R · y_mono)                  pan, applied exactly

with (a_L, a_R) the pan law's gains (linear: (1 − θ, θ); constant power: (cos θπ/2, sin θπ/2)).
The target needs no second console run: every example already holds the stereo target (L, R)
of the whole channel, and since a_L + a_R ≥ 1 for both laws,

    y_mono = (L + R) / (a_L + a_R)                           (exact up to float rounding)

The gain sits before the compressor, so the network must see x_in, not x: the same EQ and
compressor settings do different things at different input levels. The conditioning is the
example's whole normalized vector as the thesis used it — 25 values (static order) or 31 (with
the order one-hot), gain, polarity and pan included (they are redundant for the network, which
sees their effect in x_in, and keep the vector the data pipeline writes usable as is).

**la2a** (``dmcmodels train la2a``; thesis §4.5): the SignalTrain LA-2A pairs as they are —
input (1, T) → target (1, T), conditioning the two knobs [limit 0|1, peak reduction / 100].

**mix** (``dmcmodels train mix``; thesis §5): a mixer (:mod:`dmcmodels.models.dmc`) takes a batch
of songs, tracks (B, N, T) with a mask of the real ones (``MultitrackDataset`` + ``pad_tracks``),
and returns the stereo mix (B, 2, T), compared with the reference mix (B, 2, T).
"""

from __future__ import annotations

import math

import torch

from dmcdata.console.params import CHANNEL_SPACE

TASKS = ("channel", "la2a", "mix")
PAN_LAWS = ("linear", "constant_power")

_GAIN = CHANNEL_SPACE["gain_db"]
_POL = CHANNEL_SPACE["polarity"]
_PAN = CHANNEL_SPACE["pan"]
I_GAIN, I_POL, I_PAN = (CHANNEL_SPACE.names.index(n) for n in ("gain_db", "polarity", "pan"))


def _denorm(v: torch.Tensor, p) -> torch.Tensor:
    """x = min + (v + 1)·(max − min)/2, computed in float64 (DESIGN §2's normalization)."""
    return p.min + (v.double().clamp(-1.0, 1.0) + 1.0) * (p.max - p.min) / 2.0


def input_gain(cond: torch.Tensor) -> torch.Tensor:
    """(B,) the linear factor 10^(g/20)·(−1)^p that gain and polarity apply, from normalized params."""
    g = torch.pow(10.0, _denorm(cond[:, I_GAIN], _GAIN) / 20.0)
    flip = torch.round(_denorm(cond[:, I_POL], _POL)) >= 1.0
    return torch.where(flip, -g, g)


def pan_gains(cond: torch.Tensor, pan_law) -> tuple[torch.Tensor, torch.Tensor]:
    """(a_L, a_R), each (B,) float64, for the pan values in ``cond`` under ``pan_law`` (a name or one per example)."""
    theta = _denorm(cond[:, I_PAN], _PAN)
    laws = [pan_law] * cond.shape[0] if isinstance(pan_law, str) else list(pan_law)
    if len(laws) != cond.shape[0]:
        raise ValueError(f"{len(laws)} pan laws for a batch of {cond.shape[0]}")
    unknown = sorted(set(laws) - set(PAN_LAWS))
    if unknown:
        raise ValueError(f"unknown pan law(s) {unknown}; known: {list(PAN_LAWS)}")
    cp = torch.tensor([law == "constant_power" for law in laws], device=cond.device)
    left = torch.where(cp, torch.cos(theta * math.pi / 2.0), 1.0 - theta)
    right = torch.where(cp, torch.sin(theta * math.pi / 2.0), theta)
    return left, right


def channel_input(x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """(B, 1, T) dry audio → gain and polarity applied exactly (the network's input)."""
    return (x.double() * input_gain(cond)[:, None, None]).to(x.dtype)


def channel_target(stereo: torch.Tensor, cond: torch.Tensor, pan_law) -> torch.Tensor:
    """(B, 2, T) stereo channel output → (B, 1, T) processor-block output y = (L + R)/(a_L + a_R)."""
    if stereo.ndim != 3 or stereo.shape[1] != 2:
        raise ValueError(f"channel target must be (batch, 2, samples), got {tuple(stereo.shape)}")
    left, right = pan_gains(cond, pan_law)
    return (stereo.double().sum(dim=1, keepdim=True) / (left + right)[:, None, None]).to(stereo.dtype)


def channel_output(y_mono: torch.Tensor, cond: torch.Tensor, pan_law) -> torch.Tensor:
    """(B, 1, T) network output → (B, 2, T) stereo: the pan applied exactly."""
    left, right = pan_gains(cond, pan_law)
    y = y_mono.double()
    return torch.cat([y * left[:, None, None], y * right[:, None, None]], dim=1).to(y_mono.dtype)


def prepare(task: str, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch of the streaming datasets → (model input (B,1,T), conditioning (B,C), target (B,1,T))."""
    x, cond, y = batch["input"], batch["params"], batch["target"]
    if task == "channel":
        return channel_input(x, cond), cond, channel_target(y, cond, batch.get("pan_law", "linear"))
    if task == "la2a":
        return x, cond, y
    raise ValueError(f"unknown task {task!r}; known: {list(TASKS)}")


def predict(model, task: str, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(model input, target, output), input and target centre-cropped to the output's span: what
    the trainer's loss and the evaluation's metrics compare, sample-aligned."""
    from dmcmodels.models.tcn import center_crop

    if task == "mix":
        return batch["tracks"], batch["mix"], model(batch["tracks"], batch["track_mask"])["mix"]
    x, cond, y = prepare(task, batch)
    out = model(x, cond)
    n = out.shape[-1]
    return center_crop(x, n), center_crop(y, n), out
