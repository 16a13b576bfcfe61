"""`dmcmodels train mix` on real multitrack shards: every mixer trains in the one trainer, resume is
exact, DMC-full's neural channel stays frozen, and bad options are refused clearly."""

from __future__ import annotations

import json

import pytest
import torch

from dist_worker import write_multitrack_shards
from dmcmodels.cli import main as cli

TINY_DMC = json.dumps({"encoder_filters": 8, "hidden": 32})
COMMON = ["--patch-seconds", "0.5", "--batch-size", "2", "--val-examples", "2", "--workers", "0", "--no-progress",
          "--val-every", "2", "--log-every", "1", "--encoder-weights", "none"]
TINY_TCN = json.dumps({"n_blocks": 3, "kernel_size": 3, "channels": 4, "film_hidden": [8], "film_embed": 8})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixdata")
    write_multitrack_shards(root / "train", n_shards=2, per_shard=3, frames=8000, seed=1, track_counts=(2, 3))
    write_multitrack_shards(root / "val", n_shards=1, per_shard=2, frames=8000, seed=2, track_counts=(3,))
    return root


def last(run) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=False)


def train(data, out, *extra) -> int:
    return cli(["train", "mix", "--train", str(data / "train"), "--val", str(data / "val"), "--out", str(out)]
               + COMMON + list(extra))


def test_dmc_basic_resumes_bit_exactly(data, tmp_path):
    args = ["--model-args", TINY_DMC]
    assert train(data, tmp_path / "full", *args, "--max-steps", "4") == 0
    assert train(data, tmp_path / "part", *args, "--max-steps", "2") == 0
    assert cli(["train", "mix", "--out", str(tmp_path / "part"), "--resume", "--max-steps", "4", "--no-progress"]) == 0
    a, b = last(tmp_path / "full"), last(tmp_path / "part")
    assert a["step"] == b["step"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    cfg = json.loads((tmp_path / "full" / "config.json").read_text())
    assert cfg["model"] == "dmc-basic" and cfg["loss"] == "stereo-mrstft" and cfg["sample_rate"] == 8000


def test_training_moves_the_controller(data, tmp_path):
    assert train(data, tmp_path / "r", "--model-args", TINY_DMC, "--max-steps", "2") == 0
    state = last(tmp_path / "r")
    from dmcmodels.training.checkpoint import load_model

    fresh = load_model(tmp_path / "r")[0]  # rebuilt from config.json alone
    torch.manual_seed(0)
    from dmcmodels.models import build_mixer

    init = build_mixer("dmc-basic", sample_rate=8000, encoder_filters=8, hidden=32)
    w = "post.net.0.weight"
    assert torch.equal(fresh.state_dict()[w], state["model"][w])
    assert not torch.equal(init.state_dict()[w], state["model"][w])


def test_dmc_full_through_a_frozen_trained_channel(data, tmp_path):
    fx = tmp_path / "fx"
    assert cli(["train", "effect", "--train", str(data / "train"), "--val", str(data / "val"), "--out", str(fx),
                "--sample-rate", "8000", "--model-args", TINY_TCN, "--patch-seconds", "0.2", "--batch-size", "2",
                "--val-examples", "2", "--workers", "0", "--no-progress", "--val-every", "1", "--max-steps", "1"]) == 0
    run = tmp_path / "full-tcn"
    assert train(data, run, "--model", "dmc-full", "--channel", "tcn", "--channel-checkpoint", str(fx),
                 "--model-args", TINY_DMC, "--max-steps", "2") == 0
    tcn = torch.load(fx / "checkpoints" / "last.pt", weights_only=False)["model"]
    dmc = last(run)["model"]
    for k, v in tcn.items():  # the channel network in the DMC checkpoint = the effect run's, untouched
        assert torch.equal(dmc[f"channel.model.{k}"], v), k
    assert not torch.equal(dmc["post.net.0.weight"], torch.zeros_like(dmc["post.net.0.weight"]))
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model_args"]["channel_model"]["model"] == "tcn-10"


@pytest.mark.parametrize("model,args", [("dmc-full", ["--channel", "dsp", "--model-args", TINY_DMC]),
                                        ("mix-wave-u-net", ["--model-args", json.dumps({"inputs": 4, "depth": 2,
                                                                                        "channels": 4})])])
def test_other_mixers_train(data, tmp_path, model, args):
    run = tmp_path / model
    assert train(data, run, "--model", model, "--max-steps", "2", "--accumulate", "2", *args) == 0
    state = last(run)
    assert state["step"] == 2 and state["config"]["accumulate"] == 2


def test_bad_mix_options_are_refused(data, tmp_path, capsys):
    cases = [
        (["--model", "dmc-basic", "--channel", "dsp"], "--channel / --channel-checkpoint are for --model dmc-full"),
        (["--model", "dmc-full", "--channel", "tcn"], "--channel tcn needs --channel-checkpoint"),
        (["--model", "tcn-10"], "unknown --model 'tcn-10' for `train mix`"),
        (["--target", "wet"], "--target must be one of mix, dry_mix"),
        (["--encoder-weights", "audioset"], "--encoder-weights must be one of"),
    ]
    for i, (extra, msg) in enumerate(cases):
        assert train(data, tmp_path / f"bad{i}", *extra, "--max-steps", "1") == 2
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err, err
        assert not (tmp_path / f"bad{i}").exists()
