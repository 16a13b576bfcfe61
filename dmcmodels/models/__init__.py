"""Torch models: the FiLM-conditioned effect networks (TCN, Wave-U-Net) and their building blocks.

Every effect network takes mono audio (B, 1, n) and a conditioning vector (B, cond_dim) and
returns (B, 1, output_length(n)), aligned with the centre of its input
(:func:`dmcmodels.models.tcn.center_crop`); ``receptive_field`` says how much context one output
sample needs and ``stride`` by how many samples an input may be shifted for the output to shift
by the same amount (1 for the TCN). The trainer, the evaluation and ``dmcmodels process`` rely on
nothing else.

:func:`build_model` makes one by name (``MODEL_NAMES``) with optional keyword overrides; the
``(name, kwargs)`` pair is what a run's ``config.json`` records.
"""

from __future__ import annotations

from torch import nn

TCN_PRESETS = {"tcn-10": 1, "tcn-20": 2, "tcn-30": 3}
WAVE_U_NET_PRESETS = ("wave-u-net", "wave-u-net-6-8", "wave-u-net-6-16")
MODEL_NAMES = tuple(TCN_PRESETS) + WAVE_U_NET_PRESETS
MIX_MODEL_NAMES = ("dmc-basic", "dmc-full", "mix-wave-u-net")  # mixers: dmcmodels.models.dmc


def build_model(name: str, cond_dim: int, **kwargs) -> nn.Module:
    """The effect network ``name`` (see ``MODEL_NAMES``) for a conditioning of ``cond_dim`` values.

    ``kwargs`` override the preset's constructor arguments (e.g. ``channels=8`` for a tiny model).
    """
    if name in TCN_PRESETS:
        from dmcmodels.models.tcn import TCN

        args = {"stacks": TCN_PRESETS[name], **kwargs}
        return TCN(cond_dim=cond_dim, **args)
    if name in WAVE_U_NET_PRESETS:
        from dmcmodels.models.wave_u_net import PRESETS, WaveUNet

        preset = "wave-u-net-6-16" if name == "wave-u-net" else name
        args = {**PRESETS[preset], **kwargs}
        return WaveUNet(cond_dim=cond_dim, **args)
    if name in MIX_MODEL_NAMES:
        return build_mixer(name, **kwargs)
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")


def build_mixer(name: str, **kwargs) -> nn.Module:
    """A mixer (``MIX_MODEL_NAMES`` or a baseline, ``mono`` / ``random``) with its constructor arguments.

    ``dmc-full`` takes ``channel`` = "dsp" (default) or "tcn"; for "tcn", ``channel_model`` is the
    spec ``{"model", "model_args", "cond_dim"}`` of the frozen network (its weights come from the
    DMC's checkpoint, or :func:`dmcmodels.models.dmc` callers load them).
    """
    from dmcmodels.models.baselines import MonoMix, RandomMix
    from dmcmodels.models.dmc import DMC
    from dmcmodels.models.mix_wave_u_net import MixWaveUNet

    kwargs = dict(kwargs)
    if name == "dmc-basic":
        if kwargs.pop("channel", "gain-pan") != "gain-pan":
            raise ValueError("dmc-basic has the gain-pan channel only (use dmc-full for --channel dsp|tcn)")
        return DMC(channel="gain-pan", **kwargs)
    if name == "dmc-full":
        channel = kwargs.pop("channel", "dsp")
        if channel not in ("dsp", "tcn"):
            raise ValueError(f"dmc-full's --channel must be dsp or tcn, got {channel!r}")
        spec = kwargs.pop("channel_model", None)
        if channel == "tcn":
            if not spec:
                raise ValueError("dmc-full --channel tcn needs a trained channel (--channel-checkpoint RUN)")
            kwargs["channel_model"] = build_model(spec["model"], spec["cond_dim"], **spec.get("model_args", {}))
            kwargs["channel_cond_dim"] = spec["cond_dim"]
        return DMC(channel=channel, **kwargs)
    if name == "mix-wave-u-net":
        for k in ("sample_rate", "pan_law"):
            kwargs.pop(k, None)
        return MixWaveUNet(**kwargs)
    if name == "mono":
        return MonoMix(pan_law=kwargs.get("pan_law", "linear"))
    if name == "random":
        return RandomMix(pan_law=kwargs.get("pan_law", "linear"), seed=kwargs.get("seed", 0))
    raise ValueError(f"unknown mixer {name!r}; known: {', '.join(MIX_MODEL_NAMES + ('mono', 'random'))}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_stride(model: nn.Module) -> int:
    """Shift granularity of ``model`` (1 for shift-equivariant networks such as the TCN)."""
    return int(getattr(model, "stride", 1))
