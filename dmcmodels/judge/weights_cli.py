"""``dmcmodels weights fetch``: download the musicnn 0.1.0 wheel, verify it, convert MTT_vgg / MSD_vgg to torch."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    fetch = sub.add_parser("fetch", help="pip download musicnn==0.1.0 (no deps), check its sha256, store torch weights",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fetch.add_argument("--wheel", default=None, metavar="PATH",
                       help="convert this copy of musicnn-0.1.0-py3-none-any.whl instead of downloading (offline)")
    fetch.add_argument("--cache", default=None, metavar="DIR",
                       help="cache folder (default: $DMC_CACHE, else the platform user cache folder for dmc)")
    where = sub.add_parser("path", help="print where each model's weights are (or would be) stored",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    where.add_argument("--cache", default=None, metavar="DIR", help="cache folder (default as for fetch)")


def main(args: argparse.Namespace) -> int:
    from dmcmodels.judge import weights

    try:
        if args.verb == "path":
            for model in weights.MODELS:
                path = weights.weights_path(model, args.cache)
                print(f"{model}: {path} ({'present' if path.is_file() else 'missing'})")
            return 0
        written = weights.fetch(args.wheel, args.cache)
    except weights.WeightsError as exc:
        print(f"dmcmodels weights: error: {exc}", file=sys.stderr)
        return 2
    for model, path in written.items():
        print(f"{model}: {path}")
    print(f"licence: {next(iter(written.values())).parent / 'LICENSE-musicnn.md'} (ISC, Music Technology Group, UPF)")
    return 0
