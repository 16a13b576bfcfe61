"""Starting and joining Ray for the pipelines.

A local run needs no set-up: ``--workers N`` starts a private local Ray instance with N CPUs.
``--ray-address`` joins an existing cluster instead (e.g. ``ray://head:10001`` or ``auto``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("parallelism (Ray)")
    g.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="number of parallel workers (CPUs of a local Ray instance; tasks in flight on a cluster)")
    g.add_argument("--ray-address", default=None,
                   help="address of an existing Ray cluster (e.g. 'auto' or 'ray://host:10001'); "
                        "default: start a private local instance")


@contextlib.contextmanager
def ray_session(workers: int, address: str | None = None):
    """Yield with Ray initialised; shut it down afterwards only if we started it."""
    import ray

    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    started = False
    if not ray.is_initialized():
        kwargs = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers, **kwargs)
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
