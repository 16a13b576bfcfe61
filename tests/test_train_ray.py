"""`dmcmodels train ... --ray-workers N`: torchrun's DDP run with its ranks as Ray actors.

Real Ray only: a private local instance started by the command, and a real ``ray start --head``
cluster (its own session and temp dir, as tests/test_faults_ray.py does). The reference is the
same run under ``torchrun --standalone --nproc_per_node 2``: the Ray run must give the same
weights bit for bit (gloo, 1 thread per rank on both sides, the same seed and shards per rank).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dist_worker import write_multitrack_shards
from dmcmodels.cli import main as cli
from tests.test_faults_ray import end_session, ray_head, session_processes

ROOT = Path(__file__).resolve().parents[1]
TINY = json.dumps({"n_blocks": 3, "kernel_size": 3, "channels": 4, "film_hidden": [8], "film_embed": 8})
COMMON = ["--sample-rate", "8000", "--model-args", TINY, "--patch-seconds", "0.2", "--batch-size", "2",
          "--val-examples", "4", "--workers", "0", "--no-progress", "--val-every", "2", "--log-every", "1",
          "--device", "cpu"]
TRAIN = [sys.executable, "-m", "dmcmodels.cli", "train", "effect"]
SAME = ["step", "epoch", "lr", "train_loss", "val_loss", "best_val_loss", "skipped_batches"]  # not the timings


def env(**extra) -> dict:
    e = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
         "RAY_USAGE_STATS_ENABLED": "0", **extra}
    for k in ("RAY_ADDRESS", "WORLD_SIZE", "RANK", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        e.pop(k, None)
    return e


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("raydata")
    write_multitrack_shards(root / "train", n_shards=2, per_shard=3, frames=8000, seed=1, track_counts=(2, 3))
    write_multitrack_shards(root / "val", n_shards=1, per_shard=2, frames=8000, seed=2, track_counts=(2,))
    return root


def args(data, out, steps: int) -> list[str]:
    return ["--train", str(data / "train"), "--val", str(data / "val"), "--out", str(out),
            "--max-steps", str(steps)] + COMMON


@pytest.fixture(scope="module")
def torchrun_run(data, tmp_path_factory):
    """The reference: 4 steps under torchrun --standalone --nproc_per_node 2."""
    out = tmp_path_factory.mktemp("torchrun") / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dmcmodels.cli", "train", "effect"] + args(data, out, 4)
    r = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def head_cluster():
    """A real `ray start --head` (2 CPUs) on a free port, in its own session and temp dir."""
    with ray_head(2, env(), "dmcray-train") as address:
        yield address


def checkpoint(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=False)


def assert_same_run(ray_run: Path, ref_run: Path) -> None:
    a, b = checkpoint(ray_run), checkpoint(ref_run)
    assert a["step"] == b["step"]
    assert len(a["replicas"]) == 2 and a["replicas"][0] == a["replicas"][1]  # the ranks stayed identical
    assert a["loader"] == b["loader"] and a["loader"]["world_size"] == 2
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k  # bit for bit
    assert a["replicas"] == b["replicas"]
    rows = [[{k: r[k] for k in SAME} for r in csv.DictReader(open(run / "metrics.csv"))] for run in (ray_run, ref_run)]
    assert rows[0] == rows[1] and len(rows[0]) == a["step"]
    cfg = [json.loads((run / "config.json").read_text()) for run in (ray_run, ref_run)]
    for c in cfg:
        c.pop("max_steps")  # a budget --resume may change (config.json keeps the first one)
    assert cfg[0] == cfg[1]


@pytest.fixture(scope="module")
def ray_run(data, tmp_path_factory):
    """2 steps with --ray-workers 2 on a private instance: (run folder, exit status, stdout, stderr, leftovers).

    A relative --out (the ranks work in the launcher's folder) and RAY_ADDRESS pointing nowhere
    (a private instance whatever RAY_ADDRESS says)."""
    cwd = tmp_path_factory.mktemp("rayrun")
    cmd = TRAIN + args(data, "run", 2) + ["--ray-workers", "2"]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env(RAY_ADDRESS="127.0.0.1:1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        leftover = [(p.pid, p.info["name"]) for p in session_processes(proc.pid)]
        end_session(proc.pid)
    return cwd / "run", proc.returncode, out, err, leftover


def test_private_instance_run(ray_run):
    run, rc, out, err, leftover = ray_run
    assert rc == 0, err[-3000:]
    assert leftover == []  # the private Ray instance is gone with the command
    assert "Traceback" not in err
    assert out.count("dmcmodels train effect: 2 steps (reached --max-steps 2)") == 1  # rank 0's summary, once
    assert {p.name for p in run.iterdir()} >= {"config.json", "metrics.csv", "checkpoints"}
    assert (run / "checkpoints" / "best.pt").is_file()
    state = checkpoint(run)
    assert state["step"] == 2 and len(state["replicas"]) == 2 and state["replicas"][0] == state["replicas"][1]
    assert state["loader"]["world_size"] == 2 and set(state["loader"]["consumed"]) == {"0", "1"}


def test_resumed_on_a_cluster_equals_torchrun_bit_for_bit(ray_run, tmp_path, torchrun_run, head_cluster):
    """The Ray run's 2 steps, resumed with --ray-address on a `ray start` cluster to 4 steps,
    equal torchrun's 4 uninterrupted steps bit for bit."""
    run = tmp_path / "run"
    shutil.copytree(ray_run[0], run)
    r = subprocess.run(TRAIN + ["--out", str(run), "--resume", "--max-steps", "4", "--no-progress", "--ray-workers",
                                "2", "--ray-address", head_cluster], env=env(), capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("dmcmodels train effect: 4 steps") == 1
    assert_same_run(run, torchrun_run)


def test_a_worker_error_is_one_line(data, tmp_path, head_cluster):
    missing = tmp_path / "no-such-shards"
    cmd = TRAIN + ["--train", str(missing), "--val", str(data / "val"), "--out", str(tmp_path / "r")] + COMMON + [
        "--ray-workers", "2", "--ray-address", head_cluster]
    r = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("dmcmodels train effect: error:"), r.stderr
    assert str(missing) in lines[0] and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_incompatible_flags_are_refused_before_ray_starts(data, tmp_path, capsys, monkeypatch):
    base = ["train", "effect", "--train", str(data / "train"), "--out", str(tmp_path / "r")]
    for extra, msg in (
        (["--ray-workers", "0"], "--ray-workers must be at least 1, got 0"),
        (["--ray-workers", "2", "--ray-cpus-per-worker", "0"], "--ray-cpus-per-worker must be at least 1"),
        (["--ray-address", "auto"], "--ray-address needs --ray-workers N"),
        (["--ray-cpus-per-worker", "2"], "--ray-cpus-per-worker needs --ray-workers N"),
        (["--ray-workers", "2", "--device", "cuda:1"], "--device cuda:1 names one GPU"),
    ):
        assert cli(base + extra) == 2, extra
        assert msg in capsys.readouterr().err, extra
    monkeypatch.setenv("WORLD_SIZE", "2")  # as under torchrun
    assert cli(base + ["--ray-workers", "2"]) == 2
    assert "WORLD_SIZE is set" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
