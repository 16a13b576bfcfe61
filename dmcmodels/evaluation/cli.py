"""``dmcmodels eval effect|la2a``: score a trained model on held-out data beside baselines.

Writes ``EVAL/table.md``, ``EVAL/table.csv`` and ``EVAL/examples/<i>_<key>/`` (input, target and
prediction WAVs + a spectrogram PNG per example). See :mod:`dmcmodels.evaluation.effect`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

EXAMPLES = """examples:
  dmcmodels eval effect --checkpoint runs/tcn10 --data shards/medleydb --out eval/tcn10     # test split
  dmcmodels eval la2a --checkpoint runs/la2a --data shards/signaltrain --out eval/la2a
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("kind", choices=["effect", "la2a"], help="what the checkpoint models")
    parser.add_argument("--checkpoint", required=True, help="run folder (its best checkpoint) or checkpoint file")
    parser.add_argument("--data", required=True, nargs="+",
                        help="held-out DATA (build / synth-chain folder, manifest or shard URLs); with a split "
                             "column, split == 'test' is used unless --select is given")
    parser.add_argument("--select", default=None, help="pandas query on the DATA's manifest instead of the test split")
    parser.add_argument("--out", required=True, help="output folder (table.md, table.csv, examples/)")
    parser.add_argument("--examples", type=int, default=None,
                        help="examples per task (default: 64 for effect; every test patch for la2a)")
    parser.add_argument("--audio-examples", type=int, default=3, help="input/target/prediction triples to write")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the evaluation examples")
    parser.add_argument("--batch-size", type=int, default=8, help="examples per forward pass")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")


def main(args: argparse.Namespace) -> int:
    from dmcdata.streaming import AllShardsSkippedError, DatasetKindError, SelectionError, UrlError
    from dmcmodels.training.checkpoint import CheckpointError, load_model
    from dmcmodels.training.config import ConfigError
    from dmcmodels.training.data import DataError

    prog = f"dmcmodels eval {args.kind}"
    for name in ("examples", "batch_size"):
        v = getattr(args, name)
        if v is not None and v < 1:
            print(f"{prog}: error: --{name.replace('_', '-')} must be >= 1, got {v}", file=sys.stderr)
            return 2
    try:
        model, cfg, state = load_model(args.checkpoint, args.device)
        want = {"effect": "channel", "la2a": "la2a"}[args.kind]
        if cfg.task != want:
            raise ConfigError(f"{state['path']} is a `train {cfg.kind}` checkpoint; use `dmcmodels eval {cfg.kind}`")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a folder")
        t0 = time.perf_counter()
        text = run_eval(args, model, cfg, state, out)
    except (ConfigError, DataError, CheckpointError, SelectionError, DatasetKindError, UrlError, OSError,
            AllShardsSkippedError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    print(text)
    print(f"wrote {out}/table.md, table.csv, examples/ in {time.perf_counter() - t0:.1f} s")
    return 0


def run_eval(args, model, cfg, state, out: Path) -> str:
    from dmcmodels.evaluation import effect as ev
    from dmcmodels.evaluation import thesis
    from dmcmodels.training.data import auto_patch_seconds, collect, make_dataset, shard_kind, split_selection

    spec = list(args.data)
    selection = split_selection(spec, "test", args.select)
    base = dataclasses.replace(cfg, seed=args.seed, patch_seconds=cfg.patch_seconds or auto_patch_seconds(model.receptive_field, cfg.sample_rate))
    label = ev.model_label(cfg, model)
    blocks, first = [], None
    if cfg.task == "la2a":
        n = args.examples or 10**9
        batch = collect(make_dataset(base, spec, selection, train=False, receptive_field=model.receptive_field,
                                     rank=0, world_size=1), n, args.batch_size)
        mv, iv, triples = ev.score(model, "la2a", batch, args.batch_size, cfg.sample_rate, args.device)
        blocks = [ev.Block(label, "la2a", mv), ev.Block("identity (input)", "la2a", iv)]
        first = (triples, batch["key"])
        ref = thesis.la2a_reference(cfg.model, cfg.mixup_alpha is not None)
        reference = {"la2a": ref} if ref else None
        title = "LA-2A on held-out SignalTrain data (thesis Table 9 layout)"
    else:
        order = "variable" if cfg.cond_dim == 31 else "static"
        names = ["combined"] if shard_kind(spec) == "synth" else list(ev.CHANNEL_TASKS)
        model_blocks, ident_blocks = [], []
        for task in names:
            tcfg = dataclasses.replace(base, processors=list(ev.CHANNEL_TASKS[task]), order=order)
            batch = collect(make_dataset(tcfg, spec, selection, train=False, receptive_field=model.receptive_field,
                                         rank=0, world_size=1), args.examples or 64, args.batch_size)
            mv, iv, triples = ev.score(model, "channel", batch, args.batch_size, cfg.sample_rate, args.device)
            model_blocks.append(ev.Block(label, task, mv))
            ident_blocks.append(ev.Block("identity (gain+polarity input)", task, iv))
            if task == "combined":
                first = (triples, batch["key"])
        blocks = model_blocks + ident_blocks
        reference = thesis.channel_reference(cfg.model, order)
        title = f"Neural console channel, {order} order, on held-out audio (thesis Table {'7' if order == 'variable' else '6'} layout)"
    note = (f"checkpoint: {state['path']} (step {state.get('step')}); data: {' '.join(spec)}"
            f"{' where ' + selection if selection else ''}; seed {args.seed}; mean (std) over n examples")
    out.mkdir(parents=True, exist_ok=True)
    ev.write_tables(out, title, blocks, reference, f"thesis {cfg.model}", note)
    if first is not None:
        ev.write_examples(out, first[0], first[1], args.audio_examples, cfg.sample_rate)
    return (out / "table.md").read_text()
