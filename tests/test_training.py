"""Effect trainers end to end on real shards: target derivation, crop alignment, block processing,
exact resume, DDP with 2 CPU ranks, non-finite handling, `train` → `eval` → `process`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from dist_worker import write_multitrack_shards, write_paired_shard
from dmcdata import effects
from dmcdata.shards import ShardWriter
from dmcmodels import tasks
from dmcmodels.cli import main as cli
from dmcmodels.models import build_model
from dmcmodels.models.tcn import TCN, center_crop
from dmcmodels.process import block_geometry, process_mono

TINY = json.dumps({"n_blocks": 3, "kernel_size": 3, "channels": 4, "film_hidden": [8], "film_embed": 8})
COMMON = ["--sample-rate", "8000", "--model-args", TINY, "--patch-seconds", "0.2", "--batch-size", "2", "--val-examples", "4",
          "--workers", "0", "--no-progress", "--val-every", "2", "--log-every", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fxdata")
    write_multitrack_shards(root / "train", n_shards=2, per_shard=3, frames=8000, seed=1, track_counts=(2, 3))
    write_multitrack_shards(root / "val", n_shards=1, per_shard=2, frames=8000, seed=2, track_counts=(2,))
    for split, n, seed in (("train", 6, 3), ("val", 3, 4), ("test", 3, 5)):
        (root / "la2a" / split).mkdir(parents=True)
        write_paired_shard(root / "la2a" / split / f"signaltrain-{split}-000000.tar", n=n, frames=6000, seed=seed)
    return root


def weights(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=False)


# -- what the network learns ------------------------------------------------------------------

@pytest.mark.parametrize("pan_law", ["linear", "constant_power"])
def test_channel_target_is_the_consoles_processor_block(pan_law):
    """(L + R)/(a_L + a_R) of a synth example equals the console's own pre-pan output."""
    cfg = effects.EffectConfig(patch_seconds=0.1, pan_law=pan_law)
    rng = np.random.default_rng(0)
    for i in range(4):
        dry = (0.3 * rng.standard_normal(cfg.patch_len)).astype(np.float32)
        ex = effects.example_from_seed(dry, 100 + i, cfg)
        cond = torch.from_numpy(ex["params"])[None]
        mono = tasks.channel_target(torch.from_numpy(ex["target"])[None], cond, pan_law)[0, 0].numpy()
        ref = effects.channel_strip(cfg, ex["order"]).process_mono(ex["input"], ex["named"])
        peak = max(np.abs(ref).max(), 1e-6)
        assert np.abs(mono - ref).max() <= 1e-5 * peak
        # the network input carries gain and polarity exactly
        x_in = tasks.channel_input(torch.from_numpy(ex["input"])[None, None], cond)[0, 0].numpy()
        g = 10 ** (ex["named"]["gain_db"] / 20) * (-1 if ex["named"]["polarity"] else 1)
        np.testing.assert_allclose(x_in, ex["input"] * g, rtol=1e-5, atol=1e-7)
        # and channel_output puts the pan back: the console's stereo target
        back = tasks.channel_output(torch.from_numpy(ref)[None, None], cond, pan_law)[0].numpy()
        assert np.abs(back - ex["target"]).max() <= 1e-5 * peak


def test_valid_crop_aligns_output_with_the_centre_of_its_window():
    """Output sample j depends on input samples j .. j + rf − 1 exactly, whose centre is where
    center_crop puts target sample j (sample-exact, even and odd surpluses)."""
    torch.manual_seed(0)
    for n_blocks, k in ((3, 3), (2, 4)):
        m = TCN(n_blocks=n_blocks, kernel_size=k, channels=3, film_hidden=(4,), film_embed=4).eval()
        rf, n = m.receptive_field, 64
        x = torch.randn(1, 1, n, requires_grad=True)
        out = m(x, torch.zeros(1, 25))
        j = 5
        out[0, 0, j].backward()
        nz = torch.nonzero(x.grad[0, 0]).flatten()
        assert nz.min().item() == j and nz.max().item() == j + rf - 1
        target = torch.arange(n, dtype=torch.float32)[None, None]
        aligned = int(center_crop(target, out.shape[-1])[0, 0, j])
        assert aligned == j + (rf - 1) - (rf - 1) // 2  # the window's centre (upper middle when rf is even)
        assert abs(aligned - (j + (rf - 1) / 2)) <= 0.5


def _tiny(kind: str):
    torch.manual_seed(1)
    if kind == "tcn":
        return TCN(n_blocks=4, kernel_size=5, channels=4, film_hidden=(8,), film_embed=8).eval()
    if kind == "gain":  # the gain computer (wet=False) with a dry EQ, randomised: the gain moves in time
        m = TCN(n_blocks=4, kernel_size=5, channels=4, film_hidden=(8,), film_embed=8, input_skip=True,
                dry_envelope=True, level_db=True, wet=False, envelope_window=31, dry_eq=(8, 63)).eval()
        with torch.no_grad():
            m.envelope.weight.normal_()
            m.eq_gain.bias.normal_(0.0, 6.0)
        return m
    return build_model("wave-u-net", 25, depth=3, channels=4, film_hidden=(8,), film_embed=8).eval()


@pytest.mark.parametrize("kind,total", [("tcn", 1), ("tcn", 777), ("tcn", 5000), ("gain", 5000), ("wun", 3000),
                                        ("wun", 9001)])
def test_block_processing_equals_one_shot(kind, total):
    """Blocks of ~300 samples equal one pass over the whole zero-padded signal (float tolerance)."""
    m = _tiny(kind)
    x = np.random.default_rng(2).standard_normal(total).astype(np.float32)
    cond = np.random.default_rng(3).uniform(-1, 1, 25).astype(np.float32)
    blocks = process_mono(m, x, cond, block=300)
    n, hop, left = block_geometry(m, total)  # one window covering everything
    padded = np.zeros(n, np.float32)
    padded[left:left + total] = x
    with torch.no_grad():
        one = m(torch.from_numpy(padded)[None, None], torch.from_numpy(cond)[None])[0, 0].numpy()[:total]
    assert blocks.shape == (total,) and hop >= total
    np.testing.assert_allclose(blocks, one, rtol=0, atol=1e-5 * max(1.0, np.abs(one).max()))


# -- the trainer ---------------------------------------------------------------------------------

def test_resume_continues_bit_exactly(data, tmp_path):
    base = ["train", "effect", "--train", str(data / "train"), "--val", str(data / "val")] + COMMON
    assert cli(base + ["--out", str(tmp_path / "full"), "--max-steps", "6"]) == 0
    assert cli(base + ["--out", str(tmp_path / "part"), "--max-steps", "3"]) == 0
    assert cli(["train", "effect", "--out", str(tmp_path / "part"), "--resume", "--max-steps", "6", "--no-progress"]) == 0
    a, b = weights(tmp_path / "full"), weights(tmp_path / "part")
    assert a["step"] == b["step"] == 6
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    # the run folder: config rebuilds the model; metrics rows; best checkpoint
    cfg = json.loads((tmp_path / "full" / "config.json").read_text())
    assert cfg["cond_dim"] == 25 and cfg["model"] == "tcn-10"
    rows = list(csv.DictReader(open(tmp_path / "full" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(float(r["val_loss"]) > 0 for r in rows if int(r["step"]) % 2 == 0)
    assert (tmp_path / "full" / "checkpoints" / "best.pt").is_file()


def test_cli_refuses_what_would_lose_or_mix_runs(data, tmp_path, capsys):
    base = ["train", "effect", "--train", str(data / "train"), "--val", str(data / "val")] + COMMON
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert cli(base + ["--out", str(tmp_path / "mine"), "--max-steps", "1"]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert cli(base + ["--out", str(tmp_path / "r"), "--max-steps", "2"]) == 0
    assert cli(base + ["--out", str(tmp_path / "r"), "--max-steps", "4"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli(["train", "effect", "--out", str(tmp_path / "r"), "--resume", "--lr", "0.1"]) == 2
    assert "lr" in capsys.readouterr().err
    assert cli(["train", "la2a", "--train", str(data / "train"), "--val", str(data / "val"), "--out",
                str(tmp_path / "x")] + COMMON) == 2
    assert "SignalTrain" in capsys.readouterr().err
    assert cli(base + ["--out", str(tmp_path / "y"), "--model", "tcn-99"]) == 2


def _nan_synth_shard(path: Path, n: int, bad: set[int], frames: int = 400):
    rng = np.random.default_rng(0)
    with ShardWriter(path) as w:
        for i in range(n):
            x = (0.1 * rng.standard_normal(frames)).astype(np.float32)
            if i in bad:
                x[100] = np.nan
            y = np.stack([x * 0.5, x * 0.5]).astype(np.float32)
            p = np.zeros(25, np.float32)
            members = {}
            for name, a in (("input", x), ("target", y), ("params", p)):
                buf = io.BytesIO()
                np.save(buf, a)
                members[f"{name}.npy"] = buf.getvalue()
            members["json"] = json.dumps({"seed": i, "pan_law": "linear"}).encode()
            w.write(f"synth-000000-{i:06d}", members)


def test_non_finite_batches_are_skipped_then_stop_the_run(data, tmp_path, capsys):
    _nan_synth_shard(tmp_path / "one" / "synth-000000.tar", 8, bad={2, 3})  # batch 1 of 4 (size 2)
    args = ["train", "effect", "--val", str(data / "val"), "--sample-rate", "8000", "--model-args", TINY, "--patch-seconds", "0.05",
            "--batch-size", "2", "--val-examples", "2", "--workers", "0", "--no-progress", "--val-every", "2",
            "--log-every", "1"]
    assert cli(args + ["--train", str(tmp_path / "one"), "--out", str(tmp_path / "r1"), "--max-steps", "3"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "r1" / "metrics.csv")))
    assert rows[-1]["skipped_batches"] == "1" and rows[-1]["step"] == "3"
    assert all(np.isfinite(float(r["train_loss"])) for r in rows)
    _nan_synth_shard(tmp_path / "all" / "synth-000000.tar", 8, bad=set(range(8)))
    assert cli(args + ["--train", str(tmp_path / "all"), "--out", str(tmp_path / "r2"), "--max-steps", "3",
                       "--max-bad-steps", "3"]) == 1
    err = capsys.readouterr().err
    assert "non-finite" in err and "no checkpoint was written yet" in err


def test_two_ranks_stay_identical_and_read_disjoint_shards(data, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29561",
           "-m", "dmcmodels.cli", "train", "effect", "--train", str(data / "train"), "--val", str(data / "val"),
           "--out", str(tmp_path / "ddp"), "--max-steps", "2", "--device", "cpu"] + COMMON
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    state = weights(tmp_path / "ddp")
    assert len(state["replicas"]) == 2 and state["replicas"][0] == state["replicas"][1]
    assert state["loader"]["world_size"] == 2 and set(state["loader"]["consumed"]) == {"0", "1"}
    assert r.stdout.count("dmcmodels train effect:") == 1  # only rank 0 reports


# -- train → eval → process --------------------------------------------------------------------

def test_train_eval_process_end_to_end(data, tmp_path, capsys):
    run, ev = tmp_path / "run", tmp_path / "eval"
    assert cli(["train", "effect", "--train", str(data / "train"), "--val", str(data / "val"), "--out", str(run),
                "--max-steps", "2"] + COMMON) == 0
    assert cli(["eval", "effect", "--checkpoint", str(run), "--data", str(data / "val"), "--out", str(ev),
                "--select", "n_tracks >= 1", "--examples", "3", "--audio-examples", "2"]) == 0
    table = (ev / "table.md").read_text()
    for task in ("eq", "compressor", "reverb", "combined"):
        assert f"| {task} | 3 |" in table
    assert "identity" in table and "thesis tcn-10" in table
    rows = list(csv.DictReader(open(ev / "table.csv")))
    assert len(rows) == 8 and all(np.isfinite(float(r["mae_mean"])) for r in rows)
    ex = sorted((ev / "examples").iterdir())
    assert len(ex) == 2
    for d in ex:
        assert (d / "spectrogram.png").read_bytes()[:4] == b"\x89PNG"
        t, sr = sf.read(d / "target.wav")
        p, _ = sf.read(d / "prediction.wav")
        assert t.shape == p.shape and sr == 8000
    # process a stereo file with named parameters
    wav = tmp_path / "in.wav"
    sf.write(wav, np.random.default_rng(0).standard_normal((3000, 2)).astype(np.float32) * 0.1, 8000, subtype="FLOAT")
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"params": {"gain_db": -6.0, "pan": 0.25}, "pan_law": "linear"}))
    assert cli(["process", str(wav), "--checkpoint", str(run), "--params", str(params), "--out",
                str(tmp_path / "out.wav"), "--no-progress", "--block-seconds", "0.01"]) == 0
    y, sr = sf.read(tmp_path / "out.wav")
    assert y.shape == (3000, 2) and sr == 8000
    np.testing.assert_allclose(y[:, 0], 3 * y[:, 1], rtol=1e-5, atol=1e-7)  # pan 0.25, linear: L = 0.75 y = 3 R
    params.write_text(json.dumps({"params": {"compressor.ratio": 99}}))
    assert cli(["process", str(wav), "--checkpoint", str(run), "--params", str(params), "--out",
                str(tmp_path / "bad.wav")]) == 2
    assert "compressor.ratio" in capsys.readouterr().err and not (tmp_path / "bad.wav").exists()


def test_la2a_train_and_eval(data, tmp_path):
    run, ev = tmp_path / "la2a", tmp_path / "ev"
    la = data / "la2a"
    assert cli(["train", "la2a", "--train", str(la / "train"), "--val", str(la / "val"), "--out", str(run),
                "--max-steps", "2", "--mixup-alpha", "0.2"] + COMMON) == 0
    assert json.loads((run / "config.json").read_text())["cond_dim"] == 2
    assert cli(["eval", "la2a", "--checkpoint", str(run), "--data", str(la / "test"), "--out", str(ev)]) == 0
    rows = list(csv.DictReader(open(ev / "table.csv")))
    assert [r["task"] for r in rows] == ["la2a", "la2a"] and int(rows[0]["n"]) >= 3
    assert cli(["eval", "effect", "--checkpoint", str(run), "--data", str(la / "test"), "--out", str(ev / "x")]) == 2
