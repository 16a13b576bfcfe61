"""``dmcmodels fit``: recover per-track console settings from stems and their stereo mix.

Given the stems and a stereo mix of them, find the console parameters whose render matches the
mix, by gradient descent through the exact differentiable twin (:mod:`dmcmodels.twin`):

1. **gain, polarity and pan** first, in closed form: the stereo mix regressed on the stems by
   least squares, L ≈ Σ a_i s_i and R ≈ Σ b_i s_i. With linear panning a_i = ±(1 − θ_i)g_i and
   b_i = ±θ_i g_i, so g_i = |a_i + b_i|, θ_i = b_i / (a_i + b_i), polarity = sign(a_i + b_i)
   (constant power: g_i = √(a_i² + b_i²), θ_i = (2/π)·atan2(b_i, a_i)). With no other processor in
   the mix this *is* the minimiser of the waveform error (exact up to the mix's quantisation).
2. **the processors** (``--processors``, default EQ, compressor, reverb), with gain and pan
   refined: Adam on loss = stereo sum/difference MR-STFT (:func:`dmcmodels.losses.stereo_mr_stft`)
   + ``--wave-weight`` · ESR (waveform error energy / mix energy), over an excerpt of ``--seconds``
   (the window where the quietest track is loudest, after ``--warmup`` seconds the twin runs
   through so the processors are in their state), from ``--starts`` starting points run together as one batch (start 0 a
   neutral-ish engineer's guess, the others random perturbations of it); the best start wins.
   Frequencies, Q and times are optimised in the log-frequency parametrisation
   (:func:`dmcmodels.twin.log_to_linear`); the compressor's hard knee gets the soft-knee surrogate
   gradient (``--knee-db``); ``reverb.ir`` (discrete) is relaxed to a softmax mix over the IR bank
   for the first half of the steps, then fixed to its argmax.

Output: a mix document (``dmcdata render`` renders it: manifests/mix.schema.json) and a report:
losses, the console render's error energy relative to the mix (dB, the whole song), the level
match per track in dB (how much each fitted track should be scaled for the best least-squares
match of the mix: 0 dB = right level), and the time. ``--truth DOC`` compares the fitted
parameters with a known mix document (e.g. the demo corpus' ``_MIX_PARAMS.json``).

``dmcmodels fit SONGS_DIR --out OUT_DIR`` fits every song below SONGS_DIR laid out as MedleyDB
(``<Song>_MIX.wav`` beside ``<Song>_STEMS/``), one document per song, ``--workers`` songs at a
time in parallel with Ray (pipelines.ray_runtime, as ``dmcdata build`` does).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROCESSOR_CHOICES = ("gain", "pan", "eq", "compressor", "reverb")
AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff")


class FitError(ValueError):
    """Bad input to the fit (files, options); the message names the file or option."""


@dataclass
class FitConfig:
    """Options of :func:`fit_mix` (the CLI's flags, same names)."""

    processors: tuple = PROCESSOR_CHOICES
    seconds: float = 2.0
    warmup: float = 1.0
    starts: int = 2
    steps: int = 200
    lr: float = 0.03
    wave_weight: float = 4.0
    knee_db: float = 6.0
    seed: int = 0
    pan_law: str = "linear"
    order: tuple = ("eq", "compressor", "reverb")

    def check(self) -> "FitConfig":
        bad = [p for p in self.processors if p not in PROCESSOR_CHOICES]
        if bad or not self.processors:
            raise FitError(f"--processors: unknown processor(s) {bad or '(none)'}; choose from {','.join(PROCESSOR_CHOICES)}")
        if self.seconds <= 0.1 or self.starts < 1 or self.steps < 0 or self.lr <= 0:
            raise FitError("--seconds must be > 0.1, --starts >= 1, --steps >= 0 and --lr > 0")
        return self


@dataclass
class FitResult:
    params: list            # one dict of named values per track (all 25)
    report: dict = field(default_factory=dict)


# -- stage 1: gain, polarity, pan in closed form --------------------------------------------------

def least_squares_gain_pan(stems: np.ndarray, mix: np.ndarray, pan_law: str, space) -> list[dict]:
    """Per track {gain_db, polarity, pan} from the least-squares regression of the mix on the stems."""
    S = np.asarray(stems, np.float64)
    G = S @ S.T
    rhs = S @ np.asarray(mix, np.float64).T  # (T, 2)
    scale = max(float(np.trace(G)) / max(len(G), 1), 1e-30)
    coef = np.linalg.solve(G + 1e-9 * scale * np.eye(len(G)), rhs)
    glo, ghi = space["gain_db"].min, space["gain_db"].max
    out = []
    for a, b in coef:
        total = a + b
        sign = -1.0 if total < 0 else 1.0
        a, b = sign * a, sign * b
        if pan_law == "linear":
            g = a + b
            theta = b / g if g > 0 else 0.5
        else:
            g = math.hypot(a, b)
            theta = math.atan2(b, a) * 2.0 / math.pi if g > 0 else 0.5
        gain_db = 20.0 * math.log10(g) if g > 0 else glo
        out.append({"gain_db": float(np.clip(gain_db, glo, ghi)), "polarity": int(sign < 0),
                    "pan": float(np.clip(theta, 0.0, 1.0))})
    return out


# -- stage 2: processors by gradient descent through the twin -------------------------------------

def _initial_guess(stems: np.ndarray, gp: list[dict], space, processors) -> list[dict]:
    """A neutral-ish engineer's starting point for the fitted processors (others neutral)."""
    out = []
    for s, p in zip(stems, gp):
        q = space.neutral()
        q.update(p)
        if "compressor" in processors:
            g = 10 ** (p["gain_db"] / 20)
            active = np.abs(s * g)
            active = active[active > 1e-3]
            level = 20 * np.log10(np.sqrt(np.mean(active ** 2))) if active.size else -30.0
            q.update({"compressor.threshold_db": float(np.clip(level + 3.0, -60.0, 0.0)), "compressor.ratio": 1.5,
                      "compressor.attack_ms": 5.0, "compressor.release_ms": 150.0})
        if "reverb" in processors:
            q.update({"reverb.decay": 0.7, "reverb.dry": 1.0, "reverb.wet": 0.05})
        out.append(q)
    return out


def _trainable_columns(names: list[str], processors) -> list[int]:
    cols = []
    for i, n in enumerate(names):
        if n == "gain_db" and "gain" in processors:
            cols.append(i)
        elif n == "pan" and "pan" in processors:
            cols.append(i)
        elif n.split(".")[0] in ("eq", "compressor") and n.split(".")[0] in processors:
            cols.append(i)
        elif n in ("reverb.decay", "reverb.dry", "reverb.wet") and "reverb" in processors:
            cols.append(i)
    return cols


def choose_excerpt(stems: np.ndarray, sample_rate: int, seconds: float, warmup: float) -> tuple[int, int, int]:
    """(start, loss_start, stop) samples of the excerpt the processors are fitted on.

    The window of ``seconds`` where the quietest track is loudest (so every track that plays at all
    plays in it), preceded by up to ``warmup`` seconds that the twin runs through (so the
    compressors, EQ and reverbs are in their state) but the loss ignores. A window at the very
    start needs no warm-up: the console starts from silence.
    """
    n = stems.shape[1]
    m = min(n, int(round(seconds * sample_rate)))
    hop = max(1, int(0.25 * sample_rate))
    if m >= n:
        return 0, 0, n
    c = np.concatenate([np.zeros((stems.shape[0], 1)), np.cumsum(stems.astype(np.float64) ** 2, axis=1)], axis=1)
    starts = np.arange(0, n - m + 1, hop)
    energy = c[:, starts + m] - c[:, starts]                      # (T, windows)
    active = energy.max(axis=1) > 0
    score = np.log10(energy[active] + 1e-20).min(axis=0) if active.any() else np.zeros(len(starts))
    t0 = int(starts[int(np.argmax(score))])
    w = min(t0, int(round(warmup * sample_rate)))
    return t0 - w, t0, t0 + m


def gradient_fit(stems: np.ndarray, mix: np.ndarray, sample_rate: int, bank, init: list[dict], cfg: FitConfig,
                 progress=None, loss_start: int = 0) -> tuple[list[dict], dict]:
    """Stage 2 on the excerpt ``stems`` (T, m), ``mix`` (2, m), the loss on samples
    ``loss_start:``; returns (params, info)."""
    import torch

    from dmcmodels.losses import esr, stereo_mr_stft
    from dmcmodels.twin import ChannelTwin, linear_to_log, log_to_linear, vector_to_params

    twin = ChannelTwin(sample_rate, bank, cfg.pan_law, cfg.order, surrogate_knee_db=cfg.knee_db or None,
                       precision="float64")
    st = twin.st
    T, m = stems.shape
    S = cfg.starts
    n_irs = len(bank)
    gen = torch.Generator().manual_seed(cfg.seed)
    u0 = linear_to_log(twin.vector(init), st)                       # (T, P)
    cols = _trainable_columns(st.names, cfg.processors)
    U = u0.unsqueeze(0).repeat(S, 1, 1)                              # (S, T, P)
    if S > 1:
        noise = 0.25 * torch.randn((S - 1, T, len(cols)), generator=gen, dtype=torch.float64)
        U[1:, :, cols] = (U[1:, :, cols] + noise).clamp(-1.0, 1.0)
    P = U[:, :, cols].clone().requires_grad_(True)
    use_ir = "reverb" in cfg.processors and n_irs > 1
    logits = torch.zeros((S, T, n_irs), dtype=torch.float64)
    if S > 1 and use_ir:
        logits[1:] = 0.5 * torch.randn((S - 1, T, n_irs), generator=gen, dtype=torch.float64)
    logits.requires_grad_(use_ir)
    opt = torch.optim.Adam([P] + ([logits] if use_ir else []), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1), eta_min=cfg.lr * 0.05)
    X = torch.from_numpy(np.asarray(stems, np.float64)).repeat(S, 1)  # (S·T, m)
    # the loss runs in float32 (2.5x faster than float64; the twin and its gradients stay float64)
    target = torch.from_numpy(np.asarray(mix[:, loss_start:], np.float32)).unsqueeze(0).expand(S, 2, m - loss_start)
    ir_col = st.index["reverb.ir"]
    history = []

    def evaluate(hard: bool):
        Uf = U.clone()
        Uf[:, :, cols] = P
        weights = None
        if use_ir:
            if hard:
                k = logits.detach().argmax(dim=-1).to(torch.float64)
                Uf[:, :, ir_col] = 2.0 * k / (n_irs - 1) - 1.0
            else:
                weights = torch.softmax(logits, dim=-1).reshape(S * T, n_irs)
        v = log_to_linear(Uf.reshape(S * T, -1), st)
        pred = twin(X, v, ir_weights=weights).reshape(S, T, 2, m).sum(dim=1)[..., loss_start:].to(torch.float32)
        loss_s = stereo_mr_stft(pred, target, reduction="none") + cfg.wave_weight * esr(pred, target, reduction="none")
        return loss_s, v

    steps = range(cfg.steps) if progress is None else progress(range(cfg.steps))
    for step in steps:
        opt.zero_grad()
        loss_s, _ = evaluate(hard=use_ir and step >= cfg.steps // 2)
        loss_s.sum().backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            P.clamp_(-1.0, 1.0)
        if step % 10 == 0 or step == cfg.steps - 1:
            history.append([round(float(x), 6) for x in loss_s.detach()])
    with torch.no_grad():
        loss_s, v = evaluate(hard=True)
    best = int(torch.argmin(loss_s))
    params = vector_to_params(v.reshape(S, T, -1)[best], st)
    return params, {"start_losses": [float(x) for x in loss_s], "best_start": best, "history": history}


# -- the whole fit ----------------------------------------------------------------------------------

def level_match_db(contributions: np.ndarray, mix: np.ndarray) -> list[float]:
    """Per track: 20 log10 α_i of the least-squares fit mix ≈ Σ α_i y_i (0 dB = the right level)."""
    Y = contributions.reshape(contributions.shape[0], -1).astype(np.float64)
    G = Y @ Y.T
    scale = max(float(np.trace(G)) / max(len(G), 1), 1e-30)
    alpha = np.linalg.solve(G + 1e-9 * scale * np.eye(len(G)), Y @ mix.reshape(-1).astype(np.float64))
    return [round(20 * math.log10(abs(a)), 3) if a != 0 else -math.inf for a in alpha]


def error_db(pred: np.ndarray, target: np.ndarray) -> float:
    """Error energy relative to the target's energy, dB (floored at −300 dB: an exact match)."""
    e = float(np.sum((pred.astype(np.float64) - target) ** 2))
    t = max(float(np.sum(np.asarray(target, np.float64) ** 2)), 1e-300)
    return 10 * math.log10(max(e / t, 1e-30))


def fit_mix(stems: np.ndarray, mix: np.ndarray, sample_rate: int, bank, cfg: FitConfig, progress=None) -> FitResult:
    """Fit console settings: stems (T, n) float32 mono, mix (2, n) → :class:`FitResult`."""
    from dmcdata.console import ChannelStrip, channel_space

    cfg.check()
    t0 = time.perf_counter()
    space = channel_space(len(bank))
    n = stems.shape[1]
    gp = least_squares_gain_pan(stems, mix, cfg.pan_law, space)
    params = []
    for p in gp:
        q = space.neutral()
        q.update(p)
        if "gain" not in cfg.processors:
            q["gain_db"] = space.neutral()["gain_db"]
        if "pan" not in cfg.processors:
            q["pan"] = space.neutral()["pan"]
        params.append(q)
    info = {"stage1": "least squares (gain, polarity, pan)"}
    processors = [p for p in cfg.processors if p not in ("gain", "pan")]
    if processors and cfg.steps > 0:
        a, b, c = choose_excerpt(stems, sample_rate, cfg.seconds, cfg.warmup)
        init = _initial_guess(stems[:, b:c], params, space, cfg.processors)
        params, info2 = gradient_fit(stems[:, a:c], mix[:, a:c], sample_rate, bank, init, cfg, progress, b - a)
        info.update(info2)
        info["excerpt_s"] = [round(b / sample_rate, 3), round(c / sample_rate, 3)]
        info["warmup_s"] = round((b - a) / sample_rate, 3)
    strip = ChannelStrip(sample_rate, bank, cfg.pan_law, cfg.order)
    contrib = np.stack([strip.process(stems[i], params[i]) for i in range(len(params))])
    render = contrib.sum(axis=0)
    report = {
        "tracks": len(params), "seconds": n / sample_rate, "processors": list(cfg.processors),
        "error_db": round(error_db(render, mix), 3),
        "level_match_db": level_match_db(contrib, mix),
        "time_s": round(time.perf_counter() - t0, 2), **info,
    }
    if processors and cfg.steps > 0:
        import torch

        from dmcmodels.losses import stereo_mr_stft
        b, c = (int(round(t * sample_rate)) for t in info["excerpt_s"])
        report["mr_stft_excerpt"] = round(float(stereo_mr_stft(torch.from_numpy(render[None, :, b:c]).double(),
                                                               torch.from_numpy(mix[None, :, b:c]).double())), 5)
    return FitResult(params, report)


# -- files ------------------------------------------------------------------------------------------

def list_stems(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FitError(f"stems folder {str(folder)!r} does not exist or is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
                   and not p.name.startswith("."))
    if not files:
        raise FitError(f"stems folder {str(folder)!r} holds no {'/'.join(AUDIO_SUFFIXES)} files")
    return files


def read_song(stems_dir: Path, mix_path: Path) -> tuple[list[Path], np.ndarray, np.ndarray, int]:
    """(stem files, stems (T, n) float32 mono, mix (2, n) float32, sample rate); shorter files are zero-padded."""
    import soundfile as sf

    files = list_stems(stems_dir)
    try:
        mix, sr = sf.read(str(mix_path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises its own types
        raise FitError(f"mix {str(mix_path)!r}: cannot read ({e})") from None
    if mix.shape[1] != 2:
        raise FitError(f"mix {str(mix_path)!r}: expected a stereo file, got {mix.shape[1]} channel(s)")
    stems = []
    for f in files:
        try:
            a, r = sf.read(str(f), dtype="float32", always_2d=True)
        except Exception as e:
            raise FitError(f"stem {str(f)!r}: cannot read ({e})") from None
        if r != sr:
            raise FitError(f"stem {str(f)!r} has sample rate {r} Hz, the mix {sr} Hz")
        stems.append(a.mean(axis=1) if a.shape[1] > 1 else a[:, 0])
    n = max([mix.shape[0]] + [s.shape[0] for s in stems])
    S = np.zeros((len(stems), n), np.float32)
    for i, s in enumerate(stems):
        S[i, : s.shape[0]] = s
    M = np.zeros((2, n), np.float32)
    M[:, : mix.shape[0]] = mix.T
    if not np.all(np.isfinite(S)) or not np.all(np.isfinite(M)):
        raise FitError(f"{str(stems_dir)!r} / {str(mix_path)!r}: NaN/Inf in the audio")
    return files, S, M, int(sr)


def make_bank(args_bank: dict, sample_rate: int):
    from dmcdata.console import IRBank

    if "folder" in args_bank:
        return IRBank.from_folder(args_bank["folder"], sample_rate)
    g = args_bank["generated"]
    return IRBank.generate(sample_rate, n=int(g["n"]), seed=int(g["seed"]))


def _progress_bar(desc: str):
    from tqdm import tqdm

    return lambda it: tqdm(it, desc=desc, unit="step", file=sys.stderr)


def fit_song(stems_dir: str, mix_path: str, out: str, cfg: FitConfig, bank_spec: dict, truth: str | None = None,
             show_progress: bool = False, threads: int = 1) -> dict:
    """Fit one song and write its mix document atomically; returns the report (also for Ray tasks)."""
    import torch

    from dmcdata.console.mixfile import MixDocument, TrackEntry

    torch.set_num_threads(max(1, int(threads)))
    out_p = Path(out)
    files, stems, mix, sr = read_song(Path(stems_dir), Path(mix_path))
    bank = make_bank(bank_spec, sr)
    progress = _progress_bar(f"fit {Path(mix_path).stem}") if show_progress else None
    res = fit_mix(stems, mix, sr, bank, cfg, progress)
    base = out_p.resolve().parent
    spec = dict(bank_spec)
    if "folder" in spec:
        spec = {"folder": os.path.relpath(Path(spec["folder"]).resolve(), base)}
    doc = MixDocument(sample_rate=sr, pan_law=cfg.pan_law, order=tuple(cfg.order), ir_bank=spec,
                      comment=f"dmcmodels fit of {Path(mix_path).name}: error {res.report['error_db']:.2f} dB "
                              f"(processors {','.join(cfg.processors)})",
                      tracks=[TrackEntry(file=os.path.relpath(f.resolve(), base), params=p, name=f.stem)
                              for f, p in zip(files, res.params)])
    doc.save(out_p)
    report = {"mix": str(mix_path), "out": str(out_p), **res.report,
              "track_names": [f.stem for f in files],
              "fitted": [{k: p[k] for k in ("gain_db", "polarity", "pan")} for p in res.params]}
    if truth:
        report["truth"] = compare_with_truth(res.params, truth, files)
    return report


def compare_with_truth(params: list[dict], truth_path: str, files: list[Path]) -> dict:
    """Per parameter: the absolute errors |fitted − true| over the tracks, and the true values.

    A stem is matched to the truth's track with the same file name (MedleyDB: <Song>_STEM_01.wav),
    or else to the track whose ``name`` is the stem's file name without suffix (ENST: kick.wav ↔ kick).
    Returns {"errors": {name: [per track]}, "true": [per track: all 25 values]}.
    """
    from dmcdata.console import CHANNEL_SPACE
    from dmcdata.console.mixfile import MixDocument

    doc = MixDocument.load(truth_path)
    names = [Path(t.file).name for t in doc.tracks]
    by_file = {n: t.params for n, t in zip(names, doc.tracks) if names.count(n) == 1}
    by_name = {t.name: t.params for t in doc.tracks if t.name}
    errs: dict = {}
    trues = []
    for f, p in zip(files, params):
        true = by_file.get(f.name, by_name.get(f.stem))
        if true is None:
            raise FitError(f"--truth {truth_path!r}: no track with file name {f.name!r} or name {f.stem!r}")
        full = CHANNEL_SPACE.validate(true)
        trues.append(full)
        for name in CHANNEL_SPACE.names:
            errs.setdefault(name, []).append(abs(float(p[name]) - float(full[name])))
    return {"errors": errs, "true": trues}


def _counts(name: str, true: dict) -> bool:
    """Whether a parameter's error means anything for this true setting (e.g. no IR error without reverb)."""
    proc = name.split(".")[0]
    if proc == "compressor" and name != "compressor.makeup_db":
        return true["compressor.ratio"] > 1.0 or name == "compressor.ratio"
    if name in ("reverb.ir", "reverb.decay"):
        return true["reverb.wet"] > 0.0
    if proc == "eq" and not name.endswith("gain_db"):
        band = name.rsplit("_", 2)[0] if name.endswith("_freq_hz") else name[: -len("_q")]
        return true[f"{band}_gain_db"] != 0.0
    return True


def truth_table(reports: list[dict]) -> list[str]:
    """Markdown rows: per parameter, median / 90th percentile / max |error| over every track of the reports."""
    from dmcdata.console import CHANNEL_SPACE

    lines = ["| processor | parameter | unit | tracks | median \\|error\\| | 90 % | max |", "|---|---|---|---|---|---|---|"]
    for name in CHANNEL_SPACE.names:
        vals = [e for r in reports if "truth" in r
                for e, true in zip(r["truth"]["errors"][name], r["truth"]["true"]) if _counts(name, true)]
        if not vals:
            continue
        p = CHANNEL_SPACE[name]
        lines.append(f"| {p.processor} | `{name}` | {p.unit or '–'} | {len(vals)} | {np.median(vals):.3g} | "
                     f"{np.percentile(vals, 90):.3g} | {max(vals):.3g} |")
    return lines


# -- CLI --------------------------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    from pipelines.ray_runtime import add_ray_arguments

    d = FitConfig()
    p.add_argument("stems", metavar="STEMS_DIR",
                   help="folder of mono (or multichannel, averaged) stem files, one track each, sorted by name; "
                        "or, with no MIX, a folder of songs laid out as MedleyDB (<Song>_MIX.wav beside <Song>_STEMS/)")
    p.add_argument("mix", metavar="MIX.wav", nargs="?", default=None, help="the stereo mix of those stems")
    p.add_argument("--out", required=True,
                   help="the mix document to write (.json); with a folder of songs, the folder for one <Song>.json each")
    p.add_argument("--processors", default=",".join(d.processors),
                   help=f"comma-separated processors to fit, from {','.join(PROCESSOR_CHOICES)} (the others stay neutral)")
    p.add_argument("--seconds", type=float, default=d.seconds,
                   help="length of the excerpt the processors are fitted on (the window where the quietest track is loudest)")
    p.add_argument("--warmup", type=float, default=d.warmup,
                   help="seconds before the excerpt the twin runs through but the loss ignores (processor state)")
    p.add_argument("--starts", type=int, default=d.starts, help="starting points optimised together; the best is kept")
    p.add_argument("--steps", type=int, default=d.steps, help="Adam steps for the processors (0: gain and pan only)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate, in normalized units (range = 2)")
    p.add_argument("--wave-weight", type=float, default=d.wave_weight,
                   help="weight of the waveform term (ESR) beside the stereo MR-STFT loss")
    p.add_argument("--knee-db", type=float, default=d.knee_db,
                   help="width of the compressor's backward-only soft-knee surrogate (0: true hard-knee gradient)")
    p.add_argument("--pan-law", default=d.pan_law, choices=("linear", "constant_power"), help="pan law of the mix")
    p.add_argument("--order", default=",".join(d.order), help="processor order of the console, e.g. eq,compressor,reverb")
    p.add_argument("--ir-bank-n", type=int, default=8, help="IRs in the generated bank")
    p.add_argument("--ir-bank-seed", type=int, default=0, help="seed of the generated IR bank")
    p.add_argument("--ir-folder", default=None, help="a folder of IR files instead of the generated bank")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the random starts")
    p.add_argument("--truth", default=None,
                   help="a known mix document of the same stems: report parameter errors; with a folder of songs, "
                        "'auto' uses each song's <Song>_MIX_PARAMS.json (the demo corpus has them)")
    p.add_argument("--report", default=None, help="also write the report(s) as JSON here")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per song (songs run in parallel with --workers; on a busy machine 1 is fastest)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_ray_arguments(p)
    p.set_defaults(workers=1)


def _config(args) -> FitConfig:
    procs = tuple(x.strip() for x in args.processors.split(",") if x.strip())
    order = tuple(x.strip() for x in args.order.split(",") if x.strip())
    from dmcdata.console.params import ORDERS

    if order not in ORDERS:
        raise FitError(f"--order {args.order!r} must be a permutation of eq,compressor,reverb")
    return FitConfig(processors=procs, seconds=args.seconds, warmup=args.warmup, starts=args.starts, steps=args.steps, lr=args.lr,
                     wave_weight=args.wave_weight, knee_db=args.knee_db, seed=args.seed, pan_law=args.pan_law,
                     order=order).check()


def find_songs(root: Path) -> list[tuple[str, Path, Path]]:
    """(name, stems folder, mix file) of every MedleyDB-style song below ``root``, sorted by name."""
    songs = []
    for mix in sorted(root.rglob("*_MIX.wav")):
        name = mix.name[: -len("_MIX.wav")]
        stems = mix.parent / f"{name}_STEMS"
        if stems.is_dir():
            songs.append((name, stems, mix))
    return songs


def _auto_truth(truth: str | None, mix: Path, name: str) -> str | None:
    if truth is None:
        return None
    if truth != "auto":
        raise FitError("--truth with a folder of songs must be 'auto' (each song's <Song>_MIX_PARAMS.json)")
    p = mix.parent / f"{name}_MIX_PARAMS.json"
    return str(p) if p.is_file() else None


def _print_report(r: dict) -> None:
    print(f"{r['mix']}: {r['tracks']} tracks, {r['seconds']:.2f} s -> {r['out']}")
    print(f"  error energy / mix energy: {r['error_db']:.2f} dB (console render of the fit, whole song); "
          f"time {r['time_s']:.1f} s" + (f"; MR-STFT (excerpt) {r['mr_stft_excerpt']:.4f}" if "mr_stft_excerpt" in r else ""))
    for name, f, lm in zip(r["track_names"], r["fitted"], r["level_match_db"]):
        print(f"  {name:<28} gain {f['gain_db']:+7.2f} dB  pan {f['pan']:.3f}  polarity {f['polarity']}  "
              f"level match {lm:+.2f} dB")
    if "truth" in r:
        t = r["truth"]["errors"]
        print(f"  vs truth: max |gain error| {max(t['gain_db']):.2g} dB, max |pan error| {max(t['pan']):.2g}")


def main(args) -> int:
    from dmcdata.console.errors import ConsoleError

    try:
        cfg = _config(args)
        if args.ir_folder and not Path(args.ir_folder).is_dir():
            raise FitError(f"--ir-folder {args.ir_folder!r} is not a folder")
        bank_spec = {"folder": args.ir_folder} if args.ir_folder else \
            {"generated": {"n": args.ir_bank_n, "seed": args.ir_bank_seed}}
        root = Path(args.stems)
        if args.mix is not None:
            if not Path(args.mix).is_file():
                raise FitError(f"mix {args.mix!r} does not exist")
            if not str(args.out).endswith(".json") or Path(args.out).is_dir():
                raise FitError(f"--out {args.out!r}: name the .json mix document to write")
            reports = [fit_song(str(root), args.mix, args.out, cfg, bank_spec, args.truth, not args.no_progress,
                                args.threads)]
        else:
            if not root.is_dir():
                raise FitError(f"{str(root)!r} is not a folder (give STEMS_DIR and MIX.wav, or a folder of songs)")
            songs = find_songs(root)
            if not songs:
                raise FitError(f"{str(root)!r}: no songs found (<Song>_MIX.wav beside <Song>_STEMS/)")
            out_dir = Path(args.out)
            if out_dir.exists() and not out_dir.is_dir():
                raise FitError(f"--out {args.out!r} must be a folder when fitting a folder of songs")
            out_dir.mkdir(parents=True, exist_ok=True)
            jobs = [(str(s), str(m), str(out_dir / f"{name}.json"), _auto_truth(args.truth, m, name))
                    for name, s, m in songs]
            reports = _run_songs(jobs, cfg, bank_spec, args)
    except (FitError, ConsoleError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for r in reports:
        _print_report(r)
    if any("truth" in r for r in reports):
        print(f"parameter errors over {sum(r['tracks'] for r in reports)} tracks of {len(reports)} song(s) "
              "(compressor settings only where the true ratio > 1, IR and decay only where wet > 0, "
              "EQ frequency and Q only where that band's gain is not 0 dB):")
        print("\n".join(truth_table(reports)))
    if args.report:
        from dmcdata.shards import write_atomic

        write_atomic(args.report, (json.dumps(reports if args.mix is None else reports[0], indent=1) + "\n").encode())
    return 0


def _run_songs(jobs, cfg: FitConfig, bank_spec: dict, args) -> list[dict]:
    if args.workers <= 1 and not args.ray_address:
        from tqdm import tqdm

        it = jobs if args.no_progress else tqdm(jobs, desc="fit", unit="song", file=sys.stderr)
        return [fit_song(s, m, o, cfg, bank_spec, t, False, args.threads) for s, m, o, t in it]
    from pipelines.ray_runtime import ray_session

    with ray_session(args.workers, args.ray_address) as ray:
        task = ray.remote(num_cpus=1, max_retries=1)(fit_song)
        refs = [task.remote(s, m, o, cfg, bank_spec, t, False, args.threads) for s, m, o, t in jobs]
        out = []
        from tqdm import tqdm

        bar = None if args.no_progress else tqdm(total=len(refs), desc="fit", unit="song", file=sys.stderr)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            if bar:
                bar.update(len(ready))
        if bar:
            bar.close()
        for r in refs:
            try:
                out.append(ray.get(r))
            except Exception as e:  # a task's FitError / ConsoleError arrives wrapped
                cause = getattr(e, "cause", None) or e
                raise FitError(str(cause).splitlines()[-1]) from None
        return out


__all__ = ["FitConfig", "FitResult", "FitError", "fit_mix", "fit_song", "least_squares_gain_pan"]
