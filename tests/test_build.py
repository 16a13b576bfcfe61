"""`dmcdata build` / `dmcdata verify` end to end on real trees, a real Ray cluster, real tar + Parquet."""

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import webdataset as wds
import yaml

from dmcdata.cli import build_parser, run
from pipelines import build as B
from pipelines.verify import verify
from tests.trees import (MEDLEYDB_METADATA, enst_tree, medleydb_tree, medleydb_tree_from_metadata,
                         signaltrain_tree)

ROOT = Path(__file__).resolve().parents[1]


def do_build(argv, ray=None):
    args = build_parser(["build", *argv]).parse_args(["build", *argv])
    return B.build(args, ["build", *argv])


def tree_bytes(out: Path) -> dict[str, bytes]:
    """Every file of a build folder (the card without its --out path, which differs per folder)."""
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "dataset_card.md":
                data = data.replace(str(out).encode(), b"OUT")
            files[p.relative_to(out).as_posix()] = data
    return files


@pytest.fixture(scope="module")
def mdb_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("mdb")
    medleydb_tree(home, n_songs=6, n_stems=(2, 3, 5, 9), seconds=0.6)
    return home


@pytest.fixture(scope="module")
def mdb_build(mdb_home, tmp_path_factory, ray_local):
    out = tmp_path_factory.mktemp("mdb_out")
    argv = ["medleydb", "--data-home", str(mdb_home), "--out", str(out), "--segment-seconds", "0.25",
            "--shard-size", "3", "--no-progress"]
    summary = do_build(argv)
    return out, argv, summary


def test_medleydb_manifest_and_shards(mdb_build, mdb_home):
    out, _, summary = mdb_build
    m = pd.read_parquet(out / "manifest.parquet")
    # 6 songs x ceil(0.6 / 0.25) = 3 segments (0.25, 0.25, 0.1 s)
    assert len(m) == 18 and summary["samples"] == 18 and summary["rejected"] == 0
    assert sorted(m.groupby("song").size().unique()) == [3]
    assert set(m.duration_s.round(6)) == {0.25, 0.1}
    assert m.query("n_tracks <= 3").song.nunique() == 4  # stems per song: 2, 3, 5, 9, 2, 3
    shards = pd.read_parquet(out / "shards.parquet")
    assert shards.n_samples.sum() == 18 and (shards.n_samples <= 3).all()
    assert set(m.shard) == set(shards.shard)
    for s in shards.itertuples():
        assert s.shard.startswith(f"medleydb-{m[m.shard == s.shard].split.iloc[0]}-")
        with tarfile.open(out / s.shard) as tf:  # plain tar, readable by tarfile
            assert len({n.split(".")[0] for n in tf.getnames()}) == s.n_samples
    # per-sample statistics: the last stem of every song is digital silence (tests/trees.py)
    for r in m.itertuples():
        assert r.n_silent_tracks == 1 and list(r.track_silent) == [False] * (r.n_tracks - 1) + [True]
        assert len(r.instruments) == r.n_tracks and r.track_kind == "stem"
    assert (m[m.duration_s < 0.4].mix_loudness_lufs.isna()).all()  # < 400 ms: undefined
    assert "electric bass" in m.instruments.iloc[0].tolist() or m.n_tracks.iloc[0] < 2
    rejects = pd.read_parquet(out / "rejects.parquet")
    assert len(rejects) == 0 and list(rejects.columns) == ["dataset", "song", "file", "reason"]
    card = (out / "dataset_card.md").read_text()
    assert "| train |" in card and "--segment-seconds 0.25" in card and "soundfile" in card


def test_medleydb_raw_tracks_counted_by_max_tracks(mdb_home, tmp_path, ray_local):
    out = tmp_path / "raw"
    do_build(["medleydb", "--data-home", str(mdb_home), "--out", str(out), "--tracks", "raw", "--max-tracks", "4",
              "--segment-seconds", "0", "--no-progress"])
    m = pd.read_parquet(out / "manifest.parquet")
    # trees.py gives stem i (0-based) 1 + i % 2 raw tracks: 2 stems -> 3 raw, 3 -> 4, 5 -> 7, 9 -> 13
    assert sorted(m.n_tracks) == [3, 3, 4, 4] and (m.track_kind == "raw").all()
    assert all(all("_RAW_" in n for n in names) for names in m.track_names)
    assert all(len(ch) == n and set(ch) == {1} for ch, n in zip(m.track_channels, m.n_tracks))


def test_bit_exact_through_webdataset(mdb_build, mdb_home):
    out, _, _ = mdb_build
    m = pd.read_parquet(out / "manifest.parquet").set_index("key")
    urls = sorted(str(p) for p in out.glob("medleydb-*.tar"))
    n = 0
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        row = m.loc[sample["__key__"]]
        assert meta["start"] == row.start and meta["frames"] == row.frames
        song_dir = mdb_home / "Audio" / meta["song"]
        for t in meta["tracks"]:
            got, sr = sf.read(io.BytesIO(sample[t["member"]]), dtype="int32", always_2d=True)
            ref, _ = sf.read(str(song_dir / f"{meta['song']}_STEMS" / f"{t['name']}.wav"), start=meta["start"],
                             frames=meta["frames"], dtype="int32", always_2d=True)
            assert sf.info(io.BytesIO(sample[t["member"]])).subtype == "PCM_24"
            np.testing.assert_array_equal(got, ref)
        got, _ = sf.read(io.BytesIO(sample["mix.flac"]), dtype="int32", always_2d=True)
        ref, _ = sf.read(str(song_dir / f"{meta['song']}_MIX.wav"), start=meta["start"], frames=meta["frames"],
                         dtype="int32", always_2d=True)
        np.testing.assert_array_equal(got, ref)
        n += 1
    assert n == len(m)


def test_verify_passes_then_names_the_bad_shard(mdb_build, tmp_path):
    out, _, _ = mdb_build
    problems, counts = verify(out)
    assert problems == [] and counts["samples"] == 18
    assert run(["verify", str(out)]) == 0
    # a copy with one flipped byte in one shard
    bad = tmp_path / "bad"
    for f, data in tree_bytes(out).items():
        (bad / f).parent.mkdir(parents=True, exist_ok=True)
        (bad / f).write_bytes(data)
    victim = sorted(bad.glob("*.tar"))[1]
    raw = bytearray(victim.read_bytes())
    raw[700] ^= 0xFF
    victim.write_bytes(bytes(raw))
    problems, _ = verify(bad)
    assert len(problems) == 1 and problems[0].startswith(victim.name)
    assert run(["verify", str(bad)]) == 1
    (bad / "stray-train-000000.tar").write_bytes(b"")
    assert any("stray-train-000000.tar: not listed" in p for p in verify(bad)[0])


def test_rerun_is_a_noop_and_identical(mdb_build, mdb_home, tmp_path):
    out, argv, _ = mdb_build
    before = tree_bytes(out)
    summary = do_build(argv)
    assert summary["written"] == 0 and summary["skipped"] == summary["shards"]
    assert tree_bytes(out) == before


def test_same_output_with_1_worker_in_another_process(mdb_build, mdb_home, tmp_path, ray_local):
    """The in-process build ran 2 shard tasks at a time; `dmcdata build --workers 1` run by another
    process on the same Ray cluster (one task in flight) must give the same bytes."""
    out, argv, _ = mdb_build
    out1 = tmp_path / "w1"
    argv1 = [a if a != str(out) else str(out1) for a in argv]
    address = ray_local.get_runtime_context().gcs_address
    res = subprocess.run([sys.executable, "-m", "dmcdata.cli", "build", *argv1, "--workers", "1",
                          "--ray-address", address], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "rejected: 0" in res.stdout
    a, b = tree_bytes(out), tree_bytes(out1)
    assert a.keys() == b.keys() and a == b


def _session_pids(sid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z" and os.getsid(int(d.name)) == sid:  # zombies hold no files
                    pids.append(int(d.name))
            except (OSError, IndexError):
                pass
    return pids


def test_kill_9_then_resume_gives_the_uninterrupted_output(mdb_build, mdb_home, tmp_path):
    clean_out, argv, _ = mdb_build
    out = tmp_path / "killed"
    argv_k = [a if a != str(clean_out) else str(out) for a in argv]
    argv_k[argv_k.index("--shard-size") + 1] = "1"  # many small shards: a kill lands mid-build
    proc = subprocess.Popen([sys.executable, "-m", "dmcdata.cli", "build", *argv_k, "--workers", "1"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if len(list((out / ".parts").glob("*.json"))) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "build finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(200):  # let every process of that session (Ray workers included) die
        if not _session_pids(proc.pid):
            break
        time.sleep(0.05)
    assert not _session_pids(proc.pid), "Ray processes of the killed build survived"
    # nothing a reader would take as complete
    assert not (out / "manifest.parquet").exists() and not (out / "shards.parquet").exists()
    n_parts = len(list((out / ".parts").glob("*.json")))
    for tar in out.glob("*.tar"):
        with tarfile.open(tar) as tf:  # every file named .tar is a whole tar
            tf.getmembers()
    # resume (here on the 2-CPU test cluster) and compare with an uninterrupted build of the same options
    summary = do_build(argv_k)
    assert summary["skipped"] >= n_parts >= 2 and summary["written"] > 0
    ref = tmp_path / "ref"
    do_build([a if a != str(out) else str(ref) for a in argv_k])
    assert tree_bytes(out) == tree_bytes(ref)
    assert verify(out)[0] == []


@pytest.mark.skipif(not (MEDLEYDB_METADATA / "Metadata").is_dir(), reason="../shared/medleydb_metadata is absent")
def test_medleydb_from_every_real_yaml(tmp_path, ray_local):
    home = tmp_path / "home"
    songs = medleydb_tree_from_metadata(home, seconds=0.05)
    out = tmp_path / "out"
    do_build(["medleydb", "--data-home", str(home), "--out", str(out), "--max-tracks", "16", "--tracks", "stems",
              "--segment-seconds", "0", "--shard-size", "64", "--no-progress"])
    n_stems = {s: len(yaml.safe_load((MEDLEYDB_METADATA / "Metadata" / f"{s}_METADATA.yaml").read_text())["stems"])
               for s in songs}
    m = pd.read_parquet(out / "manifest.parquet")
    assert sorted(m.song) == sorted(s for s, n in n_stems.items() if n <= 16)
    assert all(r.n_tracks == n_stems[r.song] for r in m.itertuples())
    assert len(m.query("n_tracks <= 8")) == sum(1 for n in n_stems.values() if n <= 8)
    # song-disjoint 80/10/10 over all songs found
    assert m.groupby("song").split.nunique().max() == 1
    assert set(m.split) == {"train", "val", "test"}
    assert m.has_bleed.dtype == bool and m.has_bleed.any() and not m.has_bleed.all()
    assert verify(out)[0] == []


def test_enst_drums_split_every_drummer_everywhere(tmp_path, ray_local):
    home = tmp_path / "enst"
    enst_tree(home, takes_per_drummer=10, seconds=0.2)
    out = tmp_path / "out"
    do_build(["enst-drums", "--data-home", str(home), "--out", str(out), "--segment-seconds", "0",
              "--shard-size", "100MB", "--seed", "3", "--no-progress"])
    m = pd.read_parquet(out / "manifest.parquet")
    assert len(m) == 30
    counts = m.groupby(["drummer", "split"]).size().unstack()
    assert (counts["train"] == 8).all() and (counts["val"] == 1).all() and (counts["test"] == 1).all()
    assert set(m[m.drummer == "drummer_2"].n_tracks) == {8} and set(m[m.drummer != "drummer_2"].n_tracks) == {7}
    assert (m.track_kind == "mic").all() and (m.n_silent_tracks == 1).all()  # tom_2 is silent in the tree
    sample = next(iter(wds.WebDataset(sorted(str(p) for p in out.glob("*.tar")), shardshuffle=False)))
    meta = json.loads(sample["json"])
    assert meta["dry_mix"] == "dry_mix.flac" and meta["mix"] == "mix.flac"
    ref, _ = sf.read(str(home / meta["drummer"] / "audio" / "dry_mix" / f"{meta['take']}.wav"), dtype="int16")
    np.testing.assert_array_equal(sf.read(io.BytesIO(sample["dry_mix.flac"]), dtype="int16")[0], ref)
    # another seed gives another split, still with every drummer in every split
    out2 = tmp_path / "out2"
    do_build(["enst-drums", "--data-home", str(home), "--out", str(out2), "--segment-seconds", "0", "--seed", "4",
              "--no-progress"])
    m2 = pd.read_parquet(out2 / "manifest.parquet")
    assert (m2.groupby(["drummer", "split"]).size().unstack() > 0).all().all()
    assert dict(zip(m.song, m.split)) != dict(zip(m2.song, m2.split))


def test_signaltrain_keeps_its_split_and_float_audio(tmp_path, ray_local):
    home = tmp_path / "st"
    signaltrain_tree(home, seconds=0.5)
    out = tmp_path / "out"
    do_build(["signaltrain", "--data-home", str(home), "--out", str(out), "--segment-seconds", "0.2",
              "--shard-size", "4", "--no-progress"])
    m = pd.read_parquet(out / "manifest.parquet")
    assert dict(m.groupby("song").split.first()) == {"1": "train", "2": "train", "3": "train", "4": "train",
                                                      "5": "val", "6": "test"}
    assert len(m) == 18 and set(m[m.song == "2"].limit) == {1} and set(m[m.song == "2"].peak_reduction) == {65.0}
    for sample in wds.WebDataset(sorted(str(p) for p in out.glob("*.tar")), shardshuffle=False):
        meta = json.loads(sample["json"])
        folder = {"train": "Train", "val": "Val", "test": "Test"}[meta["split"]]
        got, _ = sf.read(io.BytesIO(sample["target.wav"]), dtype="float32")
        ref, _ = sf.read(str(home / folder / f"target_{meta['id']}_LA2A_3c__{meta['limit']}__"
                             f"{int(meta['peak_reduction'])}.wav"), start=meta["start"], frames=meta["frames"],
                         dtype="float32")
        np.testing.assert_array_equal(got, ref)
    assert verify(out)[0] == []
    assert run(["build", "signaltrain", "--data-home", str(home), "--out", str(tmp_path / "x"),
                "--max-tracks", "3"]) == 2


def test_option_parsing():
    assert B.parse_shard_size("256MB") == ("bytes", 256_000_000)
    assert B.parse_shard_size("1GiB") == ("bytes", 2**30)
    assert B.parse_shard_size("100") == ("samples", 100)
    for bad in ("0", "1.5", "ten", "-3MB"):
        with pytest.raises(Exception):
            B.parse_shard_size(bad)
    with pytest.raises(Exception):
        B.parse_fractions("0.8,0.1")
    assert B.split_counts(3, (0.8, 0.1, 0.1)) == (1, 1, 1)
    assert B.split_counts(3, (0.8, 0.2, 0.0)) == (2, 1, 0)  # a zero fraction stays empty
    assert B.split_counts(2, (0.8, 0.1, 0.1)) == (2, 0, 0)
    assert B.split_counts(3, (0.8, 0.1, 0.1), at_least_one=False) == (3, 0, 0)
    assert B.split_counts(194, (0.8, 0.1, 0.1)) == (156, 19, 19)


def test_wav_codec_and_sequential_order(tmp_path, ray_local):
    home = tmp_path / "enst"
    enst_tree(home, takes_per_drummer=3, seconds=0.3, drummers=("drummer_1",))
    out = tmp_path / "out"
    do_build(["enst-drums", "--data-home", str(home), "--out", str(out), "--segment-seconds", "0.1",
              "--codec", "wav", "--order", "sequential", "--shard-size", "2", "--no-progress"])
    m = pd.read_parquet(out / "manifest.parquet")
    for split, g in m.groupby("split"):  # sequential: keys in song / segment order, shards filled in turn
        assert list(g.key) == sorted(g.key) and list(g.shard) == sorted(g.shard)
    for sample in wds.WebDataset(sorted(str(p) for p in out.glob("*.tar")), shardshuffle=False):
        meta = json.loads(sample["json"])
        assert meta["mix"] == "mix.wav" and all(t["member"].endswith(".wav") for t in meta["tracks"])
        kick = next(t for t in meta["tracks"] if t["name"] == "kick")
        got, _ = sf.read(io.BytesIO(sample[kick["member"]]), dtype="int16")
        ref, _ = sf.read(str(home / "drummer_1" / "audio" / "kick" / f"{meta['take']}.wav"), start=meta["start"],
                         frames=meta["frames"], dtype="int16")
        np.testing.assert_array_equal(got, ref)


def copy_tree(src: Path, dst: Path) -> Path:
    for p in sorted(src.rglob("*")):
        if p.is_file():
            (dst / p.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            (dst / p.relative_to(src)).write_bytes(p.read_bytes())
    return dst


def test_out_folder_of_another_build_is_refused_and_kept(mdb_build, tmp_path, capsys):
    """Nothing is deleted or mixed when --out holds another dataset's build or other options' build."""
    out, argv, _ = mdb_build
    work = copy_tree(out, tmp_path / "work")
    before = tree_bytes(work)
    o = argv.index("--out") + 1

    def again(changes):
        a = list(argv)
        a[o] = str(work)
        for k, v in changes.items():
            a[a.index(k) + 1] = v
        return run(["build", *a])

    assert again({"--segment-seconds": "0.5"}) == 2
    assert "built with other options (--segment-seconds was 0.25, now 0.5)" in capsys.readouterr().err
    assert again({"--data-home": str(tmp_path / "nowhere")}) == 2  # a failed start leaves the build intact
    assert "does not exist" in capsys.readouterr().err
    enst_tree(tmp_path / "enst", takes_per_drummer=1, seconds=0.01, drummers=("drummer_1",))
    assert run(["build", "enst-drums", "--data-home", str(tmp_path / "enst"), "--out", str(work)]) == 2
    assert "holds a build of 'medleydb', not 'enst_drums'" in capsys.readouterr().err
    assert tree_bytes(work) == before and verify(work)[0] == []
    # a folder with shards but no build.json (e.g. another tool's output) is refused too
    (work / "build.json").unlink()
    assert again({}) == 2
    assert "holds no build.json of a dmcdata build" in capsys.readouterr().err


def test_build_json_and_card(mdb_build, mdb_home):
    out, _, _ = mdb_build
    cfg = json.loads((out / "build.json").read_text())
    assert cfg["dataset"] == "medleydb" and cfg["segment_seconds"] == 0.25 and cfg["shard_size"] == ["samples", 3]
    assert cfg["data_home"] == str(mdb_home.resolve())
    card = (out / "dataset_card.md").read_text()
    assert card.endswith("\n") and card.startswith("# MedleyDB shards\n")
    assert "NonCommercial-ShareAlike" in card and "@inproceedings{bittner2014medleydb" in card
    assert "a 0.25 s segment of one song" in card and "Songs by number of input tracks: 2 tracks: 2," in card


def test_verify_refuses_unfinished_or_damaged_folders(mdb_build, tmp_path, capsys):
    out, _, _ = mdb_build
    assert run(["verify", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    work = copy_tree(out, tmp_path / "work")
    (work / "manifest.parquet").unlink()  # what a build killed before its last step leaves
    assert run(["verify", str(work), "--no-progress"]) == 2
    assert "manifest.parquet not found: an unfinished build" in capsys.readouterr().err
    assert run(["verify", str(work), "--shards-only", "--no-progress"]) == 0
    (work / "shards.parquet").write_bytes(b"not parquet")
    assert run(["verify", str(work), "--shards-only"]) == 2
    err = capsys.readouterr().err
    assert "shards.parquet: unreadable Parquet table" in err and "Traceback" not in err
