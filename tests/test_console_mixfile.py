"""Mix documents and ``dmcdata render``: real WAV files in tmp_path, the real CLI entry point."""

import json
import re

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from dmcdata.cli import main as dmcdata_main
from dmcdata.console import CHANNEL_SPACE, IRBank, render_mix, sample_channel_params
from dmcdata.console.mixfile import SCHEMA_PATH, MixDocument, MixFileError, TrackEntry, mix_schema

FS = 22050


@pytest.fixture()
def session(tmp_path):
    """Two stems (one stereo) + a saved mix document using a small generated IR bank."""
    rng = np.random.default_rng(0)
    (tmp_path / "Song_STEMS").mkdir()
    a = (0.3 * rng.standard_normal(FS)).astype(np.float32)
    b = (0.2 * rng.standard_normal((FS // 2, 2))).astype(np.float32)
    sf.write(tmp_path / "Song_STEMS" / "Song_STEM_01.wav", a, FS, subtype="FLOAT")
    sf.write(tmp_path / "Song_STEMS" / "Song_STEM_02.wav", b, FS, subtype="FLOAT")
    bank_spec = {"generated": {"n": 2, "seed": 3, "rt60_s": [0.2, 0.4]}}
    bank = IRBank.generate(FS, n=2, seed=3, rt60_s=(0.2, 0.4))
    p1 = sample_channel_params(np.random.default_rng(1))
    p1["reverb.ir"] = 1
    p2 = {"gain_db": -3.0, "pan": 0.2, "compressor.ratio": 3.0, "compressor.threshold_db": -20.0}
    doc = MixDocument(sample_rate=FS, pan_law="constant_power", ir_bank=bank_spec,
                      tracks=[TrackEntry("Song_STEMS/Song_STEM_01.wav", p1, "lead"),
                              TrackEntry("Song_STEMS/Song_STEM_02.wav", p2)])
    path = doc.save(tmp_path / "mix.json")
    expected = render_mix([a, b.mean(axis=1)], [p1, CHANNEL_SPACE.validate(p2)], FS, bank, "constant_power")
    return path, expected


def test_published_schema_is_current():
    assert json.loads(SCHEMA_PATH.read_text()) == mix_schema()


def test_save_load_round_trip(session):
    path, _ = session
    doc = MixDocument.load(path)
    text = path.read_text()
    assert '"compressor.attack_ms"' in text and '"format": "dmc-mix"' in text
    doc.save(path.with_name("again.json"))
    assert path.with_name("again.json").read_text() == text
    assert not list(path.parent.glob("*.partial"))


def test_render_cli_writes_the_mix(session, capsys):
    path, expected = session
    out = path.parent / "out" / "mix.wav"
    assert dmcdata_main(["render", str(path), "--out", str(out), "--quiet"]) == 0
    data, sr = sf.read(out, dtype="float32", always_2d=True)
    info = sf.info(out)
    assert sr == FS and info.subtype == "FLOAT" and data.shape == (FS, 2)
    assert np.array_equal(data.T, expected)  # float32 WAV: bit-exact
    assert not list(out.parent.glob("*.partial"))


def test_render_cli_pcm24_and_pan_law_override(session):
    path, _ = session
    out = path.parent / "lin.wav"
    assert dmcdata_main(["render", str(path), "--out", str(out), "--quiet", "--subtype", "PCM_24",
                         "--pan-law", "linear"]) == 0
    assert sf.info(out).subtype == "PCM_24"
    doc = MixDocument.load(path)
    ref = doc.render(pan_law="linear")
    data, _ = sf.read(out, dtype="float64", always_2d=True)
    assert np.max(np.abs(data.T - ref)) < 2.0 ** -22


def _edit(path, fn):
    d = json.loads(path.read_text())
    fn(d)
    bad = path.with_name("bad.json")
    bad.write_text(json.dumps(d))
    return bad


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["tracks"][1]["params"].update({"gain": 1.0}), r"tracks\[1\]\.params: unknown key \('gain'"),
    (lambda d: d["tracks"][0]["params"].update({"compressor.ratio": 30}),
     r"tracks\[0\]\.params\.compressor\.ratio: 30 is greater than the maximum of 10"),
    (lambda d: d["tracks"][0]["params"].update({"reverb.ir": 2}), r"tracks\[0\]\.params\.reverb\.ir: 2 is not in the IR bank"),
    (lambda d: d.update({"pan_law": "sine"}), r"field pan_law"),
    (lambda d: d.update({"mystery": 1}), r"unknown key \('mystery'"),
    (lambda d: d.pop("sample_rate"), r"'sample_rate' is a required property"),
])
def test_bad_documents_name_the_field(session, edit, message, capsys):
    path, _ = session
    bad = _edit(path, edit)
    with pytest.raises(MixFileError, match=message):
        MixDocument.load(bad)
    assert dmcdata_main(["render", str(bad), "--out", str(path.parent / "x.wav"), "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (path.parent / "x.wav").exists()


def test_missing_file_and_wrong_sample_rate_name_the_file(session, capsys):
    path, _ = session
    bad = _edit(path, lambda d: d["tracks"][1].update({"file": "Song_STEMS/nope.wav"}))
    with pytest.raises(MixFileError, match=r"tracks\[1\]\.file: .*nope\.wav.*does not exist"):
        MixDocument.load(bad).render()
    sf.write(path.parent / "fast.wav", np.zeros(100, np.float32), 48000)
    bad = _edit(path, lambda d: d["tracks"][0].update({"file": "fast.wav"}))
    assert dmcdata_main(["render", str(bad), "--out", str(path.parent / "x.wav"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "fast.wav" in err and "48000" in err and str(FS) in err
    assert dmcdata_main(["render", str(path.parent / "none.json"), "--out", str(path.parent / "x.wav")]) == 2
    assert "none.json" in capsys.readouterr().err


def test_non_finite_parameter_cannot_be_saved(tmp_path):
    doc = MixDocument(sample_rate=FS, tracks=[TrackEntry("a.wav", {"pan": float("nan")})])
    with pytest.raises(MixFileError, match=r"tracks\[0\]\.params\.pan: nan is not a finite number"):
        doc.save(tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


def test_invalid_json_and_nan_audio(session, capsys):
    path, _ = session
    bad = path.with_name("broken.json")
    bad.write_text(path.read_text()[:-20])
    with pytest.raises(MixFileError, match="invalid JSON at line"):
        MixDocument.load(bad)
    x = np.zeros(FS, np.float32)
    x[7] = np.nan
    sf.write(path.parent / "Song_STEMS" / "Song_STEM_02.wav", x, FS, subtype="FLOAT")
    with pytest.raises(MixFileError, match=r"Song_STEM_02\.wav.*sample 7"):
        MixDocument.load(path).render()


def test_ir_folder_bank_document(tmp_path):
    rng = np.random.default_rng(4)
    (tmp_path / "irs").mkdir()
    sf.write(tmp_path / "irs" / "hall.wav", rng.standard_normal(500) * np.exp(-np.arange(500) / 100), FS)
    x = (0.3 * rng.standard_normal(3000)).astype(np.float32)
    sf.write(tmp_path / "t.wav", x, FS, subtype="FLOAT")
    p = {"reverb.ir": 0, "reverb.wet": 0.5, "reverb.dry": 0.5}
    doc = MixDocument(sample_rate=FS, ir_bank={"folder": "irs"}, tracks=[TrackEntry("t.wav", p)])
    doc.save(tmp_path / "m.json")
    got = MixDocument.load(tmp_path / "m.json").render()
    ref = render_mix([x], [p], FS, IRBank.from_folder(tmp_path / "irs", FS))
    assert np.array_equal(got, ref)
    bad = MixDocument(sample_rate=FS, ir_bank={"folder": "nowhere"}, tracks=[TrackEntry("t.wav", p)])
    with pytest.raises(MixFileError, match="ir_bank.folder.*nowhere"):
        bad.render(tmp_path)


def test_render_cli_unwritable_out_is_a_clean_error(session, capsys):
    path, _ = session
    folder = path.parent / "taken.wav"
    folder.mkdir()
    assert dmcdata_main(["render", str(path), "--out", str(folder), "--quiet"]) == 2
    assert "is a folder" in capsys.readouterr().err
    (path.parent / "afile").write_text("not a folder")
    assert dmcdata_main(["render", str(path), "--out", str(path.parent / "afile" / "mix.wav"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the mix" in err and "afile" in err and "Traceback" not in err
    assert not list(path.parent.rglob("*.partial"))


def test_integer_valued_floats_are_integers(session):
    """JSON Schema's "integer" accepts 22050.0; the document must then behave as 22050."""
    path, expected = session

    def edit(d):
        d["sample_rate"] = float(d["sample_rate"])
        d["ir_bank"]["generated"]["n"] = 2.0
        d["ir_bank"]["generated"]["seed"] = 3.0
    bad = _edit(path, edit)
    out = path.parent / "float_sr.wav"
    assert dmcdata_main(["render", str(bad), "--out", str(out), "--quiet"]) == 0
    data, sr = sf.read(out, dtype="float32", always_2d=True)
    assert sr == FS and np.array_equal(data.T, expected)


RT60 = r'"rt60_s": \[[^\]]*\]'


@pytest.mark.parametrize("old,new,message", [
    (r'"pan": 0\.2', '"pan": NaN', r"field tracks\[1\]\.params\.pan: nan is not a finite number"),
    (r'"gain_db": -3\.0', '"gain_db": 1e999', r"field tracks\[1\]\.params\.gain_db: inf is not a finite number"),
    (RT60, '"rt60_s": [0.2, Infinity]', r"field ir_bank\.generated\.rt60_s\[1\]: inf is not a finite number"),
    (RT60, '"rt60_s": [0.2, 0.4], "predelay_ms": [30000, 30000]',
     r"field ir_bank\.generated\.predelay_ms\[0\]: 30000 is greater than the maximum of 1000"),
    (r'"n": 2', '"n": 100000', r"field ir_bank\.generated\.n: 100000 is greater than the maximum of 1024"),
])
def test_non_finite_and_absurd_values_name_their_field(session, old, new, message, capsys):
    path, _ = session
    text, hits = re.subn(old, new, path.read_text(), count=1)
    assert hits == 1
    bad = path.with_name("bad.json")
    bad.write_text(text)
    with pytest.raises(MixFileError, match=message):
        MixDocument.load(bad)
    assert dmcdata_main(["render", str(bad), "--out", str(path.parent / "x.wav"), "--quiet"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_track_file_that_is_a_folder(session):
    path, _ = session
    bad = _edit(path, lambda d: d["tracks"][0].update({"file": "Song_STEMS"}))
    with pytest.raises(MixFileError, match=r"tracks\[0\]\.file: .*Song_STEMS' is a folder"):
        MixDocument.load(bad).render()


def test_ir_folder_with_a_stereo_48k_ir_and_mac_junk(tmp_path):
    """A user's IR pack: a stereo 48 kHz IR, a macOS '._' resource file and a text file."""
    rng = np.random.default_rng(5)
    (tmp_path / "irs").mkdir()
    h = rng.standard_normal((4800, 2)) * np.exp(-np.arange(4800) / 600)[:, None]
    sf.write(tmp_path / "irs" / "hall.wav", h, 48000, subtype="FLOAT")
    (tmp_path / "irs" / "._hall.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble junk")
    (tmp_path / "irs" / "readme.txt").write_text("IR pack")
    x = (0.3 * rng.standard_normal(4000)).astype(np.float32)
    sf.write(tmp_path / "t.wav", x, FS, subtype="FLOAT")
    p = {"reverb.ir": 0, "reverb.wet": 1.0, "reverb.dry": 0.0}
    MixDocument(sample_rate=FS, ir_bank={"folder": "irs"}, tracks=[TrackEntry("t.wav", p)]).save(tmp_path / "m.json")
    got = MixDocument.load(tmp_path / "m.json").render()
    # independent reference: mono average, resampled 48000 -> 22050 Hz (ratio 147/320), unit energy
    hm = scipy.signal.resample_poly(h.mean(axis=1), 147, 320)
    hm /= np.sqrt(np.sum(hm ** 2))
    ref = scipy.signal.fftconvolve(x.astype(np.float64), hm)[: len(x)] * 0.5  # linear pan, centre
    assert got.shape == (2, len(x))
    assert np.max(np.abs(got[0] - ref)) < 1e-5 * np.max(np.abs(ref))


def test_document_built_in_python_is_validated_before_rendering(session):
    path, _ = session
    doc = MixDocument(sample_rate=FS, ir_bank={"generated": {"n": 2}},
                      tracks=[TrackEntry("Song_STEMS/Song_STEM_01.wav", {"pan": 0.3})])
    with pytest.raises(MixFileError, match=r"field ir_bank.generated: 'seed' is a required property"):
        doc.render(path.parent)
    doc = MixDocument(sample_rate=FS, tracks=[TrackEntry("Song_STEMS/Song_STEM_01.wav", {"pan": 0.3})],
                      order=("eq", "reverb"))
    with pytest.raises(MixFileError, match=r"field order"):
        doc.render(path.parent)
