"""Ray as users run it: ``--workers N`` is a private local instance even with ``RAY_ADDRESS`` set
and a ``ray start --head`` cluster up; Ctrl-C at any moment exits 130 with one line, leaves no Ray
process behind and nothing a rerun takes as complete.

Real processes only: a real ``ray start --head`` on a free local port (its own temp dir, so other
Ray users of the machine are not affected; stopped by ending exactly the processes of its session)
and real ``dmcdata build`` subprocesses interrupted with SIGINT to their process group, as a
terminal's Ctrl-C does.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from dmcdata.cli import run
from tests.trees import medleydb_tree

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")


def session_processes(sid: int) -> list:
    """Live processes of the session ``sid`` (every process a subprocess started with
    ``start_new_session=True`` and its descendants, even reparented ones)."""
    out = []
    for p in psutil.process_iter(["pid", "name", "status"]):
        try:
            if os.getsid(p.pid) == sid and p.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def end_session(sid: int, deadline_s: float = 60.0) -> None:
    """Terminate, then kill, every process of the session and wait until they are gone: a killed
    process can sit in uninterruptible disk sleep for a moment, and a dying raylet may still
    start a worker, so repeat until none is left or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        procs = session_processes(sid)
        if not procs or time.monotonic() > deadline:
            return
        for p in procs:
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=5)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    h = tmp_path_factory.mktemp("mdb_ray")
    medleydb_tree(h, n_songs=4, n_stems=(2, 3), seconds=0.4)
    return h


def build_cmd(home, out):
    return [sys.executable, "-m", "dmcdata.cli", "build", "medleydb", "--data-home", str(home), "--out", str(out),
            "--segment-seconds", "0.1", "--shard-size", "1", "--workers", "2", "--no-progress"]


@contextlib.contextmanager
def ray_head(num_cpus: int, env: dict, tag: str):
    """A real `ray start --head` on a free port, in its own session and temp dir; yields its address
    and, on exit, ends exactly the processes of that session (checked)."""
    if not RAY.exists():
        pytest.fail(f"the ray command-line tool is not installed beside {sys.executable}")
    port = free_port()
    tmp = Path(f"/tmp/{tag}-{os.getpid()}-{port}")
    proc = subprocess.Popen([str(RAY), "start", "--head", f"--port={port}", f"--num-cpus={num_cpus}",
                             "--include-dashboard=false", f"--temp-dir={tmp}", "--disable-usage-stats"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            pytest.fail(f"ray start --head failed: {out.decode(errors='replace')[-2000:]}")
        yield f"127.0.0.1:{port}"
    finally:
        end_session(proc.pid)
        shutil.rmtree(tmp, ignore_errors=True)
    assert session_processes(proc.pid) == []


@pytest.fixture()
def head_cluster():
    with ray_head(1, dict(os.environ, RAY_USAGE_STATS_ENABLED="0"), "dmcray") as address:
        yield address


def test_workers_mean_a_private_instance_even_with_a_cluster_up(home, tmp_path, head_cluster):
    out = tmp_path / "out"
    env = dict(os.environ, RAY_ADDRESS=head_cluster, PYTHONPATH=str(ROOT))
    res = subprocess.run(build_cmd(home, out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "must not be provided" not in res.stderr
    assert len(pd.read_parquet(out / "manifest.parquet")) > 0


def test_a_bad_ray_address_is_one_line(home, tmp_path):
    # a subprocess: in this process the test session's Ray may already be initialised (and is reused)
    cmd = build_cmd(home, tmp_path / "o") + ["--ray-address", "not an address"]
    res = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert err.startswith("dmcdata build: error: cannot join the Ray cluster at --ray-address not an address")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def terminal_sigint():
    """In the child before exec: SIGINT as an interactive shell leaves it (default, unblocked),
    whatever this test process inherited or set."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def signal_state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "gone"
    return " ".join(line for line in status.splitlines() if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def wait_for(what, proc, deadline_s=120.0):
    t_end = time.monotonic() + deadline_s
    while time.monotonic() < t_end:
        if what():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def test_ctrl_c_at_any_moment(home, tmp_path, ray_local):
    """SIGINT (to the process group, like a terminal) just before Ray starts, while it starts, while
    it probes and while it writes shards; then a rerun completes to the uninterrupted result."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("RAY_ADDRESS", None)

    def ray_proc(name):
        return lambda: any(name in (p.info["name"] or "") for p in session_processes(proc.pid))

    moments = {
        "before Ray starts": lambda: (out / "build.json").exists(),
        "while Ray starts": ray_proc("raylet"),
        "while Ray works": ray_proc("ray::"),
        "while shards are written": lambda: any(out.glob("medleydb-*.tar")),
    }
    interrupted = []
    for moment, ready in moments.items():
        proc = subprocess.Popen(build_cmd(home, out), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=terminal_sigint)
        state = ""
        try:
            reached = wait_for(ready, proc)
            if proc.poll() is None:
                state = signal_state(proc.pid)
                os.killpg(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                end_session(proc.pid)
        leftover = [(p.pid, p.info["name"]) for p in session_processes(proc.pid)]
        end_session(proc.pid)
        assert leftover == [], f"{moment}: processes left behind: {leftover}"
        assert "Traceback" not in err and "Segmentation" not in err and "Fatal Python" not in err, err
        if proc.returncode == 0:
            assert not reached or moment == "while shards are written", f"{moment}: finished first? ({state})\n{err}"
            (out / "manifest.parquet").unlink()
            continue
        assert proc.returncode == 130, f"{moment}: exit {proc.returncode}\n{err}"
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert lines == ["dmcdata build: interrupted"], f"{moment}: {lines}"
        assert not (out / "manifest.parquet").exists(), moment
        interrupted.append(moment)
    assert len(interrupted) >= 3, interrupted
    # the rerun (in this process, on the test session's Ray) resumes to exactly an uninterrupted build
    argv = build_cmd(home, out)[3:]
    assert run(argv) == 0
    ref = tmp_path / "ref"
    argv_ref = build_cmd(home, ref)[3:]
    assert run(argv_ref) == 0
    for name in ("manifest.parquet", "shards.parquet", "rejects.parquet"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    assert sorted(p.name for p in out.glob("*.tar")) == sorted(p.name for p in ref.glob("*.tar"))
    for p in ref.glob("*.tar"):
        assert (out / p.name).read_bytes() == p.read_bytes()
