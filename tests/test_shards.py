"""The shard writer: plain tar readable by tar and webdataset, atomic, hashed, deterministic."""

import subprocess
import tarfile

import pytest
import webdataset as wds

from dmcdata.shards import ShardWriter, check_key, safe_key_part, sha256_file, write_atomic


def _write(path, samples):
    with ShardWriter(path) as w:
        for key, members in samples:
            w.write(key, members)
    return w.close()


SAMPLES = [
    ("song_a-000000", {"json": b'{"a": 1}', "t00.flac": b"\x00\x01" * 700}),
    ("song_a-000001", {"json": b'{"a": 2}', "t00.flac": b"\x02" * 1234, "mix.flac": b"m" * 10}),
]


def test_shard_is_plain_tar_and_hash_matches(tmp_path):
    info = _write(tmp_path / "x-train-000000.tar", SAMPLES)
    path = tmp_path / info.shard
    assert info.n_samples == 2
    assert info.size == path.stat().st_size
    assert info.sha256 == sha256_file(path)
    listing = subprocess.run(["tar", "tf", str(path)], capture_output=True, text=True, check=True).stdout.split()
    assert listing == ["song_a-000000.json", "song_a-000000.t00.flac",
                       "song_a-000001.json", "song_a-000001.mix.flac", "song_a-000001.t00.flac"]
    with tarfile.open(path) as tf:
        assert tf.extractfile("song_a-000001.t00.flac").read() == b"\x02" * 1234


def test_webdataset_reads_samples(tmp_path):
    info = _write(tmp_path / "x-train-000000.tar", SAMPLES)
    got = list(wds.WebDataset(str(tmp_path / info.shard), shardshuffle=False))
    assert [s["__key__"] for s in got] == ["song_a-000000", "song_a-000001"]
    assert got[1]["mix.flac"] == b"m" * 10
    assert got[0]["t00.flac"] == SAMPLES[0][1]["t00.flac"]


def test_same_samples_give_identical_bytes(tmp_path):
    a = _write(tmp_path / "a.tar", SAMPLES)
    b = _write(tmp_path / "b.tar", SAMPLES)
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert a.sha256 == b.sha256


def test_failure_leaves_no_shard(tmp_path):
    path = tmp_path / "x-train-000000.tar"
    with pytest.raises(RuntimeError):
        with ShardWriter(path) as w:
            w.write(*SAMPLES[0])
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_unfinished_shard_is_not_visible(tmp_path):
    path = tmp_path / "x-train-000000.tar"
    w = ShardWriter(path)
    w.write(*SAMPLES[0])
    assert not path.exists()
    [partial] = list(tmp_path.iterdir())
    assert partial.name.startswith("x-train-000000.tar.") and partial.name.endswith(".partial")
    w.close()
    assert path.exists() and [p.name for p in tmp_path.iterdir()] == ["x-train-000000.tar"]


@pytest.mark.parametrize("bad", ["a.b", "", "sp ace", "ümlaut"])
def test_bad_keys_rejected(bad):
    with pytest.raises(ValueError, match="invalid sample key"):
        check_key(bad)


def test_safe_key_part_makes_valid_keys():
    assert check_key(safe_key_part("Mr. Blue Sky (v1.2)")) == "Mr__Blue_Sky__v1_2_"


def test_write_atomic_replaces_whole_file(tmp_path):
    p = tmp_path / "sub" / "t.bin"
    write_atomic(p, b"one")
    write_atomic(p, b"two")
    assert p.read_bytes() == b"two"
    assert [x.name for x in p.parent.iterdir()] == ["t.bin"]


def test_write_atomic_failure_leaves_nothing(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OSError):
        write_atomic(target, b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"] and not any(target.iterdir())
