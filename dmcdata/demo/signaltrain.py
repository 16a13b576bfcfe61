"""The SignalTrain LA2A part of the demo corpus, in SignalTrain's on-disk layout.

Under ``<root>`` it writes ``Train/``, ``Val/``, ``Test/`` with pairs::

    input_<id>_.wav
    target_<id>_LA2A_3c__<switch>__<peak>.wav     switch 0 = compress, 1 = limit; peak 0-100

mono, 44.1 kHz, 32-bit float WAV (our reading of the real set: 44.1 kHz float32 mono). The
targets come from :func:`opto_compress`, a documented stand-in for the LA-2A (not a model of
it). Settings never repeat across splits: the grid of (switch, peak reduction in steps of 5)
settings is shuffled and cut into disjoint Train / Val / Test sets.

Inputs are what SignalTrain's inputs are made of: music (drum grooves and keyboard parts from
the SoundFont), tone bursts, noise bursts and sweeps, each at its own level, so the
compressor's attack and program-dependent release are exercised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
from scipy import signal

from .instruments import Note, NoteRenderer
from .songs import SongPlan, drum_notes
from .wavio import write_wav

SAMPLE_RATE = 44100
UNIT = "3c"
PEAK_STEP = 5
SPLITS = ("Train", "Val", "Test")


@numba.njit(cache=True)
def _opto(x, sr, threshold_db, ratio, knee_db, attack_s, release_fast_s, release_slow_s, memory_s):
    n = x.shape[0]
    y = np.empty(n, np.float32)
    a_att = np.exp(-1.0 / (attack_s * sr))
    a_mem_up = np.exp(-1.0 / (memory_s * sr))
    a_mem_down = np.exp(-1.0 / (3.0 * memory_s * sr))
    a_det = np.exp(-1.0 / (0.005 * sr))
    p = 0.0      # detector: mean power over ~5 ms
    g = 0.0      # smoothed gain change, dB (<= 0)
    m = 0.0      # opto-cell memory, 0..1
    slope = 1.0 / ratio - 1.0
    for i in range(n):
        p = a_det * p + (1.0 - a_det) * x[i] * x[i]
        lvl = 10.0 * np.log10(2.0 * p + 1e-18)   # +3 dB: a sine's RMS reads as its peak
        over = lvl - threshold_db
        if over <= -knee_db / 2:
            target = 0.0
        elif over < knee_db / 2:
            target = slope * (over + knee_db / 2) ** 2 / (2.0 * knee_db)
        else:
            target = slope * over
        if target < g:
            g = a_att * g + (1.0 - a_att) * target
        else:
            tau = release_fast_s + m * (release_slow_s - release_fast_s)
            a_rel = np.exp(-1.0 / (tau * sr))
            g = a_rel * g + (1.0 - a_rel) * target
        if g < -1.0:
            m = a_mem_up * m + (1.0 - a_mem_up)
        else:
            m = a_mem_down * m
        y[i] = x[i] * 10.0 ** (g / 20.0)
    return y


def opto_settings(switch: int, peak: float) -> dict:
    """Knob positions -> compressor constants (the stand-in's documented mapping).

    threshold = -6 - 0.34·peak dBFS (peak reduction 0 -> -6 dBFS, 100 -> -40 dBFS);
    compress (switch 0): ratio 3, soft knee 8 dB, attack 10 ms;
    limit (switch 1): ratio 20, knee 3 dB, attack 2 ms;
    release: 60 ms, lengthening towards 1.5 s the longer the gain reduction has been held
    (memory time constant 1 s charging, 3 s discharging), as an opto cell does.
    """
    if switch not in (0, 1) or not 0 <= peak <= 100:
        raise ValueError(f"LA2A stand-in: switch must be 0 or 1 and peak reduction 0-100, got {switch}, {peak}")
    limit = switch == 1
    return {"threshold_db": -6.0 - 0.34 * float(peak), "ratio": 20.0 if limit else 3.0,
            "knee_db": 3.0 if limit else 8.0, "attack_s": 0.002 if limit else 0.010,
            "release_fast_s": 0.06, "release_slow_s": 1.5, "memory_s": 1.0}


def opto_compress(x: np.ndarray, switch: int, peak: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The LA-2A stand-in: a feed-forward soft-knee compressor with program-dependent release
    (see :func:`opto_settings`); float32 in, float32 out, no make-up gain.

    Detector: level = 10·log10(2·p) dB with p the power smoothed over 5 ms (one pole), so a
    sine's level reads as its peak level.

    Gain computer (dB, over = level - threshold, W = knee):
    0 below -W/2; (1/R - 1)(over + W/2)^2 / (2W) inside the knee; (1/R - 1)·over above.
    """
    s = opto_settings(switch, peak)
    return _opto(np.ascontiguousarray(x, np.float32), float(sample_rate), s["threshold_db"], s["ratio"],
                 s["knee_db"], s["attack_s"], s["release_fast_s"], s["release_slow_s"], s["memory_s"])


def split_settings(rng: np.random.Generator, counts: dict) -> dict:
    """Disjoint (switch, peak) setting sets per split, sized for ``counts`` pairs per split."""
    grid = [(sw, pk) for sw in (0, 1) for pk in range(0, 101, PEAK_STEP)]
    order = [grid[i] for i in rng.permutation(len(grid))]
    need = {s: max(1, min(counts[s], len(grid) // 3)) for s in SPLITS}
    out, pos = {}, 0
    for s in ("Test", "Val"):
        out[s] = order[pos:pos + need[s]]
        pos += need[s]
    out["Train"] = order[pos:]
    return out


def make_input(rng: np.random.Generator, seconds: float, R: NoteRenderer) -> np.ndarray:
    """A test input: segments of music, tone bursts, noise bursts and sweeps at varied levels."""
    sr = SAMPLE_RATE
    n = int(round(seconds * sr))
    out = np.zeros(n, np.float32)
    pos = 0
    while pos < n:
        seg = min(n - pos, int(rng.uniform(0.6, 1.6) * sr))
        kind = rng.choice(["drums", "keys", "tone", "noise", "sweep"], p=[0.3, 0.3, 0.15, 0.15, 0.1])
        t = np.arange(seg) / sr
        if kind == "drums":
            bpm = float(rng.integers(90, 140))
            plan = SongPlan("", "", "", bpm, 0, "major", 2, (0,), str(rng.choice(["rock", "funk", "pop"])),
                            int(rng.choice([0, 8, 16])), 2 * 240 / bpm)
            y = R.render(drum_notes(rng, plan), plan.kit, seg, bank=128)
        elif kind == "keys":
            prog = int(rng.choice([0, 4, 16, 25, 48, 81]))
            root = int(rng.integers(48, 60))
            notes = [Note(float(j * 0.25), 0.4, root + int(rng.choice([0, 4, 7, 12, 3])), int(rng.integers(60, 120)))
                     for j in range(int(seg / sr / 0.25))]
            y = R.render(notes, prog, seg)
        elif kind == "tone":
            f = float(np.exp(rng.uniform(np.log(60), np.log(3000))))
            env = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.005)
            y = (np.sin(2 * np.pi * f * t) * env).astype(np.float32)
        elif kind == "noise":
            y = rng.standard_normal(seg).astype(np.float32) * 0.3
            if rng.random() < 0.5:
                y = signal.sosfilt(signal.butter(2, float(rng.uniform(300, 5000)), "low", fs=sr, output="sos"),
                                   y).astype(np.float32)
        else:
            f0, f1 = 40.0, float(rng.uniform(2000, 16000))
            y = signal.chirp(t, f0, t[-1] if seg > 1 else 1.0, f1, method="logarithmic").astype(np.float32)
        peak = float(np.max(np.abs(y))) if seg else 0.0
        if peak > 0:
            y = y * np.float32(10 ** (float(rng.uniform(-30, -1)) / 20) / peak)
        out[pos:pos + seg] = y[:seg]
        pos += seg
    return out


@dataclass
class PairResult:
    split: str
    id: int
    switch: int
    peak: int
    files: list = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0


def pair_counts(total: int) -> dict:
    """Pairs per split for ``total`` pairs: about 60 / 20 / 20 %, at least one each."""
    total = max(3, int(total))
    val = test = max(1, round(0.2 * total))
    return {"Train": total - val - test, "Val": val, "Test": test}


def write_pair(rng: np.random.Generator, root: Path, split: str, pair_id: int, setting: tuple,
               seconds: float, R: NoteRenderer) -> PairResult:
    switch, peak = setting
    x = make_input(rng, seconds, R)
    y = opto_compress(x, switch, peak)
    res = PairResult(split, pair_id, switch, peak, seconds=len(x) / SAMPLE_RATE)
    for path, audio in ((root / split / f"input_{pair_id}_.wav", x),
                        (root / split / f"target_{pair_id}_LA2A_{UNIT}__{switch}__{peak}.wav", y)):
        res.bytes += write_wav(path, audio, SAMPLE_RATE, subtype="FLOAT")
        res.files.append(path)
    return res
