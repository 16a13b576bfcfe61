"""``dmcdata quickstart --out qs``: the whole system, end to end, on the built-in demo corpus.

Steps (each one command of the project, run in this process, its output logged to ``qs/logs/``):

 1. demo         ``dmcdata demo``: MedleyDB / ENST-drums / SignalTrain look-alikes, enough songs that
                 every split (train / val / test) has some
 2-4. build      ``dmcdata build`` of all three layouts with Ray → shards + Parquet manifests
 5. synth-chain  ``dmcdata synth-chain``: effect-chain examples from the training stems
 6. train-tcn    ``dmcmodels train effect``: a small TCN channel model
 7. eval-tcn     ``dmcmodels eval effect``: its four tasks beside the identity baseline
 8. train-basic  ``dmcmodels train mix``: DMC-basic on the multitracks
 9. train-full   ``dmcmodels train mix --model dmc-full --channel dsp``: DMC-full through the exact
                 differentiable console
10. eval-mix     ``dmcmodels eval mix``: both DMCs beside mono and random on the held-out songs
11. mix          ``dmcmodels mix``: one held-out song's stems → mix.wav + mix.json
12. edit         the mix document with one track 6 dB lower, both rendered by ``dmcdata render``
13. listen       ``dmcmodels listen build``: the listening page for the held-out excerpts

Then one results table (the figures each evaluation produced, beside its baselines) and the paths
of everything written. A step that finished is recorded in ``qs/.quickstart/<step>.json`` after
its outputs are complete; a rerun skips it (and says so) and starts an unfinished step afresh
(its partial outputs, all inside ``qs``, are removed first). Ctrl-C leaves no record of an
unfinished step. ``--fast`` (CI) shrinks the corpus and the models to run in under 3 minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

STATE_DIR = ".quickstart"


class QuickstartError(RuntimeError):
    """A step that failed; the message names it and where its log is."""


@dataclass
class Sizes:
    """What the run does, normal vs ``--fast``."""

    songs: int = 12
    song_seconds: float = 15.0
    max_stems: int = 8
    segment_seconds: float = 10.0
    chain_shards: int = 2
    chain_samples: int = 64
    tcn_args: dict = field(default_factory=lambda: {"input_skip": True})
    tcn_steps: int = 40
    tcn_batch: int = 8
    effect_examples: int = 16
    dmc_args: dict = field(default_factory=dict)
    encoder_weights: str = "msd_vgg"
    basic_steps: int = 30
    full_steps: int = 8
    mix_batch: int = 4
    fad: bool = True

    @classmethod
    def fast(cls) -> "Sizes":
        return cls(songs=10, song_seconds=8.0, max_stems=5, segment_seconds=6.0, chain_shards=1, chain_samples=16,
                   tcn_args={"input_skip": True, "channels": 8, "n_blocks": 6}, tcn_steps=8, tcn_batch=4,
                   effect_examples=4, dmc_args={"encoder_filters": 16, "hidden": 256}, encoder_weights="none",
                   basic_steps=8, full_steps=3, mix_batch=2, fad=False)


@dataclass
class Step:
    name: str
    title: str
    outputs: list[str]                      # paths inside qs this step writes (removed before a fresh start)
    run: Callable[["Run"], dict | None]     # returns figures/paths to remember


class Run:
    def __init__(self, out: Path, sizes: Sizes, progress: bool, fast: bool):
        self.out, self.sizes, self.progress, self.fast = out, sizes, progress, fast
        self.results: dict[str, dict] = {}
        self.quiet = [] if progress else ["--quiet"]

    def p(self, *parts) -> Path:
        return self.out.joinpath(*parts)

    def cmd(self, prog: str, argv: list[str], log: str, has_progress: bool = True) -> None:
        """Run ``dmcdata``/``dmcmodels`` ``argv`` in this process; stdout to ``logs/<log>.log`` (progress
        bars stay on stderr); a non-zero exit is a :class:`QuickstartError`."""
        from dmcdata.cli import run as dmcdata_run
        from dmcmodels.cli import main as dmcmodels_main

        argv = [str(a) for a in argv]
        if not self.progress and has_progress:
            argv.append("--no-progress")
        log_path = self.p("logs", f"{log}.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = dmcdata_run(argv) if prog == "dmcdata" else dmcmodels_main(argv)
        log_path.write_text(f"$ {prog} {' '.join(argv)}\n{buf.getvalue()}")
        if rc != 0:
            raise QuickstartError(f"`{prog} {' '.join(argv)}` exited with {rc}; its output is in {log_path}")


# -- the steps ---------------------------------------------------------------------------------

def _demo(r: Run):
    s = r.sizes
    r.cmd("dmcdata", ["demo", "--out", r.p("demo"), "--seed", 0, "--songs", s.songs, "--song-seconds", s.song_seconds,
                      "--max-stems", s.max_stems, "--enst-takes", 1, "--signaltrain-pairs", 6], "demo")


def _build(dataset: str, folder: str):
    def step(r: Run):
        argv = ["build", dataset, "--data-home", r.p("demo", folder), "--out", r.p("shards", folder), "--workers", 2]
        if dataset == "medleydb":
            argv += ["--max-tracks", 16, "--segment-seconds", r.sizes.segment_seconds, "--min-segment-seconds", 3]
        if dataset == "enst-drums":
            argv += ["--segment-seconds", r.sizes.segment_seconds]
        r.cmd("dmcdata", argv, f"build-{folder}")
        import pandas as pd

        df = pd.read_parquet(r.p("shards", folder, "manifest.parquet"))
        return {"samples": len(df), "splits": {k: int(v) for k, v in df["split"].value_counts().items()}}
    return step


def _synth(r: Run):
    s = r.sizes
    r.cmd("dmcdata", ["synth-chain", "--source", r.p("shards", "medleydb"), "--source-query", "split == 'train'",
                      "--out", r.p("shards", "chain"), "--shards", s.chain_shards, "--samples-per-shard",
                      s.chain_samples, "--patch-seconds", "short"], "synth-chain")


def _train_tcn(r: Run):
    s = r.sizes
    r.cmd("dmcmodels", ["train", "effect", "--train", r.p("shards", "chain"), "--val", r.p("shards", "medleydb"),
                        "--out", r.p("runs", "tcn"), "--model", "tcn-10", "--model-args", json.dumps(s.tcn_args),
                        "--max-steps", s.tcn_steps, "--val-every", max(2, s.tcn_steps // 4), "--batch-size",
                        s.tcn_batch, "--val-examples", 16, "--lr", 5e-4], "train-tcn")


def _eval_tcn(r: Run):
    r.cmd("dmcmodels", ["eval", "effect", "--checkpoint", r.p("runs", "tcn"), "--data", r.p("shards", "medleydb"),
                        "--out", r.p("eval", "tcn"), "--examples", r.sizes.effect_examples], "eval-tcn")


def _train_mix(model: str, run: str, steps_attr: str, extra: list):
    def step(r: Run):
        s = r.sizes
        steps = getattr(s, steps_attr)
        argv = ["train", "mix", "--model", model, "--train", r.p("shards", "medleydb"), "--out", r.p("runs", run),
                "--encoder-weights", s.encoder_weights, "--freeze-encoder", "--max-steps", steps,
                "--val-every", max(2, steps // 4), "--batch-size", s.mix_batch, "--val-examples", 8] + extra
        if s.dmc_args:
            argv += ["--model-args", json.dumps(s.dmc_args)]
        r.cmd("dmcmodels", argv, f"train-{run}")
    return step


def _test_songs(r: Run) -> list[str]:
    import pandas as pd

    df = pd.read_parquet(r.p("shards", "medleydb", "manifest.parquet"))
    return sorted(df.loc[df["split"] == "test", "song"].unique())


def _eval_mix(r: Run):
    argv = ["eval", "mix", "--checkpoint", r.p("runs", "dmc-basic"), r.p("runs", "dmc-full"),
            "--data", r.p("shards", "medleydb"), "--reference-params", r.p("demo", "medleydb"),
            "--out", r.p("eval", "mix")]
    if not r.sizes.fad:
        argv.append("--no-fad")
    r.cmd("dmcmodels", argv, "eval-mix")


def _mix(r: Run):
    song = _test_songs(r)[0]
    stems = r.p("demo", "medleydb", "Audio", song, f"{song}_STEMS")
    r.cmd("dmcmodels", ["mix", stems, "--checkpoint", r.p("runs", "dmc-basic"), "--out", r.p("mix")], "mix")
    return {"song": song}


def _edit(r: Run):
    import numpy as np
    import soundfile as sf

    doc = json.loads(r.p("mix", "mix.json").read_text())
    track = doc["tracks"][0]
    before = float(track["params"].get("gain_db", 0.0))
    track["params"]["gain_db"] = max(-24.0, before - 6.0)
    edited = r.p("mix", "mix_edited.json")
    from dmcdata.shards import write_atomic

    write_atomic(edited, (json.dumps(doc, indent=2) + "\n").encode())
    r.cmd("dmcdata", ["render", r.p("mix", "mix.json"), "--out", r.p("mix", "render.wav"), "--subtype", "FLOAT"] + r.quiet, "render", False)
    r.cmd("dmcdata", ["render", edited, "--out", r.p("mix", "render_edited.wav"), "--subtype", "FLOAT"] + r.quiet, "render-edited", False)
    model_mix, _ = sf.read(r.p("mix", "mix.wav"), dtype="float32")
    rendered, _ = sf.read(r.p("mix", "render.wav"), dtype="float32")
    return {"track": track.get("name") or track["file"], "gain_before_db": before,
            "gain_after_db": track["params"]["gain_db"],
            "render_vs_mix_max_abs": float(np.abs(model_mix - rendered).max())}


def _listen(r: Run):
    r.cmd("dmcmodels", ["listen", "build", r.p("eval", "mix", "stimuli"), "--out", r.p("listen")], "listen", False)


def steps() -> list[Step]:
    return [
        Step("demo", "write the demo corpus", ["demo"], _demo),
        Step("build-medleydb", "build MedleyDB shards (Ray)", ["shards/medleydb"], _build("medleydb", "medleydb")),
        Step("build-enst", "build ENST-drums shards (Ray)", ["shards/enst-drums"], _build("enst-drums", "enst-drums")),
        Step("build-signaltrain", "build SignalTrain shards (Ray)", ["shards/signaltrain"],
             _build("signaltrain", "signaltrain")),
        Step("synth-chain", "write effect-chain examples", ["shards/chain"], _synth),
        Step("train-tcn", "train a TCN channel model", ["runs/tcn"], _train_tcn),
        Step("eval-tcn", "evaluate it against identity", ["eval/tcn"], _eval_tcn),
        Step("train-basic", "train DMC-basic", ["runs/dmc-basic"], _train_mix("dmc-basic", "dmc-basic", "basic_steps", [])),
        Step("train-full", "train DMC-full through the differentiable console", ["runs/dmc-full"],
             _train_mix("dmc-full", "dmc-full", "full_steps", ["--channel", "dsp"])),
        Step("eval-mix", "evaluate both against mono and random", ["eval/mix"], _eval_mix),
        Step("mix", "mix a held-out song's stems", ["mix"], _mix),
        Step("edit", "lower one track 6 dB in the JSON, render both", ["mix/mix_edited.json", "mix/render.wav",
                                                                       "mix/render_edited.wav"], _edit),
        Step("listen", "build the listening page", ["listen"], _listen),
    ]


# -- the results --------------------------------------------------------------------------------

def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _fmt(v) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{x:.4g}"


MIX_COLUMNS = [("mr_stft_mean", "stereo MR-STFT"), ("fd_mtt_vgg", "FD MTT_vgg"), ("fd_msd_vgg", "FD MSD_vgg"),
               ("gain_error_db_mean", "gain err (dB)"), ("pan_error_mean", "pan err"),
               ("pan_amount_error_mean", "pan amount err")]


def results_table(r: Run) -> str:
    lines = []
    rows = [x for x in _read_csv(r.p("eval", "tcn", "table.csv")) if x.get("task") == "combined"]
    if rows:
        lines += ["Neural channel, combined task (EQ + compressor + reverb), test split "
                  f"({rows[0].get('n', '?')} patches; lower is better):",
                  "| method | MAE | ESR | MCD | MR-STFT |", "|---|---|---|---|---|"]
        for x in rows:
            lines.append(f"| {x['method']} | {_fmt(x['mae_mean'])} | {_fmt(x['esr_mean'])} | {_fmt(x['mcd_mean'])} | "
                         f"{_fmt(x['mr_stft_mean'])} |")
    mix_rows = _read_csv(r.p("eval", "mix", "table.csv"))
    if mix_rows:
        cols = [(c, t) for c, t in MIX_COLUMNS if c in mix_rows[0] and any(x[c] != "" for x in mix_rows)]
        lines += ["", f"Mixers on the held-out songs ({mix_rows[0].get('n_excerpts', '?')} excerpts of 5 s; "
                      "lower is better; gain/pan error against the demo engineer's settings):",
                  "| method | " + " | ".join(t for _, t in cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for x in mix_rows:
            lines.append(f"| {x['method']} | " + " | ".join(_fmt(x[c]) for c, _ in cols) + " |")
    edit = r.results.get("edit")
    if edit:
        lines += ["", f"Edited mix: track {edit['track']!r} gain {edit['gain_before_db']:.2f} → "
                      f"{edit['gain_after_db']:.2f} dB; `dmcdata render mix.json` vs the mixer's mix.wav: max |diff| "
                      f"{edit['render_vs_mix_max_abs']:.2g}"]
    return "\n".join(lines)


def written(r: Run) -> str:
    song = r.results.get("mix", {}).get("song", "?")
    items = [("demo corpus", "demo/"), ("shards + manifests", "shards/{medleydb,enst-drums,signaltrain,chain}/"),
             ("checkpoints", "runs/{tcn,dmc-basic,dmc-full}/checkpoints/"), ("effect evaluation", "eval/tcn/"),
             ("mix evaluation", "eval/mix/ (table.md, stimuli/)"), (f"mix of {song}", "mix/mix.wav, mix/mix.json"),
             ("edited render", "mix/render_edited.wav (mix/mix_edited.json)"),
             ("listening page", "listen/index.html"), ("plots", "eval/tcn/examples/*/spectrogram.png"),
             ("logs", "logs/")]
    width = max(len(k) for k, _ in items)
    return "\n".join(f"  {k:<{width}}  {r.out}/{v}" for k, v in items)


# -- running -----------------------------------------------------------------------------------

def check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / STATE_DIR).is_dir())):
        raise QuickstartError(f"--out {out} exists and is not a quickstart folder (no {STATE_DIR}/ inside): "
                              f"choose a new or empty folder")


def run_quickstart(out: Path, fast: bool = False, progress: bool = True, log=print) -> Run:
    out = Path(out)
    check_out(out)
    (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    r = Run(out, Sizes.fast() if fast else Sizes(), progress, fast)
    mode = {"fast": fast}
    all_steps = steps()
    t_all = time.perf_counter()
    for i, st in enumerate(all_steps, start=1):
        marker = out / STATE_DIR / f"{st.name}.json"
        head = f"[{i:2d}/{len(all_steps)}] {st.title}"
        if marker.is_file():
            done = json.loads(marker.read_text())
            if done.get("mode") == mode and all((out / o).exists() for o in st.outputs):
                r.results[st.name] = done.get("result") or {}
                log(f"{head}: already done ({done['seconds']:.1f} s in an earlier run), skipped")
                continue
            marker.unlink()
        for o in st.outputs:  # a fresh start: partial outputs of an interrupted attempt go
            p = out / o
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        log(f"{head} ...")
        t0 = time.perf_counter()
        result = st.run(r) or {}
        dt = time.perf_counter() - t0
        r.results[st.name] = result
        from dmcdata.shards import write_atomic

        write_atomic(marker, (json.dumps({"seconds": dt, "mode": mode, "result": result}, indent=1) + "\n").encode())
        log(f"{head}: done in {dt:.1f} s")
    log(f"\nquickstart finished in {time.perf_counter() - t_all:.1f} s\n")
    log(results_table(r))
    log(f"\nwritten:\n{written(r)}")
    return r


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (__doc__ or "").split("\n\n")[0].replace("``", "")
    parser.epilog = __doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--out", required=True, type=Path, help="output folder (new, empty, or an earlier quickstart's)")
    parser.add_argument("--fast", action="store_true", help="a smaller corpus and tiny models (CI: under 3 minutes)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    try:
        run_quickstart(args.out, fast=args.fast, progress=not args.no_progress)
    except QuickstartError as e:
        print(f"dmcdata quickstart: error: {e}\n  rerun the same command to resume", file=sys.stderr)
        return 1
    return 0
