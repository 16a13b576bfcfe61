"""One bad song never sinks a build: every malformed metadata value, and every stem that is not
an audio file, is that song's reject with a reason that names what is wrong."""

import os

import pandas as pd
import yaml

from dmcdata.cli import run
from dmcdata.loaders import medleydb
from tests.trees import medleydb_tree


def edit_yaml(song_dir, change):
    path = song_dir / f"{song_dir.name}_METADATA.yaml"
    meta = yaml.safe_load(path.read_text())
    change(meta)
    path.write_text(yaml.safe_dump(meta))


def first_stem(meta):
    return meta["stems"][sorted(meta["stems"])[0]]


def test_malformed_metadata_and_odd_files_are_rejects(tmp_path, ray_local, capsys):
    home = tmp_path / "mdb"
    songs = medleydb_tree(home, n_songs=9, n_stems=(2,), seconds=0.1)
    a = home / "Audio"
    d = [a / s for s in songs]
    edit_yaml(d[1], lambda m: first_stem(m).update(filename="/etc/passwd"))                 # absolute path
    edit_yaml(d[2], lambda m: first_stem(m).update(filename="../../outside.wav"))           # escapes the song
    edit_yaml(d[3], lambda m: m.update(mix_filename=42))                                   # not a name
    edit_yaml(d[4], lambda m: first_stem(m).update(raw=["not", "a", "mapping"]))           # wrong type
    stem = d[5] / f"{songs[5]}_STEMS" / f"{songs[5]}_STEM_01.wav"                           # a folder
    stem.unlink()
    stem.mkdir()
    loop = d[6] / f"{songs[6]}_STEMS" / f"{songs[6]}_STEM_01.wav"                           # symlink loop
    loop.unlink()
    os.symlink(loop.name, loop)
    edit_yaml(d[7], lambda m: m.update(stem_dir=["a", "list"]))                            # not a name
    out = tmp_path / "out"
    rc = run(["build", "medleydb", "--data-home", str(home), "--out", str(out), "--segment-seconds", "0",
              "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "rejected: 7" in captured.out and "Traceback" not in captured.err
    rej = pd.read_parquet(out / "rejects.parquet").set_index("song")["reason"]
    assert sorted(rej.index) == sorted(songs[1:8])
    assert "field 'filename' is '/etc/passwd', which leaves the song folder" in rej[songs[1]]
    assert "'../../outside.wav', which leaves the song folder" in rej[songs[2]]
    assert "field 'mix_filename' should be a file name, got 42" in rej[songs[3]]
    assert "field 'raw' should be a mapping" in rej[songs[4]]
    assert "is a folder, not an audio file" in rej[songs[5]] and "missing" not in rej[songs[5]]
    assert "symlink loop" in rej[songs[6]] and "missing" not in rej[songs[6]]
    assert "field 'stem_dir' should be a file name" in rej[songs[7]]
    assert sorted(pd.read_parquet(out / "manifest.parquet").song) == sorted([songs[0], songs[8]])


def test_loader_keeps_a_bad_song_out_of_the_index(tmp_path):
    home = tmp_path / "mdb"
    songs = medleydb_tree(home, n_songs=2, n_stems=(2,), seconds=0.01)
    edit_yaml(home / "Audio" / songs[0], lambda m: first_stem(m).update(filename="/abs/x.wav"))
    ds = medleydb.Dataset(home)
    assert ds.mtrack_ids == [songs[1]]
    (p,) = ds.problems
    assert p.item == songs[0] and "leaves the song folder" in p.reason and p.file.endswith("_METADATA.yaml")
