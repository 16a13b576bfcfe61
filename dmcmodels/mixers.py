"""Mixers by name or checkpoint, and their choices as mix documents (shared by ``mix`` and ``eval mix``).

- :func:`load_mixer`: ``"mono"`` / ``"random"`` (the baselines) or a run folder / checkpoint of
  ``dmcmodels train mix`` → a :class:`Mixer` (the module in eval mode, its name, sample rate, pan law).
- :func:`named_params`: a mixer's normalized choices (N, P) → one dict of named, denormalized console
  values per track (the 25 of :data:`CHANNEL_SPACE`; DMC-basic and the baselines set gain and pan,
  the rest stay neutral).
- :func:`mix_document`: those dicts + the track files → a :class:`dmcdata.console.mixfile.MixDocument`
  that ``dmcdata render`` turns back into the mixer's mix (the DMC's IR bank is the console's
  default generated bank, ``{"generated": {"n": 8, "seed": 0}}``, and its processor order the
  console's default).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dmcdata.console.mixfile import MixDocument, TrackEntry
from dmcdata.console.params import CHANNEL_SPACE, ORDERS

BASELINE_NAMES = ("mono", "random")
IR_BANK = {"generated": {"n": 8, "seed": 0}}


class MixerError(ValueError):
    """A --checkpoint / method that names no mixer (or a checkpoint of another trainer)."""


@dataclass
class Mixer:
    name: str            # "mono", "random", "dmc-basic", "dmc-full/dsp", "dmc-full/tcn", "mix-wave-u-net"
    module: nn.Module
    sample_rate: int | None  # None: any (the baselines)
    pan_law: str
    path: str | None = None  # the checkpoint file

    @property
    def has_document(self) -> bool:
        """Whether the mixer's choices are console settings (Mix-Wave-U-Net's are not)."""
        return len(getattr(self.module, "names", ())) > 0

    @property
    def exact_render(self) -> bool:
        """Whether `dmcdata render` of its document gives its mix to float tolerance (not the TCN channel)."""
        return self.has_document and not self.name.endswith("/tcn")


def load_mixer(spec: str, device="cpu", pan_law: str = "linear", seed: int = 0) -> Mixer:
    """A baseline name or a `train mix` run folder / checkpoint file → :class:`Mixer` (eval mode)."""
    from dmcmodels.models import build_mixer

    if spec in BASELINE_NAMES:
        return Mixer(spec, build_mixer(spec, pan_law=pan_law, seed=seed).eval(), None, pan_law)
    from dmcmodels.training.checkpoint import CheckpointError, load_model

    try:
        model, cfg, state = load_model(spec, device=device)
    except CheckpointError as e:
        raise MixerError(f"{e} (or name a baseline: {', '.join(BASELINE_NAMES)})") from None
    if cfg.kind != "mix":
        raise MixerError(f"{state['path']}: a `train {cfg.kind}` checkpoint, not a mixer from `dmcmodels train mix`")
    name = cfg.model + (f"/{cfg.channel}" if cfg.model == "dmc-full" else "")
    return Mixer(name, model, cfg.sample_rate, cfg.pan_law, state["path"])


def named_params(mixer: Mixer, params: torch.Tensor) -> list[dict]:
    """(N, P) normalized choices → N dicts of the 25 named console values (ints for discrete ones)."""
    full = mixer.module.full_vector(params.detach().float().cpu())
    return [CHANNEL_SPACE.denormalize(row.double().numpy()) for row in full]


def mix_document(files, names, params: list[dict], sample_rate: int, pan_law: str, comment: str | None = None,
                 base: Path | None = None) -> MixDocument:
    """A mix document of ``files`` (made relative to ``base`` when given) with ``params`` per track."""
    tracks = []
    for f, n, p in zip(files, names, params):
        f = Path(f)
        if base is not None:
            try:
                f = f.resolve().relative_to(Path(base).resolve())
            except ValueError:
                import os

                f = Path(os.path.relpath(f.resolve(), Path(base).resolve()))
        tracks.append(TrackEntry(file=f.as_posix(), params=dict(p), name=n))
    return MixDocument(sample_rate=int(sample_rate), tracks=tracks, pan_law=pan_law, order=ORDERS[0],
                       ir_bank=dict(IR_BANK), comment=comment)
