"""``dmcmodels listen build|analyse``: the APE-style listening-test page and the statistics of its ratings."""

from __future__ import annotations

import argparse
import sys

P_ADJUST = ("holm", "bonferroni", "fdr_bh", "sidak", "hommel", "none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    b = sub.add_parser("build", help="turn STIMULI/<excerpt>/<method>.wav into one static page (file://, no server)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("stimuli", metavar="STIMULI", help="folder of <excerpt>/<method>.{wav,flac,ogg,mp3}; one page per excerpt")
    b.add_argument("--out", required=True, metavar="PAGE", help="output folder: index.html, audio/, listen.json")
    b.add_argument("--title", default="Listening test", help="page title")
    b.add_argument("--seed", default="0", help="test seed; with the listener ID it fixes each listener's order of pages and mixes")
    b.add_argument("--fixed-page-order", action="store_true", help="keep excerpts in name order (mixes are still shuffled)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing page folder written by this command")
    a = sub.add_parser("analyse", help="Kruskal-Wallis H + Conover post-hoc tables and box plots from ratings CSVs",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a.add_argument("ratings", nargs="+", metavar="RATINGS.csv", help="CSV files the page downloaded (one per listener)")
    a.add_argument("--out", default=None, metavar="DIR", help="write conover.csv and box plots (PNG) here")
    a.add_argument("--p-adjust", choices=P_ADJUST, default="holm", help="multiple-comparison adjustment of Conover's p-values")
    a.add_argument("--alpha", type=float, default=0.05, help="significance level for the Reject column (0-1)")
    a.add_argument("--per-excerpt", action="store_true", help="also print the table of every excerpt")


def main(args: argparse.Namespace) -> int:
    def fail(msg: str) -> int:
        print(f"dmcmodels listen {args.verb}: error: {msg}", file=sys.stderr)
        return 2

    if args.verb == "build":
        from dmcmodels.judge.listen.build import ListenError, build

        try:
            plan = build(args.stimuli, args.out, args.title, args.seed, not args.fixed_page_order, args.overwrite)
        except ListenError as exc:
            return fail(str(exc))
        except OSError as exc:
            return fail(f"{exc.filename}: {exc.strerror}")
        n = sum(len(p["stimuli"]) for p in plan["pages"])
        print(f"{len(plan['pages'])} pages, {n} stimuli -> {args.out}/index.html (test id {plan['test_id']}; "
              f"open it in a browser, no server needed)")
        return 0

    from dmcmodels.judge.listen.analyse import RatingsError, analyse, format_table

    if not 0 < args.alpha < 1:
        return fail(f"--alpha must be between 0 and 1, got {args.alpha}")
    try:
        results = analyse(args.ratings, args.out, None if args.p_adjust == "none" else args.p_adjust, args.alpha)
    except RatingsError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{exc.filename}: {exc.strerror}")
    for name, r in results.items():
        if name != "overall" and not args.per_excerpt:
            continue
        print(f"{name}: {r['n_ratings']} ratings from {r['n_listeners']} listener(s); "
              f"Kruskal-Wallis H = {r['H']:.2f}, p = {r['p']:.2e}")
        print("  mean rating: " + ", ".join(f"{m} {v:.3f}" for m, v in r["means"].items()))
        print(format_table(r["conover"]))
        print()
    if args.out:
        print(f"tables and box plots written to {args.out}")
    return 0
