"""Run folders and checkpoints, shared by every trainer.

A run folder::

    RUN/config.json            every knob (TrainConfig); rebuilds the model without flags
    RUN/checkpoints/last.pt    the latest state: model, optimizer, scheduler, loader position,
                               RNG states, step, early-stopping counters (what --resume reads)
    RUN/checkpoints/best.pt    the state with the lowest validation loss so far
    RUN/metrics.csv            one row per log interval / validation
    RUN/events.*               TensorBoard events (when tensorboard is installed)

Checkpoints are written atomically (``dmcdata.shards.write_atomic``): a killed run leaves the
previous file whole. Everything that takes ``--checkpoint`` accepts a run folder (its best
checkpoint, else its last) or a checkpoint file: :func:`resolve`.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from dmcdata.shards import write_atomic

CKPT_DIR = "checkpoints"
LAST, BEST = "last.pt", "best.pt"


class CheckpointError(ValueError):
    """A checkpoint path that names no checkpoint, or a file that is not one of ours."""


def save(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(path, buf.getvalue())


def resolve(path) -> Path:
    """A run folder → its best checkpoint (else last); a file → itself."""
    p = Path(path)
    if p.is_dir():
        for name in (BEST, LAST):
            c = p / CKPT_DIR / name
            if c.is_file():
                return c
        raise CheckpointError(f"{p}: a folder without {CKPT_DIR}/{BEST} or {CKPT_DIR}/{LAST}; is it a run "
                              f"folder of `dmcmodels train`, and has it reached its first validation?")
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file or run folder")
    return p


def load(path, map_location="cpu") -> dict:
    """The checkpoint at ``path`` (run folder or file), checked to be a dmcmodels checkpoint."""
    p = resolve(path)
    try:
        state = torch.load(p, map_location=map_location, weights_only=False)
    except Exception as e:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(f"{p}: cannot read checkpoint ({e})") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{p}: not a dmcmodels checkpoint (no model/config entries)")
    state["path"] = str(p)
    return state


def load_model(path, device="cpu"):
    """(model in eval mode, TrainConfig, checkpoint dict) from a run folder or checkpoint file."""
    from dmcmodels.training.config import TrainConfig
    from dmcmodels.training.setup import build

    state = load(path)
    cfg = TrainConfig.from_dict(state["config"])
    model = build(cfg)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), cfg, state
