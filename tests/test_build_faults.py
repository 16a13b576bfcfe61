"""Faulty inputs: each is rejected with its reason, the rest of the build goes on; --strict fails."""

import pandas as pd
import pytest

from dmcdata.cli import run
from tests.trees import enst_tree, medleydb_tree, signaltrain_tree, truncate_file, write_wav


@pytest.fixture(scope="module")
def faulty_medleydb(tmp_path_factory):
    home = tmp_path_factory.mktemp("mdb_faults")
    songs = medleydb_tree(home, n_songs=7, n_stems=(2, 3), seconds=0.5)
    a = home / "Audio"
    (a / songs[1] / f"{songs[1]}_STEMS" / f"{songs[1]}_STEM_02.wav").unlink()                 # missing
    truncate_file(a / songs[2] / f"{songs[2]}_STEMS" / f"{songs[2]}_STEM_01.wav", 0.7)      # truncated
    write_wav(a / songs[3] / f"{songs[3]}_STEMS" / f"{songs[3]}_STEM_01.wav", 24000, 2, 48000, "PCM_24")  # rate
    write_wav(a / songs[4] / f"{songs[4]}_STEMS" / f"{songs[4]}_STEM_02.wav", 20000, 2, 44100, "PCM_24")  # length
    (a / songs[5] / f"{songs[5]}_METADATA.yaml").write_text("stems:\n  S01: {filename: [unclosed\n")       # YAML
    return home, songs


def test_medleydb_faults_are_rejected_and_the_rest_is_built(faulty_medleydb, tmp_path, ray_local, capsys):
    home, songs = faulty_medleydb
    out = tmp_path / "out"
    rc = run(["build", "medleydb", "--data-home", str(home), "--out", str(out), "--segment-seconds", "0",
              "--no-progress"])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "rejected: 5" in stdout
    rej = pd.read_parquet(out / "rejects.parquet").set_index("song")
    assert sorted(rej.index) == sorted(songs[1:6])
    assert "missing audio file" in rej.loc[songs[1], "reason"] and rej.loc[songs[1], "file"].endswith("STEM_02.wav")
    assert "truncated" in rej.loc[songs[2], "reason"] and rej.loc[songs[2], "file"].endswith("STEM_01.wav")
    assert "wrong sample rate: 48000 Hz" in rej.loc[songs[3], "reason"]
    assert "different lengths" in rej.loc[songs[4], "reason"] and "20000 frames" in rej.loc[songs[4], "reason"]
    assert "malformed YAML" in rej.loc[songs[5], "reason"] and rej.loc[songs[5], "file"].endswith("_METADATA.yaml")
    m = pd.read_parquet(out / "manifest.parquet")
    assert sorted(m.song) == sorted([songs[0], songs[6]])
    assert "## Rejected" in (out / "dataset_card.md").read_text()


def test_strict_makes_a_reject_fatal(faulty_medleydb, tmp_path, ray_local, capsys):
    home, _ = faulty_medleydb
    out = tmp_path / "strict"
    rc = run(["build", "medleydb", "--data-home", str(home), "--out", str(out), "--segment-seconds", "0",
              "--strict", "--no-progress"])
    assert rc == 2
    assert "--strict: 5 item(s) rejected" in capsys.readouterr().err
    assert not (out / "manifest.parquet").exists() and len(pd.read_parquet(out / "rejects.parquet")) == 5


def test_enst_take_missing_a_channel(tmp_path, ray_local, capsys):
    home = tmp_path / "enst"
    takes = enst_tree(home, takes_per_drummer=4, seconds=0.1)
    victim = takes["drummer_1"][2]
    (home / "drummer_1" / "audio" / "snare" / f"{victim}.wav").unlink()
    out = tmp_path / "out"
    assert run(["build", "enst-drums", "--data-home", str(home), "--out", str(out), "--segment-seconds", "0",
                "--no-progress"]) == 0
    assert "rejected: 1" in capsys.readouterr().out
    (r,) = pd.read_parquet(out / "rejects.parquet").itertuples()
    assert r.song == f"drummer_1_{victim}" and "snare" in r.reason
    m = pd.read_parquet(out / "manifest.parquet")
    assert len(m) == 11  # drummers 1 and 3 have no tom_3 at all: not a fault


def test_signaltrain_unpaired_and_unequal_pairs(tmp_path, ray_local, capsys):
    home = tmp_path / "st"
    signaltrain_tree(home, seconds=0.2)
    write_wav(home / "Train" / "input_90_.wav", 8820, 1, 44100, "FLOAT")                        # no target
    write_wav(home / "Val" / "target_91_LA2A_3c__0__20.wav", 8820, 1, 44100, "FLOAT")           # no input
    write_wav(home / "Train" / "target_3_LA2A_3c__0__90.wav", 5000, 1, 44100, "FLOAT")         # shorter target
    out = tmp_path / "out"
    assert run(["build", "signaltrain", "--data-home", str(home), "--out", str(out), "--segment-seconds", "0",
                "--no-progress"]) == 0
    assert "rejected: 3" in capsys.readouterr().out
    rej = pd.read_parquet(out / "rejects.parquet").set_index("song")
    assert "no target" in rej.loc["90", "reason"] and "no input" in rej.loc["91", "reason"]
    assert "different lengths" in rej.loc["3", "reason"]
    assert sorted(pd.read_parquet(out / "manifest.parquet").song) == ["1", "2", "4", "5", "6"]


def test_missing_data_home_is_a_clear_error(tmp_path, capsys):
    assert run(["build", "medleydb", "--data-home", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "nowhere does not exist" in capsys.readouterr().err


def test_empty_selection_is_a_clear_error(faulty_medleydb, tmp_path, capsys):
    home, _ = faulty_medleydb
    assert run(["build", "medleydb", "--data-home", str(home), "--out", str(tmp_path / "o"), "--max-tracks", "1"]) == 2
    err = capsys.readouterr().err
    assert "none of the 6 usable medleydb songs/takes in" in err and "at most 1 input tracks (stems); the fewest is 2" in err
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- refused before anything is written

@pytest.mark.parametrize("extra, message", [
    (["--max-tracks", "0"], "--max-tracks must be at least 1"),
    (["--segment-seconds", "nan"], "--segment-seconds must be a finite number >= 0"),
    (["--segment-seconds", "-1"], "--segment-seconds must be a finite number >= 0"),
    (["--segment-seconds", "1", "--min-segment-seconds", "2"], "every segment would be dropped"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--sample-rate", "0"], "--sample-rate must be a positive number"),
])
def test_bad_option_values_are_named_and_nothing_is_written(tmp_path, capsys, extra, message):
    home = tmp_path / "st"
    signaltrain_tree(home, seconds=0.05)
    out = tmp_path / "o"
    assert run(["build", "signaltrain", "--data-home", str(home), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_the_wrong_dataset_folder_is_named(tmp_path, capsys):
    enst_tree(tmp_path / "corpus" / "enst-drums", takes_per_drummer=1, seconds=0.01, drummers=("drummer_1",))
    medleydb_tree(tmp_path / "corpus" / "medleydb", n_songs=1, n_stems=(2,), seconds=0.01)
    out = tmp_path / "o"
    assert run(["build", "medleydb", "--data-home", str(tmp_path / "corpus" / "enst-drums"), "--out", str(out)]) == 2
    assert "looks like a copy of enst-drums (use `dmcdata build enst-drums`)" in capsys.readouterr().err
    assert run(["build", "medleydb", "--data-home", str(tmp_path / "corpus"), "--out", str(out)]) == 2
    assert f"use --data-home {tmp_path / 'corpus' / 'medleydb'}" in capsys.readouterr().err
    assert run(["build", "enst-drums", "--data-home", str(tmp_path), "--out", str(out)]) == 2
    assert "expected drummer_N/audio/<mic>/<take>.wav" in capsys.readouterr().err
    assert not out.exists()


def test_environment_variable_names_the_data_home(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MEDLEYDB_PATH", str(tmp_path / "no_such_copy"))
    assert run(["build", "medleydb", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no_such_copy does not exist" in err and "$MEDLEYDB_PATH" in err
    medleydb_tree(tmp_path / "copy", n_songs=2, n_stems=(3, 4), seconds=0.01)
    monkeypatch.setenv("MEDLEYDB_PATH", str(tmp_path / "copy"))
    assert run(["build", "medleydb", "--out", str(tmp_path / "o"), "--max-tracks", "2"]) == 2
    assert "none of the 2 usable medleydb songs/takes in" in capsys.readouterr().err


def test_every_item_rejected_is_an_error(tmp_path, ray_local, capsys):
    home = tmp_path / "mdb"
    medleydb_tree(home, n_songs=2, n_stems=(2,), seconds=0.1)
    out = tmp_path / "out"
    assert run(["build", "medleydb", "--data-home", str(home), "--out", str(out), "--sample-rate", "48000",
                "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "all 2 medleydb songs/takes/pairs were rejected" in err and "expected 48000 Hz" in err
    assert not (out / "manifest.parquet").exists() and len(pd.read_parquet(out / "rejects.parquet")) == 2
    # no shard was written, so the same folder takes the corrected options
    assert run(["build", "medleydb", "--data-home", str(home), "--out", str(out), "--no-progress"]) == 0
    assert len(pd.read_parquet(out / "manifest.parquet")) == 2
