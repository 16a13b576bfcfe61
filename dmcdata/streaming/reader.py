"""Sequential, validating reading of WebDataset tar shards from any stream.

The tar parser here reads 512-byte blocks front to back (no seeking, so it works on HTTP
bodies and pipes), verifies every header checksum, understands POSIX ``pax`` (``x``/``g``) and
GNU long-name (``L``) headers, and — unlike ``tarfile`` in stream mode, which stops quietly at a
short read — treats a stream that ends before the end-of-archive marker (a zero block) as
truncated. Members are grouped into samples WebDataset-style: ``<key>.<ext>``, split at the
first dot of the base name. A sample is only handed out once the next key (or the
end-of-archive marker) has been seen, so a truncated shard never yields a half sample.

Errors are :class:`ShardReadError` (or :class:`~dmcdata.streaming.urls.ShardOpenError` when the
URL cannot be opened); what to do with them (skip and count, or raise) is decided by
:class:`ShardReader`.
"""

from __future__ import annotations

import http.client
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterator

from dmcdata.streaming.urls import (DEFAULT_SHARD_DEADLINE_S, DEFAULT_TIMEOUT_S, ShardOpenError, _PipeStream,
                                   close_stream, open_url)

BLOCK = 512


class ShardReadError(OSError):
    """A shard whose bytes are not a complete, valid tar (truncated, bad checksum, bad size)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class SampleDecodeError(ValueError):
    """One sample that cannot be decoded (missing member, undecodable audio); names key and why."""


class SampleShapeError(SampleDecodeError):
    """A sample whose arrays break the dataset's documented shapes (e.g. a 3-channel or empty
    mix, tracks of different lengths in one batch); names the sample key and the shapes.
    A :class:`SampleDecodeError`, so non-strict reading skips and counts it like any bad sample."""


class AllShardsSkippedError(RuntimeError):
    """An epoch that yielded no sample because every shard (or every sample) it read was skipped:
    training would go on with nothing. ``log`` is the :class:`SkipLog` of that epoch (each event
    names the shard URL and why)."""

    def __init__(self, message: str, log: "SkipLog"):
        super().__init__(message)
        self.log = log

    @classmethod
    def from_log(cls, log: "SkipLog", epoch: int) -> "AllShardsSkippedError":
        first = log.events[0] if log.events else None
        why = f"; first: {first.url}: {first.reason}" if first is not None else ""
        return cls(f"epoch {epoch} yielded no sample: {log.shards_skipped} shard(s) and {log.samples_skipped} "
                   f"sample(s) were skipped, {log.shards_ok} shard(s) read to the end{why}", log)


class ShardSkipWarning(UserWarning):
    """Emitted when a shard or a sample is skipped in non-strict mode."""


def _read_exact(stream, n: int, url: str, what: str) -> bytes:
    chunks = []
    left = n
    while left > 0:
        b = stream.read(left)
        if not b:
            raise ShardReadError(url, f"truncated: stream ended {left} bytes short inside {what}")
        chunks.append(b)
        left -= len(b)
    return b"".join(chunks)


def _octal(field_bytes: bytes, url: str, what: str) -> int:
    if field_bytes and field_bytes[0] & 0x80:  # GNU base-256 for large values
        v = int.from_bytes(field_bytes[1:], "big")
        return v
    s = field_bytes.split(b"\0", 1)[0].strip()
    if not s:
        return 0
    try:
        return int(s, 8)
    except ValueError:
        raise ShardReadError(url, f"corrupt tar header: {what} field {field_bytes!r} is not octal") from None


def _pax_records(data: bytes, url: str) -> dict[str, str]:
    out = {}
    pos = 0
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise ShardReadError(url, "corrupt pax header record") from None
        rec = data[sp + 1:pos + length - 1]  # without the trailing newline
        k, _, v = rec.partition(b"=")
        out[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
        pos += length
    return out


def iter_tar_members(stream, url: str) -> Iterator[tuple[str, bytes]]:
    """Yield ``(name, data)`` of each regular file in a tar stream, validating as it goes.

    Raises :class:`ShardReadError` on a bad header checksum, a member cut short, or a stream
    that ends without the end-of-archive marker.
    """
    pending_name: str | None = None
    while True:
        header = stream.read(BLOCK)
        while header and len(header) < BLOCK:  # short reads from sockets/pipes
            more = stream.read(BLOCK - len(header))
            if not more:
                break
            header += more
        if not header:
            raise ShardReadError(url, "truncated: stream ended without the tar end-of-archive marker")
        if len(header) < BLOCK:
            raise ShardReadError(url, "truncated: stream ended inside a tar header")
        if header == b"\0" * BLOCK:
            return  # end-of-archive marker
        stored = _octal(header[148:156], url, "checksum")
        actual = sum(header[:148]) + 8 * 32 + sum(header[156:])
        if stored != actual:
            raise ShardReadError(url, f"corrupt tar header (checksum {stored} != {actual})")
        size = _octal(header[124:136], url, "size")
        typeflag = header[156:157]
        name = header[0:100].split(b"\0", 1)[0].decode("utf-8", "replace")
        if header[257:262] == b"ustar":
            prefix = header[345:500].split(b"\0", 1)[0].decode("utf-8", "replace")
            if prefix:
                name = prefix + "/" + name
        padded = (size + BLOCK - 1) // BLOCK * BLOCK
        data = _read_exact(stream, padded, url, f"member {name!r}")[:size] if padded else b""
        if typeflag == b"g":  # global pax header: no per-member name to apply
            continue
        if typeflag == b"x":
            recs = _pax_records(data, url)
            if "path" in recs:
                pending_name = recs["path"]
            continue
        if typeflag == b"L":
            pending_name = data.split(b"\0", 1)[0].decode("utf-8", "replace")
            continue
        if pending_name is not None:
            name, pending_name = pending_name, None
        if typeflag in (b"0", b"\0", b"7"):
            yield name, data
        # directories, links and other entries carry no sample data: ignored


def split_member_name(name: str) -> tuple[str, str]:
    """``dir/key.ext.more`` -> (``dir/key``, ``ext.more``): split at the first dot of the base name."""
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot < 0:
        return name, ""
    return name[:dot], name[dot + 1:]


def iter_tar_samples(stream, url: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Group consecutive tar members into ``(key, {ext: bytes})`` samples.

    A key appearing again later, non-adjacent, is an error (the shard was not written by a
    WebDataset-style writer).
    """
    key: str | None = None
    members: dict[str, bytes] = {}
    done: set[str] = set()
    for name, data in iter_tar_members(stream, url):
        k, ext = split_member_name(name)
        if k != key:
            if key is not None:
                yield key, members
                done.add(key)
            if k in done:
                raise ShardReadError(url, f"sample key {k!r} appears twice, non-adjacent")
            key, members = k, {}
        if ext in members:
            raise ShardReadError(url, f"member {name!r} appears twice")
        members[ext] = data
    if key is not None:
        yield key, members


@dataclass
class SkipEvent:
    """One skipped shard or sample: what failed and why (``kind`` is "shard" or "sample")."""

    kind: str  # "shard" or "sample" (skipped); "shard_ok" (a shard read to its end: counted, not listed)
    url: str
    key: str | None
    reason: str
    samples_before: int = 0  # for a shard: samples it delivered before failing


@dataclass
class SkipLog:
    """Counters of what was skipped; the trainer reads ``shards_skipped`` / ``samples_skipped``."""

    shards_ok: int = 0
    shards_skipped: int = 0
    samples_skipped: int = 0
    events: list[SkipEvent] = field(default_factory=list)

    def add(self, ev: SkipEvent) -> None:
        if ev.kind == "shard_ok":
            self.shards_ok += 1
            return
        if ev.kind == "shard":
            self.shards_skipped += 1
        else:
            self.samples_skipped += 1
        self.events.append(ev)

    @property
    def skipped(self) -> int:
        return self.shards_skipped + self.samples_skipped

    def as_dict(self) -> dict:
        return {"shards_ok": self.shards_ok, "shards_skipped": self.shards_skipped,
                "samples_skipped": self.samples_skipped,
                "skipped": [vars(e) for e in self.events]}


class ShardReader:
    """Reads samples from shard URLs; a failing shard is skipped with a warning and counted.

    ``strict=True`` raises the error instead. ``report`` (if given) is called with every
    :class:`SkipEvent` (the loader uses it to send events from worker processes to the trainer).
    Samples a failing shard delivered before the failure are kept; the sample being read when
    it failed is dropped (never handed out half-read).
    """

    def __init__(self, strict: bool = False, timeout: float = DEFAULT_TIMEOUT_S, retries: int = 2,
                 report: Callable[[SkipEvent], None] | None = None,
                 deadline: float | None = DEFAULT_SHARD_DEADLINE_S):
        self.strict = strict
        self.timeout = timeout
        self.retries = retries
        self.deadline = deadline  # seconds per remote shard, retries included (None: no deadline)
        self.log = SkipLog()
        self.report = report

    def skip(self, ev: SkipEvent) -> None:
        self.log.add(ev)
        if self.report is not None:
            self.report(ev)
        what = f"sample {ev.key!r} of " if ev.kind == "sample" else ""
        warnings.warn(f"skipping {what}shard {ev.url}: {ev.reason}"
                      + (f" (after {ev.samples_before} samples)" if ev.kind == "shard" else ""),
                      ShardSkipWarning, stacklevel=3)

    def samples(self, url: str) -> Iterator[tuple[str, dict[str, bytes]]]:
        """Yield ``(key, members)`` of one shard; on failure skip (or raise in strict mode)."""
        n = 0
        stream = None
        try:
            stream = open_url(url, timeout=self.timeout, retries=self.retries, deadline=self.deadline)
            for key, members in iter_tar_samples(stream, url):
                n += 1
                yield key, members
            close_stream(stream, check=True)
            stream = None
            ok = SkipEvent("shard_ok", url, None, "")
            self.log.add(ok)
            if self.report is not None:
                self.report(ok)
        except (ShardOpenError, ShardReadError, OSError, http.client.HTTPException) as e:
            err = e
            if isinstance(stream, _PipeStream) and isinstance(e, ShardReadError) and "truncated" in e.reason:
                # the command closed its output early: its exit status says why
                try:
                    close_stream(stream, check=True)
                except ShardOpenError as pe:
                    err = pe
                except OSError:
                    pass
                stream = None
            if self.strict:
                if err is e:
                    raise
                raise err from e
            reason = getattr(err, "reason", None) or str(err)
            self.skip(SkipEvent("shard", url, None, reason, n))
        finally:
            if stream is not None:
                try:
                    close_stream(stream, check=False)
                except OSError:
                    pass
