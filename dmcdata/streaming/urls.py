"""Shard URLs: expansion of brace ranges and opening of local, ``file://``, ``http(s)://`` and
``pipe:`` URLs as binary streams.

URL forms accepted everywhere a loader takes shards:

- ``/data/out/medleydb-train-{000000..000041}.tar``  local path with a brace range; the range
  keeps the zero padding of its endpoints (width = the longer endpoint when either has a
  leading zero). ``{a,b,c}`` lists and several brace groups in one URL (cartesian product,
  left to right) work too.
- ``file:///data/out/x.tar``  the same as the local path
- ``http://host/x.tar``, ``https://...``  streamed with ``urllib`` (no seeking, no temp file)
- ``pipe:COMMAND``  the command's stdout (``pipe:aws s3 cp s3://b/x.tar -``); a non-zero exit
  status is an error for that shard. Brace ranges and simple lists in the command are expanded
  here too, one command per shard (``pipe:cat /d/x-{000..009}.tar`` = 10 URLs, as in
  WebDataset); a brace group holding spaces or shell syntax (``awk '{print $1}'``) is left to
  the shell
- a directory: every ``*.tar`` in it, sorted by name
- a list of any of the above (each expanded, order kept)
"""

from __future__ import annotations

import itertools
import math
import os
import re
import select
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Iterable


class UrlError(ValueError):
    """A shard URL specification that cannot be expanded (malformed braces, empty list)."""


class ShardOpenError(OSError):
    """A shard that cannot be opened or read to its end (missing file, HTTP error, pipe exit != 0)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class ShardTimeoutError(ShardOpenError):
    """A remote shard (http(s):// or pipe:) that stalled: no data for ``timeout`` seconds, or not
    complete within its overall ``deadline`` (a host that trickles bytes)."""


# Defaults of every remote read: seconds without any data before a read fails (each of the
# ``retries`` connection attempts waits at most this long), and seconds one whole shard may take,
# retries included (300 s: a 256 MB shard needs 0.85 MB/s). A dead host costs at most
# 3 x 20 s + 1.5 s of back-off per shard, a trickling one at most the deadline.
DEFAULT_TIMEOUT_S = 20.0
DEFAULT_SHARD_DEADLINE_S = 300.0


_BRACE = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")


def _brace_alternatives(body: str, spec: str) -> list[str]:
    m = _RANGE.match(body)
    if m:
        a, b = m.group(1), m.group(2)
        lo, hi = int(a), int(b)
        padded = (len(a.lstrip("-")) > 1 and a.lstrip("-").startswith("0")) or (
            len(b.lstrip("-")) > 1 and b.lstrip("-").startswith("0"))
        width = max(len(a), len(b)) if padded else 0
        step = 1 if hi >= lo else -1
        return [str(i).zfill(width) for i in range(lo, hi + step, step)]
    if "," in body:
        return body.split(",")
    raise UrlError(f"cannot expand brace group {{{body}}} in {spec!r}: use {{000..041}} or {{a,b,c}}")


def expand_braces(spec: str) -> list[str]:
    """Expand every ``{N..M}`` range and ``{a,b}`` list in ``spec`` (cartesian product, in order).

    >>> expand_braces("s-{00..02}.tar")
    ['s-00.tar', 's-01.tar', 's-02.tar']
    """
    parts: list[list[str]] = []
    pos = 0
    for m in _BRACE.finditer(spec):
        parts.append([spec[pos:m.start()]])
        parts.append(_brace_alternatives(m.group(1), spec))
        pos = m.end()
    tail = spec[pos:]
    if "{" in tail or "}" in tail or any("{" in p[0] or "}" in p[0] for p in parts[0::2]):
        raise UrlError(f"unbalanced or nested braces in shard URL {spec!r}")
    parts.append([tail])
    return ["".join(p) for p in itertools.product(*parts)]


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_SIMPLE_LIST = re.compile(r"^[\w.\-/:+@%=]*(,[\w.\-/:+@%=]*)+$")


def expand_pipe_braces(spec: str) -> list[str]:
    """Expand the shard-numbering brace groups of a ``pipe:`` command.

    ``{N..M}`` ranges and lists of plain words ``{a,b}`` are expanded (cartesian product, in
    order), so that every shard gets its own command; any other brace group (spaces, quotes,
    ``$`` …) belongs to the shell command and is kept as written.

    >>> expand_pipe_braces("pipe:cat s-{0..1}.tar | awk '{print $1}'")
    ["pipe:cat s-0.tar | awk '{print $1}'", "pipe:cat s-1.tar | awk '{print $1}'"]
    """
    parts: list[list[str]] = []
    pos = 0
    for m in _BRACE.finditer(spec):
        body = m.group(1)
        if _RANGE.match(body) or _SIMPLE_LIST.match(body):
            parts.append([spec[pos:m.start()]])
            parts.append(_brace_alternatives(body, spec))
            pos = m.end()
    parts.append([spec[pos:]])
    return ["".join(p) for p in itertools.product(*parts)]


def _is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://", "pipe:"))


def local_path(url: str) -> Path | None:
    """The filesystem path of a local or ``file://`` URL; None for http/pipe URLs."""
    if url.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))
    if _is_remote(url):
        return None
    return Path(url)


def expand_urls(spec: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Expand a shard specification (see the module doc) into a flat list of URLs, order kept."""
    if isinstance(spec, (str, os.PathLike)):
        items = [os.fspath(spec)]
    else:
        items = [os.fspath(s) for s in spec]
    out: list[str] = []
    for item in items:
        if not item:
            raise UrlError("empty shard URL")
        if item.startswith("pipe:"):  # a shell command: only shard-numbering braces are ours
            out.extend(expand_pipe_braces(item))
            continue
        scheme = _SCHEME.match(item)
        if scheme and scheme.group(1).lower() not in ("file", "http", "https"):
            raise UrlError(f"unsupported URL scheme {scheme.group(1)}:// in {item!r}: use a local path, file://, "
                           f"http(s):// or pipe:COMMAND (e.g. 'pipe:aws s3 cp s3://bucket/x.tar -')")
        for url in expand_braces(item):
            p = local_path(url)
            if p is not None and p.is_dir():
                tars = sorted(str(q) for q in p.glob("*.tar"))
                if not tars:
                    raise UrlError(f"directory {p} holds no *.tar shards")
                out.extend(tars)
            else:
                out.append(url)
    if not out:
        raise UrlError(f"shard specification {spec!r} expands to no URLs")
    return out


def join_url(base: str, relative: str) -> str:
    """Resolve a manifest's relative shard name against the folder URL the manifest came from."""
    if relative.startswith(("http://", "https://", "file://", "pipe:", "/")):
        return relative
    if base.startswith(("http://", "https://", "file://")):
        return urllib.parse.urljoin(base.rstrip("/") + "/", relative)
    return str(Path(base) / relative)


def _deadline_at(deadline: float | None) -> float:
    return math.inf if deadline is None or deadline <= 0 else time.monotonic() + float(deadline)


def _deadline_reason(deadline: float | None, got: int, where: str) -> str:
    return (f"not complete within the deadline of {deadline:g} s per shard ({got} bytes {where}); "
            f"a stalled or very slow source (raise shard_deadline= for slower links)")


def _read_all(stream) -> bytes:
    chunks = []
    while b := stream.read(1 << 16):
        chunks.append(b)
    return b"".join(chunks)


class _PipeStream:
    """stdout of a shell command as a read-only binary stream; close() checks the exit status.

    Reads wait with ``select`` so that an overall ``deadline`` (seconds) ends a command that
    stalls: it is killed and :class:`ShardTimeoutError` raised."""

    def __init__(self, url: str, command: str, deadline: float | None = None):
        self.url = url
        self.deadline = deadline
        self._deadline_at = _deadline_at(deadline)
        self.got = 0
        # its own process group: a stalled command is ended whole (the shell and what it started)
        self.proc = subprocess.Popen(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                                     start_new_session=True)
        self.raw = self.proc.stdout

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return _read_all(self)
        left = self._deadline_at - time.monotonic()
        if left <= 0 or not select.select([self.raw], [], [], None if math.isinf(left) else left)[0]:
            self._kill()
            raise ShardTimeoutError(self.url, _deadline_reason(self.deadline, self.got, "from the command"))
        b = os.read(self.raw.fileno(), n)
        self.got += len(b)
        return b

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def close(self, check: bool = False) -> None:
        """Close; with ``check`` drain stdout and raise ShardOpenError on a non-zero exit status."""
        try:
            if check:
                while self.read(1 << 16):
                    pass
        finally:
            self.raw.close()
        if check:
            err = self.proc.stderr.read().decode(errors="replace").strip()
            rc = self.proc.wait()
            self.proc.stderr.close()
            if rc != 0:
                raise ShardOpenError(self.url, f"pipe command exited with status {rc}: {err[-300:]}")
        else:
            self._kill()
            self.proc.stderr.close()


class _HttpStream:
    """An HTTP response body read with a per-read ``timeout`` and an overall deadline.

    Each ``read`` is one ``read1`` (at most one socket receive) with the socket's timeout set to
    ``min(timeout, time left)``: a host that sends nothing fails after ``timeout`` seconds, one
    that trickles a few bytes at a time fails at the deadline."""

    def __init__(self, resp, url: str, timeout: float, deadline: float | None, deadline_at: float):
        self.resp = resp
        self.url = url
        self.timeout = timeout
        self.deadline = deadline
        self._deadline_at = deadline_at
        self.got = 0
        raw = getattr(getattr(resp, "fp", None), "raw", None)
        self._sock = getattr(raw, "_sock", None)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return _read_all(self)
        left = self._deadline_at - time.monotonic()
        if left <= 0:
            raise ShardTimeoutError(self.url, _deadline_reason(self.deadline, self.got, "received"))
        if self._sock is not None:
            self._sock.settimeout(min(self.timeout, left))
        try:
            b = self.resp.read1(n)
        except (TimeoutError, socket.timeout):
            if self._deadline_at - time.monotonic() <= 0:
                raise ShardTimeoutError(self.url, _deadline_reason(self.deadline, self.got, "received")) from None
            raise ShardTimeoutError(self.url, f"stalled: no data for {self.timeout:g} s after {self.got} bytes "
                                              f"(per-read timeout)") from None
        self.got += len(b)
        return b

    def close(self) -> None:
        self.resp.close()


def open_url(url: str, timeout: float = DEFAULT_TIMEOUT_S, retries: int = 2, backoff: float = 0.5,
             deadline: float | None = None) -> BinaryIO:
    """Open one shard URL for sequential binary reading.

    HTTP errors that may be transient (connection refused/reset, 5xx, timeouts) are retried
    ``retries`` times with exponential ``backoff`` seconds; 4xx errors are not. ``timeout``:
    seconds a connection attempt or a read may wait for data. ``deadline`` (http and pipe URLs;
    None = none): seconds from now in which the whole shard must be read, retries included; past
    it a read raises :class:`ShardTimeoutError`. Raises :class:`ShardOpenError` naming the URL and
    the reason.
    """
    if url.startswith("pipe:"):
        cmd = url[len("pipe:"):].strip()
        if not cmd:
            raise ShardOpenError(url, "empty pipe command")
        return _PipeStream(url, cmd, deadline)  # type: ignore[return-value]
    if url.startswith(("http://", "https://")):
        at = _deadline_at(deadline)
        last = ""
        for attempt in range(retries + 1):
            left = at - time.monotonic()
            if left <= 0:
                raise ShardTimeoutError(url, _deadline_reason(deadline, 0, "received") + f"; last: {last}")
            try:
                resp = urllib.request.urlopen(url, timeout=min(timeout, left))
                return _HttpStream(resp, url, timeout, deadline, at)  # type: ignore[return-value]
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code} {e.reason}"
                if e.code < 500:
                    break
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    last = f"no answer within {min(timeout, left):g} s"
                else:
                    last = f"unreachable ({reason})"
            if attempt < retries:
                time.sleep(max(0.0, min(backoff * 2 ** attempt, at - time.monotonic())))
        if last.startswith("no answer"):
            raise ShardTimeoutError(url, f"{last} ({retries + 1} attempts)")
        raise ShardOpenError(url, last)
    path = local_path(url)
    try:
        return open(path, "rb")  # type: ignore[arg-type]
    except OSError as e:
        raise ShardOpenError(url, f"cannot open ({e.strerror or e})") from None


def close_stream(stream, check: bool) -> None:
    """Close a stream from :func:`open_url`; ``check`` verifies a pipe command's exit status."""
    if isinstance(stream, _PipeStream):
        stream.close(check=check)
    else:
        stream.close()
