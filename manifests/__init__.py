"""Manifest schemas and table I/O shared by every pipeline.

Every build or synth-chain output folder holds:

- ``manifest.parquet``  one row per sample (schema per dataset kind, see the modules here)
- ``shards.parquet``    one row per shard: shard (relative URL), size, n_samples, sha256
- ``rejects.parquet``   one row per rejected input: dataset, song, file, reason

Tables are written atomically (temporary file + rename), so a killed job never leaves a
half-written table behind.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dmcdata.shards import ShardInfo, write_atomic

SCHEMA_DIR = Path(__file__).resolve().parent

#: Leading columns of every dataset manifest (multitrack and paired): where a sample comes from.
SAMPLE_FIELDS = [
    pa.field("key", pa.string(), nullable=False),
    pa.field("dataset", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("song", pa.string(), nullable=False),
    pa.field("segment", pa.int32(), nullable=False),
    pa.field("start", pa.int64(), nullable=False),
    pa.field("frames", pa.int64(), nullable=False),
    pa.field("start_s", pa.float64(), nullable=False),
    pa.field("duration_s", pa.float64(), nullable=False),
    pa.field("sample_rate", pa.int32(), nullable=False),
    pa.field("n_tracks", pa.int32(), nullable=False),
]

#: Where a sample is stored and how to check it: shard (relative URL), member sizes (JSON), sha256.
INTEGRITY_FIELDS = [
    pa.field("shard", pa.string(), nullable=False),
    pa.field("member_sizes", pa.string(), nullable=False),
    pa.field("sha256", pa.string(), nullable=False),
]

SHARD_TABLE_SCHEMA = pa.schema(
    [
        pa.field("shard", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("n_samples", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
    ]
)

REJECTS_SCHEMA = pa.schema(
    [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("song", pa.string(), nullable=False),
        pa.field("file", pa.string(), nullable=True),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


def write_table(table: pa.Table | pd.DataFrame, path: str | os.PathLike, schema: pa.Schema | None = None) -> None:
    """Write a Parquet table atomically and deterministically (no pandas index, fixed schema)."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, schema=schema, preserve_index=False)
    elif schema is not None:
        table = table.cast(schema)
    table = table.replace_schema_metadata(None)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    write_atomic(path, buf.getvalue())


def shard_table(infos: list[ShardInfo]) -> pa.Table:
    rows = sorted(infos, key=lambda i: i.shard)
    return pa.table(
        {
            "shard": [i.shard for i in rows],
            "size": [i.size for i in rows],
            "n_samples": [i.n_samples for i in rows],
            "sha256": [i.sha256 for i in rows],
        },
        schema=SHARD_TABLE_SCHEMA,
    )


def rejects_table(rows: list[dict]) -> pa.Table:
    rows = sorted(rows, key=lambda r: (r["dataset"], r["song"], r.get("file") or ""))
    return pa.Table.from_pylist(
        [{"dataset": r["dataset"], "song": r["song"], "file": r.get("file"), "reason": r["reason"]} for r in rows],
        schema=REJECTS_SCHEMA,
    )
