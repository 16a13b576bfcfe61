"""``dmcmodels mix STEMS_DIR --checkpoint CKPT --out OUT/``: mix a folder of stems with a trained mixer.

What it writes (``OUT`` must be a new or empty folder, or one this command wrote before)::

    OUT/mix.wav           the stereo mix, 32-bit float WAV at the stems' sample rate
    OUT/mix.json          the console's mix document: per track its file (relative to OUT) and
                          the mixer's 25 named, denormalized console settings (gain_db, pan, eq.*,
                          compressor.*, reverb.*; see notes/README-console.md). Edit it and
                          `dmcdata render OUT/mix.json --out edited.wav` plays your edit.
    OUT/mix_console.wav   dmc-full/tcn only: the console render of mix.json (see below)
    OUT/.dmcmodels-mix    a small marker listing the files above: a rerun with the same --out
                          replaces them, and nothing else in the folder is ever touched

Which audio is ``mix.wav``, per mixer (``--checkpoint``: a run folder / checkpoint of
``dmcmodels train mix``, or a baseline name, ``mono`` | ``random`` with ``--seed``):

- dmc-basic, dmc-full/dsp, mono, random: the console render of ``mix.json``
  (:meth:`dmcdata.console.mixfile.MixDocument.render`), so ``dmcdata render OUT/mix.json``
  reproduces ``mix.wav``. It equals the model's own output to float tolerance (the gain–pan
  channel, and the exact differentiable twin of the console for dsp; tests/test_mix_command.py).
  The command prints that difference for the gain–pan mixers (cheap) and, with ``--compare``, for
  dsp (the twin costs about 3× the console's time).
- dmc-full/tcn: the neural channel's output, what the model itself plays: per track gain and
  polarity applied exactly, the frozen TCN run in blocks over the whole track
  (:func:`dmcmodels.process.process_mono`, memory of one block), then the pan
  (:func:`dmcmodels.tasks.channel_input` / ``channel_output``). The settings in ``mix.json`` are
  the same, but the console renders them with its DSP, which the network only approximates:
  ``mix_console.wav`` is that render (what ``dmcdata render OUT/mix.json`` gives), and the command
  prints the difference between the two (max |diff| and error-to-energy ratio in dB).
- mix-wave-u-net: ``mix.wav`` only. It predicts audio, not console settings, so no mix document
  can exist for it; the network runs in blocks over the whole song (memory of one block). It is not
  permutation invariant: the tracks are its input channels in file-name order.

The stems (``STEMS_DIR``, not searched recursively; sorted by file name):

- ``.wav`` / ``.flac`` files are the tracks; hidden files (names starting with ".") and every
  other file or folder are skipped, and the command says which.
- A stereo (multichannel) stem is downmixed to mono by the channel mean, exactly as
  ``dmcdata render`` reads it: the console channel is mono in, stereo out.
- Stems of different lengths are zero-padded at the end to the longest, before anything else (as
  the console's render_mix does): the controller, the channels and the mix all see the padded tracks.
- A digitally silent stem still gets settings in ``mix.json`` and adds nothing to the mix (the DMC
  leaves it out of its context, as it leaves out any track whose peak is below its silence level).
- Every stem must have the model's sample rate (baselines: any rate, the same for every stem);
  otherwise an error names the file and both rates. An unreadable, truncated or empty file, and a
  folder without stems, are errors that name it. Nothing is written when the stems are refused.

A whole song, any length: the DMC's controller sees every track whole. A track's embedding is the
mean over the covering 3-s patches of the whole track (81 for a 4-minute song; computed
``--patch-batch`` patches at a time, so memory does not grow with the song), the context is the
mean over the tracks, and the controller predicts ONE static setting per track for the whole song
(the settings do not follow the song in time; the console applies them to the whole track).

Same arguments, same bytes: the DMC runs in eval mode (no dropout), ``random`` draws from
``--seed``, and the WAV and JSON writers are deterministic. Every file is written atomically.
Exit status: 0 written, 2 a user error (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

AUDIO_SUFFIXES = (".wav", ".flac")
MARKER = ".dmcmodels-mix"
MIX_WAV, MIX_JSON, MIX_CONSOLE_WAV = "mix.wav", "mix.json", "mix_console.wav"


class MixCommandError(ValueError):
    """A user error of ``dmcmodels mix`` (stems, output folder, options); the message names the file."""


@dataclass
class Stem:
    path: Path
    name: str          # the file name without its extension (the track's name in mix.json)
    sample_rate: int
    frames: int
    channels: int


@dataclass
class Report:
    """What :func:`mix_folder` did (``main`` prints it)."""

    mixer: str
    checkpoint: str | None
    sample_rate: int
    frames: int
    stems: list[Stem]
    skipped: list[tuple[str, str]]                 # (name, why)
    params: list[dict] = field(default_factory=list)   # named settings per track (empty: no document)
    patches: list[int] = field(default_factory=list)   # covering 3-s patches per track (the DMC)
    silent: list[bool] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    compare: dict | None = None                    # {"what", "max_abs", "error_db"}
    peak: float = 0.0
    notes: list[str] = field(default_factory=list)


# -- the stems ------------------------------------------------------------------------------------

def list_stems(folder) -> tuple[list[Path], list[tuple[str, str]]]:
    """The .wav / .flac files of ``folder`` sorted by name, and the (name, why) of everything skipped."""
    folder = Path(folder)
    if not folder.exists():
        raise MixCommandError(f"stems folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise MixCommandError(f"stems folder {str(folder)!r} is a file, not a folder of stems")
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise MixCommandError(f"stems folder {str(folder)!r}: cannot list it ({e.strerror or e})") from None
    stems, skipped = [], []
    for name in names:
        p = folder / name
        if name.startswith("."):
            skipped.append((name, "hidden file"))
        elif p.is_dir():
            skipped.append((name, "a folder (stems are not searched recursively)"))
        elif p.suffix.lower() not in AUDIO_SUFFIXES:
            skipped.append((name, "not a .wav or .flac file"))
        else:
            stems.append(p)
    if not stems:
        what = f" (skipped: {', '.join(n for n, _ in skipped[:8])}{' ...' if len(skipped) > 8 else ''})" if skipped else ""
        raise MixCommandError(f"stems folder {str(folder)!r} holds no .wav or .flac stems{what}")
    return stems, skipped


def probe_stems(paths, model_rate: int | None) -> list[Stem]:
    """Header checks of every stem (as ``dmcdata build`` makes them) and one shared sample rate."""
    from dmcdata import audio as dmc_audio

    stems = []
    for p in paths:
        try:
            info = dmc_audio.probe(p)
        except dmc_audio.AudioError as e:
            raise MixCommandError(f"stem {str(p)!r}: {str(e).removeprefix(f'{p}: ')}") from None
        if info.frames == 0:
            raise MixCommandError(f"stem {str(p)!r} is an empty audio file (0 frames)")
        stems.append(Stem(Path(p), Path(p).stem, info.sample_rate, info.frames, info.channels))
    rates = sorted({s.sample_rate for s in stems})
    if len(rates) > 1:
        by = "; ".join(f"{r} Hz: " + ", ".join(s.path.name for s in stems if s.sample_rate == r) for r in rates)
        raise MixCommandError(f"the stems disagree on the sample rate ({by}); every stem of a song must have "
                              f"the same rate{f' (the model runs at {model_rate} Hz)' if model_rate else ''}")
    if model_rate is not None and rates[0] != model_rate:
        s = stems[0]
        more = f" (and the {len(stems) - 1} other stems)" if len(stems) > 1 else ""
        raise MixCommandError(f"stem {str(s.path)!r}{more} has sample rate {s.sample_rate} Hz; the model was trained "
                              f"at {model_rate} Hz: resample the stems to {model_rate} Hz first")
    names = [s.name for s in stems]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise MixCommandError(f"stems {dup} exist as both .wav and .flac in {str(stems[0].path.parent)!r}: "
                              f"keep one file per track")
    return stems


def read_stem(stem: Stem) -> np.ndarray:
    """Mono float32 (frames,): the channel mean of a multichannel file, as ``dmcdata render`` reads it."""
    import soundfile as sf

    from dmcdata.console.channel import check_audio
    from dmcdata.console.errors import ConsoleError

    try:
        data, _ = sf.read(str(stem.path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile raises several types
        raise MixCommandError(f"stem {str(stem.path)!r}: cannot read audio ({e})") from None
    if data.shape[0] != stem.frames:
        raise MixCommandError(f"stem {str(stem.path)!r}: the header promises {stem.frames} frames, "
                              f"{data.shape[0]} could be read")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    try:
        return check_audio(mono, f"stem {str(stem.path)!r}")
    except ConsoleError as e:
        raise MixCommandError(str(e)) from None


def pad_tracks(tracks: list[np.ndarray]) -> np.ndarray:
    """(N, T) float32: every track zero-padded at the end to the longest."""
    n = max(t.shape[0] for t in tracks)
    out = np.zeros((len(tracks), n), np.float32)
    for i, t in enumerate(tracks):
        out[i, :t.shape[0]] = t
    return out


# -- the output folder ------------------------------------------------------------------------------

def prepare_out(out, stems_dir) -> list[str]:
    """Check that ``out`` is new, empty or ours (has the marker); create it; the files it lists."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MixCommandError(f"--out {str(out)!r} is a file; name a new or empty folder")
    if out.is_dir() and out.resolve() == Path(stems_dir).resolve():
        raise MixCommandError(f"--out {str(out)!r} is the stems folder; name another (new or empty) folder")
    if not out.is_dir():
        try:
            out.mkdir(parents=True)
        except OSError as e:
            raise MixCommandError(f"--out {str(out)!r}: cannot create the folder ({e.strerror or e})") from None
        return []
    marker = out / MARKER
    if not marker.is_file():
        entries = sorted(os.listdir(out))
        if entries:
            shown = ", ".join(entries[:5]) + (" ..." if len(entries) > 5 else "")
            raise MixCommandError(f"--out {str(out)!r} holds files `dmcmodels mix` did not write ({shown}); "
                                  f"name a new or empty folder (or one this command wrote before)")
        return []
    try:
        rec = json.loads(marker.read_text())
        files = [str(f) for f in rec["files"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MixCommandError(f"--out {str(out)!r}: its marker {MARKER} is damaged ({e}); name a new or "
                              f"empty folder") from None
    if any(Path(f).name != f or f.startswith(".") for f in files):
        raise MixCommandError(f"--out {str(out)!r}: its marker {MARKER} lists unexpected paths; name a new folder")
    return files


def write_marker(out: Path, files) -> None:
    from dmcdata.shards import write_atomic

    rec = {"written_by": "dmcmodels mix", "files": sorted(set(files))}
    write_atomic(out / MARKER, (json.dumps(rec, indent=1) + "\n").encode())


def write_wav(path: Path, stereo: np.ndarray, sample_rate: int) -> None:
    """(2, T) float32 → a deterministic 32-bit float WAV, atomically."""
    from dmcdata.audio import wav_bytes
    from dmcdata.shards import write_atomic

    data = np.ascontiguousarray(np.asarray(stereo, np.float32).T)
    write_atomic(path, wav_bytes(data, int(sample_rate), "FLOAT"))


# -- the mixer's choices ----------------------------------------------------------------------------

def pick_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MixCommandError(f"--device {device}: no CUDA device is available (use --device cpu or auto)")
    if device != "cpu" and not device.startswith("cuda"):
        raise MixCommandError(f"--device must be auto, cpu or cuda, got {device!r}")
    return device


@torch.no_grad()
def embed_track(encoder, x: torch.Tensor, patch_batch: int = 2) -> tuple[torch.Tensor, int]:
    """A track's embedding as the DMC's encoder computes it (mean over the covering 3-s patches of
    the whole track), ``patch_batch`` patches at a time; and the number of patches."""
    from dmcmodels.models.encoder import to_patches

    patches = to_patches(encoder.frontend(x[None]))[0]  # (n, 187, 96)
    embs = [encoder.vgg.embed(patches[i:i + patch_batch]) for i in range(0, patches.shape[0], patch_batch)]
    return torch.cat(embs).mean(dim=0), int(patches.shape[0])


@torch.no_grad()
def dmc_params(dmc, tracks: np.ndarray, device="cpu", patch_batch: int = 2, progress: bool = False):
    """The DMC's normalized settings (N, P) for one song, as ``dmc(tracks[None])["params"][0]`` computes
    them, one track at a time (memory of one track); also the patch counts and the active flags."""
    from tqdm import tqdm

    n = tracks.shape[0]
    peaks = np.abs(tracks).max(axis=1)
    active = peaks > dmc.silence
    emb = torch.zeros(n, dmc.encoder.dim, device=device)
    patches = [0] * n
    for i in tqdm(range(n), desc="controller", unit="track", file=sys.stderr, disable=not progress):
        if active[i]:
            emb[i], patches[i] = embed_track(dmc.encoder, torch.from_numpy(tracks[i]).to(device), patch_batch)
    w = torch.from_numpy(active.astype(np.float32)).to(device)[:, None]
    context = (emb * w).sum(dim=0) / w.sum().clamp(min=1.0)
    params = dmc.post(torch.cat([emb, context[None].expand(n, -1)], dim=-1))
    return params.float().cpu(), patches, active


@torch.no_grad()
def own_channel_mix(mixer, tracks: np.ndarray, params: torch.Tensor, device="cpu", progress: bool = False) -> np.ndarray:
    """The model's own mix through its differentiable channel (gain–pan, or the exact twin), per track."""
    from tqdm import tqdm

    channel = mixer.module.channel
    mix = np.zeros((2, tracks.shape[1]), np.float32)
    for i in tqdm(range(tracks.shape[0]), desc="model channel", unit="track", file=sys.stderr, disable=not progress):
        if not np.any(tracks[i]):
            continue  # digital silence adds nothing (as in the DMC's forward)
        y = channel(torch.from_numpy(tracks[i])[None].to(device), params[i:i + 1].to(device, torch.float32))
        mix += y[0].float().cpu().numpy()
    return mix


@torch.no_grad()
def neural_channel_mix(mixer, tracks: np.ndarray, params: torch.Tensor, block: int, device="cpu",
                       progress: bool = False) -> np.ndarray:
    """dmc-full/tcn: each track through gain/polarity → frozen TCN (in blocks) → pan, summed: (2, T)."""
    from tqdm import tqdm

    from dmcdata.console.params import ORDERS
    from dmcmodels import tasks
    from dmcmodels.process import process_mono

    ch = mixer.module.channel
    net = ch.model.to(device)
    mix = np.zeros((2, tracks.shape[1]), np.float64)
    for i in tqdm(range(tracks.shape[0]), desc="neural channel", unit="track", file=sys.stderr, disable=not progress):
        if not np.any(tracks[i]):
            continue
        v = params[i:i + 1].float()
        cond = v[0].numpy()
        if ch.cond_dim == 31:  # a variable-order network: the console's order as a ±1 one-hot
            onehot = -np.ones(len(ORDERS), np.float32)
            onehot[0] = 1.0
            cond = np.concatenate([cond, onehot])
        x_in = tasks.channel_input(torch.from_numpy(tracks[i])[None, None], v)[0, 0].numpy()
        y = process_mono(net, x_in, cond, block=block, device=device)
        mix += tasks.channel_output(torch.from_numpy(y)[None, None], v, ch.pan_law)[0].numpy()
    return mix.astype(np.float32)


@torch.no_grad()
def wave_u_net_mix(module, tracks: np.ndarray, block: int, device="cpu", progress: bool = False) -> np.ndarray:
    """Mix-Wave-U-Net over the whole song in blocks (the windows of :func:`dmcmodels.process.process_mono`,
    with N input and 2 output channels): (2, T), equal to one pass of its forward to float tolerance."""
    from tqdm import tqdm

    from dmcmodels.process import block_geometry

    n_tracks, total = tracks.shape
    if n_tracks > module.inputs:
        raise MixCommandError(f"this Mix-Wave-U-Net was built for at most {module.inputs} tracks; the folder "
                              f"holds {n_tracks} stems")
    net = module.net.to(device)
    n, hop, left = block_geometry(net, block)
    n_blocks = max(1, math.ceil(total / hop))
    padded = np.zeros((module.inputs, left + n_blocks * hop + (n - hop - left) + hop), np.float32)
    padded[:n_tracks, left:left + total] = tracks
    c = torch.zeros(1, 1, device=device)
    out = np.empty((2, n_blocks * hop), np.float32)
    for k in tqdm(range(n_blocks), desc="mix-wave-u-net", unit="block", file=sys.stderr, disable=not progress):
        window = torch.from_numpy(padded[:, k * hop:k * hop + n].copy())[None].to(device)
        out[:, k * hop:(k + 1) * hop] = net(window, c)[0, :, :hop].float().cpu().numpy()
    return out[:, :total]


def difference(a: np.ndarray, ref: np.ndarray) -> dict:
    """max |a − ref| and the error-to-energy ratio 10·log10(Σ(a − ref)² / Σ ref²) in dB."""
    d = a.astype(np.float64) - ref.astype(np.float64)
    err, energy = float(np.sum(d * d)), float(np.sum(ref.astype(np.float64) ** 2))
    ratio = -math.inf if err == 0 else (math.inf if energy == 0 else 10 * math.log10(err / energy))
    return {"max_abs": float(np.max(np.abs(d))) if d.size else 0.0, "error_db": ratio}


# -- the command ------------------------------------------------------------------------------------

def mix_folder(stems_dir, checkpoint, out, device: str = "auto", seed: int = 0, block_seconds: float = 10.0,
               patch_batch: int | None = None, compare: bool = False, progress: bool = False) -> Report:
    """Mix the stems of ``stems_dir`` with the mixer ``checkpoint`` into the folder ``out`` (module doc).

    ``checkpoint``: a `train mix` run folder / checkpoint file, or ``mono`` / ``random``. ``seed``:
    the random baseline's. ``block_seconds``: block length of the neural networks (memory grows
    with it). ``patch_batch``: encoder patches per batch (None: 2 on the CPU, where
    small batches run fastest, 32 on CUDA). ``compare``: also run dmc-full/dsp's twin
    and report its difference from the console render. Raises :class:`MixCommandError` (and
    :class:`dmcmodels.mixers.MixerError`) for user errors; writes nothing then.
    """
    from dmcdata.console.mixfile import MixDocument
    from dmcdata.console.params import CHANNEL_SPACE
    from dmcmodels import mixers

    if not block_seconds > 0:
        raise MixCommandError(f"--block-seconds must be positive, got {block_seconds}")
    dev = pick_device(device)
    if patch_batch is None:
        patch_batch = 2 if dev == "cpu" else 32
    if patch_batch < 1:
        raise MixCommandError(f"--patch-batch must be >= 1, got {patch_batch}")
    stems_dir, out = Path(stems_dir), Path(out)
    paths, skipped = list_stems(stems_dir)
    mixer = mixers.load_mixer(str(checkpoint), device=dev, seed=seed)
    stems = probe_stems(paths, mixer.sample_rate)
    sr = stems[0].sample_rate
    if mixer.name == "mix-wave-u-net" and len(stems) > mixer.module.inputs:
        raise MixCommandError(f"this Mix-Wave-U-Net was built for at most {mixer.module.inputs} tracks; "
                              f"{str(stems_dir)!r} holds {len(stems)} stems")
    tracks = pad_tracks([read_stem(s) for s in stems])
    previous = prepare_out(out, stems_dir)
    n, total = tracks.shape
    rep = Report(mixer.name, mixer.path, sr, total, stems, skipped, silent=[not np.any(t) for t in tracks])
    for s in stems:
        if s.channels > 1:
            rep.notes.append(f"{s.path.name}: {s.channels} channels downmixed to mono (channel mean), as "
                             f"`dmcdata render` reads it: the console channel is mono in")
        if s.frames < total:
            rep.notes.append(f"{s.path.name}: {s.frames / sr:.2f} s, zero-padded at the end to the longest "
                             f"stem ({total / sr:.2f} s)")
    for s, silent in zip(stems, rep.silent):
        if silent:
            rep.notes.append(f"{s.path.name}: digitally silent: it gets settings in {MIX_JSON} and adds nothing")
    block = max(1, int(round(block_seconds * sr)))
    ours = [MIX_WAV] + ([MIX_JSON] if mixer.has_document else []) + ([MIX_CONSOLE_WAV] if not mixer.exact_render
                                                                       and mixer.has_document else [])
    write_marker(out, set(previous) | set(ours))  # first: an interrupted run leaves a folder this command owns

    module = mixer.module
    if not mixer.has_document:
        mix = wave_u_net_mix(module, tracks, block, dev, progress)
        write_wav(out / MIX_WAV, mix, sr)
        rep.written.append(out / MIX_WAV)
        rep.notes.append(f"{mixer.name} predicts audio, not console settings: no {MIX_JSON} can exist for it; "
                         f"its input channels are the stems in file-name order")
    else:
        if hasattr(module, "encoder"):
            params, rep.patches, _ = dmc_params(module, tracks, dev, patch_batch, progress)
            longest = max(rep.patches)
            rep.notes.append(f"the controller saw every track whole (embedding = mean over up to {longest} "
                             f"covering 3-s patches) and chose ONE static setting per track for the whole song")
        else:
            params = module.choose(1, n, "cpu")[0].float()
        neutral, chosen = CHANNEL_SPACE.neutral(), set(module.names)
        rep.params = [{k: (v if k in chosen else neutral[k]) for k, v in p.items()}  # exact neutral values
                      for p in mixers.named_params(mixer, params)]             # for what it does not set
        comment = (f"written by `dmcmodels mix` with {mixer.name}"
                   + (f" ({mixer.path})" if mixer.path else "") + (f", seed {seed}" if mixer.name == "random" else "")
                   + "; one static setting per track")
        doc = mixers.mix_document([s.path for s in stems], [s.name for s in stems], rep.params, sr,
                                  mixer.pan_law, comment=comment, base=out)
        doc.save(out / MIX_JSON)
        loaded = MixDocument.load(out / MIX_JSON)  # what `dmcdata render OUT/mix.json` reads
        render_progress = None
        if progress:
            from tqdm import tqdm

            def render_progress(it):
                return tqdm(it, desc="console render", unit="track", file=sys.stderr)
        console = loaded.render(progress=render_progress)
        rep.written.append(out / MIX_JSON)
        if mixer.exact_render:
            write_wav(out / MIX_WAV, console, sr)
            rep.written.insert(0, out / MIX_WAV)
            mix = console
            gain_pan = getattr(module, "channel_kind", "gain-pan") == "gain-pan"
            if gain_pan or compare:
                own = own_channel_mix(mixer, tracks, params, dev, progress)
                what = "model's own mix (gain-pan channel)" if gain_pan else "model's own mix (exact twin)"
                rep.compare = {"what": f"{what} vs console render", **difference(own, console)}
        else:
            mix = neural_channel_mix(mixer, tracks, params, block, dev, progress)
            write_wav(out / MIX_WAV, mix, sr)
            write_wav(out / MIX_CONSOLE_WAV, console, sr)
            rep.written = [out / MIX_WAV, out / MIX_JSON, out / MIX_CONSOLE_WAV]
            rep.compare = {"what": f"neural channel ({MIX_WAV}) vs console render ({MIX_CONSOLE_WAV})",
                           **difference(mix, console)}
            rep.notes.append(f"{MIX_WAV} is the neural channel's output; `dmcdata render {out / MIX_JSON}` gives "
                             f"{MIX_CONSOLE_WAV} (the console's DSP for the same settings)")
    for stale in sorted(set(previous) - set(ours)):  # files an earlier run of this command wrote
        (out / stale).unlink(missing_ok=True)
    write_marker(out, ours)
    rep.peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    return rep


def _processors(p: dict) -> str:
    """The dmc-full processors that do something, in a few words."""
    on = []
    if p.get("polarity"):
        on.append("polarity inverted")
    eq = max(abs(p[k]) for k in p if k.startswith("eq.") and k.endswith("gain_db"))
    if eq >= 0.1:
        on.append(f"eq (max {eq:.1f} dB)")
    if p["compressor.ratio"] >= 1.05 and p["compressor.threshold_db"] <= -0.1:
        on.append(f"comp {p['compressor.ratio']:.1f}:1 @ {p['compressor.threshold_db']:.1f} dB")
    if abs(p["compressor.makeup_db"]) >= 0.1:
        on.append(f"makeup {p['compressor.makeup_db']:+.1f} dB")
    if p["reverb.wet"] >= 0.01:
        on.append(f"reverb ir {p['reverb.ir']} wet {p['reverb.wet']:.2f} dry {p['reverb.dry']:.2f}")
    return ", ".join(on) or "-"


def summary(rep: Report) -> str:
    """The table and lines ``main`` prints."""
    lines = [f"mixer {rep.mixer}" + (f" ({rep.checkpoint})" if rep.checkpoint else "")
             + f": {len(rep.stems)} tracks, {rep.frames / rep.sample_rate:.2f} s at {rep.sample_rate} Hz"]
    full = rep.mixer.startswith("dmc-full")
    if rep.params:
        w = max(5, *(len(s.name) for s in rep.stems))
        fw = max(4, *(len(s.path.name) for s in rep.stems))
        head = f"  {'track':<{w}}  {'file':<{fw}}  {'gain_db':>8}  {'pan':>5}" + ("  processors" if full else "")
        lines.append(head)
        for s, p, silent in zip(rep.stems, rep.params, rep.silent):
            row = f"  {s.name:<{w}}  {s.path.name:<{fw}}  {p['gain_db']:>+8.2f}  {p['pan']:>5.2f}"
            if full:
                row += f"  {_processors(p)}"
            lines.append(row + ("  (silent)" if silent else ""))
    for name, why in rep.skipped:
        lines.append(f"skipped {name}: {why}")
    lines += [f"note: {n}" for n in rep.notes]
    if rep.compare is not None:
        c = rep.compare
        db = "-inf" if c["error_db"] == -math.inf else f"{c['error_db']:.1f}"
        lines.append(f"{c['what']}: max |diff| {c['max_abs']:.3g}, error/energy {db} dB")
    peak_db = 20 * math.log10(rep.peak) if rep.peak > 0 else -math.inf
    lines.append(f"mix peak {peak_db:+.2f} dBFS (32-bit float WAV: nothing clips)")
    lines += [f"wrote {p}" for p in rep.written]
    return "\n".join(lines)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _HelpFormatter
    parser.description = (
        "Mix a folder of stems with a trained mixer: OUT/mix.wav (stereo, 32-bit float) and\n"
        "OUT/mix.json (the console's editable settings per track; `dmcdata render OUT/mix.json` plays it).")
    parser.epilog = """stems: the .wav/.flac files of STEMS_DIR (not recursive), in file-name order; hidden and
other files are skipped (and listed). Stereo stems are downmixed to mono by the channel mean (the
console channel is mono in, as `dmcdata render` reads them); shorter stems are zero-padded at the end
to the longest; a silent stem gets settings and adds nothing. Every stem must have the model's sample
rate (an error names the file and both rates).

a whole song: the controller sees every track whole (embedding = mean over its covering 3-s patches)
and predicts ONE static setting per track for the whole song.

mix.wav per mixer: dmc-basic, dmc-full/dsp, mono, random: the console render of mix.json (the
model's own output equals it to float tolerance). dmc-full/tcn: the neural channel's output
(blocks of --block-seconds); OUT/mix_console.wav is the console render of mix.json, and the
difference between the two is printed. mix-wave-u-net: mix.wav only (it predicts audio, not
settings: no mix.json can exist).

--out must be a new or empty folder, or one this command wrote before (its marker file
.dmcmodels-mix): then its files are replaced and nothing else there is touched.
exit status: 0 written, 2 user error."""
    parser.add_argument("stems", metavar="STEMS_DIR", help="folder of the song's stems (.wav/.flac)")
    parser.add_argument("--checkpoint", required=True,
                        help="run folder or checkpoint of `dmcmodels train mix`, or a baseline: mono | random")
    parser.add_argument("--out", required=True, metavar="OUT", help="output folder (new, empty, or written by this command)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random baseline (same seed, same bytes)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (auto: cuda when available)")
    parser.add_argument("--block-seconds", type=float, default=10.0,
                        help="block length of the neural channel / Mix-Wave-U-Net; memory grows with it")
    parser.add_argument("--patch-batch", type=int, default=None,
                        help="encoder patches (3 s each) per batch (default: 2 on the CPU, where small batches "
                             "run fastest, 32 on CUDA)")
    parser.add_argument("--compare", action="store_true",
                        help="dmc-full/dsp: also run the model's exact twin and print its difference from the "
                             "console render (gain-pan mixers and the tcn channel are always compared)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (stderr)")


def main(args: argparse.Namespace) -> int:
    import time

    from dmcdata.console.errors import ConsoleError
    from dmcmodels.mixers import MixerError
    from dmcmodels.training.checkpoint import CheckpointError
    from dmcmodels.training.config import ConfigError

    t0 = time.perf_counter()
    try:
        rep = mix_folder(args.stems, args.checkpoint, args.out, device=args.device, seed=args.seed,
                         block_seconds=args.block_seconds, patch_batch=args.patch_batch, compare=args.compare,
                         progress=not args.no_progress)
    except (MixCommandError, MixerError, CheckpointError, ConfigError, ConsoleError) as e:
        print(f"dmcmodels mix: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        why = f"{e.strerror}: {e.filename!r}" if e.strerror and e.filename else str(e)
        print(f"dmcmodels mix: error: {why}", file=sys.stderr)
        return 2
    print(summary(rep))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
