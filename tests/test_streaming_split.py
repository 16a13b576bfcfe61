"""Splitting over ranks x workers, per-epoch shuffling and exact resume, on real tar shards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dist_worker import keep_list, write_multitrack_shards
from dmcdata.streaming import LoaderStateError, MultitrackDataset, StreamingLoader
from dmcdata.streaming.shardlist import ShuffleBuffer, Slot, SplitWarning, assign_shards

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("mt")
    rows = write_multitrack_shards(out, n_shards=5, per_shard=4, frames=8000)
    return out, rows


def _ds(out, **kw):
    kw.setdefault("patch_seconds", 0.25)
    kw.setdefault("patches", "all")  # 1 s segments -> 4 patches each, whole segment covered
    return MultitrackDataset(str(out / "medleydb-train-{000000..000004}.tar"), **kw)


def _ids(samples):
    return [f"{s['key']}@{s['start']}" for s in samples]


@pytest.mark.parametrize("world,workers", [(1, 1), (2, 2), (3, 2), (4, 3), (1, 7)])
def test_every_item_exactly_once_for_any_topology(shards, world, workers):
    """Union over all slots = the epoch, no duplicates, for more and for fewer shards than slots."""
    out, rows = shards
    seen = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for rank in range(world):
            ds = _ds(out, rank=rank, world_size=world, shuffle_buffer=3, seed=11)
            for w in range(workers):
                seen += _ids(ds.iter_slot(Slot(rank, world, w, workers)))
        counts = [_ds(out, rank=r, world_size=world, seed=11).count_items(Slot(r, world, w, workers))
                  for r in range(world) for w in range(workers)]
    assert sum(counts) == len(seen)
    shared = [c for c in caught if issubclass(c.category, SplitWarning)]
    assert bool(shared) == (world * workers > 5)
    one = _ids(_ds(out, rank=0, world_size=1, shuffle_shards=False).iter_slot(Slot()))
    assert len(one) == 20 * 4
    assert Counter(seen) == Counter(one)


def test_shuffle_depends_on_epoch_and_seed_only(shards):
    out, _ = shards
    ds = _ds(out, rank=0, world_size=1, shuffle_buffer=4, item_shuffle_buffer=5, seed=3)
    a = _ids(ds.iter_slot(Slot()))
    b = _ids(ds.iter_slot(Slot()))
    ds.set_epoch(1)
    c = _ids(ds.iter_slot(Slot()))
    assert a == b  # same seed + epoch: same order
    assert a != c and sorted(a) == sorted(c)  # next epoch: other order, same items
    # random crop offsets are drawn per epoch too
    ds2 = _ds(out, rank=0, world_size=1, patches=1, seed=3)
    s0 = {s["key"]: s["start"] for s in ds2.iter_slot(Slot())}
    ds2.set_epoch(5)
    s5 = {s["key"]: s["start"] for s in ds2.iter_slot(Slot())}
    assert s0.keys() == s5.keys() and s0 != s5


def test_shuffle_buffer_is_a_permutation_and_mixes():
    rng_items = list(range(200))
    out = list(ShuffleBuffer(16, np.random.default_rng(0))(rng_items))
    assert sorted(out) == rng_items and out != rng_items
    # bounded displacement: an item cannot come out before it went in
    assert all(out.index(i) >= i - 16 for i in range(0, 200, 7))
    assert list(ShuffleBuffer(1, np.random.default_rng(0))(rng_items)) == rng_items


def test_fewer_shards_than_slots_shares_shards():
    urls = ["a", "b"]
    with pytest.warns(SplitWarning, match="2 shards for 5"):
        groups = [assign_shards(urls, Slot(0, 1, w, 5)) for w in range(5)]
    # slots 0,2,4 share shard a (stride 3), slots 1,3 share shard b (stride 2)
    assert [(g.urls, g.stride, g.offset) for g in groups] == [
        (("a",), 3, 0), (("b",), 2, 0), (("a",), 3, 1), (("b",), 2, 1), (("a",), 3, 2)]


def _run(ds, batches=None, num_workers=2, state=None, bs=3):
    loader = StreamingLoader(ds, batch_size=bs, num_workers=num_workers, collate_fn=keep_list)
    if state is not None:
        loader.load_state_dict(state)
    seen = []
    for i, batch in enumerate(loader):
        seen.append(_ids(batch))
        if batches is not None and i + 1 == batches:
            break
    return seen, loader


def test_resume_continues_exactly(shards):
    out, _ = shards
    mk = lambda: _ds(out, shuffle_buffer=4, item_shuffle_buffer=6, seed=5, rank=0, world_size=1)  # noqa: E731
    full, _ = _run(mk())
    for n in (4, 5):  # a multiple of the worker count, and not
        head, loader = _run(mk(), batches=n)
        assert head == full[:n]
        state = json.loads(json.dumps(loader.state_dict()))  # survives a JSON checkpoint
        assert state["epoch"] == 0 and sum(state["consumed"].values()) == sum(len(b) for b in head)
        tail, loader2 = _run(mk(), state=state)
        if n % 2 == 0:  # workers' batches interleave as in the uninterrupted run
            assert tail == full[n:]
        else:  # the round robin restarts at worker 0: same batches, same per-worker order
            assert sorted(tail) == sorted(full[n:])
        assert sorted(sum(head + tail, [])) == sorted(sum(full, []))
        assert loader2.epoch == 1 and loader2.state_dict()["consumed"] == {}
        # iterating the interrupted loader again continues where it stopped, too
        again = [_ids(b) for b in loader]
        assert sorted(sum(again, [])) == sorted(sum(full[n:], []))
    # the next epoch after a resumed one is a normal full epoch
    nxt, _ = _run(mk(), state=loader2.state_dict())
    assert sorted(sum(nxt, [])) == sorted(sum(full, []))


def test_resume_in_main_process_and_state_checks(shards):
    out, _ = shards
    mk = lambda **kw: _ds(out, shuffle_buffer=4, seed=5, rank=0, world_size=1, **kw)  # noqa: E731
    full, _ = _run(mk(), num_workers=0)
    head, loader = _run(mk(), batches=7, num_workers=0)
    tail, _ = _run(mk(), num_workers=0, state=loader.state_dict())
    assert head + tail == full
    with pytest.raises(LoaderStateError, match="num_workers"):
        StreamingLoader(mk(), batch_size=3, num_workers=2).load_state_dict(loader.state_dict())
    with pytest.raises(LoaderStateError, match="seed"):
        StreamingLoader(_ds(out, seed=6, rank=0, world_size=1), batch_size=3).load_state_dict(loader.state_dict())


def test_torchrun_two_ranks_two_workers_disjoint_and_complete(shards, tmp_path):
    out, _ = shards
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "tests" / "dist_worker.py"), str(out), str(tmp_path), "2"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert r.returncode == 0, r.stderr[-3000:]
    per_rank = [(tmp_path / f"rank{i}.txt").read_text().split() for i in range(2)]
    expected = _ids(_ds(out, rank=0, world_size=1, shuffle_shards=False, patches=1, seed=7,
                        patch_seconds=0.5).iter_slot(Slot()))
    assert all(per_rank)  # both ranks got work
    assert not set(per_rank[0]) & set(per_rank[1])
    assert Counter(per_rank[0] + per_rank[1]) == Counter(expected)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["world_size"] == 2 and state["num_workers"] == 2 and state["epoch"] == 1
