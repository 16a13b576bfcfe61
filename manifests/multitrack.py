"""Manifest schema of multitrack builds (MedleyDB, ENST-drums): one row per sample (song segment).

Columns (units in the names; lists are per input track, in the order of the sample's tracks):

=====================  =================  ==================================================
key                    string             sample key, ``<dataset>-<song>-<segment:06d>``
dataset                string             ``medleydb`` / ``enst_drums``
split                  string             ``train`` / ``val`` / ``test``
song                   string             MedleyDB song / ENST ``<drummer>_<take>``
segment                int32              segment index within the song (0-based)
start                  int64              first frame of the segment in the source files
frames                 int64              segment length in frames
start_s, duration_s    double             the same in seconds
sample_rate            int32              Hz
n_tracks               int32              number of input tracks (stems, raw tracks or mics)
track_kind             string             ``stem`` / ``raw`` / ``mic``
track_names            list<string>       source file names without extension
instruments            list<string>       instrument per input track (first listed one)
track_channels         list<int32>        channels per input track
shard                  string             shard file name = URL relative to the build folder
member_sizes           string             JSON ``{member extension: bytes}``
sha256                 string             of the sample's members concatenated in sorted member order
mix_loudness_lufs      double             BS.1770 integrated loudness of the mix segment
mix_silent             bool               mix peak below the silence threshold
track_loudness_lufs    list<double>       per input track (NaN: < 400 ms, -inf: gated silence)
track_silent           list<bool>         per input track: peak below the silence threshold
n_silent_tracks        int32              number of True in ``track_silent``
artist, genre          string (nullable)  MedleyDB only
has_bleed              bool (nullable)    MedleyDB only
drummer, take          string (nullable)  ENST-drums only
=====================  =================  ==================================================
"""

from __future__ import annotations

import json
import math
import re

import pyarrow as pa

from dmcdata.shards import check_key
from manifests import INTEGRITY_FIELDS, SAMPLE_FIELDS


class ManifestError(ValueError):
    """A manifest row breaks the schema; the message names the row key and the field."""


SCHEMA = pa.schema([
    *SAMPLE_FIELDS,
    pa.field("track_kind", pa.string(), nullable=False),
    pa.field("track_names", pa.list_(pa.string()), nullable=False),
    pa.field("instruments", pa.list_(pa.string()), nullable=False),
    pa.field("track_channels", pa.list_(pa.int32()), nullable=False),
    *INTEGRITY_FIELDS,
    pa.field("mix_loudness_lufs", pa.float64(), nullable=False),
    pa.field("mix_silent", pa.bool_(), nullable=False),
    pa.field("track_loudness_lufs", pa.list_(pa.float64()), nullable=False),
    pa.field("track_silent", pa.list_(pa.bool_()), nullable=False),
    pa.field("n_silent_tracks", pa.int32(), nullable=False),
    pa.field("artist", pa.string(), nullable=True),
    pa.field("genre", pa.string(), nullable=True),
    pa.field("has_bleed", pa.bool_(), nullable=True),
    pa.field("drummer", pa.string(), nullable=True),
    pa.field("take", pa.string(), nullable=True),
])

SPLITS = ("train", "val", "test")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_SHARD = re.compile(r"^[A-Za-z0-9_]+-(train|val|test)-\d{6}\.tar$")
PER_TRACK = ("track_names", "instruments", "track_channels", "track_loudness_lufs", "track_silent")


def check_common(row: dict, schema: pa.Schema) -> None:
    """Checks shared by every build manifest; raises :class:`ManifestError`."""
    key = row.get("key")
    where = f"manifest row {key!r}"
    for f in schema:
        if f.name not in row:
            raise ManifestError(f"{where}: missing field {f.name!r}")
        if row[f.name] is None and not f.nullable:
            raise ManifestError(f"{where}: field {f.name!r} is null")
    try:
        check_key(key)
    except ValueError as e:
        raise ManifestError(f"{where}: field 'key': {e}") from None
    if row["split"] not in SPLITS:
        raise ManifestError(f"{where}: field 'split' is {row['split']!r}, expected one of {SPLITS}")
    if not _SHA.match(row["sha256"]):
        raise ManifestError(f"{where}: field 'sha256' is not a hex sha256")
    if not _SHARD.match(row["shard"]):
        raise ManifestError(f"{where}: field 'shard' {row['shard']!r} is not <dataset>-<split>-NNNNNN.tar")
    if row["frames"] <= 0 or row["sample_rate"] <= 0 or row["start"] < 0:
        raise ManifestError(f"{where}: fields 'frames'/'sample_rate' must be > 0 and 'start' >= 0")
    if not math.isclose(row["duration_s"], row["frames"] / row["sample_rate"], rel_tol=1e-12):
        raise ManifestError(f"{where}: field 'duration_s' disagrees with frames / sample_rate")
    try:
        sizes = json.loads(row["member_sizes"])
    except (TypeError, json.JSONDecodeError):
        raise ManifestError(f"{where}: field 'member_sizes' is not JSON") from None
    if not isinstance(sizes, dict) or "json" not in sizes:
        raise ManifestError(f"{where}: field 'member_sizes' lacks the 'json' member")


def validate_row(row: dict) -> dict:
    """Check one multitrack manifest row; returns it unchanged or raises :class:`ManifestError`."""
    check_common(row, SCHEMA)
    where = f"manifest row {row['key']!r}"
    n = row["n_tracks"]
    if n < 1:
        raise ManifestError(f"{where}: field 'n_tracks' must be >= 1")
    for col in PER_TRACK:
        if len(row[col]) != n:
            raise ManifestError(f"{where}: field {col!r} has {len(row[col])} entries for {n} tracks")
    if row["n_silent_tracks"] != sum(bool(s) for s in row["track_silent"]):
        raise ManifestError(f"{where}: field 'n_silent_tracks' disagrees with 'track_silent'")
    if row["track_kind"] not in ("stem", "raw", "mic"):
        raise ManifestError(f"{where}: field 'track_kind' is {row['track_kind']!r}")
    return row


def to_table(rows: list[dict]) -> pa.Table:
    """Validate ``rows`` and return them as a table with :data:`SCHEMA`."""
    return pa.Table.from_pylist([validate_row(r) for r in rows], schema=SCHEMA)
