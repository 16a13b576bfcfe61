"""torchrun / DistributedDataParallel plumbing: the only place the trainer meets torch.distributed.

Under ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1 in the environment) :func:`setup`
joins the process group — gloo on CPU, nccl on CUDA — and every rank trains on its own share of
the shards (the streaming loaders split by rank themselves). Without torchrun it is a no-op.
"""

from __future__ import annotations

import hashlib
import os

import torch
import torch.distributed as dist


def setup(device: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device) after joining the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available to torch (a CPU build, or no GPU)")
    if device == "cuda" and world > 1:
        device = f"cuda:{local_rank}"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, (dist.get_world_size() if dist.is_initialized() else 1), dev


def wrap(model: torch.nn.Module, dev: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around ``model`` when a process group is up, else ``model``."""
    if not dist.is_initialized():
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of every parameter, in order (identical replicas → equal digests).

    Buffers (BatchNorm running statistics) are left out on purpose: each rank updates its own in
    its forward pass and DDP overwrites them with rank 0's at the start of the next one, so rank
    0's — the ones a checkpoint holds — are the only ones that count.
    """
    h = hashlib.sha256()
    for name, t in unwrap(model).named_parameters():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def replica_digests(model: torch.nn.Module) -> list[str]:
    """Every rank's :func:`weights_digest` (collective; one entry without a process group)."""
    mine = weights_digest(model)
    if not dist.is_initialized():
        return [mine]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, mine)
    return out


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
