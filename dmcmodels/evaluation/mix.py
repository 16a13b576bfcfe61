"""Evaluation of mixers (``dmcmodels eval mix``): thesis Tables 12 (ENST-drums) / 13 (MedleyDB),
gain/pan recovery on the demo corpus, and a stimuli folder for the listening page.

**Excerpts.** Every segment of DATA's test split (``split == 'test'``, or ``--select``) is tiled into
non-overlapping excerpts of ``patch_seconds`` (``MultitrackDataset(patches="all", permute=False)``:
the tiles start at a seeded offset inside the segment's slack, so the same seed gives the same
excerpts); a segment shorter than one excerpt is one excerpt of its own length (the zero padding of
the loader is cut off). Excerpts are read in DATA's shard order, one at a time, so memory does not
grow with the test set.

**Methods.** Every ``--checkpoint`` (a ``train mix`` run: DMC-basic, DMC-full, Mix-Wave-U-Net), then
the baselines mono and random (always; random seeded with ``--seed``, one call per excerpt in excerpt
order). The baselines use the checkpoints' pan law when they agree on one, else linear (the thesis').
The reference is the runs' target (``mix``, or ENST's ``dry_mix``); all runs must share it and the
sample rate. Each method mixes the excerpt's tracks (mono, in the build's order, all real).

**Metrics** per method:

- stereo MR-STFT distance (:func:`dmcmodels.losses.stereo_mr_stft`, the training loss: MR-STFT of
  L+R plus MR-STFT of L−R) of the method's mix against the reference, mean and standard deviation
  over the excerpts;
- Fréchet distances FD and FD-inf (:mod:`dmcmodels.judge.fad`) between the Gaussians of the
  per-2.99-s-patch MTT_vgg / MSD_vgg embeddings of the method's mixes and of the reference mixes
  (the in-memory mixes, which embed to the same numbers as float WAVs of them). An excerpt gives
  ``floor(seconds / 2.99)`` patches (1 for a 5-s excerpt); the patch count is printed beside the
  figures, because a Gaussian in 128 dimensions fitted to fewer than 129 patches is rank-deficient
  and FD from a few dozen patches is unreliable;
- gain and pan recovery (``reference_params``: the demo corpus' folder): for each excerpt, the
  method's chosen settings (:func:`dmcmodels.mixers.named_params`) against the virtual engineer's
  mix document of that song (MedleyDB: ``Audio/<Song>/<Song>_MIX_PARAMS.json``; ENST-drums:
  ``drummer_N/mix_params/<take>_{wet_mix|dry_mix}.json``), tracks matched by their audio file
  (MedleyDB: the stem file name ``<Song>_STEM_NN``; ENST: the microphone folder), never by
  position. Only tracks that sound in the excerpt (peak above −60 dBFS) are scored. **Gain error
  relative to the mix**: the engineer shifts every gain by one common offset to set the mix's peak
  level, and a mixer's overall level is not what is asked of it, so each excerpt's mean gain (over
  its scored tracks) is removed from both the predicted and the engineer's gains before
  differencing: e_i = |(g_i − mean g) − (r_i − mean r)| dB (excerpts with one scored track have no
  relative gain and are left out). **Pan error**: |θ_i − θ_ref,i| (θ ∈ [0, 1], 0.5 = centre), and,
  because the stereo loss cannot tell a mix from its left-right mirror image (and the engineer's
  side for a song's off-centre parts is a coin flip), also the **L↔R-free** pan error: per excerpt
  the better of the errors of θ and of 1 − θ; and the **pan amount** error ||θ_i − ½| − |θ_ref,i − ½||,
  how far off its distance from the centre is, whatever the side. On the demo corpus the side of
  every off-centre part follows from one coin flip per song, which no audio reveals: for a part at
  ½ ± d with either sign equally likely, any prediction a has E|a − θ_ref| = (|a−½−d| + |a−½+d|)/2
  ≥ d, which the centre (mono) attains, so no method can beat mono on the plain pan error in
  expectation. The stereo loss (thesis eq. 5.3) is blind to the global mirror and nearly blind to
  each part's side (the magnitude of L−R changes with it only where parts overlap in time and
  frequency), and the thesis designed it to place parts off-centre "whatever the side"; the pan
  amount is what it teaches and what the corpus makes recoverable. Mean absolute error and standard
  deviation over the scored (excerpt, track) pairs, with their count.

**Output** (``--out EVAL``, a new or empty folder, or one this command wrote): ``table.md`` and
``table.csv`` (rows = methods), ``results.json`` (every number, the per-excerpt values and the
settings), ``stimuli/<NN>_<excerpt>/<method>.wav`` + ``reference.wav`` (float WAVs of the same
excerpts mixed by every method: ``dmcmodels listen build EVAL/stimuli --out PAGE``). All files are
written atomically; the same arguments and seed give the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dmcdata.streaming.multitrack import MultitrackDataset

TOOL = "dmcmodels eval mix"
FD_MODELS = ("mtt_vgg", "msd_vgg")
FD_LABELS = {"mtt_vgg": "MTT_vgg", "msd_vgg": "MSD_vgg"}
SILENCE_DB = -60.0  # tracks quieter than this (peak, dBFS) in an excerpt are not scored for gain/pan
DEFAULT_PATCH_SECONDS = 5.0
REFERENCE = "reference"


class EvalMixError(ValueError):
    """Arguments, checkpoints or data that cannot be evaluated together (the message says why)."""


# ----------------------------------------------------------------------------- excerpts
class ExcerptDataset(MultitrackDataset):
    """:class:`MultitrackDataset` that also gives each track's name (``track_names``), the dataset and
    the segment's start in the song (``segment_start``, frames) — what matching tracks with a mix
    document and naming the excerpts need."""

    def _patch(self, key, meta, members, names, mix_name, start, patch, frames) -> dict:
        out = super()._patch(key, meta, members, names, mix_name, start, patch, frames)
        out["track_names"] = [str(t.get("name", "")) for t in meta["tracks"]]  # permute=False: same order
        out["dataset"] = str(meta.get("dataset", ""))
        out["segment_start"] = int(meta.get("start", 0) or 0)
        return out


def _identity(samples):
    if len(samples) != 1:
        raise ValueError("eval mix reads one excerpt at a time")
    return samples[0]


def _guarded(loader, spec, selection, hint):
    """The loader's excerpts; "every sample skipped" as an :class:`EvalMixError` that says what to do."""
    from dmcdata.streaming import AllShardsSkippedError

    try:
        yield from loader
    except AllShardsSkippedError as e:
        raise EvalMixError(f"{' '.join(spec)}{' where ' + selection if selection else ''}: no excerpt to evaluate: "
                           f"{e}{hint}") from None


def excerpt_count(spec: list[str], selection: str | None, patch_frames: int) -> int | None:
    """How many excerpts DATA's manifest promises (for the progress bar), or None without a manifest."""
    from dmcdata.streaming.selection import read_manifest
    from dmcmodels.training.data import manifest_url

    try:
        df = read_manifest(manifest_url(spec))
        if selection:
            df = df.query(selection)
        return int(sum(max(1, int(f) // patch_frames) for f in df["frames"]))
    except Exception:  # only a progress-bar total: any failure means "unknown"
        return None


# ----------------------------------------------------------------------------- methods
@dataclass
class Method:
    label: str        # table row: "dmc-basic", "mono", ... (run folder added when two runs share a model)
    stem: str         # file name of its stimuli: label with anything but [A-Za-z0-9._-] as "-"
    mixer: object     # dmcmodels.mixers.Mixer
    kind: str         # "checkpoint" | "baseline"
    spec: str         # what --checkpoint said
    target: str | None = None
    mr_stft: list = field(default_factory=list)
    emb: dict = field(default_factory=lambda: {m: [] for m in FD_MODELS})
    gain_err: list = field(default_factory=list)
    pan_err: list = field(default_factory=list)
    pan_err_lr: list = field(default_factory=list)
    pan_amount: list = field(default_factory=list)


def _run_config(path: str):
    from dmcmodels.training.config import TrainConfig

    state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    return TrainConfig.from_dict(state["config"])


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-") or "method"


def load_methods(checkpoints: list[str], seed: int, device: str = "cpu") -> list[Method]:
    """The ``--checkpoint`` mixers in order, then mono and random (a baseline named in ``checkpoints``
    is taken once, in the baselines' place)."""
    from dmcmodels.mixers import BASELINE_NAMES, MixerError, load_mixer

    runs = []
    for spec in checkpoints:
        if spec in BASELINE_NAMES:
            continue
        try:
            mixer = load_mixer(spec, device=device)
        except MixerError as e:
            raise EvalMixError(str(e)) from None
        runs.append(Method(mixer.name, "", mixer, "checkpoint", spec, _run_config(mixer.path).target))
    counts = {}
    for m in runs:
        counts[m.label] = counts.get(m.label, 0) + 1
    for m in runs:
        if counts[m.label] > 1:  # two runs of one model: name them by their run folder
            p = Path(m.mixer.path)
            m.label = f"{m.label} ({p.parent.parent.name if p.parent.name == 'checkpoints' else p.stem})"
    laws = {m.mixer.pan_law for m in runs}
    law = laws.pop() if len(laws) == 1 else "linear"
    methods = runs + [Method(b, "", load_mixer(b, pan_law=law, seed=seed), "baseline", b) for b in BASELINE_NAMES]
    used = {REFERENCE}
    for m in methods:
        stem, i = _safe(m.label), 2
        while stem in used:
            stem, i = f"{_safe(m.label)}-{i}", i + 1
        used.add(stem)
        m.stem = stem
        m.mixer.module.to(device).eval()
    return methods


def check_compatible(methods: list[Method], target: str | None) -> tuple[str, int | None]:
    """(target, sample rate) all checkpoints share; a clear error otherwise."""
    runs = [m for m in methods if m.kind == "checkpoint"]
    targets = sorted({m.target for m in runs})
    if len(targets) > 1:
        raise EvalMixError("the checkpoints were trained for different targets: "
                           + ", ".join(f"{m.spec} -> {m.target}" for m in runs) + "; evaluate them separately")
    if target is not None and targets and target != targets[0]:
        raise EvalMixError(f"--target {target}, but the checkpoints were trained for {targets[0]!r}")
    rates = sorted({m.mixer.sample_rate for m in runs})
    if len(rates) > 1:
        raise EvalMixError("the checkpoints run at different sample rates: "
                           + ", ".join(f"{m.spec} -> {m.mixer.sample_rate} Hz" for m in runs))
    return (targets[0] if targets else target or "mix"), (rates[0] if rates else None)


# ----------------------------------------------------------------------------- reference params
class ReferenceParams:
    """The virtual engineer's settings per song, from the demo corpus folder (see module doc)."""

    def __init__(self, root: str | Path, target: str, log=print):
        self.root = Path(root)
        if not self.root.is_dir():
            raise EvalMixError(f"--reference-params {self.root}: no such folder (the demo corpus' medleydb or "
                               f"enst-drums folder, e.g. dmc-demo/medleydb)")
        self.target = target
        self.log = log
        self.docs: dict = {}
        self.skipped: dict = {}  # song -> reason

    def path(self, dataset: str, song: str) -> tuple[Path, str]:
        """(document path, how its tracks are keyed: "stem" = file name, "folder" = parent folder)."""
        m = re.fullmatch(r"(drummer_\d+)_(.+)", song)
        if dataset.startswith("enst") and m:
            mix = "dry_mix" if self.target == "dry_mix" else "wet_mix"
            return self.root / m.group(1) / "mix_params" / f"{m.group(2)}_{mix}.json", "folder"
        audio = self.root / "Audio" if (self.root / "Audio").is_dir() else self.root
        return audio / song / f"{song}_MIX_PARAMS.json", "stem"

    def tracks(self, dataset: str, song: str) -> dict | None:
        """{track name: params} of ``song``'s document, or None (skipped, said once)."""
        if song in self.docs:
            return self.docs[song]
        from dmcdata.console.mixfile import MixDocument, MixFileError

        path, keyed = self.path(dataset, song)
        table = None
        if not path.is_file():
            self.skipped[song] = f"no params file {path}"
        else:
            try:
                doc = MixDocument.load(path)
            except MixFileError as e:
                raise EvalMixError(str(e)) from None
            table = {}
            for t in doc.tracks:
                name = Path(t.file).stem if keyed == "stem" else Path(t.file).parent.name
                if name in table:
                    raise EvalMixError(f"{path}: two tracks map to {name!r}; cannot match tracks by file")
                table[name] = t.params
        if table is None:
            self.log(f"{TOOL}: song {song}: {self.skipped[song]}; skipped from gain/pan recovery")
        self.docs[song] = table
        return table


def recovery_errors(pred: list[dict], ref: dict, names: list[str],
                    peaks: np.ndarray) -> tuple[list, list, list, list, list]:
    """(gain errors dB, pan errors, L↔R-free pan errors, pan amount errors, unmatched names) of one
    excerpt (module doc)."""
    silence = 10.0 ** (SILENCE_DB / 20.0)
    unmatched = [n for n in names if n not in ref]
    idx = [i for i, n in enumerate(names) if n in ref and peaks[i] > silence]
    if not idx:
        return [], [], [], [], unmatched
    g = np.array([pred[i]["gain_db"] for i in idx], np.float64)
    r = np.array([ref[names[i]]["gain_db"] for i in idx], np.float64)
    gain = list(np.abs((g - g.mean()) - (r - r.mean()))) if len(idx) >= 2 else []
    p = np.array([pred[i]["pan"] for i in idx], np.float64)
    q = np.array([ref[names[i]]["pan"] for i in idx], np.float64)
    direct, mirror = np.abs(p - q), np.abs((1.0 - p) - q)
    free = direct if direct.mean() <= mirror.mean() else mirror
    amount = np.abs(np.abs(p - 0.5) - np.abs(q - 0.5))
    return ([float(v) for v in gain], [float(v) for v in direct], [float(v) for v in free],
            [float(v) for v in amount], unmatched)


# ----------------------------------------------------------------------------- FD
def fd_networks(cache=None, log=print) -> dict:
    """MTT_vgg and MSD_vgg, fetched first when missing (as the DMC encoder does)."""
    from dmcmodels.judge import weights as w

    nets = {}
    for model in FD_MODELS:
        if not w.weights_path(model, cache).is_file():
            log(f"{TOOL}: {model} weights not in {w.weights_path(model, cache).parent}; fetching them "
                f"({w.FETCH_COMMAND})")
            try:
                w.fetch(cache=cache)
            except w.WeightsError as e:
                raise EvalMixError(f"{e} (or pass --no-fad to skip the Fréchet distances)") from None
        try:
            nets[model] = w.load_model(model, cache)[0]
        except w.WeightsError as e:
            raise EvalMixError(f"{e} (or pass --no-fad to skip the Fréchet distances)") from None
    return nets


def fd_figures(ref: np.ndarray, gen: np.ndarray, seed: int) -> dict:
    """{"fd", "fd_inf", "patches", "note"} between two embedding sets (None where too few patches)."""
    from dmcmodels.judge.fad import FadError, fd_infinity, frechet_distance

    out = {"fd": None, "fd_inf": None, "patches": int(len(gen)), "reference_patches": int(len(ref)), "note": None}
    if len(gen) < 2 or len(ref) < 2:
        out["note"] = f"FD needs >= 2 patches per set, got {len(gen)} / {len(ref)}"
        return out
    out["fd"] = frechet_distance(ref, gen)
    try:
        out["fd_inf"] = fd_infinity(ref, gen, seed=seed).value
    except FadError as e:
        out["note"] = f"FD-inf: {e}"
    return out


# ----------------------------------------------------------------------------- output folder
def prepare_out(out: Path) -> None:
    """``out`` must be new, empty, or a folder this command wrote (its stimuli are then replaced)."""
    if out.exists():
        if not out.is_dir():
            raise EvalMixError(f"--out {out} exists and is not a folder")
        if any(out.iterdir()):
            ours = False
            try:
                ours = json.loads((out / "results.json").read_text()).get("tool") == TOOL
            except (OSError, ValueError, AttributeError):
                pass
            if not ours:
                raise EvalMixError(f"--out {out} is not empty and was not written by `{TOOL}` (no results.json of "
                                   f"ours); choose a new or empty folder")
            if (out / "stimuli").is_dir():
                shutil.rmtree(out / "stimuli")
    out.mkdir(parents=True, exist_ok=True)


def _stats(values) -> dict:
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)}


# ----------------------------------------------------------------------------- the evaluation
@torch.no_grad()
def evaluate(checkpoints: list[str], data: list[str], out: str | Path, *, select: str | None = None,
             patch_seconds: float = DEFAULT_PATCH_SECONDS, seed: int = 1234, target: str | None = None,
             reference_params: str | Path | None = None, fad: bool = True, stimuli: int = 8,
             stimuli_per_song: int = 1, max_excerpts: int | None = None, device: str = "cpu",
             progress: bool = True, cache=None, log=None) -> dict:
    """Run the evaluation (module doc) and write ``out``; returns the results document."""
    from tqdm import tqdm

    from dmcdata.audio import wav_bytes
    from dmcdata.shards import write_atomic
    from dmcdata.streaming import StreamingLoader
    from dmcmodels.judge.fad import embed_audio
    from dmcmodels.losses import stereo_mr_stft
    from dmcmodels.mixers import named_params
    from dmcmodels.training.data import DataError, shard_kind, source, split_selection

    log = log or (lambda msg: print(msg, file=sys.stderr))
    if not patch_seconds > 0:
        raise EvalMixError(f"--patch-seconds must be > 0, got {patch_seconds}")
    if stimuli < 0 or stimuli_per_song < 1 or (max_excerpts is not None and max_excerpts < 1):
        raise EvalMixError("--stimuli must be >= 0, --stimuli-per-song >= 1 and --examples >= 1")
    out = Path(out)
    spec = [str(d) for d in data]
    methods = load_methods(list(checkpoints), seed, device)
    target, rate = check_compatible(methods, target)
    selection = split_selection(spec, "test", select, strict=True)
    if shard_kind(spec) != "multitrack":
        raise DataError(f"eval mix needs multitrack shards (`dmcdata build medleydb|enst-drums`); {spec[0]} holds "
                        f"{shard_kind(spec)} samples")
    refs = ReferenceParams(reference_params, target, log) if reference_params is not None else None
    nets = fd_networks(cache, log) if fad else {}
    prepare_out(out)

    dataset = ExcerptDataset(source(spec), patch_seconds=patch_seconds, patches="all", permute=False,
                             mix=None if target == "mix" else target, selection=selection, seed=seed,
                             shuffle_shards=False, item_shuffle_buffer=0, rank=0, world_size=1)
    loader = StreamingLoader(dataset, batch_size=1, num_workers=0, collate_fn=_identity)
    patch_frames = None
    total = None
    ref_emb = {m: [] for m in FD_MODELS}
    excerpts, unmatched, stimuli_written, per_song = [], {}, [], {}
    datasets, rates_seen = set(), set()
    bar = None
    hint = " (--target dry_mix needs ENST-drums builds, whose samples hold a dry_mix)" if target == "dry_mix" else ""
    try:
        for ex in _guarded(loader, spec, selection, hint):
            sr = int(ex["sample_rate"])
            if patch_frames is None:
                patch_frames = int(round(patch_seconds * sr))
                total = excerpt_count(spec, selection, patch_frames)
                if total is not None and max_excerpts:
                    total = min(total, max_excerpts)
                bar = tqdm(total=total, desc=TOOL, unit="excerpt", disable=not progress, file=sys.stderr)
            if rate is not None and sr != rate:
                raise EvalMixError(f"{ex['key']}: audio at {sr} Hz, but the checkpoints run at {rate} Hz")
            if "mix" not in ex:
                raise EvalMixError(f"{ex['key']}: no reference mix ({target!r}) in the sample")
            valid = int(ex["valid"])
            tracks = torch.from_numpy(ex["tracks"][:, :valid]).float()
            ref = torch.from_numpy(ex["mix"][:, :valid]).double()
            names = list(ex["track_names"])
            datasets.add(ex["dataset"])
            rates_seen.add(sr)
            song = ex["song"]
            start_s = (ex["segment_start"] + int(ex["start"])) / sr
            eid = f"{song}_{start_s:.2f}s"
            n_song = per_song.get(song, 0)
            stim = None
            if len(stimuli_written) < stimuli and n_song < stimuli_per_song:
                stim = out / "stimuli" / f"{len(stimuli_written):02d}_{_safe(eid)}"
                per_song[song] = n_song + 1
                stimuli_written.append(stim.name)
                write_atomic(stim / f"{REFERENCE}.wav", wav_bytes(ref.float().numpy().T.copy(), sr, "FLOAT"))
            record = {"id": eid, "key": ex["key"], "song": song, "start_frame": int(ex["start"]),
                      "start_s": round(start_s, 6), "seconds": round(valid / sr, 6), "n_tracks": len(names),
                      "stimulus": stim.name if stim else None, "mr_stft": {}}
            peaks = tracks.abs().amax(dim=1).numpy() if tracks.shape[1] else np.zeros(len(names))
            table = refs.tracks(ex["dataset"], song) if refs is not None else None
            for m in methods:
                x = tracks[None].to(device)
                mask = torch.ones(1, len(names), dtype=torch.bool, device=device)
                try:
                    res = m.mixer.module(x, mask)
                except ValueError as e:  # e.g. Mix-Wave-U-Net built for fewer inputs than the song has
                    raise EvalMixError(f"{m.label} cannot mix {ex['key']} ({len(names)} tracks): {e}; select songs "
                                       f"it can take with --select (e.g. \"split == 'test' and n_tracks <= 8\")") from None
                mix = res["mix"][0].detach().cpu().double()
                value = float(stereo_mr_stft(mix[None], ref[None], reduction="none")[0])
                m.mr_stft.append(value)
                record["mr_stft"][m.label] = value
                for model, net in nets.items():
                    m.emb[model].append(embed_audio(mix.float().numpy(), sr, net=net))
                if table is not None and m.mixer.has_document:
                    pred = named_params(m.mixer, res["params"][0])
                    g, p, q, a, miss = recovery_errors(pred, table, names, peaks)
                    m.gain_err += g
                    m.pan_err += p
                    m.pan_err_lr += q
                    m.pan_amount += a
                    if miss and song not in unmatched:
                        unmatched[song] = miss
                        log(f"{TOOL}: song {song}: track(s) {', '.join(miss)} not in its params file; not scored")
                if stim is not None:
                    write_atomic(stim / f"{m.stem}.wav", wav_bytes(mix.float().numpy().T.copy(), sr, "FLOAT"))
            for model, net in nets.items():
                ref_emb[model].append(embed_audio(ref.float().numpy(), sr, net=net))
            excerpts.append(record)
            if bar is not None:
                bar.update(1)
            if max_excerpts and len(excerpts) >= max_excerpts:
                break
    finally:
        if bar is not None:
            bar.close()
    skipped = [vars(e) for e in loader.skips.events]
    for e in skipped:
        log(f"{TOOL}: skipped {e['kind']} {e['key'] or e['url']}: {e['reason']}")
    if not excerpts:
        why = f" (first skip: {skipped[0]['reason']})" if skipped else ""
        raise EvalMixError(f"{' '.join(spec)}{' where ' + selection if selection else ''}: no excerpt to evaluate{why}"
                           f"{hint}")

    results = {"tool": TOOL, "data": spec, "selection": selection, "target": target, "seed": seed,
               "patch_seconds": patch_seconds, "sample_rates": sorted(rates_seen),
               "datasets": sorted(datasets), "n_excerpts": len(excerpts), "n_songs": len({e["song"] for e in excerpts}),
               "seconds": round(sum(e["seconds"] for e in excerpts), 6), "fad": bool(fad),
               "reference_params": None if refs is None else str(refs.root),
               "songs_without_params": {} if refs is None else dict(sorted(refs.skipped.items())),
               "tracks_without_params": dict(sorted(unmatched.items())), "skipped": skipped,
               "gain_pan_silence_db": SILENCE_DB, "methods": [], "excerpts": excerpts, "stimuli": stimuli_written}
    refcat = {m: np.concatenate(v) if v else np.zeros((0, 128), np.float32) for m, v in ref_emb.items()}
    for m in methods:
        row = {"method": m.label, "kind": m.kind, "checkpoint": m.mixer.path, "stimulus": f"{m.stem}.wav",
               "mr_stft": _stats(m.mr_stft), "fd": {}}
        for model in nets:
            gen = np.concatenate(m.emb[model]) if m.emb[model] else np.zeros((0, 128), np.float32)
            row["fd"][model] = fd_figures(refcat[model], gen, seed)
        scored = refs is not None and m.mixer.has_document
        row["gain_error_db"] = _stats(m.gain_err) if scored else None
        row["pan_error"] = _stats(m.pan_err) if scored else None
        row["pan_error_lr_free"] = _stats(m.pan_err_lr) if scored else None
        row["pan_amount_error"] = _stats(m.pan_amount) if scored else None
        results["methods"].append(row)
    write_outputs(out, results)
    return results


# ----------------------------------------------------------------------------- tables
def _f(v, decimals: int = 2) -> str:
    if v is None:
        return "—"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.{decimals}f}" if abs(v) < 1e5 else f"{v:.3e}"


def _ms(s: dict | None, decimals: int) -> str:
    if not s or s["n"] == 0:
        return "—"
    return f"{_f(s['mean'], decimals)} ± {_f(s['std'], decimals)}"


CSV_FIELDS = ["method", "kind", "n_excerpts", "mr_stft_mean", "mr_stft_std",
              "fd_mtt_vgg", "fd_inf_mtt_vgg", "fd_msd_vgg", "fd_inf_msd_vgg", "fd_patches",
              "gain_error_db_mean", "gain_error_db_std", "gain_n", "pan_error_mean", "pan_error_std", "pan_n",
              "pan_error_lr_free_mean", "pan_error_lr_free_std", "pan_amount_error_mean", "pan_amount_error_std"]


def csv_rows(results: dict) -> list[dict]:
    rows = []
    for r in results["methods"]:
        fd = r["fd"]
        g, p, q = r["gain_error_db"] or {}, r["pan_error"] or {}, r["pan_error_lr_free"] or {}
        a = r.get("pan_amount_error") or {}
        rows.append({
            "method": r["method"], "kind": r["kind"], "n_excerpts": r["mr_stft"]["n"],
            "mr_stft_mean": r["mr_stft"]["mean"], "mr_stft_std": r["mr_stft"]["std"],
            "fd_mtt_vgg": fd.get("mtt_vgg", {}).get("fd"), "fd_inf_mtt_vgg": fd.get("mtt_vgg", {}).get("fd_inf"),
            "fd_msd_vgg": fd.get("msd_vgg", {}).get("fd"), "fd_inf_msd_vgg": fd.get("msd_vgg", {}).get("fd_inf"),
            "fd_patches": fd.get("mtt_vgg", {}).get("patches"),
            "gain_error_db_mean": g.get("mean"), "gain_error_db_std": g.get("std"), "gain_n": g.get("n"),
            "pan_error_mean": p.get("mean"), "pan_error_std": p.get("std"), "pan_n": p.get("n"),
            "pan_error_lr_free_mean": q.get("mean"), "pan_error_lr_free_std": q.get("std"),
            "pan_amount_error_mean": a.get("mean"), "pan_amount_error_std": a.get("std")})
    return rows


def table_markdown(results: dict) -> str:
    from dmcmodels.evaluation import thesis

    ds = results["datasets"][0] if len(results["datasets"]) == 1 else "+".join(results["datasets"])
    layout = {"medleydb": "Table 13", "enst_drums": "Table 12"}.get(ds, "Tables 12/13")
    sel = results["selection"]
    lines = [f"# Mixing held-out songs: {ds}, target {results['target']} (thesis {layout} layout)", "",
             f"data: {' '.join(results['data'])}{' where ' + sel if sel else ''}; {results['n_excerpts']} excerpts "
             f"of up to {results['patch_seconds']:g} s from {results['n_songs']} songs ({results['seconds']:.1f} s); "
             f"seed {results['seed']}. MR-STFT: stereo (L+R and L−R) MR-STFT distance to the reference, mean ± std "
             f"over the excerpts (lower is better)."]
    if results["fad"]:
        pats = {r["fd"]["mtt_vgg"]["patches"] for r in results["methods"] if "mtt_vgg" in r["fd"]}
        n = pats.pop() if len(pats) == 1 else "?"
        warn = " — too few for a full-rank 128-d covariance: FD is unreliable, compare rows only" \
            if isinstance(n, int) and n <= 128 else ""
        lines.append(f"FD / FD∞: Fréchet distance (and its extrapolation to infinitely many patches) between the "
                     f"method's and the reference mixes' embeddings, **{n} patches of 2.99 s per set**{warn}.")
    if results["reference_params"]:
        lines.append(f"gain / pan error: the method's settings vs the engineer's ({results['reference_params']}); "
                     f"gain in dB relative to the mix (each excerpt's mean gain removed from both), pan |θ − θ_ref| "
                     f"and L↔R-free (the better of θ and its mirror 1 − θ per excerpt), pan amount ||θ − ½| − "
                     f"|θ_ref − ½|| (distance from the centre, whatever the side: the sides are the engineer's coin "
                     f"flips, so mono is the best possible plain pan error); mean ± std over the scored "
                     f"(excerpt, track) pairs (n), tracks above {SILENCE_DB:g} dBFS.")
    head = ["method", "excerpts", "MR-STFT"]
    if results["fad"]:
        head += ["FD MTT_vgg", "FD∞ MTT_vgg", "FD MSD_vgg", "FD∞ MSD_vgg", "FD patches"]
    if results["reference_params"]:
        head += ["gain err (dB)", "pan err", "pan err L↔R-free", "pan amount err", "n gain/pan"]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in results["methods"]:
        cells = [r["method"], str(r["mr_stft"]["n"]), _ms(r["mr_stft"], 3)]
        if results["fad"]:
            for model in FD_MODELS:
                f = r["fd"].get(model, {})
                cells += [_f(f.get("fd")), _f(f.get("fd_inf"))]
            cells.append(str(r["fd"].get("mtt_vgg", {}).get("patches", "—")))
        if results["reference_params"]:
            g = r["gain_error_db"]
            cells += [_ms(g, 2), _ms(r["pan_error"], 3), _ms(r["pan_error_lr_free"], 3),
                      _ms(r.get("pan_amount_error"), 3),
                      f"{g['n']}/{r['pan_error']['n']}" if g else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if results["songs_without_params"]:
        notes.append(f"{len(results['songs_without_params'])} song(s) without a params file were left out of "
                     f"gain/pan: {', '.join(results['songs_without_params'])}.")
    if results["skipped"]:
        notes.append(f"{len(results['skipped'])} shard(s)/sample(s) could not be read and were skipped "
                     f"(results.json lists them).")
    if notes:
        lines += [""] + notes
    ref = thesis.mix_reference(ds)
    if ref:
        caption, rows = ref
        lines += ["", f"For reference, {caption} — the thesis' own figures on the real dataset (plain FD; "
                      f"not measured here):", "", "| inputs | thesis method | MR-STFT | FD MTT_vgg | FD MSD_vgg |",
                  "|---:|---|---:|---:|---:|"]
        lines += [f"| {k} | {name} | {v[0]:.3f} | {v[1]:.2f} | {v[2]:.2f} |" for k, name, v in rows]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, results: dict) -> None:
    from dmcdata.shards import write_atomic

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for row in csv_rows(results):
        w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    write_atomic(out / "table.csv", buf.getvalue().encode())
    write_atomic(out / "table.md", table_markdown(results).encode())
    write_atomic(out / "results.json", (json.dumps(results, indent=1, sort_keys=False, allow_nan=True) + "\n").encode())
