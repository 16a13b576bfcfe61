"""URL forms, the validating tar reader, skip-and-count of bad shards, strict mode, HTTP streaming."""

from __future__ import annotations

import functools
import http.server
import io
import shutil
import subprocess
import tarfile
import threading
import warnings
from pathlib import Path

import pytest

from dist_worker import keep_list, write_multitrack_shards
from dmcdata.shards import ShardWriter
from dmcdata.streaming import (
    AllShardsSkippedError, MultitrackDataset, ShardReadError, ShardSkipWarning, StreamingLoader, UrlError, expand_urls,
)
from dmcdata.streaming.reader import iter_tar_members, iter_tar_samples
from dmcdata.streaming.shardlist import Slot
from dmcdata.streaming.urls import ShardOpenError, open_url


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("mt")
    rows = write_multitrack_shards(out, n_shards=3, per_shard=3, frames=4000)
    return out, rows


# -- URL expansion -------------------------------------------------------------------------------

def test_brace_ranges_keep_padding_and_order():
    urls = expand_urls("/d/medleydb-train-{000000..000041}.tar")
    assert len(urls) == 42
    assert urls[0] == "/d/medleydb-train-000000.tar" and urls[-1] == "/d/medleydb-train-000041.tar"
    assert urls == [f"/d/medleydb-train-{i:06d}.tar" for i in range(42)]
    assert expand_urls("s{8..11}") == ["s8", "s9", "s10", "s11"]  # no padding without a leading 0
    assert expand_urls("s{3..1}") == ["s3", "s2", "s1"]
    assert expand_urls("{a,b}-{0..1}.tar") == ["a-0.tar", "a-1.tar", "b-0.tar", "b-1.tar"]
    assert expand_urls(["x.tar", "y{1..2}.tar"]) == ["x.tar", "y1.tar", "y2.tar"]
    # pipe: one command per shard for ranges and plain lists; shell syntax in braces is kept
    assert expand_urls("pipe:cat {a,b}.tar") == ["pipe:cat a.tar", "pipe:cat b.tar"]
    assert expand_urls("pipe:cat x-{08..10}.tar | awk '{print $1}'") == [
        f"pipe:cat x-{i}.tar | awk '{{print $1}}'" for i in ("08", "09", "10")]
    for bad in ("s{1..}.tar", "s{a{b,c}}.tar", "s{1..2.tar", "s}1{", "s3://bucket/x-{0..1}.tar"):
        with pytest.raises(UrlError):
            expand_urls(bad)


def test_directory_and_file_urls(shards):
    out, _ = shards
    names = sorted(p.name for p in out.glob("*.tar"))
    assert [Path(u).name for u in expand_urls(str(out))] == names
    ds_file = MultitrackDataset(f"file://{out}/medleydb-train-{{000000..000002}}.tar", shuffle_shards=False)
    ds_pipe = MultitrackDataset([f"pipe:cat {out}/{n}" for n in names], shuffle_shards=False)
    ds_dir = MultitrackDataset(str(out), shuffle_shards=False)
    ds_pipe_range = MultitrackDataset(f"pipe:cat {out}/medleydb-train-{{000000..000002}}.tar", shuffle_shards=False)
    keys = lambda ds: [s["key"] for s in ds.iter_slot(Slot())]  # noqa: E731
    assert keys(ds_file) == keys(ds_pipe) == keys(ds_dir) == keys(ds_pipe_range)
    assert len(keys(ds_dir)) == 9


# -- the tar reader --------------------------------------------------------------------------------

def _tar_members_tarfile(path):
    with tarfile.open(path) as t:
        return [(m.name, t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]


def test_reader_matches_tarfile_including_long_names(tmp_path):
    path = tmp_path / "long.tar"
    long_key = "medleydb-" + "A_very_long_song_name_" * 8 + "-000001"  # > 100 chars: pax header
    with ShardWriter(path) as w:
        w.write(long_key, {"json": b"{}", "t00.flac": b"x" * 1000})
        w.write("short-000002", {"json": b"{\"a\": 1}", "mix.flac": bytes(range(256)) * 3})
    with open(path, "rb") as f:
        mine = list(iter_tar_members(f, str(path)))
    assert mine == _tar_members_tarfile(path)
    with open(path, "rb") as f:
        samples = list(iter_tar_samples(f, str(path)))
    assert [k for k, _ in samples] == [long_key, "short-000002"]
    assert set(samples[0][1]) == {"json", "t00.flac"}


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar executable")
def test_reader_reads_gnu_tar_output(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "k1.json").write_bytes(b"{}")
    (src / "k1.txt").write_bytes(b"hello" * 300)
    (src / ("k2" + "x" * 120 + ".json")).write_bytes(b"[]")
    subprocess.run(["tar", "--format=gnu", "-cf", str(tmp_path / "g.tar"), "-C", str(src), "."], check=True)
    with open(tmp_path / "g.tar", "rb") as f:
        mine = list(iter_tar_members(f, "g.tar"))
    assert sorted(mine) == sorted(_tar_members_tarfile(tmp_path / "g.tar"))


def _read_all(data: bytes):
    return list(iter_tar_samples(io.BytesIO(data), "mem.tar"))


def test_truncation_and_corruption_are_errors(shards):
    out, _ = shards
    data = (out / "medleydb-train-000000.tar").read_bytes()
    full = _read_all(data)
    assert len(full) == 3
    for cut in (len(data) // 2, 512 * 3 + 100, len(data) - 1024 * 10 - 1):
        with pytest.raises(ShardReadError, match="truncated"):
            _read_all(data[:cut])
    # cut exactly at a header boundary, before the end-of-archive marker: still truncated
    with pytest.raises(ShardReadError, match="end-of-archive"):
        _read_all(data[:512 * 2])
    bad = bytearray(data)
    bad[10] ^= 0xFF  # inside the first header's name
    with pytest.raises(ShardReadError, match="checksum"):
        _read_all(bytes(bad))


# -- skipping and counting ------------------------------------------------------------------------

@pytest.fixture()
def broken(shards, tmp_path):
    out, rows = shards
    d = tmp_path / "broken"
    shutil.copytree(out, d)
    p = d / "medleydb-train-000001.tar"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])  # truncated mid-shard
    return d, rows


def test_truncated_shard_is_skipped_and_counted(broken):
    d, rows = broken
    ds = MultitrackDataset(str(d / "medleydb-train-{000000..000002}.tar"), shuffle_shards=False)
    with pytest.warns(ShardSkipWarning, match="medleydb-train-000001.tar"):
        got = [s["key"] for s in ds.iter_slot(Slot())]
    log = ds.skip_log
    assert log.shards_skipped == 1 and log.shards_ok == 2
    good = [r["key"] for r in rows if r["shard"] != "medleydb-train-000001.tar"]
    assert set(good) <= set(got)
    # only whole samples from before the cut, never a half sample
    from_broken = [k for k in got if k not in good]
    assert from_broken == [r["key"] for r in rows if r["shard"] == "medleydb-train-000001.tar"][:len(from_broken)]
    assert len(from_broken) < 3
    assert log.events[0].samples_before == len(from_broken)


def test_skip_counts_reach_the_trainer_from_workers(broken, tmp_path):
    d, rows = broken
    urls = [str(d / f"medleydb-train-00000{i}.tar") for i in range(3)] + [str(tmp_path / "missing.tar")]
    ds = MultitrackDataset(urls, patch_seconds=0.25)
    loader = StreamingLoader(ds, batch_size=2, num_workers=2, collate_fn=keep_list)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = sum(len(b) for b in loader)
    assert loader.skips.shards_skipped == 2  # the truncated one and the missing one
    assert loader.skips.shards_ok == 2  # shards read to their end are reported from the workers too
    reasons = {Path(e.url).name: e.reason for e in loader.skips.events}
    assert "truncated" in reasons["medleydb-train-000001.tar"] and "cannot open" in reasons["missing.tar"]
    assert loader.state_dict()["skips"]["shards_skipped"] == 2
    assert n >= 6


def test_strict_mode_raises(broken):
    d, _ = broken
    ds = MultitrackDataset(str(d / "medleydb-train-{000000..000002}.tar"), shuffle_shards=False, strict=True)
    with pytest.raises(ShardReadError, match="000001.tar: truncated"):
        list(ds.iter_slot(Slot()))
    with pytest.raises(ShardOpenError):
        list(MultitrackDataset(["pipe:exit 3"], strict=True).iter_slot(Slot()))


def test_pipe_exit_status_counts(shards):
    out, _ = shards
    ds = MultitrackDataset([f"pipe:cat {out}/medleydb-train-000000.tar; exit 2"], patch_seconds=0.25)
    with pytest.warns(ShardSkipWarning, match="status 2"):
        list(ds.iter_slot(Slot()))
    assert ds.skip_log.shards_skipped == 1


# -- HTTP -------------------------------------------------------------------------------------------

@pytest.fixture()
def http_root(shards):
    out, _ = shards
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if not self.path.startswith("/cut/"):
            return super().do_GET()
        # promise the whole shard, send half of it, drop the connection
        data = (Path(self.directory) / self.path[len("/cut/"):]).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


def test_http_streaming(shards, http_root):
    out, rows = shards
    local = MultitrackDataset(str(out / "medleydb-train-{000000..000002}.tar"), shuffle_shards=False)
    remote = MultitrackDataset(f"{http_root}/medleydb-train-{{000000..000002}}.tar", shuffle_shards=False)
    a = list(local.iter_slot(Slot()))
    b = list(remote.iter_slot(Slot()))
    assert [s["key"] for s in a] == [s["key"] for s in b] == [r["key"] for r in rows]
    assert all((x["tracks"] == y["tracks"]).all() and (x["mix"] == y["mix"]).all() for x, y in zip(a, b))
    # a manifest URL + query string over HTTP
    sel = MultitrackDataset(f"{http_root}/manifest.parquet", selection="n_tracks >= 4", shuffle_shards=False)
    assert sorted(s["key"] for s in sel.iter_slot(Slot())) == sorted(r["key"] for r in rows if r["n_tracks"] >= 4)
    # 404 is skipped and counted, not retried forever
    missing = MultitrackDataset(f"{http_root}/nope-{{0..1}}.tar", retries=1)
    with pytest.warns(ShardSkipWarning, match="HTTP 404"), pytest.raises(AllShardsSkippedError, match="HTTP 404"):
        list(missing.iter_slot(Slot()))  # an epoch of nothing but skipped shards is an error, not 0 samples
    assert missing.skip_log.shards_skipped == 2
    # a connection dropped mid-body is a skipped, counted shard
    cut = MultitrackDataset([f"{http_root}/cut/medleydb-train-000000.tar",
                             f"{http_root}/medleydb-train-000001.tar"], shuffle_shards=False)
    with pytest.warns(ShardSkipWarning, match="cut/medleydb-train-000000.tar"):
        keys = [s["key"] for s in cut.iter_slot(Slot())]
    assert cut.skip_log.shards_skipped == 1 and cut.skip_log.shards_ok == 1
    assert set(keys[-3:]) == {r["key"] for r in rows if r["shard"] == "medleydb-train-000001.tar"}
    with pytest.raises(ShardOpenError, match="unreachable"):
        open_url("http://127.0.0.1:9/x.tar", timeout=2, retries=0)
