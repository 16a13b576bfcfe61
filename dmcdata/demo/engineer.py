"""The "virtual engineer": console settings drawn from mixing conventions.

For each track the engineer knows its role (kick, snare, bass, lead, pad, …) and draws the 25
console parameters of :data:`dmcdata.console.CHANNEL_SPACE`:

* **gain** brings the track's RMS level to a role target (kick, snare, bass and lead loudest;
  hats, pads, arpeggios and percussion lower), plus per-track variation N(0, 1.5 dB);
* **pan**: kick, snare, bass, lead and a one-stem drum kit centred (±0.02); hats, toms, guitars,
  keys, pads, arpeggios and percussion off-centre, with doubled parts on opposite sides;
* **EQ** moves an engineer would make for the role (e.g. kick: low shelf boost, 250–450 Hz cut,
  3–5 kHz beater boost; hats and pads: low cut; lead: 2–4 kHz presence), other bands neutral;
* **compressor** on kick, snare, bass and lead (and lightly on chords), threshold a few dB below
  the track's level after gain, moderate ratios, role-typical attack/release, half the gain
  reduction made up;
* **reverb**: one IR per song (most sends) — none on kick and bass, a little on snare, chords and
  percussion, more on lead, arpeggios and pads;
* per song: a reverb-amount factor, a brightness offset on the high shelves and a compression
  intensity factor, so no two songs are mixed alike.

Finally :func:`level_mix` shifts every gain and compressor threshold by one offset so the mix
peaks at ``peak_dbfs``; because each compressor sees the same signal relative to its threshold,
the mix scales exactly (EQ, reverb and pan are linear).
"""

from __future__ import annotations

import numpy as np

from dmcdata.console import CHANNEL_SPACE, IRBank, render_mix

# role -> (target RMS dBFS after gain, pan spread (0 = centre), reverb send range, compress?)
ROLE_RULES = {
    "kick": (-17.0, 0.0, (0.0, 0.0), True),
    "snare": (-19.0, 0.0, (0.05, 0.15), True),
    "hats": (-27.0, 0.3, (0.0, 0.05), False),
    "toms": (-23.0, 0.2, (0.05, 0.12), False),
    "overheads": (-25.0, 0.0, (0.03, 0.1), False),
    "drums": (-16.0, 0.0, (0.03, 0.1), True),
    "bass": (-18.0, 0.0, (0.0, 0.0), True),
    "chords": (-22.0, 0.35, (0.05, 0.18), True),
    "chords2": (-23.0, 0.4, (0.05, 0.18), True),
    "pad": (-25.0, 0.25, (0.25, 0.5), False),
    "lead": (-18.0, 0.0, (0.15, 0.35), True),
    "lead2": (-23.0, 0.25, (0.18, 0.35), True),
    "arp": (-26.0, 0.4, (0.2, 0.4), False),
    "percussion": (-28.0, 0.4, (0.08, 0.2), False),
    "percussion2": (-29.0, 0.4, (0.08, 0.2), False),
}
# kit pieces and their ENST mic roles share the rules above
ROLE_RULES.update({"hi-hat": ROLE_RULES["hats"], "tom_1": ROLE_RULES["toms"], "tom_2": ROLE_RULES["toms"],
                   "tom_3": ROLE_RULES["toms"], "overhead_L": ROLE_RULES["overheads"],
                   "overhead_R": ROLE_RULES["overheads"]})


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS of the non-silent part (|x| above -60 dBFS) of ``x``."""
    x = np.asarray(x, np.float64)
    active = x[np.abs(x) > 1e-3]
    if active.size == 0:
        return -120.0
    return float(10 * np.log10(np.mean(active ** 2) + 1e-20))


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _lu(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def song_style(rng: np.random.Generator, n_irs: int = 8) -> dict:
    """Per-song choices shared by all tracks."""
    return {"ir": int(rng.integers(n_irs)), "reverb_factor": _u(rng, 0.6, 1.4),
            "brightness_db": _u(rng, -1.5, 1.5), "comp_factor": _u(rng, 0.6, 1.3),
            "side": 1.0 if rng.random() < 0.5 else -1.0, "decay": _u(rng, 0.5, 1.0)}


def _eq(rng, role: str, p: dict) -> None:
    if role in ("kick",):
        p.update({"eq.low_shelf_gain_db": _u(rng, 2, 5), "eq.low_shelf_freq_hz": _lu(rng, 60, 100),
                  "eq.band1_gain_db": _u(rng, -6, -3), "eq.band1_freq_hz": _lu(rng, 250, 450),
                  "eq.band1_q": _lu(rng, 1, 2.5), "eq.band3_gain_db": _u(rng, 2, 5),
                  "eq.band3_freq_hz": _lu(rng, 3000, 5000), "eq.band3_q": _lu(rng, 0.7, 1.5)})
    elif role in ("snare",):
        p.update({"eq.low_shelf_gain_db": _u(rng, -6, -3), "eq.low_shelf_freq_hz": _lu(rng, 80, 120),
                  "eq.band1_gain_db": _u(rng, 2, 4), "eq.band1_freq_hz": _lu(rng, 200, 260),
                  "eq.band1_q": _lu(rng, 0.8, 1.5), "eq.band3_gain_db": _u(rng, 2, 4),
                  "eq.band3_freq_hz": _lu(rng, 5000, 8000), "eq.band3_q": _lu(rng, 0.7, 1.2)})
    elif role in ("hats", "hi-hat", "overheads", "overhead_L", "overhead_R", "percussion", "percussion2"):
        p.update({"eq.low_shelf_gain_db": _u(rng, -12, -6), "eq.low_shelf_freq_hz": _lu(rng, 200, 500),
                  "eq.high_shelf_gain_db": _u(rng, 1, 3), "eq.high_shelf_freq_hz": _lu(rng, 9000, 12000)})
    elif role in ("toms", "tom_1", "tom_2", "tom_3", "drums"):
        p.update({"eq.band1_gain_db": _u(rng, -5, -2), "eq.band1_freq_hz": _lu(rng, 300, 500),
                  "eq.band1_q": _lu(rng, 1, 2), "eq.band3_gain_db": _u(rng, 1, 3),
                  "eq.band3_freq_hz": _lu(rng, 3000, 6000), "eq.band3_q": _lu(rng, 0.7, 1.2)})
    elif role == "bass":
        p.update({"eq.low_shelf_gain_db": _u(rng, 1, 4), "eq.low_shelf_freq_hz": _lu(rng, 60, 120),
                  "eq.band1_gain_db": _u(rng, -5, -2), "eq.band1_freq_hz": _lu(rng, 200, 400),
                  "eq.band1_q": _lu(rng, 0.8, 2), "eq.band2_gain_db": _u(rng, 1, 4),
                  "eq.band2_freq_hz": _lu(rng, 700, 1200), "eq.band2_q": _lu(rng, 0.8, 1.5)})
    elif role in ("chords", "chords2"):
        p.update({"eq.low_shelf_gain_db": _u(rng, -8, -3), "eq.low_shelf_freq_hz": _lu(rng, 120, 250),
                  "eq.band2_gain_db": _u(rng, 1, 3), "eq.band2_freq_hz": _lu(rng, 2000, 3000),
                  "eq.band2_q": _lu(rng, 0.7, 1.5)})
    elif role in ("pad", "arp"):
        p.update({"eq.low_shelf_gain_db": _u(rng, -10, -4), "eq.low_shelf_freq_hz": _lu(rng, 150, 300),
                  "eq.band2_gain_db": _u(rng, -3, -1), "eq.band2_freq_hz": _lu(rng, 1000, 2000),
                  "eq.band2_q": _lu(rng, 0.7, 1.5)})
    elif role in ("lead", "lead2"):
        p.update({"eq.low_shelf_gain_db": _u(rng, -6, -2), "eq.low_shelf_freq_hz": _lu(rng, 100, 200),
                  "eq.band2_gain_db": _u(rng, 2, 4), "eq.band2_freq_hz": _lu(rng, 2000, 4000),
                  "eq.band2_q": _lu(rng, 0.7, 1.5), "eq.high_shelf_gain_db": _u(rng, 1, 3),
                  "eq.high_shelf_freq_hz": _lu(rng, 10000, 12000)})


_COMP_TIMES = {  # role -> (attack ms range, release ms range, ratio range)
    "kick": ((5, 20), (80, 200), (3, 6)), "snare": ((3, 10), (100, 250), (3, 5)),
    "drums": ((5, 20), (100, 300), (2, 4)), "bass": ((5, 15), (100, 300), (3, 6)),
    "lead": ((2, 10), (100, 300), (2, 4)), "lead2": ((2, 10), (100, 300), (2, 3)),
    "chords": ((10, 30), (150, 400), (1.5, 3)), "chords2": ((10, 30), (150, 400), (1.5, 3)),
}


def channel_params(rng: np.random.Generator, role: str, track: np.ndarray, style: dict,
                   pan_slot: float = 0.0) -> dict:
    """All 25 console parameters for one track of ``role`` (see module doc).

    ``pan_slot`` in [-1, 1] says which side an off-centre part goes to (so the caller can spread
    parts over both sides); the spread comes from :data:`ROLE_RULES`.
    """
    if role not in ROLE_RULES:
        raise ValueError(f"virtual engineer: unknown role {role!r}; known: {', '.join(ROLE_RULES)}")
    target, spread, (wet_lo, wet_hi), compress = ROLE_RULES[role]
    p = CHANNEL_SPACE.neutral()
    level = rms_db(track)
    gain = target + float(rng.normal(0.0, 1.5)) - level if level > -100 else 0.0
    p["gain_db"] = float(np.clip(gain, -24.0, 24.0))
    if spread > 0:
        side = pan_slot if pan_slot != 0 else style["side"]
        p["pan"] = float(np.clip(0.5 + side * _u(rng, 0.6, 1.2) * spread, 0.0, 1.0))
    else:
        p["pan"] = float(np.clip(0.5 + rng.normal(0.0, 0.01), 0.48, 0.52))
    _eq(rng, role, p)
    p["eq.high_shelf_gain_db"] = float(np.clip(p["eq.high_shelf_gain_db"] + style["brightness_db"], -24, 24))
    if compress and role in _COMP_TIMES:
        (a0, a1), (r0, r1), (q0, q1) = _COMP_TIMES[role]
        after = target  # the track's RMS level after gain (EQ moves it by a dB or two)
        ratio = 1.0 + (_u(rng, q0, q1) - 1.0) * style["comp_factor"]
        thr = after + _u(rng, -2.0, 4.0)
        p.update({"compressor.threshold_db": float(np.clip(thr, -60.0, 0.0)),
                  "compressor.ratio": float(np.clip(ratio, 1.0, 10.0)),
                  "compressor.attack_ms": _lu(rng, a0, a1), "compressor.release_ms": _lu(rng, r0, r1),
                  "compressor.makeup_db": float(np.clip(0.5 * 6.0 * (1 - 1 / ratio), -12, 12))})
    wet = _u(rng, wet_lo, wet_hi) * style["reverb_factor"] if wet_hi > 0 else 0.0
    if wet > 0:
        p.update({"reverb.ir": int(style["ir"]), "reverb.decay": float(np.clip(style["decay"] + rng.normal(0, 0.05), 0, 1)),
                  "reverb.dry": 1.0, "reverb.wet": float(np.clip(wet, 0.0, 1.0))})
    return round_params(p)


def pan_slots(roles: list, first_side: float) -> list:
    """Side (-1 left, +1 right, 0 centre) for each role: off-centre roles alternate sides in the
    order of :data:`ROLE_RULES` (so hats/toms, guitars/keys, pads/arpeggios spread over both)."""
    rank = {r: i for i, r in enumerate(ROLE_RULES)}
    slots = [0.0] * len(roles)
    side = first_side
    for i in sorted(range(len(roles)), key=lambda i: (rank.get(roles[i], 99), i)):
        if ROLE_RULES.get(roles[i], (0, 0))[1] > 0:
            slots[i] = side
            side = -side
    return slots


def round_params(p: dict) -> dict:
    """Round to what a person would type (3 decimals; 2 significant digits below 1 ms), keeping
    every value inside its range. The rounded values are the ones rendered and stored."""
    out = {}
    for prm in CHANNEL_SPACE.params:
        v = p[prm.name]
        if prm.name in ("polarity", "reverb.ir"):
            out[prm.name] = int(v)
            continue
        v = float(np.clip(round(float(v), 3 if abs(v) >= 0.1 else 4), prm.min, prm.max))
        out[prm.name] = v
    return out


def dry_params(rng: np.random.Generator, role: str, track: np.ndarray, style: dict, pan_slot: float = 0.0) -> dict:
    """Gain and pan only (an ENST ``dry_mix``): the other processors neutral."""
    full = channel_params(rng, role, track, style, pan_slot)
    p = CHANNEL_SPACE.neutral()
    p["gain_db"], p["pan"] = full["gain_db"], full["pan"]
    return round_params(p)


def level_mix(tracks: list, params: list, sample_rate: int, ir_bank: IRBank, pan_law: str = "linear",
              peak_dbfs: float = -1.0):
    """Render, shift all gains and active compressor thresholds by one offset (rounded to
    0.001 dB) so the mix peaks at ``peak_dbfs``, and render again with the shifted settings.
    Returns ``(mix (2, n) float32, params)``.

    Each compressor then sees the same signal relative to its threshold and EQ, reverb and pan
    are linear, so the second render is the first scaled by 10^(offset/20) up to float32
    rounding. It is rendered anyway, so the stored settings reproduce the stored mix exactly.
    """
    mix = render_mix(tracks, params, sample_rate, ir_bank, pan_law)
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    if peak <= 0:
        return mix, params
    offset = round(peak_dbfs - 20 * np.log10(peak), 3)
    shifted = []
    for p in params:
        q = dict(p)
        q["gain_db"] = p["gain_db"] + offset
        if p["compressor.ratio"] > 1.0:
            q["compressor.threshold_db"] = p["compressor.threshold_db"] + offset
        shifted.append(round_params(q))
    return render_mix(tracks, shifted, sample_rate, ir_bank, pan_law), shifted
