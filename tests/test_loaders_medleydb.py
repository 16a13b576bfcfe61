"""MedleyDB loader on trees written in the real layout, including one from every real YAML."""

import numpy as np
import pandas as pd
import pytest
import yaml

from dmcdata.loaders import LoaderError, medleydb, resolve_data_home
from tests.trees import MEDLEYDB_METADATA, medleydb_tree, medleydb_tree_from_metadata

needs_metadata = pytest.mark.skipif(not (MEDLEYDB_METADATA / "Metadata").is_dir(),
                                    reason="../shared/medleydb_metadata is absent")


@pytest.fixture(scope="module")
def real_tree(tmp_path_factory):
    if not (MEDLEYDB_METADATA / "Metadata").is_dir():
        pytest.skip("../shared/medleydb_metadata is absent")
    home = tmp_path_factory.mktemp("mdb_real")
    songs = medleydb_tree_from_metadata(home, with_raw=False)
    return home, songs


@needs_metadata
def test_every_real_yaml_is_indexed_with_its_own_file_names(real_tree):
    home, songs = real_tree
    ds = medleydb.Dataset(home, checksums=False)
    assert ds.problems == []
    assert sorted(ds.mtrack_ids) == sorted(songs)
    for song in songs:
        meta = yaml.safe_load((MEDLEYDB_METADATA / "Metadata" / f"{song}_METADATA.yaml").read_text())
        mt = ds.multitrack(song)
        want_stems = [s["filename"] for _, s in sorted(meta["stems"].items())]
        assert [mt._index["tracks"][t]["audio"][0].rsplit("/", 1)[-1] for t in mt.track_ids] == want_stems
        want_raw = [r["filename"] for _, s in sorted(meta["stems"].items()) for _, r in sorted((s.get("raw") or {}).items())]
        assert [p.rsplit("/", 1)[-1] for p in (ds._index["tracks"][t]["audio"][0] for t in mt.raw_track_ids)] == want_raw
        assert mt.has_bleed == (meta["has_bleed"] == "yes")
        assert mt.mix_path.endswith(meta["mix_filename"])
    # the quirk: raw files numbered RAW_01_03 / RAW_01_04 under R01 / R02
    quirky = ds.multitrack("DeclareAString_MendelssohnPianoTrio1Movement1")
    assert quirky.raw_track_ids[:2] == ["DeclareAString_MendelssohnPianoTrio1Movement1_RAW_01_03",
                                        "DeclareAString_MendelssohnPianoTrio1Movement1_RAW_01_04"]


@needs_metadata
def test_v1_and_v2_roots_and_validate(real_tree):
    home, songs = real_tree
    ds = medleydb.Dataset(home, checksums=False)
    roots = {ds._metadata[s]["root"] for s in songs}
    assert roots == {"Audio", "V2"}
    missing, invalid = ds.validate(verbose=False)
    # stems and mixes exist; only the raw files (not written here) are reported missing
    assert invalid["tracks"] == {} and missing["multitracks"] == {}
    assert all("_RAW_" in t for t in missing["tracks"])


def test_list_instrument_yes_no_and_checksums(tmp_path):
    songs = medleydb_tree(tmp_path, n_songs=2, seconds=0.05)
    ds = medleydb.Dataset(tmp_path, checksums=True)
    missing, invalid = ds.validate(verbose=False)
    assert all(not v for v in missing.values()) and all(not v for v in invalid.values())
    mt = ds.multitrack(songs[1])
    t = mt.tracks[f"{songs[1]}_STEM_02"]
    assert t.instruments == ["electric bass", "double bass"] and t.instrument == "electric bass"
    assert mt.has_bleed is True and ds.multitrack(songs[0]).has_bleed is False
    y, sr = t.audio
    assert sr == 44100 and y.shape == (2, 2205)
    assert set(mt.input_tracks("raw")) == set(mt.raw_track_ids)
    # mirdata's own helpers work on the scanned index: get_mix averages the stems
    stems = [tr.audio[0] for tr in mt.tracks.values()]
    np.testing.assert_allclose(mt.get_mix(), sum(stems) / len(stems), atol=1e-6)
    assert len(ds.load_multitracks()) == 2 and ds.choice_multitrack().mtrack_id in songs
    # a changed file is caught by validate()
    p = tmp_path / "Audio" / songs[0] / f"{songs[0]}_MIX.wav"
    p.write_bytes(p.read_bytes()[:-2] + b"\x01\x02")
    _, invalid = ds.validate(verbose=False)
    assert songs[0] in invalid["multitracks"]


def test_song_folder_root_and_metadata_folder(tmp_path):
    songs = medleydb_tree(tmp_path, n_songs=2, seconds=0.05)
    # pointing at Audio/ itself works, and a YAML may live in <home>/Metadata/
    ds = medleydb.Dataset(tmp_path / "Audio", checksums=False)
    assert sorted(ds.mtrack_ids) == songs
    y = tmp_path / "Audio" / songs[0] / f"{songs[0]}_METADATA.yaml"
    (tmp_path / "Metadata").mkdir()
    y.rename(tmp_path / "Metadata" / y.name)
    assert sorted(medleydb.Dataset(tmp_path, checksums=False).mtrack_ids) == songs


def test_malformed_and_incomplete_yaml_are_problems(tmp_path):
    songs = medleydb_tree(tmp_path, n_songs=3, seconds=0.05)
    (tmp_path / "Audio" / songs[0] / f"{songs[0]}_METADATA.yaml").write_text("stems: [unclosed\n  - : :")
    (tmp_path / "Audio" / songs[1] / f"{songs[1]}_METADATA.yaml").write_text("artist: x\nstems: {}\n")
    ds = medleydb.Dataset(tmp_path, checksums=False)
    assert ds.mtrack_ids == [songs[2]]
    reasons = {p.item: p.reason for p in ds.problems}
    assert "malformed YAML" in reasons[songs[0]] and songs[0] in reasons[songs[0]]
    assert "missing field 'mix_filename'" in reasons[songs[1]]


def test_data_home_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLEYDB_PATH", str(tmp_path / "env"))
    assert resolve_data_home("medleydb", None) == str(tmp_path / "env")
    assert resolve_data_home("medleydb", tmp_path / "cli") == str(tmp_path / "cli")
    monkeypatch.delenv("MEDLEYDB_PATH")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_data_home("medleydb", None) == str(tmp_path / "mir_datasets" / "medleydb")
    with pytest.raises(LoaderError, match="does not exist"):
        medleydb.Dataset(None, checksums=False).mtrack_ids


def test_select_from_manifest_selection(tmp_path):
    songs = medleydb_tree(tmp_path, n_songs=3, seconds=0.05)
    ds = medleydb.Dataset(tmp_path, checksums=False)
    sel = pd.DataFrame({"song": [songs[2], songs[0], songs[2]], "n_tracks": [5, 2, 5]}).query("n_tracks <= 16")
    assert ds.select(sel) == [songs[2], songs[0]]
    with pytest.raises(LoaderError, match="not in the index"):
        ds.select(["Nobody_Nothing"])
    with pytest.raises(LoaderError, match="no 'song' column"):
        ds.select(sel[["n_tracks"]])
    with pytest.raises(LoaderError, match="query the manifest with pandas first"):
        ds.select("n_tracks <= 16")


def test_saved_index_roundtrip(tmp_path):
    medleydb_tree(tmp_path / "home", n_songs=1, seconds=0.05)
    ds = medleydb.Dataset(tmp_path / "home", checksums=True)
    ds.save_index(tmp_path / "index.json")
    again = medleydb.Dataset(tmp_path / "home", index_path=str(tmp_path / "index.json"))
    assert again._index == ds._index and again.mtrack_ids == ds.mtrack_ids


def test_default_scan_reads_no_audio(tmp_path):
    """Dataset(home).select(...) on the real data must not md5 tens of GB: checksums are opt-in."""
    songs = medleydb_tree(tmp_path, n_songs=1, seconds=0.05)
    ds = medleydb.Dataset(tmp_path)
    assert ds.select([songs[0]]) == songs
    assert all(e["audio"][1] is None for e in ds._index["tracks"].values())
    assert all(e["audio"][1] is not None for e in medleydb.Dataset(tmp_path, checksums=True)._index["tracks"].values())
