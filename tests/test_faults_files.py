"""A user's files are never touched: every ``--out`` refuses a non-empty folder that holds no
output of ours, and a rerun removes only the temporary names its own writes use."""

import json

import pytest

from dmcdata.cli import run
from dmcdata.demo import DemoConfig, DemoError, write_demo
from tests.test_synth_chain import write_source
from tests.trees import medleydb_tree

USER_FILES = {"ubuntu.iso.partial": b"half an ISO", "notes.partial": b"mine", "medleydb-notes.partial": b"mine too",
              "build.partial": b"x"}


def put_user_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in USER_FILES.items():
        (folder / name).write_bytes(data)


def user_files_intact(folder):
    return all((folder / n).read_bytes() == d for n, d in USER_FILES.items())


@pytest.fixture(scope="module")
def tiny_mdb(tmp_path_factory):
    home = tmp_path_factory.mktemp("mdb_files")
    medleydb_tree(home, n_songs=3, n_stems=(2,), seconds=0.1)
    return home


def build(home, out, *extra):
    return run(["build", "medleydb", "--data-home", str(home), "--out", str(out), "--segment-seconds", "0",
                "--no-progress", *extra])


def test_build_refuses_a_folder_of_user_files_and_touches_nothing(tiny_mdb, tmp_path, capsys):
    out = tmp_path / "downloads"
    put_user_files(out)
    assert build(tiny_mdb, out) == 2
    err = capsys.readouterr().err
    assert f"--out {out} is not empty" in err and "holds no build.json of a dmcdata build" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(USER_FILES) and user_files_intact(out)
    # a build.json that is not ours (say a JS project's) is not taken for one
    (out / "build.json").write_text('{"scripts": {}}')
    assert build(tiny_mdb, out) == 2
    assert "its build.json is not one of dmcdata build" in capsys.readouterr().err
    assert (out / "build.json").read_text() == '{"scripts": {}}'


def test_build_rerun_removes_only_its_own_temporary_files(tiny_mdb, tmp_path, ray_local, capsys):
    out = tmp_path / "out"
    assert build(tiny_mdb, out) == 0
    put_user_files(out)  # the user drops files into the build folder afterwards
    put_user_files(out / ".parts")
    own = [out / "medleydb-train-000000.tar.4242-0badcafe.partial", out / "manifest.parquet.77-12345678.partial",
           out / ".parts" / "medleydb-train-000000.tar.json.9-deadbeef.partial"]
    for p in own:  # what a killed run of this build leaves
        p.write_bytes(b"left by a killed run")
    assert build(tiny_mdb, out) == 0
    assert user_files_intact(out) and user_files_intact(out / ".parts")
    assert not any(p.exists() for p in own)


def test_synth_chain_refuses_foreign_folders_and_keeps_user_partials(tmp_path, capsys):
    src = write_source(tmp_path / "src", seconds=0.6)
    out = tmp_path / "out"
    put_user_files(out)
    argv = ["synth-chain", "--source", str(src), "--out", str(out), "--shards", "1", "--samples-per-shard", "2",
            "--patch-seconds", "0.05", "--workers", "1", "--no-progress"]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert f"--out {out} is not empty" in err and "holds no synth_config.json" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == sorted(USER_FILES)
    # a build folder is not a synth-chain folder either
    (out / "build.json").write_text(json.dumps({"tool": "dmcdata build"}))
    assert run(argv) == 2
    fresh = tmp_path / "fresh"
    argv[argv.index(str(out))] = str(fresh)
    assert run(argv) == 0
    put_user_files(fresh)
    (fresh / "synth-notes.partial").write_bytes(b"mine")
    own = fresh / "synth-000000.tar.4242-0badcafe.partial"
    own.write_bytes(b"left by a killed run")
    assert run(argv) == 0
    assert user_files_intact(fresh) and (fresh / "synth-notes.partial").read_bytes() == b"mine"
    assert not own.exists()


TINY = dict(only=("signaltrain",), signaltrain_pairs=3, signaltrain_seconds=2.0)


def test_demo_overwrite_deletes_only_recorded_files(tmp_path):
    write_demo(tmp_path, DemoConfig(**TINY), progress=False)
    root = tmp_path / "signaltrain"
    mine = root / "Train" / "my_take.wav"
    mine.write_bytes(b"user audio")
    before = sorted(p.relative_to(tmp_path).as_posix() for p in root.rglob("*"))
    with pytest.raises(DemoError, match="my_take.wav is not a file `dmcdata demo` recorded writing"):
        write_demo(tmp_path, DemoConfig(**TINY), overwrite=True, progress=False)
    assert mine.read_bytes() == b"user audio"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in root.rglob("*")) == before  # nothing deleted
    mine.unlink()
    (root / "Train" / "input_1_.wav.55-0badcafe.partial").write_bytes(b"left by a killed run")
    write_demo(tmp_path, DemoConfig(**TINY), overwrite=True, progress=False)
    assert not (root / "Train" / "input_1_.wav.55-0badcafe.partial").exists()
    # a demo_corpus.json that is not a demo marker is never replaced
    other = tmp_path / "other"
    other.mkdir()
    (other / "demo_corpus.json").write_text("{}")
    with pytest.raises(DemoError, match="not a marker of `dmcdata demo`"):
        write_demo(other, DemoConfig(**TINY), progress=False)
    assert (other / "demo_corpus.json").read_text() == "{}"
