"""The numpy SoundFont-2 player against the real GM SoundFont shipped in pretty_midi's wheel."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from dmcdata.demo.instruments import Note, NoteRenderer, synth_note
from dmcdata.demo.soundfont import SoundFont, SoundFontError, bundled_soundfont_path


@pytest.fixture(scope="module")
def sf2():
    return SoundFont(bundled_soundfont_path())


def _phdr_count(path) -> int:
    """Presets in an SF2 file by walking RIFF chunks independently of the parser (phdr: 38 bytes
    per record, one terminal record)."""
    data = open(path, "rb").read()
    pos = 12
    while pos < len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if cid == b"LIST" and data[pos + 8:pos + 12] == b"pdta":
            sub, end = pos + 12, pos + 8 + size
            while sub < end:
                sid, ssize = data[sub:sub + 4], struct.unpack_from("<I", data, sub + 4)[0]
                if sid == b"phdr":
                    return ssize // 38 - 1
                sub += 8 + ssize
        pos += 8 + size + (size & 1)
    raise AssertionError("no phdr")


def f0_autocorr(x: np.ndarray, sr: int, lo: float = 40.0, hi: float = 2000.0) -> float:
    x = x - x.mean()
    n = len(x)
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * n)) ** 2)[:n]
    a, b = int(sr / hi), int(sr / lo)
    k = a + int(np.argmax(ac[a:b]))
    y0, y1, y2 = ac[k - 1:k + 2]
    return sr / (k + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2))


def test_parses_real_soundfont(sf2):
    assert len(sf2.presets) == _phdr_count(sf2.path)
    assert {p.program for p in sf2.presets if p.bank == 0} == set(range(128))   # a complete GM set
    assert any(p.bank == 128 for p in sf2.presets)                               # drum kits
    assert len(sf2.regions(0, 36, 100, bank=128)) >= 1                           # a kick in the kit


@pytest.mark.parametrize("program,keys", [(33, (36, 43)), (81, (60, 65)), (73, (72, 75))])
def test_notes_have_the_right_pitch(sf2, program, keys):
    sr = 44100
    # both keys play the same sample (zone), so their interval comes from resampling alone
    assert [s.start for _, s in sf2.regions(program, keys[0], 100)] == [s.start for _, s in sf2.regions(program, keys[1], 100)]
    f = []
    for key in keys:
        y = sf2.render_note(program, key, 100, 1.2, sr)
        f.append(f0_autocorr(y[int(0.3 * sr):int(0.8 * sr)], sr))
        ref = 440.0 * 2 ** ((key - 69) / 12)
        assert abs(1200 * np.log2(f[-1] / ref)) < 10, (program, key, f[-1], ref)
    # the interval between two keys comes only from resampling: much tighter
    assert abs(1200 * np.log2(f[1] / f[0]) - 100 * (keys[1] - keys[0])) < 2
    # a transposition in cents moves the pitch by that much
    up = sf2.render_note(program, keys[0], 100, 1.2, sr, cents=50.0)
    assert abs(1200 * np.log2(f0_autocorr(up[int(0.3 * sr):int(0.8 * sr)], sr) / f[0]) - 50) < 2


def test_loop_sustains_and_release_ends(sf2):
    sr = 44100
    y = sf2.render_note(81, 60, 100, 4.0, sr, max_release_s=0.5)   # a looped saw wave
    rms = lambda a, b: float(np.sqrt(np.mean(y[int(a * sr):int(b * sr)] ** 2)))
    assert rms(3.4, 3.9) > 0.3 * rms(0.3, 0.8)          # still sounding long after the sample's data
    assert len(y) <= int(4.5 * sr) + 1 and abs(y[-100:]).max() < abs(y).max()


def test_velocity_scales_level(sf2):
    loud, soft = sf2.render_note(0, 60, 127, 0.5), sf2.render_note(0, 60, 32, 0.5)
    ratio_db = 20 * np.log10(np.abs(loud).max() / np.abs(soft).max())
    assert abs(ratio_db - 40 * np.log10(127 / 32)) < 1.0


def test_bad_files_raise_named_errors(tmp_path):
    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00sfbkLIST")
    with pytest.raises(SoundFontError, match="broken.sf2"):
        SoundFont(bad)
    with pytest.raises(SoundFontError, match="missing.sf2"):
        SoundFont(tmp_path / "missing.sf2")


def test_synth_fallback_pitch():
    y = synth_note(0, 57, 100, 1.0)
    assert abs(1200 * np.log2(f0_autocorr(y[4410:30000], 44100) / 220.0)) < 5


def test_fallback_renderer_plays_drums_and_notes():
    r = NoteRenderer(use_soundfont=False)
    assert r.backend == "synth-fallback"
    notes = [Note(0.1 * i, 0.2, k, 100) for i, k in enumerate((36, 38, 42, 45, 49))]
    drums = r.render(notes, 0, 44100, bank=128)
    keys = r.render([Note(0.0, 0.5, 60, 90)], 0, 44100)
    for y in (drums, keys):
        assert y.dtype == np.float32 and 0.01 < np.abs(y).max() < 1.0


@pytest.mark.parametrize("use_soundfont", [True, False])
def test_onset_just_before_zero_is_cut_not_a_crash(use_soundfont):
    """Humanized timing can put the first hit a few ms before t = 0 (dmcdata demo --seed 3
    --enst-takes 3 --enst-seconds 2 crashed on it): the part before the buffer is cut."""
    r = NoteRenderer(use_soundfont=use_soundfont)
    early = r.render([Note(-0.01, 0.3, 38, 100)], 0, 22050, bank=128)
    on_time = r.render([Note(0.0, 0.3, 38, 100)], 0, 22050 + 441, bank=128)
    assert np.abs(early).max() > 0.01
    assert np.array_equal(early, on_time[441:])
