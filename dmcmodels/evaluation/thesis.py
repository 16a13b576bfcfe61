"""The thesis' own figures, for reference beside ours (never as a baseline we measured).

Table 6 (channel, static order; one row per model × task: MAE, ESR, MCD, MR-STFT), Table 7 (the
variable-order TCN-10) and Table 9 (LA-2A on the SignalTrain test set: mean and standard
deviation). Transcribed from the thesis text in ``shared/seed``. Its MCD values (hundreds) are on
a different scale from ours — its implementation is not described beyond the α constant — so
compare MCD only within one table's own rows.
"""

from __future__ import annotations

METRIC_NAMES = ("mae", "esr", "mcd", "mr_stft")

# model -> task -> (MAE, ESR, MCD, MR-STFT)
TABLE6 = {
    "tcn-10": {"eq": (0.015, 0.156, 577.8, 2.449), "compressor": (0.005, 0.100, 545.5, 1.895),
               "reverb": (0.021, 0.129, 443.9, 1.931), "combined": (0.035, 0.430, 592.2, 2.701)},
    "tcn-20": {"eq": (0.017, 0.189, 597.3, 2.608), "compressor": (0.006, 0.140, 618.1, 2.123),
               "reverb": (0.011, 0.038, 309.2, 1.340), "combined": (0.027, 0.292, 495.6, 2.315)},
    "tcn-30": {"eq": (0.017, 0.203, 578.8, 2.668), "compressor": (0.006, 0.132, 544.1, 2.075),
               "reverb": (0.011, 0.041, 253.1, 1.212), "combined": (0.024, 0.252, 496.6, 2.210)},
    "wave-u-net-6-8": {"eq": (0.009, 0.140, 592.7, 2.417), "compressor": (0.004, 0.102, 762.6, 2.319),
                       "reverb": (0.020, 0.144, 1037.2, 3.808), "combined": (0.026, 0.305, 933.7, 3.995)},
    "wave-u-net-6-16": {"eq": (0.009, 0.206, 633.0, 3.025), "compressor": (0.004, 0.108, 712.2, 2.637),
                        "reverb": (0.034, 0.378, 1117.1, 4.746), "combined": (0.038, 0.481, 1026.2, 4.890)},
}
TABLE7_VARIABLE = {
    "tcn-10": {"eq": (0.022, 0.316, 725.5, 3.142), "compressor": (0.010, 0.435, 716.8, 2.684),
               "reverb": (0.024, 0.171, 494.3, 2.241), "combined": (0.060, 3.846, 785.5, 4.917)},
}
# model -> ((mean, std) for MAE, ESR, MCD, MR-STFT)
TABLE9 = {
    "tcn-10": ((4.95e-3, 1.05e-3), (0.012, 0.007), (339.4, 74.8), (0.754, 0.073)),
    "tcn-10-mixup": ((4.60e-3, 1.23e-3), (0.009, 0.006), (350.2, 99.1), (0.748, 0.100)),
    "tcn-20-mixup": ((4.24e-3, 1.36e-3), (0.008, 0.004), (263.0, 64.6), (0.606, 0.066)),
    "tcn-30-mixup": ((5.53e-3, 1.80e-3), (0.013, 0.006), (297.1, 78.2), (0.679, 0.083)),
    "wave-u-net-6-8": ((1.30e-2, 6.39e-3), (0.157, 0.100), (260.0, 158.1), (0.502, 0.079)),
    "wave-u-net-6-16": ((1.13e-2, 6.43e-3), (0.046, 0.020), (259.5, 165.5), (0.599, 0.416)),
}


def channel_reference(model: str, order: str) -> dict | None:
    """Thesis figures for ``model`` on the channel task in ``order`` (static/variable), or None."""
    name = "wave-u-net-6-16" if model == "wave-u-net" else model
    return (TABLE7_VARIABLE if order == "variable" else TABLE6).get(name)


def la2a_reference(model: str, mixup: bool) -> tuple | None:
    name = "wave-u-net-6-16" if model == "wave-u-net" else model
    if mixup and f"{name}-mixup" in TABLE9:
        return TABLE9[f"{name}-mixup"]
    return TABLE9.get(name)


# Tables 12 and 13 (thesis §5.6.1): objective metrics of the mixing systems on the test songs —
# stereo MR-STFT distance and the Fréchet distances with MTT_vgg and MSD_vgg embeddings (plain FD;
# the thesis reports no FD-inf and no gain/pan recovery). Method -> (MR-STFT, FD MTT_vgg, FD MSD_vgg).
TABLE12_ENST = {  # ENST-drums, 8 input channels, target = the dry mix (gain and pan only)
    "mono": (6.038, 4.57, 3.01),
    "random": (3.403, 4.63, 2.89),
    "mix-wave-u-net": (9.763, 3.13, 1.94),
    "dmc-basic": (1.825, 2.24, 1.16),
}
TABLE13_MEDLEYDB = {  # MedleyDB; input-channel subset (songs with at most that many tracks) -> rows
    8: {"mono": (5.363, 2.21, 1.41), "random": (3.018, 2.66, 1.48), "mix-wave-u-net": (7.386, 40.45, 29.62),
        "dmc-basic": (3.024, 2.91, 1.64)},
    16: {"mono": (5.840, 2.34, 2.92), "random": (3.186, 2.40, 2.63), "dmc-basic": (3.341, 3.00, 1.65)},
    5: {"mono": (5.300, 2.89, 1.67), "random": (3.040, 3.42, 1.87), "dmc-full": (3.689, 6.72, 4.04)},
}
MIX_METHOD_NAMES = {"mono": "Mono mix", "random": "Random mix", "mix-wave-u-net": "Wave-U-Net",
                    "dmc-basic": "DMC-basic", "dmc-full": "DMC-full"}


def mix_reference(dataset: str) -> tuple[str, list[tuple[str, str, tuple]]] | None:
    """(caption, rows (subset, method, (MR-STFT, FD MTT, FD MSD))) of the thesis table for ``dataset``."""
    if dataset in ("enst_drums", "enst-drums"):
        return ("thesis Table 12 (ENST-drums, 8 inputs, dry-mix target)",
                [("8", MIX_METHOD_NAMES[m], v) for m, v in TABLE12_ENST.items()])
    if dataset == "medleydb":
        return ("thesis Table 13 (MedleyDB; subsets of songs with <= 8, <= 16 and <= 5 tracks)",
                [(str(k), MIX_METHOD_NAMES[m], v) for k, rows in TABLE13_MEDLEYDB.items() for m, v in rows.items()])
    return None
