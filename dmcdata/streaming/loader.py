"""``StreamingLoader``: a torch DataLoader over a ShardStream that knows its position.

The loader, not the workers, keeps the position: DataLoader workers run ahead (prefetch), so
only batches the training loop has actually received count. Every sample carries its slot
and its index in that slot's epoch stream; the loader strips them off in the collate function
and records, per slot, how many items were consumed. ``state_dict()`` is small and
JSON-serialisable; put it in the checkpoint. ``load_state_dict()`` makes the next iteration
skip exactly the consumed items of every slot (their shards are read again, the expensive
per-item work is not redone). Likewise, iterating again after breaking out of an epoch
continues where the loop stopped; only a finished epoch (or ``set_epoch`` to another epoch)
starts from the beginning.

Skipped shards/samples are reported from the workers through a queue and counted in
``loader.skips`` (a :class:`~dmcdata.streaming.reader.SkipLog`), each once per epoch even when
several workers read the same shard (``split="sample"``). An epoch that yields nothing because
everything it read was skipped raises :class:`~dmcdata.streaming.reader.AllShardsSkippedError`
(with that epoch's skip log) at its end, instead of ending with 0 batches and warnings.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader
from torch.utils.data._utils.collate import default_collate, default_convert

from dmcdata.streaming.base import POS_INDEX, POS_SLOT, ShardStream
from dmcdata.streaming.reader import AllShardsSkippedError, SkipEvent, SkipLog
from dmcdata.streaming.shardlist import dist_rank_world

STATE_VERSION = 1


class LoaderStateError(ValueError):
    """A saved loader state that does not fit this loader (other topology, seed or shards)."""


class _PositionCollate:
    """Strip the position fields off every sample, collate the rest, return (batch, positions)."""

    def __init__(self, collate_fn: Callable | None):
        self.collate_fn = collate_fn

    def __call__(self, samples):
        if isinstance(samples, dict):  # batch_size=None: one sample at a time
            pos = [(samples.pop(POS_SLOT), samples.pop(POS_INDEX))]
            return (self.collate_fn or default_convert)(samples), pos
        pos = [(s.pop(POS_SLOT), s.pop(POS_INDEX)) for s in samples]
        return (self.collate_fn or default_collate)(samples), pos


class StreamingLoader:
    """Iterate batches of a :class:`ShardStream`; save and restore the exact position.

    ``batch_size``, ``num_workers``, ``collate_fn``, ``drop_last`` and any other keyword go to
    ``torch.utils.data.DataLoader`` (workers are started afresh every epoch, so
    ``persistent_workers`` is not supported).

    Usage::

        loader = StreamingLoader(ds, batch_size=16, num_workers=4)
        if ckpt: loader.load_state_dict(ckpt["loader"])
        for epoch in range(loader.epoch, n_epochs):
            loader.set_epoch(epoch)
            for batch in loader:
                ...; save({"loader": loader.state_dict(), ...})
            print(loader.skips.shards_skipped)
    """

    def __init__(self, dataset: ShardStream, batch_size: int | None = 1, num_workers: int = 0,
                 collate_fn: Callable | None = None, **dataloader_kwargs: Any):
        if not isinstance(dataset, ShardStream):
            raise TypeError(f"StreamingLoader needs a ShardStream dataset, got {type(dataset).__name__}")
        if dataloader_kwargs.get("persistent_workers"):
            raise ValueError("persistent_workers is not supported: workers must see each epoch's seed")
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_workers = int(num_workers)
        self.collate_fn = collate_fn
        self.kwargs = dataloader_kwargs
        self.epoch = dataset.epoch
        self.consumed: dict[int, int] = {}
        self.skips = SkipLog()
        self._seen: set[tuple] = set()  # (epoch, kind, url, key) already counted
        self._pass_log = SkipLog()  # this iteration's events (for AllShardsSkippedError)

    # -- topology -------------------------------------------------------------------------
    def _topology(self) -> tuple[int, int, int]:
        r, w = dist_rank_world()
        rank = r if self.dataset.rank is None else self.dataset.rank
        world = w if self.dataset.world_size is None else self.dataset.world_size
        return rank, world, max(1, self.num_workers)

    def set_epoch(self, epoch: int) -> None:
        """Select ``epoch``; the current position is kept only if it belongs to this epoch."""
        epoch = int(epoch)
        if epoch != self.epoch:
            self.consumed = {}
        self.epoch = epoch

    # -- iteration ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        ds = self.dataset
        ds.set_epoch(self.epoch)
        ds.emit_position = True
        ds.resume_from = dict(self.consumed)
        q = None
        if self.num_workers > 0:
            ctx = self.kwargs.get("multiprocessing_context") or mp.get_context()
            if isinstance(ctx, str):
                ctx = mp.get_context(ctx)
            q = ctx.Queue()
            ds.event_sink = q
        else:
            ds.event_sink = self._record
        self._pass_log = SkipLog()
        from_start = not self.consumed
        n_items = 0
        # DataLoader draws a base seed from its generator each time it is iterated; a private one keeps
        # it off torch's global RNG, so a resumed run's dropout draws equal an uninterrupted run's
        # (shard and item randomness come from the dataset's own seeds, not from this generator)
        kwargs = dict(self.kwargs)
        kwargs.setdefault("generator", torch.Generator().manual_seed(ds.seed * 1000003 + self.epoch))
        dl = DataLoader(ds, batch_size=self.batch_size, num_workers=self.num_workers,
                        collate_fn=_PositionCollate(self.collate_fn), **kwargs)
        finished = False
        try:
            for batch, pos in dl:
                n_items += len(pos)
                for slot, n in pos:
                    n = int(n)
                    if n + 1 > self.consumed.get(slot, 0):
                        self.consumed[slot] = n + 1
                self._drain(q)
                yield batch
            finished = True
        finally:
            self._drain(q)
            ds.event_sink = None
            ds.emit_position = False
            ds.resume_from = {}
            if q is not None:
                q.close()
        if finished:
            if not n_items and from_start and self._pass_log.skipped:
                raise AllShardsSkippedError.from_log(self._pass_log, self.epoch)
            self.epoch += 1
            self.consumed = {}

    def _record(self, ev: SkipEvent) -> None:
        """Count an event once per epoch: workers sharing a shard each report it."""
        seen = (self.epoch, ev.kind, ev.url, ev.key)
        if seen in self._seen:
            return
        self._seen.add(seen)
        self.skips.add(ev)
        self._pass_log.add(ev)

    def _drain(self, q) -> None:
        if q is None:
            return
        while True:
            try:
                self._record(q.get_nowait())
            except (queue_mod.Empty, EOFError, OSError):
                return

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Position of this rank's slots: epoch, items consumed per slot, topology, seed."""
        rank, world, k = self._topology()
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "consumed": {str(s): int(n) for s, n in sorted(self.consumed.items())},
            "world_size": world,
            "num_workers": k,
            "seed": self.dataset.seed,
            "n_shards": len(self.dataset.urls),
            "skips": {"shards_skipped": self.skips.shards_skipped,
                      "samples_skipped": self.skips.samples_skipped},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a position saved by :meth:`state_dict` (or merged by :func:`gather_state`)."""
        if state.get("version") != STATE_VERSION:
            raise LoaderStateError(f"loader state version {state.get('version')!r}, expected {STATE_VERSION}")
        rank, world, k = self._topology()
        for field, mine in (("world_size", world), ("num_workers", k), ("seed", self.dataset.seed),
                            ("n_shards", len(self.dataset.urls))):
            if state.get(field) != mine:
                raise LoaderStateError(f"loader state has {field}={state.get(field)!r} but this loader has "
                                       f"{mine!r}; an exact resume needs the same ranks x workers, seed and shards")
        self.epoch = int(state["epoch"])
        mine_slots = range(rank * k, rank * k + k)
        self.consumed = {int(s): int(n) for s, n in state["consumed"].items() if int(s) in mine_slots}
        self.dataset.set_epoch(self.epoch)


def gather_state(loader: StreamingLoader) -> dict:
    """All ranks' positions merged into one state (call on every rank; torch.distributed).

    Save the result from rank 0; every rank can ``load_state_dict`` it and picks its own slots.
    Without an initialised process group this is ``loader.state_dict()``.
    """
    state = loader.state_dict()
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return state
    states: list = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    merged = dict(state)
    merged["consumed"] = {}
    for s in states:
        if s["epoch"] != state["epoch"]:
            raise LoaderStateError(f"ranks are in different epochs ({s['epoch']} vs {state['epoch']})")
        merged["consumed"].update(s["consumed"])
    merged["skips"] = {f: sum(s["skips"][f] for s in states) for f in state["skips"]}
    return merged


__all__ = ["StreamingLoader", "LoaderStateError", "gather_state"]
