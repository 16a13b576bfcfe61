"""``dmcmodels summary``: parameter counts and receptive fields of the models, beside the thesis' figures."""

from __future__ import annotations

import argparse

# thesis Table 6 (static order, 25 conditioning values)
THESIS_TCN_PARAMS = {1: 290_000, 2: 528_000, 3: 764_000}
# thesis Table 7 (variable order, 31 conditioning values; TCN-10 only)
THESIS_TCN_PARAMS_VARIABLE = {1: 291_000}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample-rate", type=float, default=44100.0,
                        help="sample rate (Hz) used to express receptive fields in milliseconds")
    parser.add_argument("--cond-dim", type=int, default=25,
                        help="conditioning size: 25 (static processor order) or 31 (variable order)")


def tcn_rows(sample_rate: float = 44100.0, cond_dim: int = 25) -> list[dict]:
    from dmcmodels.models.tcn import TCN, count_parameters

    rows = []
    for stacks in (1, 2, 3):
        m = TCN(stacks=stacks, cond_dim=cond_dim)
        rows.append({"model": f"TCN-{10 * stacks}", "params": count_parameters(m),
                     "thesis_params": (THESIS_TCN_PARAMS.get(stacks) if cond_dim == 25
                                           else THESIS_TCN_PARAMS_VARIABLE.get(stacks) if cond_dim == 31 else None),
                     "receptive_field": m.receptive_field, "receptive_field_ms": m.receptive_field_ms(sample_rate)})
    return rows


def main(args: argparse.Namespace) -> int:
    import sys

    for name, value in (("--cond-dim", args.cond_dim), ("--sample-rate", args.sample_rate)):
        if not value > 0:
            print(f"dmcmodels summary: error: {name} must be positive, got {value}", file=sys.stderr)
            return 2
    rows = tcn_rows(args.sample_rate, args.cond_dim)
    print(f"TCN: blocks of 10 per stack, kernel 15, 32 channels, FiLM, cond_dim {args.cond_dim}")
    print(f"{'model':<8} {'params':>9} {'thesis':>8} {'diff':>7}  {'receptive field':>15} {'ms @ %g Hz' % args.sample_rate:>14}")
    for r in rows:
        if r["thesis_params"]:
            thesis = f"{r['thesis_params'] / 1000:.0f}k"
            diff = f"{100.0 * (r['params'] - r['thesis_params']) / r['thesis_params']:+.2f}%"
        else:
            thesis, diff = "-", "-"
        print(f"{r['model']:<8} {r['params']:>9,} {thesis:>8} {diff:>7}  {r['receptive_field']:>15,} "
              f"{r['receptive_field_ms']:>14.1f}")
    return 0
