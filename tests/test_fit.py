"""`dmcmodels fit`: known answers on tiny two-track songs, the written document renders the fit,
a processor fit lowers the error, folders of songs run in parallel with Ray, bad input exits 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from dmcdata.console import IRBank, render_mix
from dmcdata.console.mixfile import MixDocument, TrackEntry
from dmcmodels.cli import main as dmcmodels_main

SR = 44100


def _stems(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    a = 0.3 * rng.standard_normal(n) * (1 + np.sin(2 * np.pi * 2 * t)) / 2   # broadband: EQ is identifiable
    b = 0.2 * rng.standard_normal(n) * (np.sin(2 * np.pi * 3 * t) > 0)
    return [a.astype(np.float32), b.astype(np.float32)]


def _write_song(folder, stems, params, pan_law="linear", names=("a", "b"), mix_name="mix.wav"):
    (folder / "stems").mkdir(parents=True, exist_ok=True)
    for name, s in zip(names, stems):
        sf.write(folder / "stems" / f"{name}.wav", s, SR, subtype="FLOAT")
    mix = render_mix(stems, params, SR, IRBank.generate(SR, n=2), pan_law)
    sf.write(folder / mix_name, mix.T, SR, subtype="FLOAT")
    return mix


@pytest.mark.parametrize("pan_law", ["linear", "constant_power"])
def test_gain_pan_polarity_known_answer(tmp_path, capsys, pan_law):
    truth = [{"gain_db": -3.5, "pan": 0.3}, {"gain_db": 4.25, "pan": 0.8, "polarity": 1}]
    mix = _write_song(tmp_path, _stems(SR), truth, pan_law)
    out = tmp_path / "fit" / "mix.json"
    rc = dmcmodels_main(["fit", str(tmp_path / "stems"), str(tmp_path / "mix.wav"), "--out", str(out),
                         "--processors", "gain,pan", "--pan-law", pan_law, "--ir-bank-n", "2", "--no-progress",
                         "--report", str(tmp_path / "r.json")])
    assert rc == 0
    doc = MixDocument.load(out)
    assert [t.file for t in doc.tracks] == ["../stems/a.wav", "../stems/b.wav"]
    for t, p in zip(doc.tracks, truth):
        assert t.params["gain_db"] == pytest.approx(p["gain_db"], abs=1e-4)
        assert t.params["pan"] == pytest.approx(p["pan"], abs=1e-5)
        assert t.params["polarity"] == p.get("polarity", 0)
    # the document is a console mix document: rendering it gives the mix back
    np.testing.assert_allclose(doc.render(), mix, atol=1e-5)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["error_db"] < -80 and all(abs(x) < 1e-3 for x in report["level_match_db"])
    assert "error energy / mix energy" in capsys.readouterr().out


def test_truth_comparison_and_processor_fit_lowers_the_error(tmp_path):
    """One EQ band and the reverb wet level to find: gradient descent through the twin gets close."""
    stems = _stems(SR // 2, seed=1)
    truth = [{"gain_db": -2.0, "pan": 0.4, "eq.band1_gain_db": 9.0, "eq.band1_freq_hz": 500.0},
             {"gain_db": 1.0, "pan": 0.6, "reverb.wet": 0.3, "reverb.decay": 1.0, "reverb.ir": 0}]
    _write_song(tmp_path, stems, truth)
    MixDocument(sample_rate=SR, tracks=[TrackEntry("stems/a.wav", truth[0], "a"),
                                        TrackEntry("stems/b.wav", truth[1], "b")]).save(tmp_path / "truth.json")
    base = ["fit", str(tmp_path / "stems"), str(tmp_path / "mix.wav"), "--ir-bank-n", "2", "--no-progress",
            "--truth", str(tmp_path / "truth.json"), "--seconds", "0.5"]
    assert dmcmodels_main(base + ["--out", str(tmp_path / "gp.json"), "--processors", "gain,pan",
                                  "--report", str(tmp_path / "gp.rep.json")]) == 0
    assert dmcmodels_main(base + ["--out", str(tmp_path / "full.json"), "--processors", "gain,pan,eq,reverb",
                                  "--steps", "40", "--starts", "1", "--lr", "0.05",
                                  "--report", str(tmp_path / "full.rep.json")]) == 0
    gp = json.loads((tmp_path / "gp.rep.json").read_text())
    full = json.loads((tmp_path / "full.rep.json").read_text())
    assert full["error_db"] < gp["error_db"] - 10
    err_full, err_gp = full["truth"]["errors"], gp["truth"]["errors"]
    assert err_full["eq.band1_gain_db"][0] < err_gp["eq.band1_gain_db"][0] / 2
    assert err_gp["eq.band1_gain_db"][0] == pytest.approx(9.0)  # gain/pan only: the band stays flat
    from dmcmodels.fit import truth_table

    rows = {r.split("`")[1]: r for r in truth_table([full]) if "`" in r}
    assert "reverb.decay" in rows and "compressor.attack_ms" not in rows  # no compressor in the truth: not counted


def test_folder_of_songs_with_ray(tmp_path):
    songs = tmp_path / "Audio"
    truths = {}
    for k, name in enumerate(["SongA", "SongB"]):
        d = songs / name
        stems = _stems(SR // 4, seed=k)
        truth = [{"gain_db": -1.0 - k, "pan": 0.2 + 0.1 * k}, {"gain_db": 2.0, "pan": 0.7}]
        (d / f"{name}_STEMS").mkdir(parents=True)
        for i, s in enumerate(stems, 1):
            sf.write(d / f"{name}_STEMS" / f"{name}_STEM_{i:02d}.wav", s, SR, subtype="FLOAT")
        sf.write(d / f"{name}_MIX.wav", render_mix(stems, truth, SR, IRBank.generate(SR, n=2)).T, SR, subtype="FLOAT")
        truths[name] = truth
    out = tmp_path / "fits"
    rc = dmcmodels_main(["fit", str(songs), "--out", str(out), "--processors", "gain,pan", "--workers", "2",
                         "--ir-bank-n", "2", "--no-progress"])
    assert rc == 0
    for name, truth in truths.items():
        doc = MixDocument.load(out / f"{name}.json")
        assert [t.params["gain_db"] for t in doc.tracks] == pytest.approx([p["gain_db"] for p in truth], abs=1e-4)


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    _write_song(tmp_path, _stems(2000), [{}, {}])
    cases = [
        ([str(tmp_path / "stems"), str(tmp_path / "nope.wav"), "--out", str(tmp_path / "o.json")], "does not exist"),
        ([str(tmp_path / "empty"), str(tmp_path / "mix.wav"), "--out", str(tmp_path / "o.json")], "not a folder"),
        ([str(tmp_path / "stems"), str(tmp_path / "mix.wav"), "--out", str(tmp_path / "o.wav")], ".json"),
        ([str(tmp_path / "stems"), str(tmp_path / "mix.wav"), "--out", str(tmp_path / "o.json"),
          "--processors", "gain,delay"], "delay"),
        ([str(tmp_path / "stems"), str(tmp_path / "stems" / "a.wav"), "--out", str(tmp_path / "o.json")], "stereo"),
    ]
    for argv, words in cases:
        assert dmcmodels_main(["fit"] + argv + ["--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and words in err and "\n" not in err
    sf.write(tmp_path / "stems" / "c.wav", np.zeros(100, np.float32), 22050)
    assert dmcmodels_main(["fit", str(tmp_path / "stems"), str(tmp_path / "mix.wav"), "--out", str(tmp_path / "o.json")]) == 2
    assert "sample rate" in capsys.readouterr().err


def test_excerpt_is_where_every_track_plays():
    from dmcmodels.fit import choose_excerpt

    n = 10 * SR
    stems = np.zeros((2, n), np.float32)
    stems[0] = 0.1
    stems[1, 6 * SR: 8 * SR] = 0.1  # the second track only plays from 6 s to 8 s
    a, b, c = choose_excerpt(stems, SR, 2.0, 1.0)
    assert (b, c) == (6 * SR, 8 * SR) and a == 5 * SR
    assert choose_excerpt(stems[:, : SR], SR, 2.0, 1.0) == (0, 0, SR)  # shorter than the excerpt: all of it


def test_same_seed_same_document_byte_for_byte(tmp_path):
    _write_song(tmp_path, _stems(SR // 4, seed=3), [{"gain_db": 1.0, "eq.band2_gain_db": 4.0}, {"pan": 0.2}])
    outs = []
    for k in range(2):
        out = tmp_path / f"fit{k}.json"
        assert dmcmodels_main(["fit", str(tmp_path / "stems"), str(tmp_path / "mix.wav"), "--out", str(out),
                               "--processors", "gain,pan,eq,compressor", "--steps", "8", "--seconds", "0.25",
                               "--ir-bank-n", "2", "--no-progress"]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
