"""Streaming never stalls silently and never trains on nothing: real sockets on 127.0.0.1 (a host
that accepts and never answers, one that trickles bytes), a real stalled pipe command, real
truncated shards read by real DataLoader worker processes."""

import contextlib
import socket
import threading
import time
import warnings

import psutil
import pytest

from dist_worker import write_multitrack_shards
from dmcdata.streaming import (AllShardsSkippedError, MultitrackDataset, ShardTimeoutError, StreamingLoader,
                               open_url)
from dmcdata.streaming.reader import ShardReader
from tests.trees import truncate_file


@contextlib.contextmanager
def tcp_server(handler, lifetime_s: float = 10.0):
    """A listening socket on 127.0.0.1; each connection is served by ``handler(conn, stop)`` in a
    thread. Everything is closed after the block or after ``lifetime_s`` at the latest."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.1)
    stop = threading.Event()
    conns = []

    def serve():
        t_end = time.monotonic() + lifetime_s
        while not stop.is_set() and time.monotonic() < t_end:
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            conns.append(conn)
            threading.Thread(target=handler, args=(conn, stop), daemon=True).start()
        stop.set()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        th.join(5)
        for c in conns:
            c.close()
        srv.close()


def silent(conn, stop):
    stop.wait(10)  # accept, never answer


def trickle(conn, stop):
    conn.recv(4096)
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1048576\r\n\r\n")
    while not stop.is_set():
        try:
            conn.sendall(b"\0\0")
        except OSError:
            return
        stop.wait(0.1)


def skip_reason(url, **kw):
    reader = ShardReader(**kw)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t0 = time.monotonic()
        assert list(reader.samples(url)) == []
        took = time.monotonic() - t0
    assert reader.log.shards_skipped == 1 and any(url in str(x.message) for x in w)
    return reader.log.events[0].reason, took


def test_a_host_that_never_answers_costs_the_per_read_timeout(tmp_path):
    with tcp_server(silent) as base:
        reason, _ = skip_reason(f"{base}/x.tar", timeout=0.3, retries=1)
    assert reason == "no answer within 0.3 s (2 attempts)"
    with tcp_server(silent) as base, pytest.raises(ShardTimeoutError, match="deadline of 0.5 s per shard"):
        open_url(f"{base}/x.tar", timeout=0.4, retries=5, deadline=0.5)


def test_a_trickling_host_is_stopped_by_the_shard_deadline():
    with tcp_server(trickle) as base:
        reason, took = skip_reason(f"{base}/x.tar", timeout=5.0, deadline=1.0)
    assert reason.startswith("not complete within the deadline of 1 s per shard") and "bytes received" in reason


def test_a_stalled_pipe_is_killed_at_the_deadline(tmp_path):
    marker = tmp_path / "still-running"
    url = f"pipe:sleep 8.321 && touch {marker}"
    reason, _ = skip_reason(url, deadline=0.5)
    assert reason.startswith("not complete within the deadline of 0.5 s per shard")
    left = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "8.321"]]
    assert left == [] and not marker.exists()  # the whole command was ended, not only its shell


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("stall_shards")
    write_multitrack_shards(d, n_shards=3, per_shard=3, frames=4000)
    for i in (1, 2):
        truncate_file(d / f"medleydb-train-00000{i}.tar", 0.1)  # inside its first sample: yields none
    return d


def test_an_epoch_of_skipped_shards_raises(shards):
    bad = [str(shards / f"medleydb-train-00000{i}.tar") for i in (1, 2)]
    for workers in (0, 2):
        loader = StreamingLoader(MultitrackDataset(bad, patch_seconds=0.1), batch_size=2, num_workers=workers,
                                 collate_fn=list)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(AllShardsSkippedError, match=r"epoch 0 yielded no sample: 2 shard\(s\)") as e:
                list(loader)
        assert e.value.log.shards_skipped == 2 and {ev.url for ev in e.value.log.events} == set(bad)
    # iterating the dataset itself raises too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AllShardsSkippedError):
            list(MultitrackDataset(bad, patch_seconds=0.1))


def test_one_bad_shard_read_by_several_workers_counts_once(shards):
    urls = [str(shards / "medleydb-train-000000.tar"), str(shards / "medleydb-train-000001.tar")]
    ds = MultitrackDataset(urls, patch_seconds=0.1, split="sample")
    loader = StreamingLoader(ds, batch_size=1, num_workers=2, collate_fn=list)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = sum(len(b) for b in loader)
    assert n > 0
    assert loader.skips.shards_skipped == 1 and loader.skips.shards_ok == 1
    assert [ev.url for ev in loader.skips.events] == [urls[1]]
