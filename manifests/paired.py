"""Manifest schema of paired builds (SignalTrain LA2A): one row per sample (pair segment).

Shared columns as in :mod:`manifests.multitrack` (key, dataset, split, song = the pair id, segment,
start, frames, start_s, duration_s, sample_rate, n_tracks = 1, instruments = [], shard,
member_sizes, sha256), plus:

=======================  ========  ===========================================================
unit                     string    LA-2A unit named in the target file
limit                    int8      0 = compress, 1 = limit
peak_reduction           double    the peak-reduction knob, 0-100
channels                 int32     channels of input and target
input_loudness_lufs      double    BS.1770 integrated loudness (NaN < 400 ms, -inf silence)
target_loudness_lufs     double
input_silent             bool      peak below the silence threshold
target_silent            bool
=======================  ========  ===========================================================
"""

from __future__ import annotations

import pyarrow as pa

from manifests import INTEGRITY_FIELDS, SAMPLE_FIELDS
from manifests.multitrack import ManifestError, check_common

SCHEMA = pa.schema([
    *SAMPLE_FIELDS,
    pa.field("instruments", pa.list_(pa.string()), nullable=False),
    *INTEGRITY_FIELDS,
    pa.field("unit", pa.string(), nullable=False),
    pa.field("limit", pa.int8(), nullable=False),
    pa.field("peak_reduction", pa.float64(), nullable=False),
    pa.field("channels", pa.int32(), nullable=False),
    pa.field("input_loudness_lufs", pa.float64(), nullable=False),
    pa.field("target_loudness_lufs", pa.float64(), nullable=False),
    pa.field("input_silent", pa.bool_(), nullable=False),
    pa.field("target_silent", pa.bool_(), nullable=False),
])


def validate_row(row: dict) -> dict:
    """Check one paired manifest row; returns it unchanged or raises :class:`ManifestError`."""
    check_common(row, SCHEMA)
    where = f"manifest row {row['key']!r}"
    if row["limit"] not in (0, 1):
        raise ManifestError(f"{where}: field 'limit' must be 0 or 1, got {row['limit']!r}")
    if not 0.0 <= row["peak_reduction"] <= 100.0:
        raise ManifestError(f"{where}: field 'peak_reduction' must be in 0-100, got {row['peak_reduction']!r}")
    if row["n_tracks"] != 1:
        raise ManifestError(f"{where}: field 'n_tracks' must be 1 for a pair")
    return row


def to_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist([validate_row(r) for r in rows], schema=SCHEMA)
