"""Starting and joining Ray for the pipelines.

``--workers N`` always means a *private* local Ray instance with N CPUs, whatever the
environment: ``RAY_ADDRESS`` (which Ray clusters and Ray jobs export) and a ``ray start`` cluster
running on the machine are ignored. Joining a cluster happens only with ``--ray-address``
(e.g. ``ray://head:10001``, ``host:6379`` or ``auto``).

Ctrl-C is safe at any moment: while Ray starts or stops, SIGINT is held back until it is done
(a half-started instance would leave its processes behind), then the session is shut down,
every process it started that is still alive is ended, and ``KeyboardInterrupt`` goes on to the
command (``dmcdata`` prints one line and exits 130).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
import time


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("parallelism (Ray)")
    g.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="number of parallel workers: the CPUs of a private local Ray instance, started for this "
                        "command whatever RAY_ADDRESS says (with --ray-address: tasks in flight on the cluster)")
    g.add_argument("--ray-address", default=None,
                   help="join this existing Ray cluster instead (e.g. 'auto', 'host:6379' or 'ray://host:10001'); "
                        "default: a private local instance")


class RayStartError(RuntimeError):
    """Ray could not be started locally or the cluster of ``--ray-address`` could not be joined."""


@contextlib.contextmanager
def sigint_held():
    """Hold SIGINT back inside the block (main thread only); yields a list that is non-empty if
    one arrived. The caller decides what to do with it after the block."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield got
    finally:
        signal.signal(signal.SIGINT, previous)


def _descendants() -> list:
    try:
        import psutil

        return psutil.Process().children(recursive=True)
    except Exception:  # noqa: BLE001 - psutil missing or /proc unreadable: nothing to track
        return []


def _end_processes(procs, grace_s: float = 3.0) -> None:
    """Wait up to ``grace_s`` for processes this session started to exit, then terminate/kill them."""
    if not procs:
        return
    import psutil

    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for sig in ("terminate", "kill"):
        if not alive:
            return
        for p in alive:
            with contextlib.suppress(psutil.Error):
                getattr(p, sig)()
        _, alive = psutil.wait_procs(alive, timeout=2.0)


def _start(ray, workers: int, address: str | None) -> None:
    kwargs = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=True)
    if address:
        ray.init(address=address, **kwargs)
        return
    saved = os.environ.pop("RAY_ADDRESS", None)  # read by ray.init and by the processes it starts
    try:
        ray.init(address="local", num_cpus=workers, **kwargs)
    finally:
        if saved is not None:
            os.environ["RAY_ADDRESS"] = saved


def _stop(ray, before: set) -> None:
    procs = [p for p in _descendants() if p.pid not in before]
    with contextlib.suppress(Exception):  # a half-started instance may fail to shut down cleanly
        ray.shutdown()
    _end_processes(procs)


@contextlib.contextmanager
def ray_session(workers: int, address: str | None = None):
    """Yield with Ray initialised; shut it down afterwards only if we started it.

    Reuses an instance already initialised in this process (tests do that). Otherwise starts a
    private local one (``address`` None) or joins ``address``.
    """
    with sigint_held() as interrupted:  # some module imported by ray swallows a KeyboardInterrupt
        import ray
    if interrupted:
        raise KeyboardInterrupt
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if ray.is_initialized():
        yield ray
        return
    before = {p.pid for p in _descendants()}
    with sigint_held() as interrupted:
        try:
            _start(ray, workers, address)
        except KeyboardInterrupt:
            _stop(ray, before)
            raise
        except Exception as e:  # noqa: BLE001 - Ray raises many types; one line for the user
            _stop(ray, before)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            what = f"cannot join the Ray cluster at --ray-address {address}" if address else \
                f"cannot start a local Ray instance with {workers} CPUs"
            raise RayStartError(f"{what}: {first}") from e
        if interrupted:
            _stop(ray, before)
    if interrupted:
        raise KeyboardInterrupt
    try:
        yield ray
    finally:
        t0 = time.perf_counter()
        with sigint_held():
            _stop(ray, before)
        logging.getLogger(__name__).debug("ray stopped in %.2f s", time.perf_counter() - t0)
