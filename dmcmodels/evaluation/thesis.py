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
