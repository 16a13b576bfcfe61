"""Restricting a loader to a manifest selection (DESIGN §7).

``select_samples(source, selection)`` turns a shard source plus a selection into the shard
URLs to read and the sample keys to keep:

- ``source`` a manifest URL (``.../manifest.parquet``, local or http) or a local build folder:
  the shards are those named in the (selected) manifest rows, resolved against the manifest's
  folder.
- ``source`` shard URLs (brace ranges etc.): only those of them that hold selected samples
  are read (matched by file name).
- ``selection`` a pandas query string (``"n_tracks <= 8 and split == 'train'"``) evaluated on
  the manifest, or a DataFrame with at least ``key`` and ``shard`` columns (a user's own
  ``manifest.query(...)`` result), or None (no filter).
"""

from __future__ import annotations

import io
import os
from pathlib import PurePosixPath

import pandas as pd

from dmcdata.streaming.urls import (DEFAULT_SHARD_DEADLINE_S, DEFAULT_TIMEOUT_S, UrlError, close_stream, expand_urls,
                                   join_url, local_path, open_url)


class SelectionError(ValueError):
    """A manifest selection that cannot be applied (bad query, missing columns, no samples)."""


MANIFEST_NAME = "manifest.parquet"


def read_manifest(url: str, timeout: float = DEFAULT_TIMEOUT_S, deadline: float | None = DEFAULT_SHARD_DEADLINE_S) -> pd.DataFrame:
    """Read a manifest Parquet file from a local path, ``file://`` or ``http(s)://`` URL."""
    p = local_path(url)
    if p is not None and not p.is_file():
        raise SelectionError(f"manifest {url} not found (a query-string selection reads the manifest.parquet "
                             f"of the build folder or beside the shards; pass manifest=URL, or a DataFrame)")
    try:
        if p is not None:
            return pd.read_parquet(p)
        stream = open_url(url, timeout=timeout, deadline=deadline)
        try:
            data = stream.read()
        finally:
            close_stream(stream, check=False)
        return pd.read_parquet(io.BytesIO(data))
    except (OSError, ValueError) as e:
        raise SelectionError(f"cannot read manifest {url}: {e}") from None


def _folder_of(url: str) -> str:
    if url.startswith(("http://", "https://", "file://")):
        return url.rsplit("/", 1)[0]
    return os.path.dirname(url) or "."


def _apply(df: pd.DataFrame, selection, manifest_url: str | None) -> pd.DataFrame:
    if isinstance(selection, str):
        try:
            df = df.query(selection)
        except Exception as e:  # pandas raises many types for a bad expression
            raise SelectionError(f"query {selection!r} failed on manifest {manifest_url}: {e}") from None
    for col in ("key", "shard"):
        if col not in df.columns:
            raise SelectionError(f"manifest selection has no {col!r} column (columns: {list(df.columns)})")
    if len(df) == 0:
        raise SelectionError(f"manifest selection {selection if isinstance(selection, str) else '(DataFrame)'!r} "
                             f"matches no samples")
    return df


def select_samples(source, selection=None, manifest: str | None = None,
                   timeout: float = DEFAULT_TIMEOUT_S) -> tuple[list[str], frozenset[str] | None]:
    """Return ``(shard URLs, keys to keep or None)`` for ``source`` under ``selection``.

    ``manifest`` overrides where a query string's manifest is read from (default: the
    ``manifest.parquet`` beside the shards).
    """
    single = source if isinstance(source, (str, os.PathLike)) else None
    single = os.fspath(single) if single is not None else None
    is_manifest = single is not None and single.endswith(".parquet")
    p = local_path(single) if single is not None and not is_manifest else None
    is_dir = p is not None and p.is_dir()

    if is_manifest or (is_dir and selection is not None):
        manifest_url = single if is_manifest else str(p / MANIFEST_NAME)
        base = _folder_of(manifest_url)
        if isinstance(selection, pd.DataFrame):
            df = _apply(selection, None, manifest_url)
        else:
            df = _apply(read_manifest(manifest or manifest_url, timeout), selection, manifest_url)
        shards = sorted(set(df["shard"].astype(str)))
        return [join_url(base, s) for s in shards], frozenset(df["key"].astype(str))

    urls = expand_urls(source)
    if selection is None:
        return urls, None
    if isinstance(selection, pd.DataFrame):
        df = _apply(selection, None, None)
    else:
        manifest_url = manifest or join_url(_folder_of(urls[0]), MANIFEST_NAME)
        df = _apply(read_manifest(manifest_url, timeout), selection, manifest_url)
    wanted = {PurePosixPath(str(s)).name for s in df["shard"]}
    by_name = {PurePosixPath(u.split("?", 1)[0]).name: u for u in urls}
    missing = sorted(wanted - set(by_name))
    if missing:
        raise SelectionError(f"the selection names {len(missing)} shard(s) not among the given URLs, e.g. "
                             f"{missing[:3]}; pass the build folder or manifest URL instead")
    kept = [u for u in urls if PurePosixPath(u.split("?", 1)[0]).name in wanted]
    if not kept:  # pragma: no cover - guarded by the check above
        raise UrlError("selection leaves no shards")
    return kept, frozenset(df["key"].astype(str))
