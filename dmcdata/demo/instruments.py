"""Instrument catalogue of the demo corpus and the note renderer behind it.

Every pitched part names a MedleyDB taxonomy instrument (``taxonomy.yaml``) and the General-MIDI
program that plays it from the bundled SoundFont; drum parts name GM percussion keys (bank 128).
:class:`NoteRenderer` renders note lists to mono float32 audio with the SoundFont, or, only if the
SoundFont cannot be loaded, with a small synthesizer (detuned partials with ADSR envelopes,
filtered-noise drums) — ``NoteRenderer.backend`` says which one ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from .soundfont import SoundFont, load_default_soundfont, velocity_gain

SAMPLE_RATE = 44100


@dataclass(frozen=True)
class Voice:
    """A taxonomy instrument played by a GM program (``bank`` 128 = drum kit ``program``)."""
    instrument: str      # MedleyDB taxonomy name
    program: int         # GM program 0-127 (or drum kit number when bank == 128)
    low: int             # lowest MIDI key the part may use
    high: int            # highest MIDI key
    bank: int = 0


# role -> candidate voices (instrument names exactly as in MedleyDB's taxonomy.yaml)
VOICES: dict[str, list[Voice]] = {
    "bass": [Voice("electric bass", 33, 28, 52), Voice("electric bass", 34, 28, 52),
             Voice("double bass", 32, 28, 50), Voice("synthesizer", 38, 28, 52)],
    "chords": [Voice("piano", 0, 48, 79), Voice("electric piano", 4, 48, 77),
               Voice("clean electric guitar", 27, 48, 74), Voice("acoustic guitar", 25, 48, 74),
               Voice("electronic organ", 16, 48, 79), Voice("distorted electric guitar", 30, 40, 64)],
    "pad": [Voice("string section", 48, 48, 79), Voice("synthesizer", 89, 48, 79),
            Voice("choir", 52, 52, 76), Voice("brass section", 61, 50, 74)],
    "lead": [Voice("flute", 73, 67, 91), Voice("trumpet", 56, 58, 82),
             Voice("alto saxophone", 65, 55, 80), Voice("tenor saxophone", 66, 50, 75),
             Voice("synthesizer", 81, 60, 84), Voice("violin", 40, 60, 88),
             Voice("clarinet", 71, 55, 82), Voice("distorted electric guitar", 29, 55, 81)],
    "arp": [Voice("vibraphone", 11, 60, 84), Voice("marimba", 12, 55, 84),
            Voice("synthesizer", 80, 60, 84), Voice("glockenspiel", 9, 72, 96)],
}

# GM percussion keys (bank 128)
KICK, SNARE, SIDESTICK, CLAP = 36, 38, 37, 39
HAT_CLOSED, HAT_PEDAL, HAT_OPEN = 42, 44, 46
TOM_LOW, TOM_MID, TOM_HIGH = 45, 47, 50
CRASH, RIDE = 49, 51
TAMBOURINE, SHAKER, COWBELL, CONGA_HI, CONGA_LO, BONGO_HI = 54, 82, 56, 62, 64, 60
PERCUSSION_VOICES = {"tambourine": [TAMBOURINE], "shaker": [SHAKER],
                     "conga": [CONGA_HI, CONGA_LO], "cowbell": [COWBELL], "claps": [CLAP]}
DRUM_KITS = (0, 8, 16, 32)   # GM kits: Standard, Room, Power, Jazz


@dataclass
class Note:
    """One note: onset and duration in seconds, MIDI key, velocity 1-127."""
    start: float
    duration: float
    key: int
    velocity: int


class NoteRenderer:
    """Render note lists with the bundled SoundFont (fallback: a documented synthesizer)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, soundfont: SoundFont | None = None,
                 use_soundfont: bool = True):
        self.sample_rate = sample_rate
        self.sf = soundfont if soundfont is not None else (load_default_soundfont() if use_soundfont else None)
        self.backend = "soundfont:TimGM6mb.sf2" if self.sf is not None else "synth-fallback"
        self._note_cache: dict = {}
        self._cache_bytes = 0
        self.cache_limit_bytes = 256 << 20

    def render(self, notes: list[Note], program: int, n_samples: int, bank: int = 0,
               cents: float = 0.0, max_release_s: float = 1.5) -> np.ndarray:
        """Sum of all notes into a float32 buffer of ``n_samples`` (tails past the end are cut).

        ``cents`` transposes every note (used to tune drum kits per drummer). Drum kits (bank 128)
        ignore note-off, as GM percussion does (each hit sounds for up to 2 s plus its release),
        and a hit of an exclusive class (the hi-hats) chokes the previous one of that class with
        a 5 ms fade.
        """
        out = np.zeros(n_samples, np.float32)
        sr = self.sample_rate
        drums = bank == 128
        choke = [None] * len(notes)
        if drums and self.sf is not None:
            last: dict = {}
            for i in sorted(range(len(notes)), key=lambda i: notes[i].start):
                cls = self.sf.exclusive_class(program, notes[i].key, notes[i].velocity, bank)
                if cls:
                    if cls in last:
                        choke[last[cls]] = notes[i].start
                    last[cls] = i
        for nt, cut in zip(notes, choke):
            dur = max(nt.duration, 2.0) if drums else nt.duration
            y = self.note(program, nt.key, nt.velocity, dur, bank, cents, max_release_s)
            if cut is not None:
                m = max(0, int(round((cut - nt.start) * sr)))
                if m < len(y):
                    y = y[:m].copy()
                    f = min(m, int(0.005 * sr))
                    if f:
                        y[m - f:] *= np.linspace(1.0, 0.0, f, dtype=np.float32)
            i0 = int(round(nt.start * sr))
            if i0 < 0:  # humanized onset just before t = 0: the part before the buffer is cut
                y, i0 = y[-i0:], 0
            if i0 >= n_samples or len(y) == 0:
                continue
            k = min(len(y), n_samples - i0)
            out[i0:i0 + k] += y[:k]
        return out

    def note(self, program, key, velocity, duration, bank=0, cents=0.0, max_release_s=1.5):
        """One note; SoundFont renders are cached at full velocity per (zones, key, duration)
        and scaled by the velocity gain, so repeated notes cost a multiplication."""
        if self.sf is None:
            return synth_note(program, key, velocity, duration, self.sample_rate, bank, cents)
        regions = self.sf.regions(program, key, velocity, bank)
        ck = (tuple(id(g) for g, _ in regions), key, round(duration, 4), round(cents, 3), max_release_s)
        y = self._note_cache.get(ck)
        if y is None:
            y = self.sf.render_regions(regions, key, duration, self.sample_rate, max_release_s, cents)
            if self._cache_bytes + y.nbytes <= self.cache_limit_bytes:
                self._note_cache[ck] = y
                self._cache_bytes += y.nbytes
        return y * np.float32(velocity_gain(velocity))


# ------------------------------------------------------------------ synthesis fallback
def synth_note(program: int, key: int, velocity: int, duration: float, sr: int = SAMPLE_RATE,
               bank: int = 0, cents: float = 0.0) -> np.ndarray:
    """Fallback voice used only when the SoundFont cannot be loaded.

    Pitched: 8 partials with amplitudes 1/k, each of two copies detuned by ±4 cents, an ADSR
    envelope (attack 5 ms, or 120 ms for pads/strings; release 150 ms). Drums (bank 128): a sine
    kick sweeping 120→45 Hz, band-passed noise snare plus a 190 Hz body, high-passed noise hats
    and cymbals, pitched sine toms; all with exponential decays.
    """
    rel = 0.15
    n = int((duration + rel) * sr)
    t = np.arange(n) / sr
    amp = (velocity / 127.0) ** 2
    seeded = np.random.default_rng(key * 131 + velocity)
    if bank == 128:
        if key in (35, 36):
            f = 45 + 75 * np.exp(-t / 0.04)
            y = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.25)
        elif key in (37, 38, 39, 40):
            noise = signal.sosfilt(signal.butter(2, [1500, 7000], "band", fs=sr, output="sos"),
                                   seeded.standard_normal(n))
            y = 0.6 * noise * np.exp(-t / 0.12) + 0.5 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.08)
        elif key in (41, 43, 45, 47, 48, 50):
            f = 440 * 2 ** ((key - 69 - 24) / 12)
            y = np.sin(2 * np.pi * f * t) * np.exp(-t / 0.3)
        else:
            decay = 0.05 if key in (42, 44) else 0.6
            y = signal.sosfilt(signal.butter(2, 6000, "high", fs=sr, output="sos"),
                               seeded.standard_normal(n)) * np.exp(-t / decay) * 0.5
        return (0.5 * amp * y).astype(np.float32)
    f0 = 440.0 * 2 ** ((key - 69) / 12 + cents / 1200)
    y = np.zeros(n)
    for k in range(1, 9):
        if k * f0 > sr / 2.2:
            break
        for det in (-4, 4):
            y += np.sin(2 * np.pi * k * f0 * 2 ** (det / 1200) * t + seeded.uniform(0, 2 * np.pi)) / k
    attack = 0.12 if 40 <= program <= 55 or 88 <= program <= 95 else 0.005
    env = np.clip(t / attack, 0, 1) * np.where(t < duration, 0.7 + 0.3 * np.exp(-t / 0.3), 0.0)
    on = int(duration * sr)
    if on < n:
        env[on:] = env[max(on - 1, 0)] * np.exp(-(t[on:] - duration) / (rel / 5))
    return (0.15 * amp * y * env).astype(np.float32)
