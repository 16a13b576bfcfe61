"""``dmcdata render MIX.json --out mix.wav``: render a mix document with the DSP console."""

from __future__ import annotations

import argparse
import glob
import io
import os
import sys
import time
from pathlib import Path

SUBTYPES = ("FLOAT", "PCM_24", "PCM_16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mix", metavar="MIX.json",
                        help="mix document (JSON; schema: manifests/mix.schema.json); track files are "
                             "relative to its folder unless --base-dir is given")
    parser.add_argument("--out", required=True, metavar="WAV",
                        help="output stereo WAV file (written atomically: a temporary file, then renamed)")
    parser.add_argument("--pan-law", choices=["linear", "constant_power"], default=None,
                        help="override the document's pan law (linear: L=(1-p)x, R=p x; constant_power: "
                             "L=cos(p pi/2)x, R=sin(p pi/2)x)")
    parser.add_argument("--subtype", choices=SUBTYPES, default="FLOAT",
                        help="WAV sample format: 32-bit float (never clips), 24-bit or 16-bit PCM "
                             "(values beyond full scale clip; a warning says so)")
    parser.add_argument("--base-dir", default=None,
                        help="folder the track files (and an IR folder) are relative to "
                             "(default: the mix document's folder)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")


def main(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile as sf

    from dmcdata.console.errors import ConsoleError
    from dmcdata.console.mixfile import MixDocument
    from dmcdata.shards import write_atomic

    t0 = time.perf_counter()
    out = Path(args.out)
    if out.suffix.lower() != ".wav":
        print(f"error: --out {str(out)!r}: the output must be a .wav file", file=sys.stderr)
        return 2
    if out.is_dir():
        print(f"error: --out {str(out)!r} is a folder; name the .wav file to write", file=sys.stderr)
        return 2
    try:
        doc = MixDocument.load(args.mix)
        progress = None
        if not args.quiet:
            from tqdm import tqdm

            def progress(it):
                return tqdm(it, desc="render", unit="track", file=sys.stderr)
        mix = doc.render(args.base_dir, pan_law=args.pan_law, progress=progress)
    except ConsoleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    if args.subtype != "FLOAT" and peak > 1.0:
        print(f"warning: peak {20 * np.log10(peak):+.2f} dBFS: {args.subtype} clips it; use --subtype FLOAT "
              f"or lower the gains", file=sys.stderr)
    buf = io.BytesIO()
    sf.write(buf, mix.T, int(doc.sample_rate), subtype=args.subtype, format="WAV")
    try:
        write_atomic(out, buf.getvalue())
    except OSError as e:
        for tmp in out.parent.glob(f"{glob.escape(out.name)}.{os.getpid()}-*.partial"):  # ours only
            tmp.unlink(missing_ok=True)
        why = f"{e.strerror}: {e.filename!r}" if e.strerror and e.filename else str(e)
        print(f"error: --out {str(out)!r}: cannot write the mix ({why})", file=sys.stderr)
        return 2
    if not args.quiet:
        peak_db = 20 * np.log10(peak) if peak > 0 else float("-inf")
        print(f"wrote {out}: {len(doc.tracks)} tracks -> stereo, {doc.sample_rate} Hz, "
              f"{mix.shape[1] / doc.sample_rate:.2f} s, {args.subtype}, peak {peak_db:+.2f} dBFS, "
              f"pan law {args.pan_law or doc.pan_law}, {time.perf_counter() - t0:.2f} s")
    return 0
