"""A small SoundFont-2 (SF2) sample player in numpy (the per-sample voice loop in numba).

Reads the RIFF ``sfbk`` file format (chunks ``sdta/smpl`` and ``pdta``: phdr, pbag, pgen, inst,
ibag, igen, shdr) and renders single notes offline:

* preset chosen by General-MIDI program and bank (bank 0 for melodic programs, 128 for drum kits);
* every preset zone / instrument zone whose key range and velocity range contain the note plays
  (global zones supply defaults, preset-level generators add to instrument-level ones, as in the
  SF2 2.04 specification §8/§9);
* the sample is pitched by resampling (4-point cubic Hermite interpolation) with the ratio

      rate = 2^((key - root) * scaleTuning/1200 + coarse/12 + (fine + pitchCorrection)/1200)
             * sample_rate_of_sample / output_rate

  where root = overridingRootKey if set, else the sample's original pitch;
* loop points are honoured for ``sampleModes`` 1 (loop continuously) and 3 (loop until release,
  simplified here: the loop keeps running under the release envelope); mode 0 plays the sample
  data once;
* a DAHDSR volume envelope from generators 33-38 (timecents: seconds = 2^(tc/1200); sustain in
  centibels of attenuation); the attack rises linearly in amplitude, decay and release fall
  linearly in dB (100 dB over the stated time), per the specification;
* ``initialAttenuation`` (cB) and a velocity curve of -40·log10(127/velocity) dB;
* ``exclusiveClass`` is reported (:meth:`SoundFont.exclusive_class`) so the caller can choke
  hi-hats; a release cut short by ``max_release_s`` ends with a 20 ms fade.

Not implemented (the demo corpus does not need them): modulators, the filter (initialFilterFc),
modulation envelope / LFOs, chorus/reverb sends, stereo sample linking (each zone plays mono).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

import numba
import numpy as np


class SoundFontError(ValueError):
    """A SoundFont file is missing, truncated or not an SF2 file."""


# generator operators used here (SF2 2.04 §8.1.2)
GEN_START_OFS, GEN_END_OFS, GEN_STARTLOOP_OFS, GEN_ENDLOOP_OFS = 0, 1, 2, 3
GEN_START_COARSE, GEN_END_COARSE = 4, 12
GEN_STARTLOOP_COARSE, GEN_ENDLOOP_COARSE = 45, 50
GEN_PAN = 17
GEN_DELAY_VOL, GEN_ATTACK_VOL, GEN_HOLD_VOL, GEN_DECAY_VOL, GEN_SUSTAIN_VOL, GEN_RELEASE_VOL = (
    33, 34, 35, 36, 37, 38)
GEN_INSTRUMENT, GEN_KEY_RANGE, GEN_VEL_RANGE = 41, 43, 44
GEN_ATTENUATION, GEN_COARSE_TUNE, GEN_FINE_TUNE, GEN_SAMPLE_ID = 48, 51, 52, 53
GEN_SAMPLE_MODES, GEN_SCALE_TUNING, GEN_EXCLUSIVE_CLASS, GEN_OVERRIDE_ROOT = 54, 56, 57, 58
_RANGE_GENS = (GEN_KEY_RANGE, GEN_VEL_RANGE)
_UNSIGNED_GENS = (GEN_INSTRUMENT, GEN_SAMPLE_ID, GEN_SAMPLE_MODES)
# generators whose preset-level value is an offset added to the instrument-level value
_ADDITIVE_GENS = (GEN_PAN, GEN_DELAY_VOL, GEN_ATTACK_VOL, GEN_HOLD_VOL, GEN_DECAY_VOL,
                  GEN_SUSTAIN_VOL, GEN_RELEASE_VOL, GEN_ATTENUATION, GEN_COARSE_TUNE,
                  GEN_FINE_TUNE, GEN_SCALE_TUNING)
_DEFAULTS = {GEN_DELAY_VOL: -12000, GEN_ATTACK_VOL: -12000, GEN_HOLD_VOL: -12000,
             GEN_DECAY_VOL: -12000, GEN_SUSTAIN_VOL: 0, GEN_RELEASE_VOL: -12000,
             GEN_ATTENUATION: 0, GEN_COARSE_TUNE: 0, GEN_FINE_TUNE: 0, GEN_SCALE_TUNING: 100,
             GEN_SAMPLE_MODES: 0, GEN_OVERRIDE_ROOT: -1, GEN_PAN: 0}


def bundled_soundfont_path() -> str:
    """Path of the GM SoundFont ``TimGM6mb.sf2`` shipped inside the pretty_midi wheel."""
    import pretty_midi  # imported lazily: only its data file is used

    path = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
    if not os.path.isfile(path):
        raise SoundFontError(f"{path}: pretty_midi is installed but ships no TimGM6mb.sf2")
    return path


@dataclass
class SampleHeader:
    name: str
    start: int
    end: int
    loop_start: int
    loop_end: int
    sample_rate: int
    original_pitch: int
    pitch_correction: int
    sample_type: int


@dataclass
class Zone:
    """One zone after merging global defaults: generator operator -> value."""
    gens: dict
    key_range: tuple = (0, 127)
    vel_range: tuple = (0, 127)


@dataclass
class Preset:
    name: str
    program: int
    bank: int
    zones: list = field(default_factory=list)  # list of (Zone, instrument index)


def _timecents_to_s(tc: float) -> float:
    return float(2.0 ** (tc / 1200.0))


class SoundFont:
    """An SF2 file parsed into presets, instruments and sample headers.

    ``SoundFont(path)`` raises :class:`SoundFontError` naming the file if it cannot be parsed.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise SoundFontError(f"{self.path}: cannot read SoundFont ({e})") from e
        try:
            self._parse(data)
        except (struct.error, IndexError, KeyError) as e:
            raise SoundFontError(f"{self.path}: malformed SoundFont ({type(e).__name__}: {e})") from e
        self._cache: dict = {}

    # ---------------------------------------------------------------- parsing
    def _parse(self, data: bytes) -> None:
        if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
            raise SoundFontError(f"{self.path}: not a RIFF sfbk (SoundFont 2) file")
        chunks = {}
        pos, end = 12, min(len(data), 8 + struct.unpack_from("<I", data, 4)[0])
        while pos + 8 <= end:
            cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
            body = data[pos + 8:pos + 8 + size]
            if cid == b"LIST":
                kind, sub = body[:4], 4
                while sub + 8 <= len(body):
                    sid, ssize = body[sub:sub + 4], struct.unpack_from("<I", body, sub + 4)[0]
                    chunks[(kind, sid)] = body[sub + 8:sub + 8 + ssize]
                    sub += 8 + ssize + (ssize & 1)
            pos += 8 + size + (size & 1)
        need = [(b"sdta", b"smpl")] + [(b"pdta", c) for c in
                                       (b"phdr", b"pbag", b"pgen", b"inst", b"ibag", b"igen", b"shdr")]
        missing = [f"{a.decode()}/{b.decode()}" for a, b in need if (a, b) not in chunks]
        if missing:
            raise SoundFontError(f"{self.path}: missing chunk(s) {', '.join(missing)}")
        self.samples = np.frombuffer(chunks[(b"sdta", b"smpl")], dtype="<i2").astype(np.float32) / 32768.0

        def records(name, fmt):
            raw = chunks[(b"pdta", name)]
            n = struct.calcsize(fmt)
            return [struct.unpack_from(fmt, raw, i * n) for i in range(len(raw) // n)]

        phdr = records(b"phdr", "<20sHHHIII")
        pbag = records(b"pbag", "<HH")
        pgen = records(b"pgen", "<HH")
        inst = records(b"inst", "<20sH")
        ibag = records(b"ibag", "<HH")
        igen = records(b"igen", "<HH")
        shdr = records(b"shdr", "<20sIIIIIBbHH")
        name = lambda b: b.split(b"\0", 1)[0].decode("latin-1")
        self.sample_headers = [SampleHeader(name(r[0]), *r[1:8], r[9]) for r in shdr[:-1]]

        def zones_of(bag_lo, bag_hi, bags, gens, terminal):
            out, glob = [], {}
            for b in range(bag_lo, bag_hi):
                g_lo, g_hi = bags[b][0], bags[b + 1][0]
                z = {}
                for op, amount in gens[g_lo:g_hi]:
                    if op in _RANGE_GENS:
                        z[op] = (amount & 0xFF, amount >> 8)
                    elif op in _UNSIGNED_GENS:
                        z[op] = amount
                    else:
                        z[op] = amount - 0x10000 if amount >= 0x8000 else amount
                if terminal not in z:
                    if b == bag_lo:          # a global zone: first zone without terminal generator
                        glob = z
                    continue
                merged = dict(glob)
                merged.update(z)
                out.append(Zone(merged, merged.get(GEN_KEY_RANGE, (0, 127)),
                                merged.get(GEN_VEL_RANGE, (0, 127))))
            return out

        self.instruments = []
        for i in range(len(inst) - 1):
            self.instruments.append((name(inst[i][0]),
                                     zones_of(inst[i][1], inst[i + 1][1], ibag, igen, GEN_SAMPLE_ID)))
        self.presets = []
        for i in range(len(phdr) - 1):
            nm, prog, bank, bag = name(phdr[i][0]), phdr[i][1], phdr[i][2], phdr[i][3]
            zones = zones_of(bag, phdr[i + 1][3], pbag, pgen, GEN_INSTRUMENT)
            self.presets.append(Preset(nm, prog, bank, zones))
        self._by_prog = {(p.bank, p.program): p for p in self.presets}

    # ---------------------------------------------------------------- lookup
    def preset(self, program: int, bank: int = 0) -> Preset:
        """Preset for a GM program (0-127) in ``bank``; falls back to bank 0 / program 0 of a drum kit."""
        for key in ((bank, program), (bank, 0), (0, program)):
            if key in self._by_prog:
                return self._by_prog[key]
        raise SoundFontError(f"{self.path}: no preset for bank {bank} program {program}")

    def regions(self, program: int, key: int, velocity: int, bank: int = 0) -> list:
        """The (merged generators, SampleHeader) pairs that sound for this note."""
        ck = (bank, program, key, velocity)
        if ck in self._cache:
            return self._cache[ck]
        pre = self.preset(program, bank)
        out = []
        for pz in pre.zones:
            if not (pz.key_range[0] <= key <= pz.key_range[1] and pz.vel_range[0] <= velocity <= pz.vel_range[1]):
                continue
            _, izones = self.instruments[pz.gens[GEN_INSTRUMENT]]
            for iz in izones:
                if not (iz.key_range[0] <= key <= iz.key_range[1] and iz.vel_range[0] <= velocity <= iz.vel_range[1]):
                    continue
                g = dict(_DEFAULTS)
                g.update(iz.gens)
                for op in _ADDITIVE_GENS:
                    if op in pz.gens:
                        g[op] = g.get(op, 0) + pz.gens[op]
                sid = g[GEN_SAMPLE_ID]
                if sid < len(self.sample_headers):
                    out.append((g, self.sample_headers[sid]))
        self._cache[ck] = out
        return out

    def exclusive_class(self, program: int, key: int, velocity: int, bank: int = 0) -> int:
        """The note's ``exclusiveClass`` (0 = none): a new note of a class silences the sounding
        one of the same class (open / closed hi-hat in GM kits)."""
        return max((g.get(GEN_EXCLUSIVE_CLASS, 0) for g, _ in self.regions(program, key, velocity, bank)), default=0)

    # ---------------------------------------------------------------- rendering
    def render_note(self, program: int, key: int, velocity: int, duration_s: float,
                    sample_rate: int = 44100, bank: int = 0, max_release_s: float = 1.5,
                    cents: float = 0.0) -> np.ndarray:
        """Render one note as float32 mono audio (note-on at sample 0).

        ``duration_s`` is the time until note-off; the release tail (at most ``max_release_s``)
        follows. ``cents`` detunes the note (added to the pitch ratio above). Returns an empty
        array if the preset has no zone for this key/velocity.
        """
        regions = self.regions(program, key, velocity, bank)
        y = self.render_regions(regions, key, duration_s, sample_rate, max_release_s, cents)
        return (y * velocity_gain(velocity)).astype(np.float32)

    def render_regions(self, regions: list, key: int, duration_s: float, sample_rate: int = 44100,
                       max_release_s: float = 1.5, cents: float = 0.0) -> np.ndarray:
        """Sum of the given zones for ``key`` at full velocity (multiply by :func:`velocity_gain`)."""
        parts = [self._render_region(g, sh, key, duration_s, sample_rate, max_release_s, cents)
                 for g, sh in regions]
        parts = [p for p in parts if len(p)]
        if not parts:
            return np.zeros(0, np.float32)
        out = np.zeros(max(len(p) for p in parts), np.float32)
        for p in parts:
            out[:len(p)] += p
        return out

    def _render_region(self, g, sh, key, duration_s, sr, max_release_s, extra_cents=0.0):
        start = sh.start + g.get(GEN_START_OFS, 0) + 32768 * g.get(GEN_START_COARSE, 0)
        end = sh.end + g.get(GEN_END_OFS, 0) + 32768 * g.get(GEN_END_COARSE, 0)
        ls = sh.loop_start + g.get(GEN_STARTLOOP_OFS, 0) + 32768 * g.get(GEN_STARTLOOP_COARSE, 0)
        le = sh.loop_end + g.get(GEN_ENDLOOP_OFS, 0) + 32768 * g.get(GEN_ENDLOOP_COARSE, 0)
        start, end = max(0, start), min(len(self.samples), end)
        if end - start < 4:
            return np.zeros(0, np.float32)
        mode = g[GEN_SAMPLE_MODES] & 3
        looped = mode in (1, 3) and start <= ls < le <= end and le - ls >= 4
        root = g[GEN_OVERRIDE_ROOT] if g[GEN_OVERRIDE_ROOT] >= 0 else sh.original_pitch
        if root > 127:
            root = 60
        cents = ((key - root) * g[GEN_SCALE_TUNING] + 100 * g[GEN_COARSE_TUNE]
                 + g[GEN_FINE_TUNE] + sh.pitch_correction + extra_cents)
        rate = 2.0 ** (cents / 1200.0) * sh.sample_rate / sr

        # envelope (DAHDSR), times in output samples
        delay = _timecents_to_s(g[GEN_DELAY_VOL]) if g[GEN_DELAY_VOL] > -12000 else 0.0
        attack = _timecents_to_s(g[GEN_ATTACK_VOL])
        hold = _timecents_to_s(g[GEN_HOLD_VOL]) if g[GEN_HOLD_VOL] > -12000 else 0.0
        decay = max(_timecents_to_s(g[GEN_DECAY_VOL]), 1e-4)
        sustain_db = -min(max(g[GEN_SUSTAIN_VOL], 0), 1440) / 10.0
        release = max(min(_timecents_to_s(g[GEN_RELEASE_VOL]), 8.0), 1e-3)
        n_on = int(round(duration_s * sr))
        n = n_on + int(round(min(release, max_release_s) * sr))
        if not looped:   # a one-shot sample ends where its data ends
            n = min(n, int((end - start - 2) / rate))
        if n <= 0:
            return np.zeros(0, np.float32)
        gain = 10.0 ** (-g[GEN_ATTENUATION] / 200.0)
        if looped:
            y = _play(self.samples, start, le, ls, le, True, rate, n, n_on, sr, delay, attack, hold,
                      decay, sustain_db, release, gain)
        else:
            y = _play(self.samples, start, end, 0, 0, False, rate, n, n_on, sr, delay, attack, hold,
                      decay, sustain_db, release, gain)
        if release > max_release_s and n == n_on + int(round(max_release_s * sr)):
            m = min(n, int(0.02 * sr))      # release cut short: 20 ms linear fade, no click
            y[n - m:] *= np.linspace(1.0, 0.0, m, dtype=np.float32)
        return y


@numba.njit(cache=True)
def _play(data, start, end, ls, le, looped, rate, n, n_on, sr, delay, attack, hold, decay,
          sustain_db, release, gain):
    """One zone's voice: resampled sample data times the DAHDSR envelope (float32, n samples).

    Position p = k·rate (in sample frames from ``start``); past the loop end (looped voices) it
    wraps into [ls, le). Interpolation: 4-point cubic Hermite (Catmull-Rom). Envelope: silence
    for ``delay``; linear attack to 1; ``hold``; decay linear in dB (-100 dB per ``decay`` s)
    down to ``sustain_db``; after sample ``n_on`` the release (-100 dB per ``release`` s from the
    level reached).
    """
    out = np.zeros(n, np.float32)
    d0 = delay * sr
    a_len = max(attack * sr, 1.0)
    h1 = d0 + a_len + hold * sr
    dec_step = -100.0 / (decay * sr)
    rel_mult = 10.0 ** (-5.0 / (release * sr))
    off_ls = ls - start
    loop_len = le - ls
    limit = end - start          # frames of data available
    loop_end = le - start
    level = 0.0
    dec_mult = 10.0 ** (dec_step / 20.0)
    sustain = 10.0 ** (sustain_db / 20.0)
    for k in range(n):
        if k < n_on:
            if k < d0:
                level = 0.0
            elif k < d0 + a_len:
                level = (k - d0 + 1.0) / a_len
            elif k < h1:
                level = 1.0
            elif level > sustain:       # decay: a constant factor per sample = linear in dB
                level *= dec_mult
                if level < sustain:
                    level = sustain
        else:
            level *= rel_mult
        p = k * rate
        if looped and p >= loop_end:
            p = off_ls + (p - off_ls) % loop_len
        i = int(p)
        f = p - i
        im1 = i - 1
        if looped and im1 < off_ls and k * rate >= loop_end:
            im1 += loop_len      # just wrapped: the frame before the loop start is the loop's last
        xm1 = data[start + im1] if im1 >= 0 else 0.0
        j0, j1, j2 = i, i + 1, i + 2
        if looped:       # the frames after the loop end are the loop start's
            if j0 >= loop_end:
                j0 -= loop_len
            if j1 >= loop_end:
                j1 -= loop_len
            if j2 >= loop_end:
                j2 -= loop_len
        x0 = data[start + j0] if j0 < limit else 0.0
        x1 = data[start + j1] if j1 < limit else 0.0
        x2 = data[start + j2] if j2 < limit else 0.0
        c1 = 0.5 * (x1 - xm1)
        c2 = xm1 - 2.5 * x0 + 2.0 * x1 - 0.5 * x2
        c3 = 0.5 * (x2 - xm1) + 1.5 * (x0 - x1)
        out[k] = (((c3 * f + c2) * f + c1) * f + x0) * level * gain
    return out


def velocity_gain(velocity: int) -> float:
    """Linear gain of a note-on velocity: -40·log10(127/velocity) dB (the SF2 default curve)."""
    return float((max(int(velocity), 1) / 127.0) ** 2)


_LOADED: dict = {}


def load_default_soundfont() -> SoundFont | None:
    """The bundled GM SoundFont parsed once per process, or None if it cannot be found/parsed."""
    if "sf" not in _LOADED:
        try:
            _LOADED["sf"] = SoundFont(bundled_soundfont_path())
        except (SoundFontError, ImportError):
            _LOADED["sf"] = None
    return _LOADED["sf"]
