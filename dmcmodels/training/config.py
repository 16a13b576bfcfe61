"""Every knob of a training run in one record; the run folder keeps it as ``config.json``.

The same convention serves every trainer of the project (effects, LA-2A, mixing): the command
line fills a :class:`TrainConfig`, the run folder records it, ``--resume`` reads it back, and the
model is rebuilt from ``model`` + ``model_args`` + ``cond_dim`` alone.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_FILE = "config.json"
KINDS = {"effect": "channel", "la2a": "la2a", "mix": "mix"}  # trainer kind -> task (dmcmodels.tasks)
MIX_TARGETS = ("mix", "dry_mix")


class ConfigError(ValueError):
    """A training configuration that cannot run (bad value, or a resume that does not match)."""


@dataclass
class TrainConfig:
    kind: str                               # "effect" | "la2a" | "mix"
    train: list[str]                        # DATA: build / synth-chain folder, manifest, or shard URLs
    val: list[str] | None = None            # DATA for validation (None: the train DATA's val split)
    select: str | None = None               # pandas query on the train manifest
    val_select: str | None = None           # pandas query on the val manifest
    model: str | None = None                # None: tcn-10 (effect, la2a) or dmc-basic (mix)
    model_args: dict = field(default_factory=dict)
    cond_dim: int | None = None             # filled in from the data
    loss: str | None = None                 # None: l1 (effect, la2a) or stereo-mrstft (mix)
    lr: float = 3e-4
    batch_size: int | None = None           # None: 8 examples (effect, la2a) or 4 songs (mix)
    accumulate: int = 1                     # batches whose gradients make one optimizer step
    max_steps: int | None = None
    max_minutes: float | None = None
    val_every: int = 100                    # steps between validations (= checkpoints)
    val_examples: int = 64                  # size of the fixed validation set
    lr_patience: int = 15                   # validations without improvement before the LR halves
    lr_factor: float = 0.5
    stop_patience: int = 40                 # validations without improvement before stopping
    patch_seconds: float | None = None      # None: from the model's receptive field (effect, la2a); 5 s (mix)
    order: str = "static"                   # generate mode: "static" | "variable"
    processors: list[str] | None = None     # generate mode: processors with random settings (None = all)
    pan_law: str = "linear"                 # generate mode
    sample_rate: int = 44100                # generate mode: the dry audio's rate (what the model runs at)
    mixup_alpha: float | None = 0.2         # la2a: Beta(α, α) mixup (None = off)
    target: str = "mix"                     # mix: the reference, "mix" or ENST's "dry_mix"
    encoder_weights: str = "msd_vgg"        # mix (DMC): msd_vgg | mtt_vgg | none
    freeze_encoder: bool = False            # mix (DMC): keep the encoder's weights fixed
    channel: str | None = None              # mix (dmc-full): dsp (default) | tcn
    channel_checkpoint: str | None = None   # mix (dmc-full --channel tcn): run folder or checkpoint
    seed: int = 0
    num_workers: int = 1
    item_shuffle_buffer: int = 256
    device: str = "auto"
    log_every: int = 10
    max_bad_steps: int = 10                 # consecutive non-finite steps that stop the run
    threads: int | None = None              # torch intra-op threads (None: torch's default)
    compile: bool = False                   # torch.compile the model for training (see benchmarks/bench_train.py)

    @property
    def task(self) -> str:
        return KINDS[self.kind]

    def check(self) -> "TrainConfig":
        if self.kind not in KINDS:
            raise ConfigError(f"unknown trainer kind {self.kind!r}; known: {list(KINDS)}")
        mixing = self.kind == "mix"
        if self.loss is None:
            self.loss = "stereo-mrstft" if mixing else "l1"
        if self.batch_size is None:
            self.batch_size = 4 if mixing else 8
        if self.model is None:
            self.model = "dmc-basic" if mixing else "tcn-10"
        positive = {"batch_size": self.batch_size, "val_every": self.val_every, "val_examples": self.val_examples,
                    "lr": self.lr, "accumulate": self.accumulate, "sample_rate": self.sample_rate, "log_every": self.log_every, "max_bad_steps": self.max_bad_steps}
        for k in ("max_steps", "max_minutes", "patch_seconds", "mixup_alpha", "threads"):
            if getattr(self, k) is not None:
                positive[k] = getattr(self, k)
        for k, v in positive.items():
            if not v > 0:
                raise ConfigError(f"--{k.replace('_', '-')} must be positive, got {v!r}")
        for k in ("lr_patience", "stop_patience", "num_workers", "item_shuffle_buffer"):
            if getattr(self, k) < 0:
                raise ConfigError(f"--{k.replace('_', '-')} must be >= 0, got {getattr(self, k)!r}")
        if not 0 < self.lr_factor < 1:
            raise ConfigError(f"lr_factor must be in (0, 1), got {self.lr_factor!r}")
        from dmcmodels.models import MIX_MODEL_NAMES, MODEL_NAMES

        names = MIX_MODEL_NAMES if mixing else MODEL_NAMES
        if self.model not in names:
            raise ConfigError(f"unknown --model {self.model!r} for `train {self.kind}`; known: {', '.join(names)}")
        if not isinstance(self.model_args, dict):
            raise ConfigError(f"--model-args must be a JSON object, got {self.model_args!r}")
        from dmcmodels.losses import LOSSES

        if self.loss not in LOSSES:
            raise ConfigError(f"unknown --loss {self.loss!r}; known: {', '.join(LOSSES)}")
        if mixing:
            self._check_mix()
        elif self.loss == "stereo-mrstft":
            raise ConfigError("--loss stereo-mrstft needs a stereo output; effect and la2a models are mono "
                              "(use l1, mrstft, l1+mrstft or l1+mrstft+mcd)")
        if self.pan_law not in ("linear", "constant_power"):
            raise ConfigError(f"--pan-law must be linear or constant_power, got {self.pan_law!r}")
        if self.order not in ("static", "variable"):
            raise ConfigError(f"--order must be static or variable, got {self.order!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if not self.train:
            raise ConfigError("--train names no data")
        return self

    def _check_mix(self) -> None:
        from dmcmodels.models.encoder import ENCODER_WEIGHTS

        if self.target not in MIX_TARGETS:
            raise ConfigError(f"--target must be one of {', '.join(MIX_TARGETS)}, got {self.target!r}")
        if self.encoder_weights not in ENCODER_WEIGHTS:
            raise ConfigError(f"--encoder-weights must be one of {', '.join(ENCODER_WEIGHTS)}, got {self.encoder_weights!r}")
        if self.model == "dmc-full":
            self.channel = self.channel or "dsp"
            if self.channel not in ("dsp", "tcn"):
                raise ConfigError(f"--channel must be dsp or tcn, got {self.channel!r}")
            if self.channel == "tcn" and not self.channel_checkpoint and "channel_model" not in self.model_args:
                raise ConfigError("--channel tcn needs --channel-checkpoint RUN: a run of `dmcmodels train effect`")
        elif self.channel is not None or self.channel_checkpoint is not None:
            raise ConfigError(f"--channel / --channel-checkpoint are for --model dmc-full, not {self.model}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"config has unknown field(s) {unknown}")
        return cls(**d)

    def save(self, run: Path) -> None:
        from dmcdata.shards import write_atomic

        write_atomic(Path(run) / CONFIG_FILE, (json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n").encode())

    @classmethod
    def load(cls, run: Path) -> "TrainConfig":
        path = Path(run) / CONFIG_FILE
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise ConfigError(f"{path}: not found; is {run} a run folder of `dmcmodels train`?") from None
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{path}: not a valid run config ({e})") from None
