"""The MedleyDB part of the demo corpus: songs in MedleyDB's exact on-disk layout.

For every song ``<Song>`` (``Artist_Title``) it writes, under ``<root>/Audio/<Song>/``::

    <Song>_METADATA.yaml            MedleyDB's schema (keys, value types, 'yes'/'no' strings)
    <Song>_MIX.wav                  stereo, 44.1 kHz, 16-bit: the virtual engineer's mix
    <Song>_MIX_PARAMS.json          the console settings of that mix (a dmc mix document;
                                    MedleyDB has no such file) -> `dmcdata render` re-renders it
    <Song>_STEMS/<Song>_STEM_NN.wav mono, 44.1 kHz, 16-bit
    <Song>_RAW/<Song>_RAW_NN_MM.wav mono, 44.1 kHz, 16-bit (MM-th raw track of stem NN)

Stems are mono in the demo (real MedleyDB stems are mostly stereo). Raw tracks are what the
"microphones" recorded: kick in/out, snare top/bottom (polarity inverted, as a real bottom mic),
overheads hearing the whole kit, bass DI + amp, double-tracked guitars, piano close + room; the
stem is their (polarity-corrected) sum, high-passed at 30 Hz for non-bass parts and brought to a
random export peak level. Songs whose mics hear other instruments say ``has_bleed: 'yes'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from scipy import signal

from dmcdata.console import IRBank
from dmcdata.console.mixfile import MixDocument, TrackEntry
from dmcdata.shards import write_atomic

from . import engineer
from .instruments import Note, NoteRenderer
from .songs import Part, SongPlan, compose, plan_song
from .wavio import quantize16, write_wav

SAMPLE_RATE = 44100
PAN_LAW = "linear"
IR_BANK_SPEC = {"generated": {"n": 8, "seed": 0}}


@dataclass
class SongResult:
    name: str
    files: list = field(default_factory=list)    # paths written
    bytes: int = 0
    seconds: float = 0.0
    n_stems: int = 0
    n_raw: int = 0


def _sos(kind, f, sr=SAMPLE_RATE, order=2):
    return signal.butter(order, f, kind, fs=sr, output="sos")


def _delay(x, ms, sr=SAMPLE_RATE):
    d = int(round(ms * sr / 1000))
    return np.concatenate([np.zeros(d, x.dtype), x[:len(x) - d]]) if d > 0 else x


def _peak_to(x, dbfs):
    p = float(np.max(np.abs(x))) if x.size else 0.0
    return x if p == 0 else (x * (10 ** (dbfs / 20) / p)).astype(np.float32)


def _fade_out(x, seconds=0.3, sr=SAMPLE_RATE):
    """The excerpt ends with a short raised-cosine fade (same on every track of a song)."""
    m = min(len(x), int(seconds * sr))
    if m:
        x = x.copy()
        x[-m:] *= (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, m))).astype(np.float32)
    return x


def _retake(rng, notes: list, jitter_s=0.008) -> list:
    """A second performance of the same part (double tracking): new timing and velocities."""
    return [Note(max(0.0, n.start + float(rng.normal(0, jitter_s))), n.duration, n.key,
                 int(np.clip(n.velocity + rng.normal(0, 6), 1, 127))) for n in notes]


def render_raws(rng, plan: SongPlan, part: Part, kit_audio: dict, R: NoteRenderer, n: int):
    """Raw tracks of one stem: list of (instrument name, float32 audio), and whether they bleed.

    ``kit_audio`` maps kit pieces (kick, snare, hats, toms, cymbals) to their dry renders.
    """
    v = part.voice
    if part.role == "kick":
        inside = kit_audio["kick"]
        outside = 0.8 * _delay(signal.sosfilt(_sos("low", 1800), inside), 1.2) + 0.06 * kit_audio["snare"]
        return [("kick drum", inside), ("kick drum", outside.astype(np.float32))], True
    if part.role == "snare":
        top = kit_audio["snare"] + 0.08 * signal.sosfilt(_sos("high", 3000), kit_audio["hats"])
        bottom = -0.6 * signal.sosfilt(_sos("high", 400), kit_audio["snare"]) + 0.04 * kit_audio["kick"]
        return [("snare drum", top.astype(np.float32)), ("snare drum", bottom.astype(np.float32))], True
    if part.role == "hats":
        return [("high hat", (kit_audio["hats"] + 0.1 * signal.sosfilt(_sos("high", 800), kit_audio["snare"])
                              ).astype(np.float32))], True
    if part.role == "toms":
        return [("toms", kit_audio["toms"] + 0.05 * kit_audio["snare"])], True
    if part.role in ("overheads", "drums"):
        ohs = []
        for side, (dk, ds) in enumerate(((0.9, 0.4), (0.5, 1.2))):
            oh = (0.25 * _delay(kit_audio["kick"], 3 + dk) + 0.5 * _delay(kit_audio["snare"], 2 + ds)
                  + 0.7 * kit_audio["hats"] * (1.2 if side == 0 else 0.7) + 0.45 * kit_audio["toms"]
                  + 0.9 * kit_audio["cymbals"] * (0.8 if side == 0 else 1.1))
            ohs.append(signal.sosfilt(_sos("high", 120), oh).astype(np.float32))
        if part.role == "overheads":
            return [("drum set", ohs[0]), ("drum set", ohs[1])], True
        return [("kick drum", kit_audio["kick"]), ("snare drum", kit_audio["snare"]),
                ("drum set", ohs[0]), ("drum set", ohs[1])], True
    # pitched and percussion parts
    main = R.render(part.notes, v.program, n, v.bank)
    name = v.instrument
    if part.role == "bass" and rng.random() < 0.5:
        amp = np.tanh(3.0 * main / (np.max(np.abs(main)) + 1e-9)) * 0.5
        amp = signal.sosfilt(_sos("low", 2500), amp).astype(np.float32)
        return [(name, main), (name, _delay(amp, 2.0))], False
    if "guitar" in name and rng.random() < 0.6:
        second = R.render(_retake(rng, part.notes), v.program, n, v.bank)
        return [(name, main), (name, second)], False
    if name == "piano" and rng.random() < 0.5:
        room = signal.sosfilt(_sos("low", 4000), _delay(main, 9.0)).astype(np.float32)
        return [(name, main), (name, 0.7 * room)], False
    return [(name, main)], False


def _kit_audio(plan: SongPlan, parts: list, R: NoteRenderer, n: int) -> dict:
    notes = next((p.notes for p in parts if p.role in ("drums", "overheads")), None)
    if notes is None:
        notes = [nt for p in parts if p.role in ("kick", "snare", "hats", "toms") for nt in p.notes]
    groups = {"kick": (35, 36), "snare": (37, 38, 39, 40), "hats": (42, 44, 46, 51),
              "toms": (41, 43, 45, 47, 48, 50), "cymbals": (49, 51, 57)}
    out = {}
    for g, keys in groups.items():
        out[g] = R.render([nt for nt in notes if nt.key in keys], plan.kit, n, bank=128)
    return out


def metadata_dict(plan: SongPlan, stems: list, has_bleed: bool) -> dict:
    """The ``<Song>_METADATA.yaml`` content in MedleyDB's schema.

    ``stems`` is a list of (role, instrument, [raw instruments]) in stem order.
    """
    name = plan.name
    out_stems = {}
    for i, (role, instrument, raws) in enumerate(stems, start=1):
        component = "bass" if role == "bass" else ("melody" if role == "lead" else "")
        out_stems[f"S{i:02d}"] = {
            "component": component,
            "filename": f"{name}_STEM_{i:02d}.wav",
            "instrument": instrument,
            "raw": {f"R{j:02d}": {"filename": f"{name}_RAW_{i:02d}_{j:02d}.wav", "instrument": r}
                    for j, r in enumerate(raws, start=1)},
        }
    return {
        "album": "dmc demo corpus",
        "artist": plan.artist,
        "composer": [plan.artist],
        "excerpt": "yes",
        "genre": plan.genre,
        "has_bleed": "yes" if has_bleed else "no",
        "instrumental": "yes",
        "mix_filename": f"{name}_MIX.wav",
        "origin": "dmc demo corpus (procedural)",
        "producer": ["dmc virtual engineer"],
        "raw_dir": f"{name}_RAW",
        "stem_dir": f"{name}_STEMS",
        "stems": out_stems,
        "title": plan.title,
        "version": 1.2,
        "website": [],
    }


def write_song(rng: np.random.Generator, root: Path, n_stems: int, seconds: float,
               R: NoteRenderer, ir_bank: IRBank, taken: set | None = None) -> SongResult:
    """Draw, render and write one song under ``root/Audio``; returns what was written."""
    taken = set() if taken is None else taken
    for _ in range(20):
        plan, roles = plan_song(rng, n_stems, seconds)
        if plan.name not in taken:
            break
    else:
        raise RuntimeError("could not draw an unused song name in 20 tries")
    taken.add(plan.name)
    parts = compose(rng, plan, roles)
    order = [int(i) for i in rng.permutation(len(parts))]   # MedleyDB stem order is arbitrary
    parts = [parts[i] for i in order]
    n = int(round(plan.duration_s * SAMPLE_RATE))
    kit = _kit_audio(plan, parts, R, n) if any(p.voice.bank == 128 and p.role in
                                                ("drums", "overheads", "kick", "snare", "hats", "toms")
                                                for p in parts) else {}
    name = plan.name
    song_dir = root / "Audio" / name
    res = SongResult(name)
    stems_meta, stem_audio, roles_in_order = [], [], []
    bleed = False
    for i, part in enumerate(parts, start=1):
        raws, b = render_raws(rng, plan, part, kit, R, n)
        raws = [(inst, _fade_out(np.asarray(a, np.float32))) for inst, a in raws]
        bleed |= b
        raw_q = []
        for j, (inst, audio) in enumerate(raws, start=1):
            audio = _peak_to(np.asarray(audio, np.float32), float(rng.uniform(-12, -3)))
            path = song_dir / f"{name}_RAW" / f"{name}_RAW_{i:02d}_{j:02d}.wav"
            res.bytes += write_wav(path, audio, SAMPLE_RATE)
            res.files.append(path)
            raw_q.append(quantize16(audio))
        # the stem: polarity-corrected sum of its raws (snare bottom is inverted)
        stem = np.zeros(n, np.float64)
        for j, a in enumerate(raw_q):
            sign = -1.0 if part.role == "snare" and j == 1 else 1.0
            stem += sign * (1.0 if j == 0 else 0.6) * a
        if part.role not in ("bass", "kick", "drums"):
            stem = signal.sosfilt(_sos("high", 30), stem)
        stem = _peak_to(stem.astype(np.float32), float(rng.uniform(-6, -1)))
        path = song_dir / f"{name}_STEMS" / f"{name}_STEM_{i:02d}.wav"
        res.bytes += write_wav(path, stem, SAMPLE_RATE)
        res.files.append(path)
        stem_audio.append(quantize16(stem))
        roles_in_order.append(part.role)
        stems_meta.append((part.role, part.instrument, [r[0] for r in raws]))
        res.n_raw += len(raws)
    res.n_stems = len(parts)

    # the virtual engineer's mix
    style = engineer.song_style(rng, len(ir_bank))
    slots = engineer.pan_slots(roles_in_order, style["side"])
    params = [engineer.channel_params(rng, role, audio, style, slot)
              for role, audio, slot in zip(roles_in_order, stem_audio, slots)]
    mix, params = engineer.level_mix(stem_audio, params, SAMPLE_RATE, ir_bank, PAN_LAW)
    mix_path = song_dir / f"{name}_MIX.wav"
    res.bytes += write_wav(mix_path, mix, SAMPLE_RATE)
    res.files.append(mix_path)
    doc = MixDocument(
        sample_rate=SAMPLE_RATE, pan_law=PAN_LAW, order=("eq", "compressor", "reverb"), ir_bank=IR_BANK_SPEC,
        comment=(f"dmc demo corpus: virtual-engineer mix of {name} ({plan.genre}, {plan.bpm:g} BPM, "
                 f"{plan.key_name}, {plan.drum_style} groove); renders {name}_MIX.wav"),
        tracks=[TrackEntry(file=f"{name}_STEMS/{name}_STEM_{i:02d}.wav", params=p, name=role)
                for i, (role, p) in enumerate(zip(roles_in_order, params), start=1)])
    doc_path = song_dir / f"{name}_MIX_PARAMS.json"
    doc.save(doc_path)
    res.bytes += doc_path.stat().st_size
    res.files.append(doc_path)
    meta = metadata_dict(plan, stems_meta, bleed)
    text = yaml.safe_dump(meta, default_flow_style=False, sort_keys=True, allow_unicode=True)
    meta_path = song_dir / f"{name}_METADATA.yaml"
    write_atomic(meta_path, text.encode("utf-8"))
    res.bytes += len(text.encode("utf-8"))
    res.files.append(meta_path)
    res.seconds = n / SAMPLE_RATE
    return res
