"""``dmcmodels train ... --ray-workers N``: the torchrun run, with its N ranks as Ray actors.

Nothing here trains. The launcher reserves N bundles of ``--ray-cpus-per-worker`` CPUs (and one
GPU each with ``--device cuda``) in one placement group, starts one actor per bundle, asks rank
0's actor for its node IP and a free port, then every actor sets the environment torchrun would
set (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``) and calls the very entry torchrun runs, ``dmcmodels.cli.main(argv)`` with
the command line as the user typed it. :mod:`dmcmodels.training.distributed` joins the process
group from that environment, exactly as under torchrun: same trainer, same run folder, same
checkpoints (with the same seed and thread count, bit for bit the same weights).

Output: each actor captures its Python-level stdout / stderr; the launcher prints rank 0's as it
comes (progress bar included) and, when another rank fails first, that rank's last error line.
The exit status is the training's: rank 0's when it failed, else the first failing rank's.
When one rank fails the others are killed at once (they would otherwise wait in a collective).

Without ``--ray-address`` a private local Ray instance with N x C CPUs is started for the command
and stopped afterwards (:func:`pipelines.ray_runtime.ray_session`, as ``dmcdata build`` does);
Ctrl-C kills the actors and leaves no process of it behind. On a multi-node cluster the ranks
run on other machines: ``--out`` and every data path must be reachable from them (a shared
filesystem mounted at the same path, or http(s) shard URLs), and dmc must be importable there.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time

RANK_MARKER = "DMCMODELS_RAY_RANK"  # set in every rank's environment: "this process is a rank, train"
TORCHRUN_VARS = ("TORCHELASTIC_RUN_ID", "WORLD_SIZE", "RANK", "LOCAL_RANK")
GRACE_S = 5.0  # after a first failure, how long the other ranks get to report theirs before being killed


class RayLaunchError(RuntimeError):
    """A launch that cannot start (flags, cluster resources); one line for the user."""


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "Ray cluster (the torchrun run, ranks as Ray actors)",
        "On a multi-node cluster --out and the data paths must be reachable from the worker nodes "
        "(a shared filesystem at the same path, or http(s) shard URLs); rank 0 writes the run folder.")
    g.add_argument("--ray-workers", type=int, default=None, metavar="N",
                   help="run N DDP ranks, each a Ray actor (the same training as torchrun --nproc_per_node N)")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --ray-workers: join this Ray cluster ('auto', 'HOST:PORT', 'ray://HOST:10001'); "
                        "default: a private local Ray instance started for this command")
    g.add_argument("--ray-cpus-per-worker", type=int, default=None, metavar="C",
                   help="with --ray-workers: CPUs each rank reserves, also its torch thread count unless "
                        "--threads (default 1); each rank reserves one GPU with --device cuda")


def wanted(args) -> bool:
    """True when this invocation should launch ranks on Ray (False inside a rank itself)."""
    return getattr(args, "ray_workers", None) is not None and RANK_MARKER not in os.environ


def check_flags(args) -> None:
    """Refuse incompatible combinations before anything starts (``ConfigError``: exit 2)."""
    from dmcmodels.training.config import ConfigError

    if RANK_MARKER in os.environ:
        return
    workers = getattr(args, "ray_workers", None)
    if workers is None:
        for flag in ("ray_address", "ray_cpus_per_worker"):
            if getattr(args, flag, None) is not None:
                raise ConfigError(f"--{flag.replace('_', '-')} needs --ray-workers N")
        return
    if workers < 1:
        raise ConfigError(f"--ray-workers must be at least 1, got {workers}")
    if args.ray_cpus_per_worker is not None and args.ray_cpus_per_worker < 1:
        raise ConfigError(f"--ray-cpus-per-worker must be at least 1, got {args.ray_cpus_per_worker}")
    present = [v for v in TORCHRUN_VARS if v in os.environ]
    if present:
        raise ConfigError(f"--ray-workers starts its own ranks, but this process already is one ({present[0]} is set: "
                          "torchrun or another launcher); use either torchrun or --ray-workers")
    device = getattr(args, "device", None)
    if device and device.startswith("cuda:"):
        raise ConfigError(f"--device {device} names one GPU; with --ray-workers use --device cuda "
                          "(Ray gives every rank a GPU of its own)")


def _device(args) -> str:
    """The run's --device: as given, else its config.json's (--resume, when readable here), else auto."""
    if getattr(args, "device", None):
        return args.device
    if args.resume:
        import json
        from pathlib import Path

        try:
            return json.loads((Path(args.out) / "config.json").read_text()).get("device", "auto")
        except (OSError, ValueError):
            pass
    return "auto"


class _Capture(io.TextIOBase):
    """sys.stdout / sys.stderr of a rank: text handed to ``sink(name, text)``."""

    def __init__(self, name: str, sink, original):
        self.name, self._sink, self._original = name, sink, original

    def write(self, s: str) -> int:
        self._sink(self.name, s)
        return len(s)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:  # C-level writes go to the real descriptor (Ray forwards those, prefixed)
        return self._original.fileno()

    @property
    def encoding(self):
        return "utf-8"


class Rank:
    """One DDP rank (a threaded actor: ``run`` trains while ``output`` is polled)."""

    TAIL = 4096  # characters of stderr kept for the last error line

    def __init__(self):
        self._out: list = []
        self._err_tail = ""
        self._lock = threading.Lock()

    def _write(self, name: str, text: str) -> None:
        with self._lock:
            self._out.append((name, text))
            if name == "stderr":
                self._err_tail = (self._err_tail + text)[-self.TAIL:]

    def node(self) -> dict:
        import ray

        ctx = ray.get_runtime_context()
        return {"ip": ray.util.get_node_ip_address(), "node": ctx.get_node_id(),
                "gpus": [str(g) for g in ctx.get_accelerator_ids().get("GPU", [])]}

    def free_port(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("", 0))
            return s.getsockname()[1]

    def output(self) -> list:
        """What the rank wrote since the last call: [(stdout | stderr, text)]."""
        with self._lock:
            out, self._out = self._out, []
        return out

    def run(self, argv: list, env: dict, cwd: str) -> tuple[int, str]:
        """Train as torchrun's rank would: (exit status, last non-empty stderr line)."""
        os.environ.update(env)
        if os.path.isdir(cwd):  # relative paths mean the launcher's folder (shared filesystems: the same path)
            os.chdir(cwd)
        saved = sys.stdout, sys.stderr
        sys.stdout = _Capture("stdout", self._write, saved[0])
        sys.stderr = _Capture("stderr", self._write, saved[1])
        try:
            from dmcmodels.cli import main

            rc = int(main(argv) or 0)
        except SystemExit as e:  # argparse
            rc = e.code if isinstance(e.code, int) else 2
        except BaseException as e:  # noqa: BLE001 - anything the command lets through: one line, not a traceback
            first = (str(e).strip().splitlines() or [""])[0]
            kind = argv[1] if len(argv) > 1 else ""
            print(f"dmcmodels train {kind}: rank {env['RANK']}: {type(e).__name__}: {first}", file=sys.stderr)
            rc = 1
        finally:
            sys.stdout, sys.stderr = saved
            try:
                from dmcmodels.training import distributed

                distributed.teardown()
            except Exception:  # noqa: BLE001 - a broken group after a failure: the actor is killed anyway
                pass
        with self._lock:
            text = self._err_tail.replace("\r", "\n")
        last = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
        return rc, last


def _forward(chunks: list) -> None:
    for name, text in chunks:
        stream = sys.stdout if name == "stdout" else sys.stderr
        stream.write(text)
    if chunks:
        sys.stdout.flush()
        sys.stderr.flush()


def _plan(ray, n: int, cpus: int, gpus: int, where: str):
    """A ready placement group of n bundles, packed on as few nodes as possible."""
    from ray.util.placement_group import placement_group

    have = ray.cluster_resources()
    for what, need in (("CPU", n * cpus), ("GPU", n * gpus)):
        if need and have.get(what, 0) < need:
            raise RayLaunchError(f"--ray-workers {n} needs {need:g} {what}s ({n} x {need // n:g}); {where} has "
                                 f"{have.get(what, 0):g}")
    bundle = {"CPU": cpus, **({"GPU": gpus} if gpus else {})}
    pg = placement_group([dict(bundle) for _ in range(n)], strategy="PACK")
    ready, _ = ray.wait([pg.ready()], timeout=30)
    if not ready:
        print(f"dmcmodels train: waiting for {n} x {bundle} free on {where} ...", file=sys.stderr, flush=True)
        ray.get(pg.ready())
    return pg


def _local_ranks(nodes: list[dict]) -> list[tuple[int, int, str | None]]:
    """(LOCAL_RANK, LOCAL_WORLD_SIZE, CUDA_VISIBLE_DEVICES or None) of each rank.

    Ranks of a node are numbered in the order of their GPU ids (rank order on CPU), and with GPUs
    each sees all of its node's reserved GPUs, so that ``cuda:LOCAL_RANK`` (what distributed.setup
    picks) is the GPU Ray gave it.
    """
    by_node: dict = {}
    for r, nd in enumerate(nodes):
        by_node.setdefault(nd["node"], []).append(r)
    out = [None] * len(nodes)
    for ranks in by_node.values():
        if all(nodes[r]["gpus"] for r in ranks):
            ranks = sorted(ranks, key=lambda r: (int(nodes[r]["gpus"][0]), r))
            visible = ",".join(nodes[r]["gpus"][0] for r in ranks)
        else:
            visible = None
        for i, r in enumerate(ranks):
            out[r] = (i, len(ranks), visible)
    return out


def _token_auth() -> None:
    """Joining a cluster: use Ray's token authentication when a token is at hand.

    ``ray start --head`` (Ray >= 2.5x) turns token authentication on whenever a token exists
    (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``), but a driver joining it
    does so only with ``RAY_AUTH_MODE=token``; without it every attempt fails with "Authentication
    token is missing". A token-mode driver also joins clusters without authentication, so set it
    when a token exists and RAY_AUTH_MODE says nothing.
    """
    if os.environ.get("RAY_AUTH_MODE") is not None:
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"


def launch(args) -> int:
    """Run the command's training as ``args.ray_workers`` Ray actors; the training's exit status."""
    from pipelines.ray_runtime import RayStartError, ray_session

    prog = f"dmcmodels train {args.kind}"
    argv = list(getattr(args, "argv", None) or [])
    if not argv:
        raise RayLaunchError("--ray-workers needs the command line (call through dmcmodels.cli.main)")
    n, cpus = args.ray_workers, args.ray_cpus_per_worker or 1
    device = _device(args)
    where = f"the Ray cluster at {args.ray_address}" if args.ray_address else "the local Ray instance"
    if args.ray_address:
        _token_auth()
    try:
        with ray_session(n * cpus, args.ray_address) as ray:
            if device == "auto":  # cuda when every rank can have a GPU, as torch's auto on one machine
                device = "cuda" if ray.cluster_resources().get("GPU", 0) >= n else "cpu"
            gpus = 1 if device.startswith("cuda") else 0
            return _run(ray, args, argv, n, cpus, gpus, where, prog)
    except (RayStartError, RayLaunchError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2


def _run(ray, args, argv, n, cpus, gpus, where, prog) -> int:
    from ray.util.placement_group import remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    pg = _plan(ray, n, cpus, gpus, where)
    actors = []
    try:
        cls = ray.remote(Rank)
        for r in range(n):
            strategy = PlacementGroupSchedulingStrategy(placement_group=pg, placement_group_bundle_index=r)
            actors.append(cls.options(num_cpus=cpus, num_gpus=gpus, max_concurrency=2, max_restarts=0,
                                      scheduling_strategy=strategy, name=None).remote())
        nodes = ray.get([a.node.remote() for a in actors])
        port = ray.get(actors[0].free_port.remote())
        common = {"MASTER_ADDR": nodes[0]["ip"], "MASTER_PORT": str(port), "WORLD_SIZE": str(n),
                  "OMP_NUM_THREADS": str(cpus), "PYTHONUNBUFFERED": "1"}
        runs = {}
        for r, (a, (local, local_n, visible)) in enumerate(zip(actors, _local_ranks(nodes))):
            env = {**common, "RANK": str(r), "LOCAL_RANK": str(local), "LOCAL_WORLD_SIZE": str(local_n),
                   RANK_MARKER: str(r), "CUDA_VISIBLE_DEVICES": visible if gpus else ""}
            runs[a.run.remote(argv, env, os.getcwd())] = r
        return _wait(ray, actors, runs, prog)
    finally:
        for a in actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        try:
            remove_placement_group(pg)
        except Exception:  # noqa: BLE001
            pass


def _result(ray, ref, r: int, prog: str) -> tuple[int, str]:
    try:
        return ray.get(ref)
    except Exception as e:  # noqa: BLE001 - the actor died (killed, out of memory, node lost)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return 1, f"{prog}: rank {r}: error: its Ray worker died: {first}"


def _drain(ray, actor, poll, timeout: float):
    """Print what rank 0 wrote if its last fetch is ready; the next fetch (None once it failed)."""
    ready, _ = ray.wait([poll], timeout=timeout)
    if not ready:
        return poll
    try:
        _forward(ray.get(poll))
    except Exception:  # noqa: BLE001 - rank 0's actor died: its result says so
        return None
    return actor.output.remote()


def _wait(ray, actors, runs: dict, prog: str) -> int:
    """Print rank 0's output until every rank is done, or GRACE_S after the first failure; the exit status."""
    pending, results, first_bad, deadline = list(runs), {}, None, None
    poll = actors[0].output.remote()
    while pending and (deadline is None or time.monotonic() < deadline):
        done, pending = ray.wait(pending, num_returns=len(pending), timeout=0.2)
        for ref in done:
            r = runs[ref]
            results[r] = _result(ray, ref, r, prog)
            if results[r][0] != 0 and first_bad is None:
                first_bad, deadline = r, time.monotonic() + GRACE_S
        if poll is not None:
            poll = _drain(ray, actors[0], poll, 0)
    for _ in range(2):  # what rank 0 wrote last (all of it once its run returned)
        if poll is not None:
            poll = _drain(ray, actors[0], poll, 5.0)
    if first_bad is None:
        return 0
    rc0, last0 = results.get(0, (None, ""))
    rc, last = results[first_bad]
    if rc0 is not None and rc0 != 0 and (first_bad == 0 or last0 == last):
        return rc0  # rank 0's own message is already printed
    if not last.startswith(f"{prog}: rank "):
        last = f"{prog}: rank {first_bad}: " + (last[len(prog) + 2:] if last.startswith(f"{prog}: ") else
                                               last or f"exit status {rc}")
    print(last, file=sys.stderr)
    return rc or 1
