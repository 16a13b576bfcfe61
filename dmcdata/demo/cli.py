"""``dmcdata demo``: write the built-in demo corpus (MedleyDB, ENST-drums and SignalTrain
look-alikes in the real datasets' layouts) from a seed."""

from __future__ import annotations

import argparse
import sys
import time

from . import DATASETS, DemoConfig, DemoError, write_demo


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DemoConfig()
    p.add_argument("--out", default="dmc-demo", metavar="DIR",
                   help="output folder; the datasets go to DIR/medleydb, DIR/enst-drums, DIR/signaltrain")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="random seed; the same seed writes byte-identical files, another seed other songs")
    p.add_argument("--only", default=",".join(DATASETS), metavar="LIST",
                   help=f"comma-separated datasets to write, from {','.join(DATASETS)}")
    p.add_argument("--songs", type=int, default=d.songs, help="number of MedleyDB-style songs")
    p.add_argument("--song-seconds", type=float, default=d.song_seconds,
                   help="length of each song in seconds (rounded up to whole bars, plus a 1 s tail)")
    p.add_argument("--min-stems", type=int, default=d.min_stems, help="fewest stems per song (>= 3)")
    p.add_argument("--max-stems", type=int, default=d.max_stems,
                   help="most stems per song (<= 12); each song draws its count uniformly in [min, max]")
    p.add_argument("--enst-takes", type=int, default=d.enst_takes, help="ENST-style takes per drummer (3 drummers)")
    p.add_argument("--enst-seconds", type=float, default=d.enst_seconds,
                   help="length of the phrase and solo takes in seconds (hits takes last as long as their hits)")
    p.add_argument("--signaltrain-pairs", type=int, default=d.signaltrain_pairs,
                   help="input/target pairs in all, split about 60/20/20 %% into Train/Val/Test (>= 3)")
    p.add_argument("--signaltrain-seconds", type=float, default=d.signaltrain_seconds,
                   help="length of each SignalTrain input/target pair in seconds")
    p.add_argument("--overwrite", action="store_true",
                   help="replace dataset folders written by an earlier `dmcdata demo` in DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def format_summary(s, wall_s: float) -> str:
    lines = [f"dmc demo corpus (seed {s.seed}) written to {s.out}",
             f"  pitched parts and drums rendered with: {s.renderer}"]
    for d in s.datasets:
        lines.append(f"  {d.name:<12} {d.files:>5} files {_mb(d.bytes):>9}  {d.audio_seconds:7.1f} s audio"
                     f"  {d.wall_s:6.1f} s  {d.detail}")
        lines.append(f"  {'':<12} root: {d.root}")
    lines.append(f"  {'total':<12} {s.files:>5} files {_mb(s.bytes):>9}  in {wall_s:.1f} s")
    if any(d.name == "medleydb" for d in s.datasets):
        lines.append("  each song has <Song>_MIX_PARAMS.json: the console settings of its _MIX.wav; "
                     "re-render with `dmcdata render <that file> --out mix.wav`")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    cfg = DemoConfig(seed=args.seed, only=only, songs=args.songs, song_seconds=args.song_seconds,
                     min_stems=args.min_stems, max_stems=args.max_stems, enst_takes=args.enst_takes,
                     enst_seconds=args.enst_seconds, signaltrain_pairs=args.signaltrain_pairs,
                     signaltrain_seconds=args.signaltrain_seconds)
    t0 = time.perf_counter()
    try:
        summary = write_demo(args.out, cfg, overwrite=args.overwrite, progress=not args.no_progress)
    except DemoError as e:
        print(f"dmcdata demo: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # read-only or full destination: say which file, no traceback
        where = f" {e.filename!r}" if e.filename else ""
        print(f"dmcdata demo: error: cannot write{where} under {args.out!r}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(format_summary(summary, time.perf_counter() - t0))
    return 0
