"""WebDataset shard writing: plain POSIX tar files, written atomically, hashed while written.

A shard is written to a private ``<name>.<pid>-<random>.partial`` file in the destination folder
and renamed to its final name only once complete and flushed to disk, so a killed job never
leaves a file that a reader would take as a finished shard, and a task left running by a killed
job never shares a temporary file with the rerun's task (both write identical bytes; the last
rename wins). A rerun deletes only leftovers that carry this exact private pattern
(:func:`own_temp_files`): a user's ``notes.partial`` beside them is never touched. Tar headers are normalised (mtime 0, uid/gid 0, no user names,
mode 0644) so that the same samples always give byte-identical shards.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

PARTIAL_SUFFIX = ".partial"
_KEY_OK = re.compile(r"^[A-Za-z0-9_\-/]+$")


@dataclass(frozen=True)
class ShardInfo:
    """What the shard table records for one finished shard."""

    shard: str  # file name, relative to the build's output folder
    size: int  # bytes
    n_samples: int
    sha256: str


def check_key(key: str) -> str:
    """Sample keys may not contain dots (WebDataset splits member names at the first dot)."""
    if not key or not _KEY_OK.match(key):
        raise ValueError(f"invalid sample key {key!r}: use letters, digits, '_', '-' and no dots")
    return key


def safe_key_part(text: str) -> str:
    """Turn any name (a song, a take) into something usable inside a sample key."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", text)


class _HashingFile:
    """Write-only file wrapper that hashes and counts every byte on its way to disk."""

    def __init__(self, f):
        self._f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def tell(self) -> int:
        return self.size

    def write(self, b) -> int:
        n = self._f.write(b)
        self.sha.update(b)
        self.size += len(b)
        return n


class ShardWriter:
    """Write samples (``key`` + ``{extension: bytes}``) into one tar shard, atomically.

    Use as a context manager; on an exception the partial file is removed. ``close()``
    returns the :class:`ShardInfo` (size, sample count and sha256 of the final file).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = _private_temp(self.path)
        self._raw = open(self._partial, "wb")
        self._hashing = _HashingFile(self._raw)
        self._tar = tarfile.open(fileobj=self._hashing, mode="w", format=tarfile.PAX_FORMAT)
        self.n_samples = 0
        self._info: ShardInfo | None = None

    def write(self, key: str, members: dict[str, bytes]) -> dict[str, int]:
        """Add one sample; members are written in sorted extension order. Returns member sizes."""
        check_key(key)
        sizes = {}
        for ext in sorted(members):
            data = members[ext]
            ti = tarfile.TarInfo(f"{key}.{ext}")
            ti.size = len(data)
            ti.mtime = 0
            ti.mode = 0o644
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            self._tar.addfile(ti, io.BytesIO(data))
            sizes[ext] = len(data)
        self.n_samples += 1
        return sizes

    def close(self) -> ShardInfo:
        if self._info is not None:
            return self._info
        self._tar.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self._partial, self.path)
        self._info = ShardInfo(self.path.name, self._hashing.size, self.n_samples, self._hashing.sha.hexdigest())
        return self._info

    def abort(self) -> None:
        try:
            self._tar.close()
        finally:
            self._raw.close()
            self._partial.unlink(missing_ok=True)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _private_temp(path: Path) -> Path:
    return path.with_name(f"{path.name}.{os.getpid()}-{os.urandom(4).hex()}{PARTIAL_SUFFIX}")


_TEMP_TAIL = re.compile(r"^(?P<final>.+)\.\d+-[0-9a-f]{8}" + re.escape(PARTIAL_SUFFIX) + "$")


def temp_target(name: str) -> str | None:
    """The final file name a private temporary name (``<final>.<pid>-<8 hex>.partial``) stands for."""
    m = _TEMP_TAIL.match(name)
    return m.group("final") if m else None


def own_temp_files(folder: str | os.PathLike, final_name: re.Pattern | str) -> list[Path]:
    """The leftover private temporary files in ``folder`` whose final name matches ``final_name``
    (a regex matched in full): exactly what :class:`ShardWriter` / :func:`write_atomic` of a
    killed run leave, and nothing else (a user's ``x.partial`` does not have this shape)."""
    pat = re.compile(final_name) if isinstance(final_name, str) else final_name
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        final = temp_target(p.name)
        if final is not None and pat.fullmatch(final) and p.is_file() and not p.is_symlink():
            out.append(p)
    return out


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file's bytes with ``hashlib`` ``algorithm``, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    return file_digest(path, "sha256")


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _private_temp(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
