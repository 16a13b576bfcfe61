"""Every reader checks what the builder checks: ``dmcdata render`` refuses a truncated or empty
track, ``build`` rejects a mix with the wrong channel count, and the streaming datasets raise a
named error (``SampleShapeError``) for a sample that breaks their documented shapes."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from dist_worker import SR, flac, multitrack_sample, tone
from dmcdata.cli import run
from dmcdata.console.mixfile import MixDocument, TrackEntry
from dmcdata.shards import ShardWriter
from dmcdata.streaming import MultitrackDataset, SampleDecodeError, SampleShapeError, StreamingLoader, pad_tracks
from tests.trees import medleydb_tree, truncate_file, write_wav


def mix_doc(folder, files):
    doc = MixDocument(sample_rate=44100, tracks=[TrackEntry(f, {"gain_db": 0.0}) for f in files])
    return doc.save(folder / "mix.json")


def test_render_refuses_truncated_and_empty_tracks(tmp_path, capsys):
    write_wav(tmp_path / "ok.wav", 44100)
    write_wav(tmp_path / "cut.wav", 44100)
    truncate_file(tmp_path / "cut.wav", keep_fraction=0.02)  # header 44100 frames, ~880 left
    sf.write(tmp_path / "empty.wav", np.zeros((0, 1)), 44100, subtype="PCM_16")
    for bad, what in (("cut.wav", "truncated: the WAV data chunk promises 88200 bytes"),
                      ("empty.wav", "is an empty audio file (0 frames)")):
        doc = mix_doc(tmp_path, ["ok.wav", bad])
        out = tmp_path / f"mix-{bad}"
        assert run(["render", str(doc), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert "tracks[1].file" in err and what in err and bad in err, err
        assert len(err.splitlines()) == 1 and not out.exists()


def test_build_rejects_a_mix_with_the_wrong_channel_count(tmp_path, ray_local, capsys):
    home = tmp_path / "mdb"
    songs = medleydb_tree(home, n_songs=4, n_stems=(2,), seconds=0.1)
    a = home / "Audio"
    write_wav(a / songs[1] / f"{songs[1]}_MIX.wav", 4410, 3, 44100, "PCM_24")
    write_wav(a / songs[2] / f"{songs[2]}_MIX.wav", 4410, 1, 44100, "PCM_24")
    out = tmp_path / "out"
    assert run(["build", "medleydb", "--data-home", str(home), "--out", str(out), "--segment-seconds", "0",
                "--no-progress"]) == 0
    assert "rejected: 2" in capsys.readouterr().out
    rej = pd.read_parquet(out / "rejects.parquet").set_index("song")["reason"]
    assert "the mix has 3 channel(s), expected stereo (rejected, not converted)" in rej[songs[1]]
    assert "the mix has 1 channel(s), expected stereo" in rej[songs[2]]
    assert set(pd.read_parquet(out / "manifest.parquet").song) == {songs[0], songs[3]}


def shard_with_a_3_channel_mix(path):
    rng = np.random.default_rng(0)
    frames = SR // 2
    with ShardWriter(path) as w:
        for i in range(3):
            key, members, _ = multitrack_sample(f"s{i}", 0, 2, frames, rng)
            if i == 1:
                x = tone(frames, 55.0, rng, 1)
                members["mix.flac"] = flac(np.stack([x, x, x], axis=1))
            w.write(key, members)
    return path


def test_streaming_names_a_sample_with_a_bad_shape(tmp_path):
    shard = shard_with_a_3_channel_mix(tmp_path / "medleydb-train-000000.tar")
    strict = MultitrackDataset(str(shard), patch_seconds=0.25, strict=True, shuffle_shards=False)
    with pytest.raises(SampleShapeError, match=r"medleydb-s1-000000\.mix\.flac: the mix has 3 channels"):
        list(strict)
    # non-strict: skipped and counted, its message naming the shard; the batch collates
    ds = MultitrackDataset(str(shard), patch_seconds=0.25, shuffle_shards=False)
    loader = StreamingLoader(ds, batch_size=4, collate_fn=pad_tracks)
    with pytest.warns(Warning, match=str(shard)):
        batches = list(loader)
    assert sum(len(b["key"]) for b in batches) == 2 and loader.skips.samples_skipped == 1
    ev = loader.skips.events[0]
    assert ev.url == str(shard) and ev.key == "medleydb-s1-000000" and "3 channels" in ev.reason


def test_pad_tracks_names_the_sample_that_does_not_fit():
    good = {"key": "a", "song": "a", "start": 0, "valid": 8, "n_tracks": 2, "instruments": ["x", "y"],
            "tracks": np.zeros((2, 8), np.float32), "mix": np.zeros((2, 8), np.float32)}
    short = dict(good, key="b", tracks=np.zeros((2, 5), np.float32))
    wide = dict(good, key="c", mix=np.zeros((3, 8), np.float32))
    lying = dict(good, key="d", n_tracks=3)
    assert pad_tracks([good, good])["tracks"].shape == torch.Size([2, 2, 8])
    for bad, what in ((short, "'b' has tracks of shape (2, 5)"), (wide, "'c' has a mix of shape (3, 8)"),
                      (lying, "'d' has tracks of shape (2, 8) with n_tracks=3")):
        with pytest.raises(SampleShapeError, match=what.replace("(", r"\(").replace(")", r"\)")):
            pad_tracks([good, bad])
    assert issubclass(SampleShapeError, SampleDecodeError)
    json.dumps(str(SampleShapeError("x")))  # a plain message
