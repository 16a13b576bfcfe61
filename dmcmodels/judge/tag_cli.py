"""``dmcmodels tag FILE...``: the top music tags of each file (mean tag probability over its 3-s patches)."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files (any format libsndfile/librosa reads)")
    parser.add_argument("--model", choices=("mtt_vgg", "msd_vgg"), default="mtt_vgg",
                        help="tagger: MTT_vgg (MagnaTagATune tags) or MSD_vgg (Million Song Dataset tags)")
    parser.add_argument("--top", type=int, default=5, help="how many tags to print per file (1-50)")
    parser.add_argument("--json", default=None, metavar="OUT.json",
                        help="also write per file the per-patch tag probabilities (patches x 50, in patch order)")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="weights cache folder (default: $DMC_CACHE, else the platform user cache folder)")


def main(args: argparse.Namespace) -> int:
    from dmcdata.shards import write_atomic
    from dmcmodels.judge.frontend import PATCH_SECONDS, FrontendError
    from dmcmodels.judge.infer import analyse_file
    from dmcmodels.judge.weights import WeightsError, load_model

    if not 1 <= args.top <= 50:
        print(f"dmcmodels tag: error: --top must be 1-50, got {args.top}", file=sys.stderr)
        return 2
    try:
        net, labels = load_model(args.model, args.cache)
    except WeightsError as exc:
        print(f"dmcmodels tag: error: {exc}", file=sys.stderr)
        return 2
    records = []
    for path in args.files:
        try:
            tags = analyse_file(net, path)["tags"]
        except FrontendError as exc:
            print(f"dmcmodels tag: error: {exc}", file=sys.stderr)
            return 2
        mean = tags.mean(axis=0)
        order = mean.argsort()[::-1][:args.top]
        print(f"{path} ({len(tags)} patches of {PATCH_SECONDS:.2f} s): "
              + ", ".join(f"{labels[i]} {mean[i]:.2f}" for i in order))
        records.append({"path": str(path), "patches": len(tags), "taggram": tags.astype(float).round(6).tolist()})
    if args.json:
        doc = {"model": args.model, "labels": labels, "patch_seconds": PATCH_SECONDS, "files": records}
        try:
            write_atomic(args.json, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
        except OSError as exc:
            print(f"dmcmodels tag: error: cannot write {args.json}: {exc.strerror}", file=sys.stderr)
            return 2
    return 0
