"""Who reads what, in which order: splitting shards over (rank, worker) slots, seeded shuffling.

Definitions used by every streaming dataset:

- **slot**: one reader process, ``slot = rank * num_workers + worker`` of ``S = world_size *
  num_workers`` slots (``num_workers = 1`` when the DataLoader runs in the main process).
- **shard order** of epoch ``e``: the URL list permuted by ``default_rng(SeedSequence([seed, e]))``
  — the same on every rank and worker, with no communication.
- **shard split**: shard ``i`` of that order goes to slot ``i mod S``. Every sample is read by
  exactly one slot.
- **fewer shards than slots** (``n < S``): slot ``s`` reads shard ``s mod n`` and keeps the
  samples whose index in that shard is ``≡ s div n (mod m)``, ``m`` being the number of slots
  that share the shard. Still exactly once per epoch, at the cost of each shard being read
  (not decoded) ``m`` times. ``split="shard"`` instead leaves the extra slots empty.
- **sample shuffle**: a buffer of ``B`` samples per slot, seeded by ``(seed, e, slot)``; its
  choices never depend on sample contents, so the same inputs always give the same order.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

import numpy as np

T = TypeVar("T")


class SplitWarning(UserWarning):
    """Shards cannot be split evenly (fewer shards than reader slots)."""


@dataclass(frozen=True)
class Slot:
    """One reader: ``rank`` of ``world_size`` processes, ``worker`` of ``num_workers`` loaders."""

    rank: int = 0
    world_size: int = 1
    worker: int = 0
    num_workers: int = 1

    @property
    def index(self) -> int:
        return self.rank * self.num_workers + self.worker

    @property
    def count(self) -> int:
        return self.world_size * self.num_workers


def dist_rank_world() -> tuple[int, int]:
    """(rank, world_size) from torch.distributed when initialised, else from the RANK /
    WORLD_SIZE environment variables torchrun sets, else (0, 1)."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def current_slot(rank: int | None = None, world_size: int | None = None) -> Slot:
    """The slot of the calling process (inside a DataLoader worker, that worker's slot)."""
    r, w = dist_rank_world()
    rank = r if rank is None else rank
    world_size = w if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    from torch.utils.data import get_worker_info

    info = get_worker_info()
    if info is None:
        return Slot(rank, world_size, 0, 1)
    return Slot(rank, world_size, info.id, info.num_workers)


def seeded_rng(*parts: int) -> np.random.Generator:
    """A numpy Generator from a tuple of non-negative ints (SeedSequence: well mixed, portable)."""
    return np.random.default_rng(np.random.SeedSequence([int(p) & 0xFFFFFFFFFFFFFFFF for p in parts]))


def key_seed(*parts) -> int:
    """A 63-bit seed from any mix of ints and strings (e.g. ``seed, epoch, key, patch``).

    Uses blake2b of the ``repr`` so it is the same in every process and Python run.
    """
    h = hashlib.blake2b(repr(tuple(parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") >> 1


def epoch_shard_order(urls: list[str], seed: int, epoch: int, shuffle: bool = True) -> list[str]:
    """The epoch's shard order (identical on every rank and worker)."""
    if not shuffle:
        return list(urls)
    perm = seeded_rng(seed, epoch, 0x5A4D).permutation(len(urls))
    return [urls[i] for i in perm]


@dataclass(frozen=True)
class Assignment:
    """A slot's shards and, when shards are shared, which of their samples it keeps."""

    urls: tuple[str, ...]
    stride: int = 1  # keep samples with index % stride == offset
    offset: int = 0


def assign_shards(ordered: list[str], slot: Slot, split: str = "auto") -> Assignment:
    """Assign the epoch's ordered shards to ``slot`` (see the module doc).

    ``split``: "auto" (shard split; sample split when there are fewer shards than slots),
    "shard" (shard split only; extra slots read nothing) or "sample" (every slot reads every
    shard and keeps every ``S``-th sample).
    """
    n, S, s = len(ordered), slot.count, slot.index
    if split not in ("auto", "shard", "sample"):
        raise ValueError(f"split must be 'auto', 'shard' or 'sample', got {split!r}")
    if split == "sample":
        return Assignment(tuple(ordered), S, s)
    if n >= S or split == "shard":
        if n < S and s == 0:
            warnings.warn(f"{n} shards for {S} reader slots (ranks x workers): {S - n} slots read nothing",
                          SplitWarning, stacklevel=2)
        return Assignment(tuple(ordered[s::S]))
    if s == 0:
        warnings.warn(f"{n} shards for {S} reader slots (ranks x workers): shards are shared and "
                      f"every slot keeps a disjoint subset of their samples (each shard is read up to "
                      f"{-(-S // n)} times); write more shards to avoid this", SplitWarning, stacklevel=2)
    i = s % n
    m = len(range(i, S, n))
    return Assignment((ordered[i],), m, s // n)


class ShuffleBuffer:
    """Reservoir shuffle of a stream with a buffer of ``size`` items, driven by ``rng``.

    Fill the buffer with the first ``size`` items; then for each further item, pick a uniform
    index ``j`` in the buffer, emit ``buf[j]`` and put the new item there; at the end emit the
    rest in a random permutation. ``size <= 1`` passes the stream through unchanged. The random
    choices depend only on the number of items, never on their contents.
    """

    def __init__(self, size: int, rng: np.random.Generator):
        self.size = int(size)
        self.rng = rng

    def __call__(self, items: Iterable[T]) -> Iterator[T]:
        if self.size <= 1:
            yield from items
            return
        buf: list[T] = []
        for item in items:
            if len(buf) < self.size:
                buf.append(item)
                continue
            j = int(self.rng.integers(self.size))
            out, buf[j] = buf[j], item
            yield out
        for j in self.rng.permutation(len(buf)):
            yield buf[j]
