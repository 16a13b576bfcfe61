"""``dmcmodels eval effect|la2a|mix``: score trained models on held-out data beside baselines.

effect / la2a write ``EVAL/table.md``, ``EVAL/table.csv`` and ``EVAL/examples/<i>_<key>/`` (input,
target and prediction WAVs + a spectrogram PNG per example); see :mod:`dmcmodels.evaluation.effect`.
mix writes ``EVAL/table.md``, ``EVAL/table.csv``, ``EVAL/results.json`` and
``EVAL/stimuli/<excerpt>/<method>.wav``; see :mod:`dmcmodels.evaluation.mix`.
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
  dmcmodels eval mix --checkpoint runs/dmc-basic runs/mix-wave-u-net --data shards/medleydb \\
      --reference-params dmc-demo/medleydb --out eval/mix          # + mono and random, always
  dmcmodels eval mix --data shards/medleydb --out eval/baselines --no-fad   # the baselines alone
  dmcmodels listen build eval/mix/stimuli --out eval/mix/page      # the listening page of the stimuli

eval mix: every test segment of DATA (split == 'test', or --select) is cut into excerpts of
--patch-seconds (fixed by --seed), mixed by every --checkpoint (`train mix` runs; all must share
the target and sample rate), by mono and by seeded random gain/pan, and compared with the reference
mix (the runs' target: mix, or ENST's dry_mix):
  MR-STFT      stereo (L+R, L-R) MR-STFT distance, mean +- std over the excerpts
  FD, FD-inf   Frechet distances of MTT_vgg / MSD_vgg embeddings (one per 2.99-s patch) of the
               method's and the reference mixes; the patch count is printed: few patches -> unreliable
               (weights fetched like `dmcmodels weights fetch` when missing; --no-fad skips)
  gain / pan   with --reference-params (the demo corpus' medleydb or enst-drums folder): each
               method's settings vs the virtual engineer's _MIX_PARAMS.json, tracks matched by
               file; gain error in dB relative to the mix (each excerpt's mean gain removed from
               both: the engineer shifts all gains by one offset to set the mix peak), pan error
               |pan - pan_ref| and its left/right-mirror-free version; mean +- std over tracks
Output: table.md / table.csv (thesis Table 12/13 layout, the thesis' figures beside), results.json
(every number), stimuli/<NN>_<excerpt>/<method>.wav + reference.wav (--stimuli excerpts).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = "Score trained models on held-out data beside baselines (tables in the thesis' layouts)."
    parser.add_argument("kind", choices=["effect", "la2a", "mix"], help="what the checkpoint models")
    parser.add_argument("--checkpoint", nargs="+", default=None, metavar="RUN",
                        help="run folder (its best checkpoint) or checkpoint file; eval mix: any number of "
                             "`train mix` runs (or none: mono and random are always evaluated; naming them is allowed)")
    parser.add_argument("--data", required=True, nargs="+",
                        help="held-out DATA (build / synth-chain folder, manifest or shard URLs); with a split "
                             "column, split == 'test' is used unless --select is given")
    parser.add_argument("--select", default=None, help="pandas query on the DATA's manifest instead of the test split")
    parser.add_argument("--out", required=True, help="output folder (table.md, table.csv, examples/; eval mix: + results.json, stimuli/; new, empty or its own)")
    parser.add_argument("--examples", type=int, default=None,
                        help="examples per task (default: 64 for effect; every test patch for la2a; "
                             "eval mix: at most this many excerpts, default all)")
    parser.add_argument("--audio-examples", type=int, default=3, help="input/target/prediction triples to write")
    parser.add_argument("--seed", type=int, default=1234,
                        help="seed of the evaluation examples (eval mix: excerpt offsets, the random baseline, FD-inf)")
    parser.add_argument("--batch-size", type=int, default=8, help="examples per forward pass (effect, la2a)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    mix = parser.add_argument_group("eval mix")
    mix.add_argument("--patch-seconds", type=float, default=None,
                     help="excerpt length in seconds (default 5, the training patch length; 1 FD patch per 5 s)")
    mix.add_argument("--target", choices=["mix", "dry_mix"], default=None,
                     help="reference mix when no checkpoint says (default: the runs' target, else mix)")
    mix.add_argument("--reference-params", default=None, metavar="DIR",
                     help="the demo corpus' dataset folder (e.g. dmc-demo/medleydb, holding Audio/): score gain and "
                          "pan against the virtual engineer's mix documents")
    mix.add_argument("--no-fad", action="store_true", help="skip the Fréchet distances (no VGG weights needed)")
    mix.add_argument("--stimuli", type=int, default=8, help="excerpts to write to stimuli/ for the listening page")
    mix.add_argument("--stimuli-per-song", type=int, default=1, help="at most this many stimulus excerpts per song")
    mix.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from dmcdata.streaming import AllShardsSkippedError, DatasetKindError, SelectionError, UrlError
    from dmcmodels.training.checkpoint import CheckpointError, load_model
    from dmcmodels.training.config import ConfigError
    from dmcmodels.training.data import DataError

    prog = f"dmcmodels eval {args.kind}"
    if args.kind == "mix":
        return main_mix(args, prog)
    mix_only = [f"--{n.replace('_', '-')}" for n in ("patch_seconds", "target", "reference_params")
                if getattr(args, n) is not None] + (["--no-fad"] if args.no_fad else [])
    if mix_only:
        print(f"{prog}: error: {', '.join(mix_only)} belong(s) to eval mix", file=sys.stderr)
        return 2
    if not args.checkpoint or len(args.checkpoint) != 1:
        print(f"{prog}: error: --checkpoint takes exactly one run folder or checkpoint file for eval {args.kind}",
              file=sys.stderr)
        return 2
    args.checkpoint = args.checkpoint[0]
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


def main_mix(args: argparse.Namespace, prog: str) -> int:
    from dmcdata.console.mixfile import MixFileError
    from dmcdata.streaming import AllShardsSkippedError, DatasetKindError, SelectionError, UrlError
    from dmcmodels.evaluation.mix import DEFAULT_PATCH_SECONDS, EvalMixError, evaluate
    from dmcmodels.training.checkpoint import CheckpointError
    from dmcmodels.training.config import ConfigError
    from dmcmodels.training.data import DataError

    t0 = time.perf_counter()
    try:
        results = evaluate(args.checkpoint or [], args.data, args.out, select=args.select,
                           patch_seconds=DEFAULT_PATCH_SECONDS if args.patch_seconds is None else args.patch_seconds, seed=args.seed,
                           target=args.target, reference_params=args.reference_params, fad=not args.no_fad,
                           stimuli=args.stimuli, stimuli_per_song=args.stimuli_per_song, max_excerpts=args.examples,
                           device=args.device, progress=not args.no_progress)
    except (EvalMixError, ConfigError, DataError, CheckpointError, SelectionError, DatasetKindError, UrlError,
            AllShardsSkippedError, MixFileError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{prog}: error: {e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    print((out / "table.md").read_text())
    print(f"wrote {out}/table.md, table.csv, results.json, stimuli/ ({len(results['stimuli'])} excerpts) in "
          f"{time.perf_counter() - t0:.1f} s")
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
