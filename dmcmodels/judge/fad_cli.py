"""``dmcmodels fad REFERENCE GENERATED``: Fréchet distance and FD-infinity between two sets of audio files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", metavar="REFERENCE",
                        help="folder of reference audio (searched recursively), or a text file listing one path per line")
    parser.add_argument("generated", metavar="GENERATED", help="folder or list file of the audio to judge, as REFERENCE")
    parser.add_argument("--model", choices=("mtt_vgg", "msd_vgg"), default="mtt_vgg",
                        help="embedding network (128-d pool5 mean per 2.99-s patch)")
    parser.add_argument("--no-inf", action="store_true", help="skip FD-infinity (plain FD only)")
    parser.add_argument("--steps", type=int, default=10, help="FD-infinity: number of subset sizes (>= 2)")
    parser.add_argument("--repeats", type=int, default=4, help="FD-infinity: random subsets per size (>= 1)")
    parser.add_argument("--seed", type=int, default=0, help="FD-infinity: seed of the subset sampling")
    parser.add_argument("--json", default=None, metavar="OUT.json", help="also write the figures as JSON")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="weights and embedding cache (default: $DMC_CACHE, else the platform user cache folder)")


def audio_list(spec: str) -> list[Path]:
    """The audio files a folder (recursive, sorted) or a list file (one path per line, relative to it) names."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    elif path.is_file():
        lines = [ln.strip() for ln in path.read_text().splitlines()]
        files = [p if p.is_absolute() else path.parent / p for p in map(Path, lines) if str(p) and not str(p).startswith("#")]
    else:
        raise ValueError(f"{spec}: no such folder or list file")
    if not files:
        raise ValueError(f"{spec}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
    return files


def main(args: argparse.Namespace) -> int:
    from dmcdata.shards import write_atomic
    from dmcmodels.judge.fad import FadError, embed_files, fd_infinity, frechet_distance
    from dmcmodels.judge.frontend import FrontendError
    from dmcmodels.judge.weights import WeightsError

    def fail(msg: str) -> int:
        print(f"dmcmodels fad: error: {msg}", file=sys.stderr)
        return 2

    if args.steps < 2 or args.repeats < 1:
        return fail(f"--steps must be >= 2 and --repeats >= 1, got {args.steps} and {args.repeats}")
    try:
        sets = {name: audio_list(spec) for name, spec in (("reference", args.reference), ("generated", args.generated))}
        emb = {name: embed_files(files, args.model, args.cache, progress=True) for name, files in sets.items()}
        for name, e in emb.items():
            if len(e) < 2:
                return fail(f"{name} set has {len(e)} patch embedding(s); at least 2 are needed (more patches than "
                            f"128 for a full-rank covariance)")
        fd = frechet_distance(emb["reference"], emb["generated"])
        inf = None if args.no_inf or len(emb["generated"]) < 3 else fd_infinity(
            emb["reference"], emb["generated"], steps=args.steps, repeats=args.repeats, seed=args.seed)
    except (ValueError, FrontendError, WeightsError, FadError) as exc:
        return fail(str(exc))
    for name in sets:
        print(f"{name}: {len(sets[name])} files, {len(emb[name])} patches")
    print(f"FD ({args.model}) = {fd:.4f}")
    if inf is None and not args.no_inf:
        print("FD-inf: skipped (it needs at least 3 generated patches)")
    if inf is not None:
        print(f"FD-inf ({args.model}) = {inf.value:.4f}  (fit over {len(inf.sizes)} subset sizes "
              f"{inf.sizes[0]}-{inf.sizes[-1]} of the generated patches, slope {inf.slope:.2f})")
    if args.json:
        doc = {"model": args.model, "fd": fd, "fd_inf": None if inf is None else inf.value,
               "fd_inf_fit": None if inf is None else {"slope": inf.slope, "sizes": list(inf.sizes), "fds": list(inf.fds)},
               "reference": {"files": [str(p) for p in sets["reference"]], "patches": len(emb["reference"])},
               "generated": {"files": [str(p) for p in sets["generated"]], "patches": len(emb["generated"])}}
        try:
            write_atomic(args.json, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
        except OSError as exc:
            return fail(f"cannot write {args.json}: {exc.strerror}")
    return 0
