"""The ENST-drums part of the demo corpus, in ENST-drums' on-disk layout.

Under ``<root>`` it writes, for drummers 1-3::

    drummer_N/audio/<mic>/<take>.wav      mono 44.1 kHz 16-bit, one folder per microphone:
                                          kick, snare, hi-hat, overhead_L, overhead_R, tom_1,
                                          tom_2, tom_3 (drummer_1 plays a kit without tom_3)
    drummer_N/audio/dry_mix/<take>.wav    stereo: gain and pan only
    drummer_N/audio/wet_mix/<take>.wav    stereo: with EQ, compression and reverb
    drummer_N/annotation/<take>.txt       "onset_seconds label" per hit (bd, sd, chh, ohh, cr,
                                          rc, ht, mt, lt), as in ENST's annotation folder
    drummer_N/mix_params/<take>_dry_mix.json, <take>_wet_mix.json
                                          the console settings of both mixes (dmc mix documents,
                                          not part of ENST; `dmcdata render` re-renders them)

Take names follow ENST's pattern: ``001_hits_snare-drum_sticks_x6``,
``013_phrase_rock_simple_medium_sticks``, ``021_solo_funk_rods``. Each microphone hears its drum
plus attenuated, filtered bleed of the others; the overheads hear the whole kit from the
drummer's left / right. Each drummer has his own GM kit and tuning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import signal

from dmcdata.console import IRBank
from dmcdata.console.mixfile import MixDocument, TrackEntry
from dmcdata.shards import write_atomic

from . import engineer
from . import instruments as I
from .instruments import Note, NoteRenderer
from .songs import SongPlan, drum_notes
from .wavio import quantize16, write_wav

SAMPLE_RATE = 44100
PAN_LAW = "linear"
IR_BANK_SPEC = {"generated": {"n": 8, "seed": 0}}
MICS = ("kick", "snare", "hi-hat", "overhead_L", "overhead_R", "tom_1", "tom_2", "tom_3")
MIXES = ("dry_mix", "wet_mix")
DRUMMERS = {  # drummer -> (GM kit, has tom_3)
    1: (0, False), 2: (8, True), 3: (16, True),
}
# drummer's-perspective pan positions (0 = left, 1 = right) of the mics in the mixes
KIT_PAN = {"kick": 0.5, "snare": 0.5, "hi-hat": 0.3, "tom_1": 0.42, "tom_2": 0.6, "tom_3": 0.72,
           "overhead_L": 0.05, "overhead_R": 0.95}
LABELS = {I.KICK: "bd", I.SNARE: "sd", I.HAT_CLOSED: "chh", I.HAT_PEDAL: "chh", I.HAT_OPEN: "ohh",
          I.CRASH: "cr", I.RIDE: "rc", I.TOM_HIGH: "ht", I.TOM_MID: "mt", I.TOM_LOW: "lt"}
_STYLES = {"rock": "rock", "hard-rock": "rock", "country": "rock", "disco": "pop", "funk": "funk",
           "reggae": "halftime", "blues": "halftime", "pop": "pop"}
_TEMPI = {"slow": (70, 86), "medium": (95, 115), "fast": (125, 150)}
_HITS = {"snare-drum": I.SNARE, "bass-drum": I.KICK, "high-tom": I.TOM_HIGH, "low-tom": I.TOM_LOW,
         "ride-cymbal": I.RIDE, "crash-cymbal": I.CRASH, "open-hi-hat": I.HAT_OPEN}


@dataclass
class TakeResult:
    drummer: int
    name: str
    files: list = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0


def session(rng: np.random.Generator) -> tuple[float, dict]:
    """A drummer's recording session: kit tuning in cents and preamp gain (dB) per mic."""
    return float(rng.uniform(-80, 80)), {m: float(rng.uniform(-4, 4)) for m in MICS}


def take_name(rng: np.random.Generator, index: int) -> tuple[str, dict]:
    """An ENST-style take name and what to play: take 1, 3, 5… are phrases, 2, 6… hits, 4, 8… solos."""
    kind = ("phrase", "hits", "phrase", "solo")[(index - 1) % 4]
    if kind == "hits":
        piece = str(rng.choice(list(_HITS)))
        tool = "pedal" if piece == "bass-drum" else str(rng.choice(["sticks", "mallets", "rods"]))
        count = int(rng.integers(4, 9))
        return f"{index:03d}_hits_{piece}_{tool}_x{count}", {"kind": kind, "piece": piece, "count": count, "tool": tool}
    style = str(rng.choice(list(_STYLES)))
    tool = str(rng.choice(["sticks", "sticks", "rods", "brushes"]))
    if kind == "solo":
        return f"{index:03d}_solo_{style}_{tool}", {"kind": kind, "style": style, "tempo": "medium", "tool": tool}
    complexity = str(rng.choice(["simple", "complex"]))
    tempo = str(rng.choice(list(_TEMPI)))
    return (f"{index:03d}_phrase_{style}_{complexity}_{tempo}_{tool}",
            {"kind": kind, "style": style, "tempo": tempo, "tool": tool, "complexity": complexity})


def take_notes(rng: np.random.Generator, spec: dict, kit: int, seconds: float) -> tuple[list, float]:
    """The notes of a take and its length in seconds (1 s of ring-out included)."""
    if spec["kind"] == "hits":
        key = _HITS[spec["piece"]]
        gap = float(rng.uniform(0.9, 1.4))
        notes = [Note(0.3 + i * gap + float(rng.normal(0, 0.01)), 0.3, key,
                      int(np.clip(rng.normal(100, 10), 40, 127))) for i in range(spec["count"])]
        return notes, 0.3 + spec["count"] * gap + 1.0
    lo, hi = _TEMPI[spec["tempo"]]
    bpm = float(rng.integers(lo, hi + 1))
    bars = max(2, int(np.ceil((seconds - 1.0) * bpm / 240.0)))
    plan = SongPlan(artist="", title="", genre="", bpm=bpm, tonic=0, mode="major", bars=bars,
                    progression=(0,), drum_style=_STYLES[spec["style"]], kit=kit, duration_s=bars * 240 / bpm + 1.0)
    notes = drum_notes(rng, plan)
    if spec["kind"] == "solo" or spec.get("complexity") == "complex":   # busier: extra tom and snare hits
        step = plan.beat_s / 4
        for bar in range(bars - 1):
            for s in rng.choice(16, size=4 if spec["kind"] == "solo" else 2, replace=False):
                key = int(rng.choice([I.SNARE, I.TOM_HIGH, I.TOM_MID, I.TOM_LOW]))
                notes.append(Note((bar * 16 + int(s)) * step + float(rng.normal(0, 0.004)), 0.25, key,
                                  int(np.clip(rng.normal(80, 15), 30, 127))))
        notes.sort(key=lambda n: n.start)
    return notes, plan.duration_s


def _sos(kind, f, order=2):
    return signal.butter(order, f, kind, fs=SAMPLE_RATE, output="sos")


def _delay(x, ms):
    d = int(round(ms * SAMPLE_RATE / 1000))
    return np.concatenate([np.zeros(d, np.float32), x[:len(x) - d]]) if d > 0 else x


def mic_signals(notes: list, kit: int, has_tom3: bool, n: int, R: NoteRenderer, cents: float) -> dict:
    """Every mic's signal: its own drum plus bleed (attenuated, delayed, filtered)."""
    toms = {I.TOM_HIGH: "tom_1", I.TOM_MID: "tom_2", I.TOM_LOW: "tom_3" if has_tom3 else "tom_2"}
    groups = {"kick": [], "snare": [], "hats": [], "cymbals": [], "tom_1": [], "tom_2": [], "tom_3": []}
    for nt in notes:
        if nt.key in (I.KICK, 35):
            groups["kick"].append(nt)
        elif nt.key in (I.SNARE, I.SIDESTICK, 40):
            groups["snare"].append(nt)
        elif nt.key in (I.HAT_CLOSED, I.HAT_PEDAL, I.HAT_OPEN):
            groups["hats"].append(nt)
        elif nt.key in toms:
            groups[toms[nt.key]].append(nt)
        else:
            groups["cymbals"].append(nt)
    dry = {g: R.render(ns, kit, n, bank=128, cents=cents) for g, ns in groups.items()}
    hp = lambda x, f: signal.sosfilt(_sos("high", f), x).astype(np.float32)
    lp = lambda x, f: signal.sosfilt(_sos("low", f), x).astype(np.float32)
    all_toms = dry["tom_1"] + dry["tom_2"] + dry["tom_3"]
    out = {
        "kick": dry["kick"] + 0.03 * lp(_delay(dry["snare"], 1.5), 2000),
        "snare": dry["snare"] + 0.1 * _delay(dry["hats"], 0.8) + 0.03 * _delay(dry["kick"], 1.2),
        "hi-hat": dry["hats"] + 0.15 * hp(_delay(dry["snare"], 0.8), 500) + 0.05 * dry["cymbals"],
    }
    for t in ("tom_1", "tom_2", "tom_3"):
        if t == "tom_3" and not has_tom3:
            continue
        out[t] = dry[t] + 0.05 * _delay(dry["snare"], 1.0) + 0.04 * _delay(dry["cymbals"], 1.0)
    for side, name in enumerate(("overhead_L", "overhead_R")):
        near_hat, near_floor = (1.2, 0.6) if side == 0 else (0.6, 1.1)
        oh = (0.2 * _delay(dry["kick"], 3.5) + 0.45 * _delay(dry["snare"], 2.5 + side)
              + 0.7 * near_hat * _delay(dry["hats"], 1.5 + 2 * side)
              + 0.4 * near_floor * _delay(all_toms, 2.0) + 0.9 * _delay(dry["cymbals"], 1.0 + side))
        out[name] = hp(oh, 150)
    return {m: out[m].astype(np.float32) for m in MICS if m in out}


def write_take(rng: np.random.Generator, root: Path, drummer: int, index: int, seconds: float,
               R: NoteRenderer, ir_bank: IRBank, tuning_cents: float, mic_gains_db: dict) -> TakeResult:
    """Draw, render and write one take of ``drummer``; returns what was written.

    ``tuning_cents`` tunes the whole kit, ``mic_gains_db`` are the drummer's preamp gains per mic
    (one session: the same for all takes); the take is scaled so its loudest mic peaks at -3 dBFS,
    so mics that only hear bleed in a take stay quiet, as in a real session.
    """
    kit, has_tom3 = DRUMMERS[drummer]
    name, spec = take_name(rng, index)
    if spec.get("tool") == "brushes":
        kit = 40   # GM brush kit
    notes, dur = take_notes(rng, spec, kit, seconds)
    n = int(round(dur * SAMPLE_RATE))
    mics = mic_signals(notes, kit, has_tom3, n, R, tuning_cents)
    base = root / f"drummer_{drummer}"
    res = TakeResult(drummer, name, seconds=n / SAMPLE_RATE)
    written = {}
    mics = {m: a * np.float32(10 ** (mic_gains_db[m] / 20)) for m, a in mics.items()}
    loudest = max(float(np.max(np.abs(a))) for a in mics.values())
    scale = np.float32(10 ** (-3 / 20) / loudest) if loudest > 0 else np.float32(1.0)
    for mic, audio in mics.items():
        audio = audio * scale
        path = base / "audio" / mic / f"{name}.wav"
        res.bytes += write_wav(path, audio, SAMPLE_RATE)
        res.files.append(path)
        written[mic] = quantize16(audio)
    # the engineer's mixes
    style = engineer.song_style(rng, len(ir_bank))
    style["reverb_factor"] *= 0.6        # a drum room, not a vocal hall
    mics_order = [m for m in MICS if m in written]
    wet, dry = [], []
    for mic in mics_order:
        p = engineer.channel_params(rng, mic if mic in engineer.ROLE_RULES else "drums", written[mic], style)
        p["pan"] = float(np.clip(KIT_PAN[mic] + rng.normal(0, 0.03), 0.0, 1.0))
        p = engineer.round_params(p)
        wet.append(p)
        d = dict(engineer.CHANNEL_SPACE.neutral())
        d["gain_db"], d["pan"] = p["gain_db"], p["pan"]
        dry.append(engineer.round_params(d))
    tracks = [written[m] for m in mics_order]
    for mix_name, params in (("dry_mix", dry), ("wet_mix", wet)):
        mix, params = engineer.level_mix(tracks, params, SAMPLE_RATE, ir_bank, PAN_LAW)
        path = base / "audio" / mix_name / f"{name}.wav"
        res.bytes += write_wav(path, mix, SAMPLE_RATE)
        res.files.append(path)
        doc = MixDocument(sample_rate=SAMPLE_RATE, pan_law=PAN_LAW, order=("eq", "compressor", "reverb"),
                          ir_bank=IR_BANK_SPEC,
                          comment=f"dmc demo corpus: drummer_{drummer} {name} {mix_name} "
                                  f"({'gain and pan only' if mix_name == 'dry_mix' else 'EQ, compression, reverb'})",
                          tracks=[TrackEntry(file=f"../audio/{m}/{name}.wav", params=p, name=m)
                                  for m, p in zip(mics_order, params)])
        doc_path = base / "mix_params" / f"{name}_{mix_name}.json"
        doc.save(doc_path)
        res.bytes += doc_path.stat().st_size
        res.files.append(doc_path)
    lines = "".join(f"{nt.start:.6f} {LABELS.get(nt.key, 'sd')}\n" for nt in sorted(notes, key=lambda x: x.start))
    ann = base / "annotation" / f"{name}.txt"
    write_atomic(ann, lines.encode())
    res.bytes += len(lines.encode())
    res.files.append(ann)
    return res
