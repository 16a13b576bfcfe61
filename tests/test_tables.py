"""Shard and reject tables: typed, sorted, deterministic Parquet written atomically."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dmcdata.shards import ShardInfo
from manifests import REJECTS_SCHEMA, SHARD_TABLE_SCHEMA, rejects_table, shard_table, write_table


def test_shard_table_round_trip_sorted(tmp_path):
    infos = [ShardInfo("m-train-000001.tar", 20, 2, "b" * 64), ShardInfo("m-train-000000.tar", 10, 1, "a" * 64)]
    write_table(shard_table(infos), tmp_path / "shards.parquet")
    df = pd.read_parquet(tmp_path / "shards.parquet")
    assert list(df.columns) == SHARD_TABLE_SCHEMA.names
    assert df["shard"].tolist() == ["m-train-000000.tar", "m-train-000001.tar"]
    assert df["n_samples"].tolist() == [1, 2]


def test_same_table_same_bytes(tmp_path):
    rows = [{"dataset": "medleydb", "song": "B", "file": "x.wav", "reason": "truncated"},
            {"dataset": "medleydb", "song": "A", "file": None, "reason": "malformed YAML"}]
    write_table(rejects_table(rows), tmp_path / "a.parquet")
    write_table(rejects_table(list(reversed(rows))), tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    df = pd.read_parquet(tmp_path / "a.parquet")
    assert df["song"].tolist() == ["A", "B"]
    assert pq.read_schema(tmp_path / "a.parquet").names == REJECTS_SCHEMA.names


def test_schema_violation_is_an_error(tmp_path):
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, ValueError)):
        write_table(pd.DataFrame({"shard": ["x"], "size": ["not a number"], "n_samples": [1], "sha256": ["a"]}),
                    tmp_path / "s.parquet", schema=SHARD_TABLE_SCHEMA)
    assert not (tmp_path / "s.parquet").exists()
