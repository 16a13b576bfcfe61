"""``dmcmodels summary``: parameter counts and receptive fields of the models, beside the thesis' figures."""

from __future__ import annotations

import argparse

# thesis Table 6 (static order, 25 conditioning values)
THESIS_TCN_PARAMS = {1: 290_000, 2: 528_000, 3: 764_000}
# thesis Table 7 (variable order, 31 conditioning values; TCN-10 only)
THESIS_TCN_PARAMS_VARIABLE = {1: 291_000}
# thesis Table 6 (static order): Wave-U-Net-6-16 "9M"; the Wave-U-Net-6-8 figure is not legible in
# the text we have ("23M" in Table 6, "5M" in Table 9), so none is shown for it
THESIS_WAVE_U_NET_PARAMS = {"wave-u-net-6-8": None, "wave-u-net-6-16": 9_000_000}
# thesis Tables 6 and 9: receptive field in ms (its Eq. 4.14 over the encoder, 44.1 kHz)
THESIS_WAVE_U_NET_RF_MS = {"wave-u-net-6-8": 216.6, "wave-u-net-6-16": 464.3}


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


def wave_u_net_rows(sample_rate: float = 44100.0, cond_dim: int = 25) -> list[dict]:
    from dmcmodels.models.tcn import count_parameters
    from dmcmodels.models.wave_u_net import PRESETS, WaveUNet

    rows = []
    for name, preset in PRESETS.items():
        m = WaveUNet(cond_dim=cond_dim, **preset)
        rows.append({"model": "Wave-U-Net" + name[len("wave-u-net"):], "params": count_parameters(m),
                     "thesis_params": THESIS_WAVE_U_NET_PARAMS[name] if cond_dim == 25 else None,
                     "receptive_field": m.receptive_field, "receptive_field_ms": m.receptive_field_ms(sample_rate),
                     "encoder_receptive_field": m.encoder_receptive_field,
                     "encoder_receptive_field_ms": 1000.0 * m.encoder_receptive_field / sample_rate,
                     "thesis_receptive_field_ms": THESIS_WAVE_U_NET_RF_MS[name], "stride": m.stride})
    return rows


def _thesis_and_diff(r: dict) -> tuple[str, str]:
    if not r["thesis_params"]:
        return "-", "-"
    t = r["thesis_params"]
    thesis = f"{t / 1e6:.0f}M" if t >= 1_000_000 else f"{t / 1000:.0f}k"
    return thesis, f"{100.0 * (r['params'] - t) / t:+.2f}%"


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
        thesis, diff = _thesis_and_diff(r)
        print(f"{r['model']:<8} {r['params']:>9,} {thesis:>8} {diff:>7}  {r['receptive_field']:>15,} "
              f"{r['receptive_field_ms']:>14.1f}")
    print()
    print(f"Wave-U-Net: depth 6, stride 4 (total 4096), 16 base channels x2 per level, context 3, FiLM, "
          f"cond_dim {args.cond_dim}")
    print(f"{'model':<15} {'params':>10} {'thesis':>7} {'diff':>7}  {'receptive field':>15} {'ms':>7}  "
          f"{'encoder only':>12} {'ms':>6} {'thesis ms':>9}")
    for r in wave_u_net_rows(args.sample_rate, args.cond_dim):
        thesis, diff = _thesis_and_diff(r)
        print(f"{r['model']:<15} {r['params']:>10,} {thesis:>7} {diff:>7}  {r['receptive_field']:>15,} "
              f"{r['receptive_field_ms']:>7.1f}  {r['encoder_receptive_field']:>12,} "
              f"{r['encoder_receptive_field_ms']:>6.1f} {r['thesis_receptive_field_ms']:>9.1f}")
    print("(receptive field: the exact span an output sample can see, encoder and decoder; 'encoder only' "
          "is the thesis' Eq. 4.14 figure)")
    return 0
