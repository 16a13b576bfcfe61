"""``ShardStream``: the IterableDataset every streaming dataset builds on.

Per reader slot (see :mod:`dmcdata.streaming.shardlist`) one epoch is the pipeline

1. read the slot's shards in the epoch's shard order (``ShardReader``: bad shards skipped
   and counted, or raised in strict mode); keep the manifest-selected keys; keep this
   slot's share of shared shards;
2. shuffle raw samples (undecoded bytes) in a buffer of ``shuffle_buffer`` samples;
3. ``expand`` each sample into zero or more *items* — cheap work only (parse JSON, count
   patches), each item carries a *thunk* that does the expensive part (decode, crop, effect
   chain);
4. shuffle items in a buffer of ``item_shuffle_buffer`` (patches of one song spread out);
5. ``pair_items`` hook (mixup in the paired dataset);
6. number the items ``n = 0, 1, …`` and run the thunks of those at or after the resume point.

Everything random is seeded: order by ``(seed, epoch, slot)``, content by
``key_seed(seed, epoch, key, item)`` — so an item's content does not depend on the number of
ranks or workers, and resuming skips the first ``n`` items without running their thunks.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from torch.utils.data import IterableDataset

from dmcdata.streaming.reader import AllShardsSkippedError, SampleDecodeError, ShardReader, SkipEvent
from dmcdata.streaming.selection import select_samples
from dmcdata.streaming.urls import DEFAULT_SHARD_DEADLINE_S, DEFAULT_TIMEOUT_S
from dmcdata.streaming.shardlist import (
    Assignment, ShuffleBuffer, Slot, assign_shards, current_slot, epoch_shard_order, seeded_rng,
)


class DatasetKindError(ValueError):
    """Shards of another kind than the dataset reads (e.g. synth-chain shards given to
    MultitrackDataset). Raised even in non-strict mode: every sample would be skipped."""


_TRACK = re.compile(r"^t\d+\.(flac|wav)$")
KIND_ADVICE = {
    "synth": "synth-chain effect examples: use EffectDataset(urls, mode='shards')",
    "multitrack": "multitrack samples (tNN tracks): use MultitrackDataset, or EffectDataset(urls, mode='generate') "
                  "for effect examples made from their tracks",
    "paired": "paired input/target samples (SignalTrain): use PairedDataset, or EffectDataset(urls, "
              "mode='generate') for effect examples made from their inputs",
}


def sample_kind(members) -> str | None:
    """What kind of shard sample the member names show: "synth" (synth-chain ``input.npy``),
    "multitrack" (``tNN.flac|wav`` tracks), "paired" (``input`` + ``target`` audio) or None."""
    names = set(members)
    if "input.npy" in names or "target.npy" in names:
        return "synth"
    if any(_TRACK.match(m) for m in names):
        return "multitrack"
    if names & {"input.flac", "input.wav"} and names & {"target.flac", "target.wav"}:
        return "paired"
    return None


def check_kind(dataset: str, key: str, members, url: str, accepted: tuple[str, ...]) -> None:
    """Raise :class:`DatasetKindError` when the sample is recognisably of a kind not ``accepted``."""
    kind = sample_kind(members)
    if kind is not None and kind not in accepted:
        raise DatasetKindError(f"{dataset}: shard {url} holds {KIND_ADVICE[kind]} "
                               f"(sample {key!r} has members {sorted(members)})")


POS_SLOT = "__slot__"
POS_INDEX = "__n__"


class Item:
    """One output-to-be: an id (for seeding), the sample key, and a thunk computing the dict."""

    __slots__ = ("key", "item_id", "thunk", "url")

    def __init__(self, key: str, item_id: str, thunk: Callable[[], dict], url: str = ""):
        self.key = key
        self.item_id = item_id
        self.thunk = thunk
        self.url = url  # the shard it came from (set by ShardStream), named when the item is skipped


class ShardStream(IterableDataset):
    """Base class: shard URLs → seeded, split, resumable stream of dict samples.

    Parameters (shared by every dataset):
      urls: shard URL spec (see :mod:`~dmcdata.streaming.urls`), a build folder or a manifest URL.
      selection: None, a pandas query string on the manifest, or a manifest DataFrame.
      seed: base seed of every random choice. shuffle_shards: permute shard order per epoch.
      shuffle_buffer: raw-sample shuffle buffer size (0 = off).
      item_shuffle_buffer: item (patch/example) shuffle buffer size (0 = off).
      split: "auto" | "shard" | "sample" (see :func:`~dmcdata.streaming.shardlist.assign_shards`).
      strict: raise on the first bad shard/sample instead of skipping and counting.
      timeout, retries: for http URLs: seconds a connection attempt or read may wait for data
        (default 20), attempts after the first. shard_deadline: seconds one http/pipe shard may
        take in all, retries included (default 300; None = no limit): a stalled or trickling
        source is skipped (or raised in strict mode) as :class:`~dmcdata.streaming.urls.ShardTimeoutError`.
      rank, world_size: override torch.distributed's.

    An epoch that yields nothing because everything it read was skipped raises
    :class:`~dmcdata.streaming.reader.AllShardsSkippedError` (from :class:`StreamingLoader`, or
    from direct iteration in the main process) instead of ending quietly with no samples.
    """

    def __init__(self, urls, *, selection=None, manifest: str | None = None, seed: int = 0,
                 shuffle_shards: bool = True, shuffle_buffer: int = 0, item_shuffle_buffer: int = 0,
                 split: str = "auto", strict: bool = False, timeout: float = DEFAULT_TIMEOUT_S, retries: int = 2,
                 rank: int | None = None, world_size: int | None = None,
                 shard_deadline: float | None = DEFAULT_SHARD_DEADLINE_S):
        super().__init__()
        self.urls, self.keys = select_samples(urls, selection, manifest=manifest, timeout=timeout)
        _check_some_local_shard_exists(self.urls)
        self.seed = int(seed)
        self.shuffle_shards = shuffle_shards
        self.shuffle_buffer = int(shuffle_buffer)
        self.item_shuffle_buffer = int(item_shuffle_buffer)
        self.split = split
        self.strict = strict
        self.timeout = timeout
        self.retries = retries
        self.shard_deadline = shard_deadline
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        # set by StreamingLoader before it starts workers
        self.emit_position = False
        self.resume_from: dict[int, int] = {}
        self.event_sink = None  # callable(SkipEvent) or a multiprocessing queue
        self._local_reader: ShardReader | None = None

    # -- hooks for subclasses -------------------------------------------------------------
    def expand(self, key: str, members: dict[str, bytes], url: str) -> Iterable[Item]:
        """Turn one raw sample into items. Raise SampleDecodeError for a bad sample."""
        raise NotImplementedError

    def pair_items(self, items: Iterator[Item]) -> Iterator[Item]:
        """Optional stage after the item shuffle (identity by default)."""
        return items

    # -- public ---------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (seeds the shard order, sample order and random content)."""
        self.epoch = int(epoch)

    @property
    def skip_log(self):
        """Counters of this process's reader (main-process loading); see StreamingLoader.skips."""
        return self._local_reader.log if self._local_reader is not None else None

    def item_seed(self, key: str, item: Any) -> np.random.Generator:
        """The generator of one item's random content: ``(seed, epoch, key, item)``."""
        from dmcdata.streaming.shardlist import key_seed

        return np.random.default_rng(key_seed(self.seed, self.epoch, key, item))

    def slot(self) -> Slot:
        return current_slot(self.rank, self.world_size)

    def assignment(self, slot: Slot) -> Assignment:
        order = epoch_shard_order(self.urls, self.seed, self.epoch, self.shuffle_shards)
        return assign_shards(order, slot, self.split)

    # -- pipeline -------------------------------------------------------------------------
    def _report(self, ev: SkipEvent) -> None:
        sink = self.event_sink
        if sink is None:
            return
        if callable(sink):
            sink(ev)
        else:
            sink.put(ev)

    def _raw_samples(self, slot: Slot, reader: ShardReader) -> Iterator[tuple[str, dict, str]]:
        a = self.assignment(slot)
        for url in a.urls:
            i = 0
            for key, members in reader.samples(url):
                if self.keys is not None and key not in self.keys:
                    continue
                if i % a.stride == a.offset:
                    yield key, members, url
                i += 1

    def _items(self, raw: Iterator[tuple[str, dict, str]], reader: ShardReader) -> Iterator[Item]:
        for key, members, url in raw:
            try:
                items = list(self.expand(key, members, url))
            except SampleDecodeError as e:
                if self.strict:
                    raise
                reader.skip(SkipEvent("sample", url, key, str(e)))
                continue
            for it in items:
                if not it.url:
                    it.url = url
                yield it

    def __iter__(self) -> Iterator[dict]:
        return self.iter_slot(self.slot())

    def count_items(self, slot: Slot | None = None) -> int:
        """Items ``slot`` (default: all slots together) yields this epoch, without running thunks.

        Reads the shards and does the expansion only (paired and generate modes decode the audio
        to find non-silent patches). Use it to give every rank the same number of steps (``all_reduce(MIN)`` of each rank's count // batch size).
        """
        reader = ShardReader(self.strict, self.timeout, self.retries, report=self._report,
                             deadline=self.shard_deadline)
        raw = self._raw_samples(slot if slot is not None else Slot(), reader)
        return sum(1 for _ in self.pair_items(self._items(raw, reader)))

    def iter_slot(self, slot: Slot) -> Iterator[dict]:
        """The epoch's stream of one explicit slot (``__iter__`` uses the caller's own slot)."""
        reader = ShardReader(self.strict, self.timeout, self.retries, report=self._report,
                             deadline=self.shard_deadline)
        self._local_reader = reader
        raw = self._raw_samples(slot, reader)
        raw = ShuffleBuffer(self.shuffle_buffer, seeded_rng(self.seed, self.epoch, slot.index, 1))(raw)
        items = self._items(raw, reader)
        items = ShuffleBuffer(self.item_shuffle_buffer, seeded_rng(self.seed, self.epoch, slot.index, 2))(items)
        items = self.pair_items(items)
        start = self.resume_from.get(slot.index, 0)
        yielded = 0
        for n, item in enumerate(items):
            if n < start:
                continue
            try:
                out = item.thunk()
            except SampleDecodeError as e:
                if self.strict:
                    raise
                reader.skip(SkipEvent("sample", item.url, item.key, str(e)))
                continue
            if self.emit_position:
                out[POS_SLOT] = slot.index
                out[POS_INDEX] = n
            yielded += 1
            yield out
        if not yielded and not start and reader.log.skipped and not self.emit_position and _main_process():
            # iterated directly (StreamingLoader decides over all its workers itself)
            raise AllShardsSkippedError.from_log(reader.log, self.epoch)


def _main_process() -> bool:
    from torch.utils.data import get_worker_info

    return get_worker_info() is None


def _check_some_local_shard_exists(urls: list[str]) -> None:
    """A missing shard is skipped and counted when the epoch reads it; but when every URL is a
    local path and none exists, the spec itself is wrong (a typo): say so now."""
    from dmcdata.streaming.urls import UrlError, local_path

    paths = [local_path(u) for u in urls]
    if paths and all(p is not None for p in paths) and not any(p.exists() for p in paths):
        raise UrlError(f"none of the {len(paths)} shard path(s) exists, e.g. {urls[0]}")


def patch_starts(frames: int, patch: int, rng: np.random.Generator, patches: int | str) -> list[int]:
    """Start frames of the patches cut from a segment of ``frames`` frames.

    ``patches="all"``: ``frames // patch`` non-overlapping tiles after a random offset in
    ``[0, frames mod patch]`` (the segment is covered every epoch, at shifted positions);
    an int ``k``: ``k`` uniform random starts in ``[0, frames - patch]``. A segment shorter
    than a patch gives one start (0); the caller zero-pads.
    """
    if patch <= 0:
        raise ValueError(f"patch length must be > 0 frames, got {patch}")
    if frames <= patch:
        return [0]
    if patches == "all":
        n_full = frames // patch
        slack = frames - n_full * patch
        off = int(rng.integers(slack + 1)) if slack else 0
        return [off + i * patch for i in range(n_full)]
    k = int(patches)
    if k < 1:
        raise ValueError(f"patches must be 'all' or >= 1, got {patches!r}")
    return sorted(int(s) for s in rng.integers(0, frames - patch + 1, size=k))


def db_to_rms(db: float) -> float:
    return math.pow(10.0, db / 20.0)
