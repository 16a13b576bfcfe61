"""``dmcmodels process``: a trained effect model over a whole audio file, in blocks.

The networks are valid-convolution models: an output sample needs ``receptive_field`` input
samples around it (:mod:`dmcmodels.models`). To give every input sample an output, the signal is
zero-padded by the model's own centring offset on the left and the rest of the receptive field
on the right; it is then cut into overlapping windows of ``n`` samples that each produce ``hop``
output samples (``hop`` a multiple of the model's ``stride``), so one window's output continues
the previous one's exactly. The result equals one pass over the whole padded file to float
tolerance (only the length of the convolutions differs), while memory stays that of one window:
activations ∝ ``n``, whatever the file's length.

For the channel task (``dmcmodels train effect``) the output is the console channel's stereo
output: gain and polarity applied before the network, the pan after it (:mod:`dmcmodels.tasks`).
For la2a it is the mono compressor output.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from dmcmodels import tasks
from dmcmodels.models import model_stride


class ProcessError(ValueError):
    """Bad input to ``dmcmodels process`` (unreadable audio, bad parameters, wrong sample rate)."""


def block_geometry(model, block: int) -> tuple[int, int, int]:
    """(window input length n, hop, left pad) for output blocks of about ``block`` samples."""
    stride = model_stride(model)
    hop = max(1, math.ceil(int(block) / stride)) * stride  # window starts stay on the model's grid
    n = model.valid_length(hop) if hasattr(model, "valid_length") else hop + model.receptive_field - 1
    surplus = n - model.output_length(n)
    return n, hop, surplus - surplus // 2


@torch.no_grad()
def process_mono(model, x: np.ndarray, cond: np.ndarray, block: int = 441000, device="cpu",
                 progress: bool = False) -> np.ndarray:
    """Run ``model`` over mono ``x`` (T,) with conditioning ``cond`` (C,): (T,) float32 output.

    Windows of the zero-padded signal, each giving ``hop`` outputs (see the module doc).
    """
    from tqdm import tqdm

    x = np.asarray(x, dtype=np.float32)
    total = x.shape[0]
    n, hop, left = block_geometry(model, block)
    n_blocks = max(1, math.ceil(total / hop))
    padded = np.zeros(left + n_blocks * hop + (n - hop - left) + hop, dtype=np.float32)
    padded[left:left + total] = x
    c = torch.as_tensor(np.asarray(cond, np.float32))[None].to(device)
    out = np.empty(n_blocks * hop, dtype=np.float32)
    for k in tqdm(range(n_blocks), disable=not progress, unit="block", file=sys.stderr, desc="process"):
        window = torch.from_numpy(padded[k * hop:k * hop + n].copy())[None, None].to(device)
        y = model(window, c)[0, 0, :hop]
        out[k * hop:(k + 1) * hop] = y.float().cpu().numpy()
    return out[:total]


# -- parameters --------------------------------------------------------------------------------

def read_params(path: Path, track: str | None = None) -> dict:
    """{"params": named values, "order": [...], "pan_law": str} from a PARAMS.json.

    Accepted: a flat object of named values; an object with ``params`` (and optional ``order``,
    ``pan_law``); or a mix document (``format: dmc-mix``) with ``track`` naming one of its tracks
    (index or name; needed when it has more than one).
    """
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ProcessError(f"{path}: no such parameter file") from None
    except (OSError, ValueError) as e:
        raise ProcessError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(doc, dict):
        raise ProcessError(f"{path}: expected a JSON object of named parameters")
    if doc.get("format") == "dmc-mix":
        tracks = doc.get("tracks") or []
        if track is None and len(tracks) != 1:
            raise ProcessError(f"{path}: a mix document with {len(tracks)} tracks; pick one with --track INDEX|NAME")
        pick = None
        if track is None:
            pick = tracks[0]
        elif track.isdigit() and int(track) < len(tracks):
            pick = tracks[int(track)]
        else:
            pick = next((t for t in tracks if t.get("name") == track), None)
        if pick is None:
            raise ProcessError(f"{path}: no track {track!r} (names: {[t.get('name') for t in tracks]})")
        return {"params": pick.get("params", {}), "order": doc.get("order"), "pan_law": doc.get("pan_law", "linear")}
    if "params" in doc:
        return {"params": doc["params"], "order": doc.get("order"), "pan_law": doc.get("pan_law", "linear")}
    return {"params": doc, "order": None, "pan_law": "linear"}


def conditioning(task: str, spec: dict, cond_dim: int, where: str) -> np.ndarray:
    """The normalized conditioning vector a model of ``task`` with ``cond_dim`` inputs expects."""
    params = spec["params"]
    if task == "la2a":
        try:
            limit, peak = params["limit"], params["peak_reduction"]
        except (KeyError, TypeError):
            raise ProcessError(f"{where}: an LA-2A model needs {{\"limit\": 0|1, \"peak_reduction\": 0..100}}") from None
        if limit not in (0, 1) or not 0 <= float(peak) <= 100:
            raise ProcessError(f"{where}: limit must be 0 or 1 and peak_reduction in 0..100, got {limit!r}, {peak!r}")
        return np.array([float(limit), float(peak) / 100.0], np.float32)
    from dmcdata.console import CHANNEL_SPACE, ConsoleError, order_one_hot
    from dmcdata.console.params import check_order

    try:
        vec = CHANNEL_SPACE.normalize(CHANNEL_SPACE.validate(params, where=f"{where}: "))
        order = tuple(spec["order"] or ("eq", "compressor", "reverb"))
        check_order(order)
    except ConsoleError as e:
        raise ProcessError(str(e)) from None
    if cond_dim == len(vec) + 6:
        vec = np.concatenate([vec, order_one_hot(order)])
    elif order != ("eq", "compressor", "reverb"):
        raise ProcessError(f"{where}: order {list(order)} needs a variable-order model (31 inputs); this one "
                           f"was trained on the static order eq, compressor, reverb")
    if len(vec) != cond_dim:
        raise ProcessError(f"{where}: {len(vec)} conditioning values, the model expects {cond_dim}")
    return vec.astype(np.float32)


def process_file(checkpoint, infile, params_path, outfile, track=None, block_seconds: float = 10.0,
                 device="cpu", progress=False) -> dict:
    """Read, process (channel: gain/polarity → network → pan), write atomically; returns a report."""
    import soundfile as sf

    from dmcdata.audio import wav_bytes
    from dmcdata.shards import write_atomic
    from dmcmodels.training.checkpoint import load_model

    model, cfg, _ = load_model(checkpoint, device)
    spec = read_params(Path(params_path), track)
    cond = conditioning(cfg.task, spec, cfg.cond_dim, str(params_path))
    try:
        audio, sr = sf.read(str(infile), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile raises several types
        raise ProcessError(f"{infile}: cannot read audio ({e})") from None
    if sr != cfg.sample_rate:
        raise ProcessError(f"{infile}: {sr} Hz; the model was trained at {cfg.sample_rate} Hz (resample the file first)")
    if audio.shape[0] == 0:
        raise ProcessError(f"{infile}: no audio frames")
    x = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    c = torch.from_numpy(cond)[None]
    if cfg.task == "channel":
        x = tasks.channel_input(torch.from_numpy(x)[None, None], c)[0, 0].numpy()
    y = process_mono(model, x, cond, block=int(block_seconds * sr), device=device, progress=progress)
    if cfg.task == "channel":
        out = tasks.channel_output(torch.from_numpy(y)[None, None], c, spec["pan_law"])[0].numpy().T
    else:
        out = y[:, None]
    write_atomic(outfile, wav_bytes(np.ascontiguousarray(out, dtype=np.float32), sr, "FLOAT"))
    return {"frames": int(x.shape[0]), "channels_in": int(audio.shape[1]), "channels_out": int(out.shape[1]),
            "sample_rate": sr, "peak": float(np.max(np.abs(out)))}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("infile", metavar="IN", help="audio file (WAV/FLAC, 44.1 kHz; several channels are averaged to mono)")
    parser.add_argument("--checkpoint", required=True, help="run folder (its best checkpoint) or checkpoint file")
    parser.add_argument("--params", required=True,
                        help="PARAMS.json: named console values (as in a mix document's track 'params'), an object "
                             "with 'params'/'order'/'pan_law', or a whole mix document with --track; la2a: "
                             "{\"limit\": 0|1, \"peak_reduction\": 0..100}")
    parser.add_argument("--track", default=None, help="with a mix document: the track (index or name) whose settings to use")
    parser.add_argument("--out", required=True, help="output WAV (32-bit float; stereo for the channel, mono for la2a)")
    parser.add_argument("--block-seconds", type=float, default=10.0, help="output block length; memory grows with it")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    import time

    from dmcmodels.training.checkpoint import CheckpointError

    if not args.block_seconds > 0:
        print(f"dmcmodels process: error: --block-seconds must be positive, got {args.block_seconds}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        r = process_file(args.checkpoint, args.infile, args.params, args.out, track=args.track,
                         block_seconds=args.block_seconds, device=args.device, progress=not args.no_progress)
    except (ProcessError, CheckpointError, OSError) as e:
        print(f"dmcmodels process: error: {e}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    secs = r["frames"] / r["sample_rate"]
    print(f"wrote {args.out}: {secs:.2f} s, {r['channels_in']} -> {r['channels_out']} channel(s), peak "
          f"{20 * math.log10(max(r['peak'], 1e-12)):.2f} dBFS, {wall:.2f} s ({secs / wall:.1f}x real time)")
    return 0
