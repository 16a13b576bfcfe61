"""Shared fixtures. Test helpers that write real dataset trees live in ``tests/trees.py``."""

import logging

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """One real local Ray instance (2 CPUs) for the whole test session; reused if already up.

    Pipelines called in-process join it (``ray_session`` does not start a second one).
    """
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
        started = True
    yield ray
    if started:
        ray.shutdown()
