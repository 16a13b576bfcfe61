"""``dmcdata build`` on the command line: run the driver, print the summary; a bad input or
option is one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.build.driver import build
from pipelines.build.options import BuildError
from pipelines.ray_runtime import RayStartError


def main(args) -> int:
    try:
        summary = build(args, getattr(args, "argv", None))
    except (BuildError, RayStartError) as e:
        print(f"dmcdata build: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. --out not writable, disk full: name the file, no traceback
        print(f"dmcdata build: error: {e}", file=sys.stderr)
        return 2
    s = summary
    print(f"{s['dataset']}: {s['samples']} samples from {s['songs']} songs/items "
          f"(train {s['per_split']['train']}, val {s['per_split']['val']}, test {s['per_split']['test']}), "
          f"{s['hours']:.3f} h of audio, {s['shards']} shards ({s['written']} written, {s['skipped']} already done)")
    print(f"rejected: {s['rejected']}" + (f" (reasons in {Path(s['out']) / 'rejects.parquet'})" if s["rejected"] else ""))
    print(f"output: {s['out']}/manifest.parquet")
    return 0
