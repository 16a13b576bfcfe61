"""What the TCN's ``dry_eq`` head can reach at best: the console's own EQ magnitude put into the
head's filter forms, scored like ``dmcmodels eval effect`` on its EQ-only patches.

A quality ceiling, not a speed benchmark. For every EQ-only test patch (the eval's patches: same
data, split, seed and patch length) the console's exact EQ response |H(f)| (RBJ biquads, from the
patch's parameters) becomes

- ``zero N``: the zero-phase N-tap FIR of |H| (``eq_phase="zero"``, Hann-windowed),
- ``minimum N``: the minimum-phase FIR of |H| (``eq_phase="minimum"``, the folded cepstrum),
- ``bands K×N``: |H| in dB least-squares fitted by the head's K Gaussian bands, then each phase,

and the dry patch through it is scored against the target (MCD, ESR), beside identity. No model is
trained; the checkpoint only fixes the patch length, as in its evaluation.

    python benchmarks/eq_head_ceiling.py --checkpoint RUN --data b/medleydb [--taps 1023 4095] [--bands 32]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch


def console_magnitude(params: dict, freqs: np.ndarray, sample_rate: float) -> np.ndarray:
    """|H(e^{j2πf})| of the console's EQ cascade at normalised frequencies ``freqs`` (cycles/sample)."""
    from dmcdata.console.eq import eq_sections

    z = np.exp(-2j * np.pi * freqs)
    h = np.ones_like(z)
    for b0, b1, b2, a1, a2 in eq_sections(params, sample_rate):
        h *= (b0 + b1 * z + b2 * z * z) / (1.0 + a1 * z + a2 * z * z)
    return np.abs(h)


def head(taps: int, phase: str):
    """A bare TCN with an N-tap ``dry_eq`` head of that phase: only its filter construction is used."""
    from dmcmodels.models.tcn import TCN

    return TCN(n_blocks=1, kernel_size=3, channels=1, film_hidden=(1,), film_embed=1, input_skip=True,
               dry_eq=(1, taps), eq_phase=phase).double()


def head_filter(m, db_fn) -> torch.Tensor:
    """The (taps,) FIR head ``m`` builds from a dB curve (``db_fn(freqs)``, freqs in cycles/sample), float64."""
    grid = m.eq_grid
    return m.fir_from_db(torch.from_numpy(db_fn(np.arange(grid // 2 + 1) / grid))[None])[0]


def band_fit(db_fn, bands: int):
    """``db_fn`` least-squares fitted by the head's K log-spaced Gaussian bands (fitted on a fine grid)."""
    from dmcmodels.models.tcn import eq_band_basis

    fine = np.arange(1, 8193) / 16384
    basis = lambda f: eq_band_basis(bands, torch.from_numpy(f)).numpy()
    v, *_ = np.linalg.lstsq(basis(fine).T, db_fn(fine), rcond=None)
    return lambda f: v @ basis(f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="a run folder or checkpoint (fixes the patch length)")
    ap.add_argument("--data", nargs="+", required=True, help="the DATA given to `dmcmodels eval effect`")
    ap.add_argument("--taps", type=int, nargs="+", default=[1023, 4095])
    ap.add_argument("--bands", type=int, default=32)
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1234, help="the eval's seed (its default)")
    args = ap.parse_args()

    from dmcdata.console.params import channel_space
    from dmcmodels import losses, tasks
    from dmcmodels.evaluation.effect import CHANNEL_TASKS
    from dmcmodels.models.tcn import center_crop, fir_valid
    from dmcmodels.training.checkpoint import load_model
    from dmcmodels.training.data import auto_patch_seconds, collect, make_dataset, split_selection

    model, cfg, _ = load_model(args.checkpoint, "cpu")
    rf, sr = model.receptive_field, cfg.sample_rate
    if max(args.taps) > rf:
        raise SystemExit(f"--taps must not exceed the model's receptive field ({rf} samples): the patch has no more context")
    base = dataclasses.replace(cfg, seed=args.seed, patch_seconds=cfg.patch_seconds or auto_patch_seconds(rf, sr),
                               processors=list(CHANNEL_TASKS["eq"]), order="static")
    spec = list(args.data)
    batch = collect(make_dataset(base, spec, split_selection(spec, "test", None), train=False, receptive_field=rf,
                                 rank=0, world_size=1), args.examples, 8)
    x, cond, y = (t.double() for t in tasks.prepare("channel", batch))
    n = model.output_length(x.shape[-1])
    xc, yc = center_crop(x, n), center_crop(y, n)
    space = channel_space()

    names = ["identity"] + [f"{kind} {phase} {N}" for N in args.taps for kind in ("exact", f"{args.bands} bands")
                            for phase in ("zero", "minimum")]
    heads = {(N, phase): head(N, phase) for N in args.taps for phase in ("zero", "minimum")}
    mcd = {k: [] for k in names}
    esr = {k: [] for k in names}
    for i in range(x.shape[0]):
        params = space.denormalize(cond[i, :len(space)].numpy())
        exact = lambda f, p=params: 20 * np.log10(console_magnitude(p, f, sr))
        preds = {"identity": xc[i:i + 1]}
        fitted = band_fit(exact, args.bands)
        for N in args.taps:
            for kind, fn in (("exact", exact), (f"{args.bands} bands", fitted)):
                for phase in ("zero", "minimum"):
                    h = head_filter(heads[N, phase], fn)
                    preds[f"{kind} {phase} {N}"] = fir_valid(center_crop(x[i:i + 1], n + N - 1), h[None])
        for k, p in preds.items():
            mcd[k].append(float(losses.mcd(p, yc[i:i + 1], sample_rate=sr)))
            esr[k].append(float(losses.esr(p, yc[i:i + 1])))
    print(f"EQ-only test patches: {x.shape[0]} of {n} samples ({n / sr:.2f} s); mean (std)\n")
    print("| filter | MCD | ESR |\n|---|---:|---:|")
    for k in names:
        print(f"| {k} | {np.mean(mcd[k]):.1f} ({np.std(mcd[k]):.1f}) | {np.mean(esr[k]):.3g} ({np.std(esr[k]):.2g}) |")


if __name__ == "__main__":
    main()
