"""Tests of the built-in demo corpus (`dmcdata demo`): layouts and schemas of the real datasets,
determinism, the virtual engineer's mixes and the SignalTrain stand-in compressor."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from dmcdata.demo import DemoConfig, DemoError, write_demo
from dmcdata.demo import enst, signaltrain

REAL_MEDLEYDB = Path(__file__).resolve().parents[1].parent / "shared" / "medleydb_metadata"
TINY = dict(songs=2, song_seconds=4.0, min_stems=5, max_stems=9, enst_takes=1, enst_seconds=3.0,
            signaltrain_pairs=3, signaltrain_seconds=2.0)
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _tree_hashes(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_a")
    summary = write_demo(out, DemoConfig(seed=7, **TINY), progress=False)
    return out, summary


@pytest.fixture(scope="session")
def songs(corpus):
    out, _ = corpus
    dirs = sorted((out / "medleydb" / "Audio").iterdir())
    return [(d, yaml.load((d / f"{d.name}_METADATA.yaml").read_text(), Loader=Loader)) for d in dirs]


# ---------------------------------------------------------------- MedleyDB layout and schema
def test_medleydb_layout_and_every_named_file_exists(songs):
    assert len(songs) == 2
    for d, meta in songs:
        name = d.name
        assert re.fullmatch(r"[A-Za-z0-9]+_[A-Za-z0-9]+", name)
        assert meta["mix_filename"] == f"{name}_MIX.wav"
        assert meta["stem_dir"] == f"{name}_STEMS" and meta["raw_dir"] == f"{name}_RAW"
        assert {p.name for p in d.iterdir()} == {f"{name}_METADATA.yaml", f"{name}_MIX.wav",
                                                 f"{name}_MIX_PARAMS.json", f"{name}_STEMS", f"{name}_RAW"}
        stems = set()
        raws = set()
        assert 3 <= len(meta["stems"]) <= 12
        for sk, stem in meta["stems"].items():
            assert re.fullmatch(r"S\d\d", sk)
            assert stem["filename"] == f"{name}_STEM_{sk[1:]}.wav"
            stems.add(stem["filename"])
            assert len(stem["raw"]) >= 1
            for rk, raw in stem["raw"].items():
                assert re.fullmatch(r"R\d\d", rk)
                assert raw["filename"] == f"{name}_RAW_{sk[1:]}_{rk[1:]}.wav"
                raws.add(raw["filename"])
        # the YAML names exactly the files on disk
        assert {p.name for p in (d / meta["stem_dir"]).iterdir()} == stems
        assert {p.name for p in (d / meta["raw_dir"]).iterdir()} == raws


def _flatten_taxonomy(node) -> set:
    if isinstance(node, dict):
        return set().union(*(_flatten_taxonomy(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_flatten_taxonomy(v) for v in node))
    return {node}


@pytest.fixture(scope="session")
def real_schema():
    meta_dir = REAL_MEDLEYDB / "Metadata"
    if not meta_dir.is_dir():
        pytest.skip(f"real MedleyDB metadata not found at {meta_dir}")
    top_keys, stem_keys, raw_keys = set(), set(), set()
    types: dict = {}
    values: dict = {"excerpt": set(), "has_bleed": set(), "instrumental": set(), "version": set(), "component": set()}
    files = sorted(meta_dir.glob("*_METADATA.yaml"))
    assert len(files) > 100
    for f in files:
        m = yaml.load(f.read_text(), Loader=Loader)
        top_keys.add(tuple(sorted(m)))
        for k, v in m.items():
            types.setdefault(k, set()).add(type(v))
            if k in values:
                values[k].add(v)
        for s in m["stems"].values():
            stem_keys.add(tuple(sorted(s)))
            for k, v in s.items():
                types.setdefault("stem." + k, set()).add(type(v))
            values["component"].add(s["component"])
            for r in s["raw"].values():
                raw_keys.add(tuple(sorted(r)))
                for k, v in r.items():
                    types.setdefault("raw." + k, set()).add(type(v))
    taxonomy = _flatten_taxonomy(yaml.load((REAL_MEDLEYDB / "taxonomy.yaml").read_text(), Loader=Loader))
    return top_keys, stem_keys, raw_keys, types, values, taxonomy


def test_medleydb_yaml_schema_matches_every_real_file(songs, real_schema):
    top_keys, stem_keys, raw_keys, types, values, taxonomy = real_schema
    assert len(top_keys) == len(stem_keys) == len(raw_keys) == 1   # the real files agree among themselves
    for d, meta in songs:
        where = d.name
        assert tuple(sorted(meta)) in top_keys, where
        for k, v in meta.items():
            assert type(v) in types[k], (where, k, type(v))
            if k in ("excerpt", "has_bleed", "instrumental", "version"):
                assert v in values[k], (where, k, v)
        for s in meta["stems"].values():
            assert tuple(sorted(s)) in stem_keys
            for k, v in s.items():
                assert type(v) in types["stem." + k], (where, k)
            assert s["component"] in values["component"]
            assert s["instrument"] in taxonomy, s["instrument"]
            for r in s["raw"].values():
                assert tuple(sorted(r)) in raw_keys
                assert all(type(v) in types["raw." + k] for k, v in r.items())
                assert r["instrument"] in taxonomy, r["instrument"]
    # yes/no stay strings in the YAML text, as in MedleyDB ('yes', not a YAML boolean)
    text = (songs[0][0] / f"{songs[0][0].name}_METADATA.yaml").read_text()
    assert re.search(r"^has_bleed: '(yes|no)'$", text, re.M)


def test_audio_formats(corpus, songs):
    out, _ = corpus
    for d, meta in songs:
        mix = sf.info(str(d / meta["mix_filename"]))
        assert (mix.samplerate, mix.channels, mix.subtype, mix.format) == (44100, 2, "PCM_16", "WAV")
        lengths = {mix.frames}
        for s in meta["stems"].values():
            files = [d / meta["stem_dir"] / s["filename"]] + [d / meta["raw_dir"] / r["filename"] for r in s["raw"].values()]
            for f in files:
                i = sf.info(str(f))
                assert (i.samplerate, i.channels, i.subtype) == (44100, 1, "PCM_16"), f
                lengths.add(i.frames)
        assert len(lengths) == 1
        assert 4.0 <= mix.frames / 44100 < 12.0
    for f in (out / "enst-drums").rglob("*.wav"):
        i = sf.info(str(f))
        stereo = f.parent.name in ("dry_mix", "wet_mix")
        assert (i.samplerate, i.channels, i.subtype) == (44100, 2 if stereo else 1, "PCM_16"), f
    for f in (out / "signaltrain").rglob("*.wav"):
        i = sf.info(str(f))
        assert (i.samplerate, i.channels, i.subtype) == (44100, 1, "FLOAT"), f


# ---------------------------------------------------------------- ENST and SignalTrain layouts
def test_enst_layout(corpus):
    root = corpus[0] / "enst-drums"
    assert sorted(p.name for p in root.iterdir()) == ["drummer_1", "drummer_2", "drummer_3"]
    for d in (1, 2, 3):
        audio = root / f"drummer_{d}" / "audio"
        folders = {p.name for p in audio.iterdir()}
        mics = {"kick", "snare", "hi-hat", "overhead_L", "overhead_R", "tom_1", "tom_2", "dry_mix", "wet_mix"}
        assert folders == (mics if d == 1 else mics | {"tom_3"}), (d, folders)
        takes = {p.stem for p in (audio / "kick").iterdir()}
        assert len(takes) == 1
        for t in takes:
            assert re.fullmatch(r"\d{3}_(hits_[a-z-]+_[a-z]+_x\d+|phrase_[a-z-]+_(simple|complex)_(slow|medium|fast)_[a-z]+"
                                r"|solo_[a-z-]+_[a-z]+)", t), t
        for folder in folders:
            assert {p.stem for p in (audio / folder).iterdir()} == takes
        for t in takes:
            lines = (root / f"drummer_{d}" / "annotation" / f"{t}.txt").read_text().splitlines()
            onsets = [float(x.split()[0]) for x in lines]
            assert onsets == sorted(onsets) and all(x.split()[1] in enst.LABELS.values() for x in lines)


ST_TARGET = re.compile(r"target_(\d+)_LA2A_3c__([01])__(\d+)\.wav")


def _signaltrain_pairs(root: Path):
    pairs = []
    for split in ("Train", "Val", "Test"):
        files = sorted(p.name for p in (root / split).iterdir())
        inputs = [f for f in files if f.startswith("input_")]
        targets = [f for f in files if f.startswith("target_")]
        assert len(inputs) == len(targets) >= 1 and len(files) == 2 * len(inputs)
        for t in targets:
            m = ST_TARGET.fullmatch(t)
            assert m, t
            assert f"input_{m.group(1)}_.wav" in inputs
            pairs.append((split, root / split / f"input_{m.group(1)}_.wav", root / split / t,
                          int(m.group(2)), int(m.group(3))))
    return pairs


def test_signaltrain_layout_settings_disjoint_and_targets_reproduce(corpus):
    pairs = _signaltrain_pairs(corpus[0] / "signaltrain")
    settings = {s: {(sw, pk) for sp, _, _, sw, pk in pairs if sp == s} for s in ("Train", "Val", "Test")}
    assert not (settings["Train"] & settings["Val"]) and not (settings["Train"] & settings["Test"])
    assert not (settings["Val"] & settings["Test"])
    for _, fi, ft, sw, pk in pairs:
        x, _ = sf.read(str(fi), dtype="float32")
        y, _ = sf.read(str(ft), dtype="float32")
        assert 0 <= pk <= 100 and x.shape == y.shape
        np.testing.assert_array_equal(y, signaltrain.opto_compress(x, sw, pk))


def test_split_settings_disjoint_for_large_requests():
    rng = np.random.default_rng(0)
    s = signaltrain.split_settings(rng, signaltrain.pair_counts(200))
    assert all(s.values())
    assert not (set(s["Train"]) & set(s["Val"]) or set(s["Train"]) & set(s["Test"]) or set(s["Val"]) & set(s["Test"]))


def _opto_reference(x, sr, switch, peak):
    """Plain-python re-implementation of the documented stand-in equations."""
    st = signaltrain.opto_settings(switch, peak)
    T, R, W = st["threshold_db"], st["ratio"], st["knee_db"]
    a_att = np.exp(-1 / (st["attack_s"] * sr))
    a_det = np.exp(-1 / (0.005 * sr))
    up, down = np.exp(-1 / (st["memory_s"] * sr)), np.exp(-1 / (3 * st["memory_s"] * sr))
    p = g = m = 0.0
    out = []
    for v in x.astype(np.float64):
        p = a_det * p + (1 - a_det) * v * v
        over = 10 * np.log10(2 * p + 1e-18) - T
        target = 0.0 if over <= -W / 2 else ((1 / R - 1) * (over + W / 2) ** 2 / (2 * W) if over < W / 2 else (1 / R - 1) * over)
        if target < g:
            g = a_att * g + (1 - a_att) * target
        else:
            tau = st["release_fast_s"] + m * (st["release_slow_s"] - st["release_fast_s"])
            a = np.exp(-1 / (tau * sr))
            g = a * g + (1 - a) * target
        m = up * m + (1 - up) if g < -1 else down * m
        out.append(v * 10 ** (g / 20))
    return np.array(out)


def test_opto_stand_in_matches_reference_and_knobs_act():
    sr = 8000
    t = np.arange(sr) / sr
    x = (np.sin(2 * np.pi * 220 * t) * np.where(t < 0.5, 0.9, 0.05)).astype(np.float32)
    for sw, pk in ((0, 40), (1, 80)):
        np.testing.assert_allclose(signaltrain._opto(x, float(sr), *signaltrain.opto_settings(sw, pk).values()),
                                   _opto_reference(x, sr, sw, pk), atol=2e-6)
    rms = lambda y: float(np.sqrt(np.mean(y[:sr // 2] ** 2)))
    levels = [rms(signaltrain.opto_compress(x, 0, pk, sr)) for pk in (0, 30, 60, 90)]
    assert all(a > b for a, b in zip(levels, levels[1:]))               # more peak reduction, less level
    assert rms(signaltrain.opto_compress(x, 1, 60, sr)) < levels[2]     # limit squeezes harder
    with pytest.raises(ValueError):
        signaltrain.opto_settings(2, 10)


# ---------------------------------------------------------------- mixes and the engineer
def test_mixes_equal_their_mix_documents_rerendered(corpus, songs):
    from dmcdata.console.mixfile import MixDocument

    for d, meta in songs:
        doc = MixDocument.load(d / f"{d.name}_MIX_PARAMS.json")
        assert [t.file for t in doc.tracks] == [f"{meta['stem_dir']}/{s['filename']}" for s in meta["stems"].values()]
        y = doc.render()
        x, sr = sf.read(str(d / meta["mix_filename"]), dtype="float32")
        assert sr == doc.sample_rate and x.shape == y.T.shape
        assert np.max(np.abs(x - y.T)) <= 1.0 / 32768 + 1e-7
        assert 0.5 < np.max(np.abs(x)) < 1.0          # levelled to about -1 dBFS, no clipping
    root = corpus[0] / "enst-drums" / "drummer_2"
    for js in sorted((root / "mix_params").glob("*.json")):
        doc = MixDocument.load(js)
        take, mix = re.fullmatch(r"(.+)_(dry_mix|wet_mix)\.json", js.name).groups()
        x, _ = sf.read(str(root / "audio" / mix / f"{take}.wav"), dtype="float32")
        assert np.max(np.abs(x - doc.render().T)) <= 1.0 / 32768 + 1e-7
        for t in doc.tracks:
            if mix == "dry_mix":   # gain and pan only
                assert t.params["compressor.ratio"] == 1.0 and t.params["reverb.wet"] == 0.0
                assert all(t.params[k] == 0.0 for k in t.params if k.startswith("eq.") and k.endswith("gain_db"))


def test_engineer_follows_mixing_conventions(songs):
    from dmcdata.console.mixfile import MixDocument

    seen = set()
    for d, _ in songs:
        for t in MixDocument.load(d / f"{d.name}_MIX_PARAMS.json").tracks:
            p, role = t.params, t.name
            seen.add(role)
            if role in ("kick", "snare", "bass", "lead", "drums"):
                assert abs(p["pan"] - 0.5) <= 0.03, (role, p["pan"])
            if role in ("hats", "chords", "chords2", "pad", "arp", "percussion"):
                assert abs(p["pan"] - 0.5) >= 0.1, (role, p["pan"])
            if role in ("kick", "bass"):
                assert p["reverb.wet"] == 0.0
            if role in ("pad", "lead"):
                assert p["reverb.wet"] > 0.05
            if role in ("kick", "bass", "lead"):
                assert p["compressor.ratio"] > 1.0
    assert {"bass", "chords"} <= seen


# ---------------------------------------------------------------- determinism
def test_same_seed_byte_identical_and_other_seed_differs(corpus, tmp_path):
    out, _ = corpus
    again = tmp_path / "again"
    write_demo(again, DemoConfig(seed=7, **TINY), progress=False)
    assert _tree_hashes(again) == _tree_hashes(out)
    other = tmp_path / "other"
    write_demo(other, DemoConfig(seed=8, only=("medleydb",), **{**TINY, "songs": 1}), progress=False)
    names_a = {p.name for p in (out / "medleydb" / "Audio").iterdir()}
    names_b = {p.name for p in (other / "medleydb" / "Audio").iterdir()}
    assert names_b and not (names_a & names_b)
    assert not (set(_tree_hashes(other).values()) & set(_tree_hashes(out).values()))
    # fewer songs: the songs that remain are byte-identical (each song has its own generator)
    fewer = tmp_path / "fewer"
    write_demo(fewer, DemoConfig(seed=7, only=("medleydb",), **{**TINY, "songs": 1}), progress=False)
    full, part = _tree_hashes(out / "medleydb"), _tree_hashes(fewer / "medleydb")
    assert part and all(full.get(k) == v for k, v in part.items())


def test_refuses_bad_options_and_foreign_folders(tmp_path):
    with pytest.raises(DemoError, match="--only"):
        write_demo(tmp_path, DemoConfig(only=("medley",)), progress=False)
    with pytest.raises(DemoError, match="stems"):
        write_demo(tmp_path, DemoConfig(min_stems=2), progress=False)
    (tmp_path / "medleydb").mkdir()
    (tmp_path / "medleydb" / "mine.txt").write_text("user data")
    with pytest.raises(DemoError, match="not a demo corpus"):
        write_demo(tmp_path, DemoConfig(only=("medleydb",)), overwrite=True, progress=False)
    assert (tmp_path / "medleydb" / "mine.txt").exists()


def test_cli_reports_errors(tmp_path, capsys):
    from dmcdata.cli import main

    assert main(["demo", "--out", str(tmp_path), "--only", "nope"]) == 2
    assert "--only" in capsys.readouterr().err


ST_ONLY = dict(TINY, only=("signaltrain",))


def test_overwrite_deletes_only_folders_the_demo_wrote(tmp_path):
    """A marker left by an earlier `--only signaltrain` run must not license deleting a user's
    own medleydb/ folder beside it."""
    write_demo(tmp_path, DemoConfig(**ST_ONLY), progress=False)
    mine = tmp_path / "medleydb" / "Audio" / "my_song.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("user data")
    with pytest.raises(DemoError, match=r"medleydb exists but .*does not list it"):
        write_demo(tmp_path, DemoConfig(**{**TINY, "only": ("medleydb",)}), overwrite=True, progress=False)
    assert mine.read_text() == "user data"
    # the demo's own folders stay replaceable, and the marker remembers every one it wrote
    write_demo(tmp_path, DemoConfig(**{**TINY, "only": ("enst-drums",), "enst_seconds": 2.0}), progress=False)
    import json
    assert set(json.loads((tmp_path / "demo_corpus.json").read_text())["roots"]) == {"signaltrain", "enst-drums"}
    write_demo(tmp_path, DemoConfig(**ST_ONLY), overwrite=True, progress=False)
    assert set(json.loads((tmp_path / "demo_corpus.json").read_text())["roots"]) == {"signaltrain", "enst-drums"}
    assert mine.exists()


def test_cli_unusable_out_is_a_clean_error(tmp_path, capsys):
    from dmcdata.cli import main

    tiny = ["--only", "signaltrain", "--signaltrain-pairs", "3", "--signaltrain-seconds", "2", "--no-progress"]
    (tmp_path / "afile").write_text("x")
    assert main(["demo", "--out", str(tmp_path / "afile"), *tiny]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "afile" / "sub"), *tiny]) == 2
    assert "cannot create the output folder" in capsys.readouterr().err
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "signaltrain").write_text("x")
    assert main(["demo", "--out", str(tmp_path / "d"), *tiny]) == 2
    assert "not a folder" in capsys.readouterr().err
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "signaltrain").symlink_to(tmp_path / "nowhere" / "x")  # dangling: writing fails mid-run
    assert main(["demo", "--out", str(tmp_path / "e"), *tiny]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "signaltrain" in err
