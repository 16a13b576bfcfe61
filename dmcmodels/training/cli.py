"""``dmcmodels train KIND``: train a model into a run folder (the project's one trainer convention).

KIND: effect — a neural console channel (EQ → compressor → reverb, conditioned on the 25/31
normalized parameters; gain, polarity and pan applied exactly: dmcmodels/tasks.py);
la2a — the SignalTrain LA-2A compressor, conditioned on its two knobs;
mix — a mixer (DMC-basic, DMC-full, Mix-Wave-U-Net) from multitrack builds and their reference mixes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dmcmodels.models import MIX_MODEL_NAMES, MODEL_NAMES
from dmcmodels.training.config import KINDS, ConfigError, TrainConfig

EXAMPLES = """examples:
  dmcmodels train effect --train shards/chain --val shards/medleydb --out runs/tcn10 --max-minutes 15
  dmcmodels train effect --train shards/medleydb --out runs/fly --model tcn-20      # on-the-fly examples
  dmcmodels train la2a --train shards/signaltrain --out runs/la2a --max-steps 2000
  dmcmodels train effect --out runs/tcn10 --resume --max-steps 5000                  # continue a run
  dmcmodels train mix --train shards/medleydb --select "n_tracks <= 16 and split == 'train'" --out runs/dmc
  dmcmodels train mix --model dmc-full --channel dsp --train shards/medleydb --out runs/dmc-full
  dmcmodels train mix --model dmc-full --channel tcn --channel-checkpoint runs/tcn10 --train ... --out ...
  dmcmodels train mix --train shards/enst --target dry_mix --out runs/enst-basic   # ENST: the dry mix
  torchrun --nproc_per_node 2 -m dmcmodels.cli train effect --train ... --out ...    # DDP, one rank per process
  dmcmodels train effect --train ... --out ... --ray-workers 4 --ray-address auto    # the same, ranks on Ray
"""

def json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object such as '{\"channels\": 8}'")
    return value


# option -> (TrainConfig field, type, help); defaults come from TrainConfig
OPTIONS = {
    "--train": ("train", str, "DATA to train on: a build or synth-chain folder, a manifest.parquet, or shard URLs "
                              "(several allowed); with a split column, split == 'train' is used"),
    "--val": ("val", str, "DATA for the fixed validation set (default: the --train DATA's 'val' split)"),
    "--select": ("select", str, "pandas query on the training manifest, e.g. \"n_tracks <= 8 and split == 'train'\""),
    "--val-select": ("val_select", str, "pandas query on the validation manifest"),
    "--model": ("model", str, f"effect / la2a: {', '.join(MODEL_NAMES)} (default tcn-10); "
                              f"mix: {', '.join(MIX_MODEL_NAMES)} (default dmc-basic)"),
    "--model-args": ("model_args", json_object, "JSON object of constructor overrides, e.g. '{\"channels\": 8}'"),
    "--loss": ("loss", str, "training loss: l1, mrstft, l1+mrstft, l1+mrstft+mcd, stereo-mrstft (default: l1 for effect / la2a, "
                            "stereo-mrstft for mix, the thesis')"),
    "--lr": ("lr", float, "Adam learning rate (default 3e-4)"),
    "--batch-size": ("batch_size", int, "examples (mix: songs) per batch and rank (default 8; mix 4)"),
    "--accumulate": ("accumulate", int, "batches whose gradients are summed into one optimizer step (default 1)"),
    "--max-steps": ("max_steps", int, "stop after this many optimizer steps (default: no limit)"),
    "--max-minutes": ("max_minutes", float, "stop after this many minutes of this invocation (default: no limit)"),
    "--val-every": ("val_every", int, "steps between validations, each writes checkpoints/last.pt (default 100)"),
    "--val-examples": ("val_examples", int, "size of the fixed validation set (default 64)"),
    "--lr-patience": ("lr_patience", int, "validations without improvement before the LR halves (default 15)"),
    "--stop-patience": ("stop_patience", int, "validations without improvement before early stopping (default 40)"),
    "--patch-seconds": ("patch_seconds", float, "patch length (default: 0.37/0.74/1.48 s, the shortest >= 2x the "
                                                "receptive field; synth-chain shards keep theirs; mix: 5 s)"),
    "--order": ("order", str, "on-the-fly examples: static (25 params) or variable (31) processor order (default static)"),
    "--processors": ("processors", lambda s: [p for p in s.split(",") if p],
                     "on-the-fly examples: comma list of processors with random settings (default all)"),
    "--pan-law": ("pan_law", str, "on-the-fly examples: linear or constant_power (default linear)"),
    "--sample-rate": ("sample_rate", int, "on-the-fly examples: sample rate of the dry audio in Hz (default 44100)"),
    "--mixup-alpha": ("mixup_alpha", float, "la2a: Beta(a, a) mixup of pairs (default 0.2; 0 turns it off)"),
    "--target": ("target", str, "mix: the reference to learn, mix or dry_mix (ENST's gain/pan-only mix) (default mix)"),
    "--encoder-weights": ("encoder_weights", str, "mix (DMC): the encoder's initial weights, msd_vgg, mtt_vgg or "
                                                  "none (default msd_vgg; fetched from PyPI's musicnn wheel on first use)"),
    "--channel": ("channel", str, "mix (dmc-full): dsp (the exact differentiable console, default) or tcn (a frozen "
                                  "`train effect` model: --channel-checkpoint)"),
    "--channel-checkpoint": ("channel_checkpoint", str, "mix (dmc-full --channel tcn): run folder or checkpoint of "
                                                        "`dmcmodels train effect`"),
    "--seed": ("seed", int, "seed of the model init and of every data choice (default 0)"),
    "--workers": ("num_workers", int, "DataLoader worker processes per rank (default 1)"),
    "--device": ("device", str, "auto, cpu or cuda (default auto: cuda when available)"),
    "--threads": ("threads", int, "torch intra-op threads (default: torch's choice)"),
    "--log-every": ("log_every", int, "steps between rows of metrics.csv (default 10)"),
    "--max-bad-steps": ("max_bad_steps", int, "consecutive batches with a non-finite loss or gradient (each "
                                              "skipped and counted) that stop the run (default 10)"),
}
BUDGET_FIELDS = {"max_steps", "max_minutes"}  # what --resume may change


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (__doc__ or "").strip().replace("``", "")
    parser.add_argument("kind", choices=sorted(KINDS), help="what to train")
    parser.add_argument("--out", required=True, help="run folder (config.json, checkpoints/, metrics.csv)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out exactly where its last checkpoint stopped "
                             "(its config.json is used; only --max-steps / --max-minutes may change)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--freeze-encoder", dest="freeze_encoder", action="store_const", const=True,
                        default=argparse.SUPPRESS, help="mix (DMC): do not fine-tune the encoder (faster steps)")
    parser.add_argument("--compile", dest="compile", action="store_const", const=True, default=argparse.SUPPRESS,
                        help="torch.compile the model (slower start, faster steps; see the README's speed figures)")
    for flag, (field, typ, help_text) in OPTIONS.items():
        kw = {"nargs": "+"} if field in ("train", "val") else {}
        parser.add_argument(flag, dest=field, type=typ, default=argparse.SUPPRESS, help=help_text, **kw)
    from dmcmodels.training.ray_launch import add_ray_arguments

    add_ray_arguments(parser)


def _given(args) -> dict:
    fields = [f for f, *_ in OPTIONS.values()] + ["compile", "freeze_encoder"]
    return {f: getattr(args, f) for f in fields if hasattr(args, f)}


def config_from_args(args) -> TrainConfig:
    run = Path(args.out)
    given = _given(args)
    if given.get("mixup_alpha") == 0:
        given["mixup_alpha"] = None
    if args.resume:
        cfg = TrainConfig.load(run)
        if cfg.kind != args.kind:
            raise ConfigError(f"{run} holds a `train {cfg.kind}` run, not `train {args.kind}`")
        changed = {k: v for k, v in given.items() if k not in BUDGET_FIELDS and getattr(cfg, k) != v}
        if changed:
            raise ConfigError(f"--resume continues {run} with its own config.json; these options differ from it: "
                              f"{', '.join(sorted(changed))} (only --max-steps / --max-minutes may change)")
        for k in BUDGET_FIELDS & set(given):
            setattr(cfg, k, given[k])
        return cfg.check()
    if "train" not in given:
        raise ConfigError("--train DATA is required (unless --resume)")
    if run.exists() and (not run.is_dir() or any(run.iterdir())):
        what = "holds a run (config.json); pass --resume to continue it" if (run / "config.json").is_file() \
            else "exists and is not an empty folder"
        raise ConfigError(f"--out {run} {what}, or choose another --out")
    return TrainConfig(kind=args.kind, **given).check()


def main(args: argparse.Namespace) -> int:
    from dmcmodels.training import ray_launch

    prog = f"dmcmodels train {args.kind}"
    try:
        ray_launch.check_flags(args)
    except ConfigError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    if ray_launch.wanted(args):  # --ray-workers N: N ranks, each running this very command, as Ray actors
        return ray_launch.launch(args)

    from dmcdata.streaming import AllShardsSkippedError, DatasetKindError, SelectionError, UrlError
    from dmcmodels.judge.weights import WeightsError
    from dmcmodels.training.checkpoint import CheckpointError
    from dmcmodels.training.data import DataError
    from dmcmodels.training.trainer import TrainingError, train

    try:
        cfg = config_from_args(args)
        s = train(cfg, Path(args.out), resume=args.resume, progress=not args.no_progress)
    except (ConfigError, DataError, CheckpointError, SelectionError, DatasetKindError, UrlError, WeightsError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except (TrainingError, AllShardsSkippedError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        best = f"{s.best_val_loss:.5g}" if s.best_val_loss < float("inf") else "- (no validation yet)"
        print(f"{prog}: {s.steps} steps ({s.stop}); best val loss {best}; {s.examples_per_s:.1f} examples/s; "
              f"peak memory {s.peak_memory_mb:.0f} MB; {s.parameters:,} parameters; skipped batches "
              f"{s.skipped_batches}\n  run: {s.run}")
    return 0
