"""Procedural songs: a tempo, a key, a chord progression and parts that follow it.

Everything is drawn from the ``np.random.Generator`` passed in, so a seed fixes a song. A song
is 4/4, one chord per bar; the parts are

* drums — a groove per style (rock, pop four-on-the-floor, funk with ghost notes, half-time)
  with kick variations, a fill in the last bar of every 4-bar phrase and a crash after it;
* bass — chord roots in the low register with a style-dependent rhythm and approach notes;
* chords — voice-led triads / seventh chords (closest inversion to the previous chord) in a
  comping rhythm, strummed for guitars;
* pad — sustained voicings one octave up; arp — broken chords in eighths/sixteenths;
* lead — two-bar phrases, chord tones on strong beats, stepwise motion in the key elsewhere;
* percussion — tambourine / shaker / conga / cowbell patterns.

Timing is humanized (onset jitter ~4 ms, velocity ±8).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import instruments as I
from .instruments import Note, Voice

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = {
    "major": [(0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 4, 3), (0, 3, 0, 4),
              (0, 2, 3, 4)],
    "minor": [(0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 3, 6, 2)],
}
GENRES = {  # genre (MedleyDB's genre names) -> drum styles that suit it, tempo range (BPM)
    "Rock": (("rock", "halftime"), (96, 140)),
    "Pop": (("pop", "rock"), (96, 128)),
    "Singer/Songwriter": (("rock", "halftime"), (76, 110)),
    "Electronic/Fusion": (("pop", "funk"), (110, 132)),
    "Jazz": (("funk", "halftime"), (84, 126)),
}
NOTE_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_WORDS_A = ("Amber", "Velvet", "Silver", "Paper", "Hollow", "Electric", "Quiet", "Golden", "Crimson",
            "Wandering", "Northern", "Midnight", "Copper", "Glass", "Lonely", "Static", "Neon", "Wild")
_WORDS_B = ("Harbors", "Foxes", "Lanterns", "Tides", "Engines", "Orchards", "Satellites", "Rivers",
            "Pilots", "Sparrows", "Cassettes", "Mountains", "Echoes", "Strangers", "Comets", "Kites")
_TITLE_A = ("Night", "Summer", "Slow", "Bright", "Open", "Last", "Falling", "Morning", "Paper",
            "Broken", "Distant", "Little", "Endless", "Burning", "Restless", "Hidden")
_TITLE_B = ("Drive", "Light", "Road", "Heart", "Window", "Signal", "River", "Dance", "Letters",
            "Garden", "Motion", "Skyline", "Ghosts", "Weather", "Echo", "Harbor")


@dataclass
class Part:
    """One instrument part: its role in the arrangement, taxonomy instrument and notes."""
    role: str
    voice: Voice
    notes: list = field(default_factory=list)

    @property
    def instrument(self) -> str:
        return self.voice.instrument


@dataclass
class SongPlan:
    artist: str
    title: str
    genre: str
    bpm: float
    tonic: int            # pitch class 0-11
    mode: str             # "major" | "minor"
    bars: int
    progression: tuple    # scale degrees, one per bar, repeated
    drum_style: str
    kit: int              # GM drum kit (bank 128 program)
    duration_s: float
    parts: dict = field(default_factory=dict)   # role -> Part

    @property
    def name(self) -> str:
        """MedleyDB-style song id: Artist_Title without spaces."""
        return f"{self.artist.replace(' ', '')}_{self.title.replace(' ', '')}"

    @property
    def key_name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    @property
    def beat_s(self) -> float:
        return 60.0 / self.bpm


def _human(rng, t, jitter_s=0.004):
    return max(0.0, t + float(rng.normal(0.0, jitter_s)))


def _vel(rng, v, spread=8):
    return int(np.clip(round(v + rng.normal(0.0, spread / 2)), 1, 127))


class Harmony:
    """Scale and chord arithmetic for one key."""

    def __init__(self, tonic: int, mode: str):
        self.tonic, self.scale = tonic, MAJOR if mode == "major" else MINOR

    def degree_pc(self, d: int) -> int:
        return (self.tonic + self.scale[d % 7]) % 12

    def chord_pcs(self, degree: int, seventh: bool = False) -> list[int]:
        n = 4 if seventh else 3
        return [self.degree_pc(degree + 2 * i) for i in range(n)]

    def scale_keys(self, low: int, high: int) -> list[int]:
        pcs = {self.degree_pc(d) for d in range(7)}
        return [k for k in range(low, high + 1) if k % 12 in pcs]


def _voicing(pcs, low, high, prev):
    """All voicings of ``pcs`` (one note per pitch class, span < 1 octave + 4) in [low, high];
    the one whose mean is closest to the previous voicing's (voice leading)."""
    best, best_cost = None, None
    centre = np.mean(prev) if prev else (low + high) / 2 - 4
    for bottom in range(low, high - 6):
        if bottom % 12 not in pcs:
            continue
        v, k = [bottom], bottom
        for pc in pcs[pcs.index(bottom % 12) + 1:] + pcs[:pcs.index(bottom % 12)]:
            k = k + ((pc - k) % 12 or 12)
            v.append(k)
        if v[-1] > high:
            continue
        cost = abs(np.mean(v) - centre)
        if best_cost is None or cost < best_cost:
            best, best_cost = v, cost
    return best or [low + (pc - low) % 12 for pc in pcs]


# ------------------------------------------------------------------ parts
def drum_notes(rng, plan: SongPlan) -> list[Note]:
    """Kit notes (GM percussion keys) for the whole song."""
    step = plan.beat_s / 4
    notes: list[Note] = []
    style = plan.drum_style
    kick = {"rock": [0, 8], "pop": [0, 4, 8, 12], "funk": [0, 3, 8, 10], "halftime": [0, 11]}[style]
    snare = {"rock": [4, 12], "pop": [4, 12], "funk": [4, 12], "halftime": [8]}[style]
    hats = {"rock": list(range(0, 16, 2)), "pop": [2, 6, 10, 14], "funk": list(range(16)),
            "halftime": list(range(0, 16, 2))}[style]
    open_hat = style == "pop"
    ride = style == "halftime" and rng.random() < 0.4
    for bar in range(plan.bars):
        t0 = bar * 16 * step
        last = bar == plan.bars - 1
        fill = (bar % 4 == 3) and not last and rng.random() < 0.85
        fill_from = 16 if not fill else int(rng.choice([8, 12]))
        if bar % 4 == 0 or last:
            notes.append(Note(_human(rng, t0), 0.5, I.CRASH, _vel(rng, 108)))
        extra = [s for s in (6, 7, 10, 14, 15) if rng.random() < 0.12]
        for s in sorted(set(kick + extra)):
            if s < fill_from and not (last and s > 0):
                notes.append(Note(_human(rng, t0 + s * step), 0.2, I.KICK, _vel(rng, 112 if s in kick else 92)))
        for s in snare:
            if s < fill_from and not last:
                notes.append(Note(_human(rng, t0 + s * step), 0.2, I.SNARE, _vel(rng, 110)))
        if style == "funk":
            for s in (7, 9, 15):
                if s < fill_from and rng.random() < 0.5 and not last:
                    notes.append(Note(_human(rng, t0 + s * step), 0.1, I.SNARE, _vel(rng, 38)))
        for s in hats:
            if s >= fill_from or (last and s > 0):
                continue
            key = I.RIDE if ride else (I.HAT_OPEN if open_hat and rng.random() < 0.7 else I.HAT_CLOSED)
            accent = 96 if s % 4 == 0 else 74
            notes.append(Note(_human(rng, t0 + s * step), 0.15, key, _vel(rng, accent, 14)))
        if fill:
            toms = [I.TOM_HIGH, I.TOM_MID, I.TOM_LOW]
            for j, s in enumerate(range(fill_from, 16)):
                key = I.SNARE if rng.random() < 0.35 else toms[min(2, j * 3 // max(1, 16 - fill_from))]
                notes.append(Note(_human(rng, t0 + s * step), 0.3, key, _vel(rng, 88 + 3 * j)))
            notes.append(Note(_human(rng, t0 + 15 * step), 0.2, I.KICK, _vel(rng, 100)))
    return sorted(notes, key=lambda n: n.start)


def bass_notes(rng, plan: SongPlan, h: Harmony, voice: Voice) -> list[Note]:
    step = plan.beat_s / 4
    pattern = {"rock": [0, 2, 4, 6, 8, 10, 12, 14], "pop": [0, 3, 6, 8, 11, 14],
               "funk": [0, 3, 6, 7, 10, 12, 14], "halftime": [0, 6, 10, 11]}[plan.drum_style]
    if rng.random() < 0.3:
        pattern = [0, 4, 8, 12]
    notes = []
    lo = voice.low + 4
    for bar in range(plan.bars):
        deg = plan.progression[bar % len(plan.progression)]
        nxt = plan.progression[(bar + 1) % len(plan.progression)]
        root = lo + (h.degree_pc(deg) - lo) % 12
        fifth = root + 7
        last = bar == plan.bars - 1
        for j, s in enumerate(pattern):
            if last and s > 0:
                break
            key = root
            if s == pattern[-1] and j > 0 and rng.random() < 0.5:      # approach the next root
                target = lo + (h.degree_pc(nxt) - lo) % 12
                key = target + (1 if rng.random() < 0.5 else -1) * (2 if rng.random() < 0.5 else 1)
            elif s in (8, 10) and rng.random() < 0.3:
                key = fifth if fifth <= voice.high else root + 12
            elif s not in (0,) and rng.random() < 0.15:
                key = root + 12
            nxt_s = pattern[j + 1] if j + 1 < len(pattern) else 16
            dur = (nxt_s - s) * step * (0.85 if not last else 3.5)
            notes.append(Note(_human(rng, bar * 16 * step + s * step), dur, int(np.clip(key, voice.low, voice.high)),
                              _vel(rng, 100 if s % 4 == 0 else 86)))
    return notes


def chord_notes(rng, plan: SongPlan, h: Harmony, voice: Voice, rhythm: str, strum: bool,
                sevenths: bool, octave_up: bool = False) -> list[Note]:
    step = plan.beat_s / 4
    hits = {"whole": [(0, 16)], "half": [(0, 8), (8, 8)], "pulse": [(s, 2) for s in range(0, 16, 2)],
            "comp": [(0, 3), (3, 3), (6, 4), (10, 2), (12, 4)], "offbeat": [(s, 2) for s in (2, 6, 10, 14)]}[rhythm]
    notes, prev = [], None
    low, high = voice.low + (12 if octave_up else 0), voice.high
    for bar in range(plan.bars):
        deg = plan.progression[bar % len(plan.progression)]
        v = _voicing(h.chord_pcs(deg, sevenths and rng.random() < 0.7), low, max(high, low + 14), prev)
        prev = v
        last = bar == plan.bars - 1
        for s, length in (hits if not last else [(0, 16)]):
            t = bar * 16 * step + s * step
            dur = length * step * (0.92 if rhythm != "whole" else 1.0) * (2.5 if last else 1.0)
            base_vel = 88 if s % 8 == 0 else 76
            order = v if (not strum or (s // 2) % 2 == 0) else v[::-1]
            for i, k in enumerate(order):
                off = i * float(rng.uniform(0.008, 0.018)) if strum else 0.0
                notes.append(Note(_human(rng, t + off, 0.003), dur - off, k, _vel(rng, base_vel - 3 * i)))
    return notes


def arp_notes(rng, plan: SongPlan, h: Harmony, voice: Voice) -> list[Note]:
    step = plan.beat_s / 4
    every = int(rng.choice([2, 4])) if plan.bpm < 110 else 4
    every = 2 if plan.bpm < 110 and every == 4 and rng.random() < 0.5 else every
    shape = rng.choice(["up", "updown", "random"])
    notes = []
    start_bar = 2 if plan.bars >= 6 else 0
    for bar in range(start_bar, plan.bars - 1):
        deg = plan.progression[bar % len(plan.progression)]
        v = _voicing(h.chord_pcs(deg), voice.low, voice.high, None)
        tones = v + [v[0] + 12]
        seq = {"up": tones, "updown": tones + tones[-2:0:-1], "random": list(rng.permutation(tones))}[shape]
        for j, s in enumerate(range(0, 16, every)):
            notes.append(Note(_human(rng, (bar * 16 + s) * step, 0.002), every * step * 0.8,
                              int(seq[j % len(seq)]), _vel(rng, 84 if s % 4 == 0 else 70)))
    return notes


def lead_notes(rng, plan: SongPlan, h: Harmony, voice: Voice) -> list[Note]:
    step = plan.beat_s / 4
    rhythms = [[(0, 4), (4, 2), (6, 2), (8, 6)], [(0, 6), (6, 2), (8, 4), (12, 4)],
               [(2, 2), (4, 4), (8, 2), (10, 2), (12, 4)], [(0, 2), (2, 2), (4, 2), (6, 2), (8, 8)],
               [(0, 8), (8, 8)], [(0, 3), (3, 3), (6, 2), (8, 8)]]
    keys = h.scale_keys(voice.low, voice.high)
    centre = (voice.low + voice.high) // 2
    idx = int(np.argmin([abs(k - centre) for k in keys]))
    notes = []
    start_bar = 2 if plan.bars >= 6 else 0
    motif = [rhythms[int(rng.integers(len(rhythms)))] for _ in range(2)]
    for bar in range(start_bar, plan.bars):
        deg = plan.progression[bar % len(plan.progression)]
        chord = h.chord_pcs(deg)
        phrase_pos = (bar - start_bar) % 4
        if phrase_pos == 3 and rng.random() < 0.5:
            continue                                 # breathe at the end of a phrase
        rhythm = motif[phrase_pos % 2] if rng.random() < 0.7 else rhythms[int(rng.integers(len(rhythms)))]
        if bar == plan.bars - 1:
            rhythm = [(0, 16)]
        for s, length in rhythm:
            if s in (0, 8):      # strong beat: nearest chord tone
                cands = [i for i, k in enumerate(keys) if k % 12 in chord]
                idx = min(cands, key=lambda i: abs(i - idx) + 0.3 * abs(keys[i] - centre) / 2)
            else:
                move = int(rng.choice([-2, -1, -1, 1, 1, 2, 0]))
                if keys[idx] > centre + 7:
                    move = -abs(move)
                elif keys[idx] < centre - 7:
                    move = abs(move)
                idx = int(np.clip(idx + move, 0, len(keys) - 1))
            dur = length * step * 0.95 * (1.6 if bar == plan.bars - 1 else 1.0)
            notes.append(Note(_human(rng, (bar * 16 + s) * step), dur, keys[idx],
                              _vel(rng, 98 if s % 8 == 0 else 86)))
    return notes


def percussion_notes(rng, plan: SongPlan, kind: str) -> list[Note]:
    step = plan.beat_s / 4
    notes = []
    pats = {"tambourine": ([2, 6, 10, 14], [4, 12]), "shaker": (list(range(16)), [0, 4, 8, 12]),
            "conga": ([0, 3, 6, 8, 10, 14], [0, 8]), "cowbell": ([0, 4, 8, 12], [0]),
            "claps": ([4, 12], [4, 12])}[kind]
    keys = I.PERCUSSION_VOICES[kind]
    for bar in range(plan.bars - 1):
        for s in pats[0]:
            key = keys[(s // 3) % len(keys)]
            notes.append(Note(_human(rng, (bar * 16 + s) * step), 0.2, key,
                              _vel(rng, 96 if s in pats[1] else 70, 12)))
    return notes


# ------------------------------------------------------------------ song plans
def plan_song(rng: np.random.Generator, n_stems: int, seconds: float) -> tuple[SongPlan, list[str]]:
    """Draw a song (metadata, harmony, tempo) and the list of its stem roles (``n_stems`` long).

    Roles: ``kick``, ``snare``, ``hats``, ``toms``, ``overheads`` (split drums), or ``drums`` (one
    kit stem), and ``bass``, ``chords``, ``chords2``, ``pad``, ``lead``, ``lead2``, ``arp``,
    ``percussion``, ``percussion2``. The song is ``seconds`` long rounded up to whole bars, plus a
    1 s tail for the last chord's release.
    """
    genre = str(rng.choice(list(GENRES)))
    styles, (lo, hi) = GENRES[genre]
    bpm = float(rng.integers(lo, hi + 1))
    mode = "major" if rng.random() < 0.6 else "minor"
    prog = PROGRESSIONS[mode][int(rng.integers(len(PROGRESSIONS[mode])))]
    bar_s = 240.0 / bpm
    bars = max(2, int(np.ceil((seconds - 1.0) / bar_s)))
    artist = f"The {rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}" if rng.random() < 0.5 else \
        f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}"
    title = f"{rng.choice(_TITLE_A)} {rng.choice(_TITLE_B)}"
    plan = SongPlan(artist=str(artist), title=str(title), genre=genre, bpm=bpm,
                    tonic=int(rng.integers(12)), mode=mode, bars=bars, progression=tuple(prog),
                    drum_style=str(rng.choice(styles)), kit=int(rng.choice(I.DRUM_KITS)),
                    duration_s=bars * bar_s + 1.0)
    # stem roles
    n = int(np.clip(n_stems, 3, 12))
    with_drums = n >= 4 or rng.random() < 0.6
    drums: list[str] = []
    if with_drums:
        if n >= 6 and rng.random() < 0.7:
            drums = ["kick", "snare", "hats"]
            if n >= 9 and rng.random() < 0.6:
                drums.append("toms")
            if n >= 10 and rng.random() < 0.6:
                drums.append("overheads")
        else:
            drums = ["drums"]
    pool = ["bass", "chords", "lead", "pad", "percussion", "arp", "chords2", "lead2", "percussion2"]
    rest = pool[:max(0, n - len(drums))]
    return plan, drums + rest


def compose(rng: np.random.Generator, plan: SongPlan, roles: list[str]) -> list[Part]:
    """Notes for each role, in ``roles`` order (drum roles share one kit performance)."""
    h = Harmony(plan.tonic, plan.mode)
    parts: list[Part] = []
    kit_notes = drum_notes(rng, plan) if any(r in ("drums", "kick", "snare", "hats", "toms", "overheads")
                                             for r in roles) else []
    kit = Voice("drum set", plan.kit, 0, 127, bank=128)
    used_programs: set = set()

    def pick(role_family):
        cands = [v for v in I.VOICES[role_family] if v.program not in used_programs] or I.VOICES[role_family]
        v = cands[int(rng.integers(len(cands)))]
        used_programs.add(v.program)
        return v

    drum_keys = {"kick": {I.KICK, 35}, "snare": {I.SNARE, I.SIDESTICK, 40},
                 "hats": {I.HAT_CLOSED, I.HAT_PEDAL, I.HAT_OPEN, I.RIDE},
                 "toms": {I.TOM_LOW, I.TOM_MID, I.TOM_HIGH}}
    perc_kinds = [str(k) for k in rng.permutation(list(I.PERCUSSION_VOICES))]
    for role in roles:
        if role == "drums" or role == "overheads":
            parts.append(Part(role, kit, kit_notes))
        elif role in drum_keys:
            name = {"kick": "kick drum", "snare": "snare drum", "hats": "high hat", "toms": "toms"}[role]
            parts.append(Part(role, Voice(name, plan.kit, 0, 127, bank=128),
                              [nt for nt in kit_notes if nt.key in drum_keys[role]]))
        elif role == "bass":
            v = pick("bass")
            parts.append(Part(role, v, bass_notes(rng, plan, h, v)))
        elif role in ("chords", "chords2"):
            v = pick("chords")
            guitar = "guitar" in v.instrument
            rhythm = str(rng.choice(["comp", "pulse", "half", "offbeat"] if guitar else ["whole", "half", "comp", "pulse"]))
            parts.append(Part(role, v, chord_notes(rng, plan, h, v, rhythm, guitar, rng.random() < 0.5)))
        elif role == "pad":
            v = pick("pad")
            parts.append(Part(role, v, chord_notes(rng, plan, h, v, "whole", False, rng.random() < 0.3)))
        elif role in ("lead", "lead2"):
            v = pick("lead")
            parts.append(Part(role, v, lead_notes(rng, plan, h, v)))
        elif role == "arp":
            v = pick("arp")
            parts.append(Part(role, v, arp_notes(rng, plan, h, v)))
        elif role in ("percussion", "percussion2"):
            kind = perc_kinds.pop(0)
            name = {"tambourine": "tambourine", "shaker": "shaker", "conga": "conga",
                    "cowbell": "cowbell", "claps": "claps"}[kind]
            parts.append(Part(role, Voice(name, plan.kit, 0, 127, bank=128), percussion_notes(rng, plan, kind)))
        else:
            raise ValueError(f"unknown role {role!r}")
    return parts
