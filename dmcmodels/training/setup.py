"""A run's model from its config: the architecture (``build``) and, for a new run, its pretrained parts.

Construction never downloads or reads other runs: ``build(cfg)`` makes the architecture from
``config.json`` alone, so a checkpoint can always be loaded. A *new* mixing run then fills in its
pretrained parts (``init_pretrained``): the DMC encoder from ``msd_vgg`` / ``mtt_vgg`` (fetched
from the package index on first use) and DMC-full's frozen neural channel from
``--channel-checkpoint``; both end up in the run's own checkpoints.
"""

from __future__ import annotations

from torch import nn

from dmcmodels.models import build_model
from dmcmodels.training.checkpoint import CheckpointError
from dmcmodels.training.config import ConfigError, TrainConfig


def channel_spec(cfg: TrainConfig) -> dict | None:
    """The frozen channel network's spec ``{"model", "model_args", "cond_dim"}`` from
    ``--channel-checkpoint`` (checked: an ``effect`` run at the data's sample rate), else None."""
    if cfg.kind != "mix" or cfg.model != "dmc-full" or cfg.channel != "tcn":
        return None
    from dmcmodels.training.checkpoint import load

    state = load(cfg.channel_checkpoint)
    ch = TrainConfig.from_dict(state["config"])
    if ch.kind != "effect":
        raise ConfigError(f"--channel-checkpoint {cfg.channel_checkpoint}: a `train {ch.kind}` run, not a "
                          f"`train effect` channel model")
    if ch.sample_rate != cfg.sample_rate:
        raise ConfigError(f"--channel-checkpoint {cfg.channel_checkpoint} runs at {ch.sample_rate} Hz, the "
                          f"multitracks at {cfg.sample_rate} Hz")
    return {"model": ch.model, "model_args": dict(ch.model_args), "cond_dim": int(ch.cond_dim),
            "checkpoint": state["path"]}


def model_kwargs(cfg: TrainConfig) -> dict:
    """Constructor arguments of the run's model (effect models: ``model_args``; mixers: plus the
    run's sample rate, pan law, encoder and channel settings)."""
    if cfg.kind != "mix":
        return dict(cfg.model_args)
    kw = dict(cfg.model_args)
    if cfg.model in ("dmc-basic", "dmc-full"):
        kw.setdefault("sample_rate", cfg.sample_rate)
        kw.setdefault("pan_law", cfg.pan_law)
        kw.setdefault("trainable_encoder", not cfg.freeze_encoder)
    if cfg.model == "dmc-full":
        kw["channel"] = cfg.channel or "dsp"
    spec = kw.get("channel_model")
    if spec is not None:
        kw["channel_model"] = {k: spec[k] for k in ("model", "model_args", "cond_dim")}
    return kw


def build(cfg: TrainConfig) -> nn.Module:
    try:
        return build_model(cfg.model, cfg.cond_dim, **model_kwargs(cfg))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"--model {cfg.model} with {model_kwargs(cfg)}: {e}") from None


def init_pretrained(model: nn.Module, cfg: TrainConfig) -> None:
    """Load a new mixing run's pretrained encoder and frozen channel (see the module doc)."""
    if cfg.kind != "mix":
        return
    if hasattr(model, "encoder") and cfg.encoder_weights != "none":
        from dmcmodels.models.encoder import load_vgg_weights

        load_vgg_weights(model.encoder.vgg, cfg.encoder_weights)
    spec = cfg.model_args.get("channel_model")
    if spec is not None and hasattr(model, "channel") and hasattr(model.channel, "model"):
        from dmcmodels.training.checkpoint import load

        try:
            model.channel.model.load_state_dict(load(spec["checkpoint"])["model"])
        except (KeyError, RuntimeError) as e:
            raise CheckpointError(f"{spec.get('checkpoint')}: does not fit the channel network ({e})") from None
