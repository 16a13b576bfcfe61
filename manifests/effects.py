"""Manifest schema of ``dmcdata synth-chain`` output (one row per effect example).

Columns (all non-null unless said otherwise):

- key            ``synth-<shard:06d>-<index:06d>``
- dataset        "synth"
- split          label given with ``--split`` (default "train")
- shard          relative file name of the tar shard (= relative URL)
- index          position of the example in its shard
- seed           the example's own seed (uint64; ``effects.example_from_seed`` rebuilds it)
- sample_rate    Hz
- frames         patch length in samples
- duration_s     frames / sample_rate
- order          processor order, e.g. "eq,compressor,reverb"
- order_index    index of the order in ``dmcdata.console.ORDERS`` (0 = static order)
- processors     processors with random settings (the others are neutral)
- n_params       25 (static order) or 31 (variable order)
- params         the normalized conditioning vector (list<float32>, same as ``params.npy``)
- augmentations  augmentations that fired, in the order applied
- source_shard   file name of the dry-audio shard the patch came from
- source_key     its sample key
- source_member  its member (e.g. "t03.flac", "input.flac")
- source_start_s patch start within that member, seconds
- mix_source_key / mix_source_member  the second patch's origin when "mix" fired (else null)
- input_rms_db   RMS of the input patch (dBFS)
- input_peak / target_peak   max |x| of input and target
- member_sizes   JSON object of member extension -> bytes
- sha256         sha256 of the sample's members concatenated in sorted member order
"""

from __future__ import annotations

import pyarrow as pa

EFFECT_MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),
        pa.field("index", pa.int32(), nullable=False),
        pa.field("seed", pa.uint64(), nullable=False),
        pa.field("sample_rate", pa.int32(), nullable=False),
        pa.field("frames", pa.int64(), nullable=False),
        pa.field("duration_s", pa.float64(), nullable=False),
        pa.field("order", pa.string(), nullable=False),
        pa.field("order_index", pa.int8(), nullable=False),
        pa.field("processors", pa.list_(pa.string()), nullable=False),
        pa.field("n_params", pa.int16(), nullable=False),
        pa.field("params", pa.list_(pa.float32()), nullable=False),
        pa.field("augmentations", pa.list_(pa.string()), nullable=False),
        pa.field("source_shard", pa.string(), nullable=False),
        pa.field("source_key", pa.string(), nullable=False),
        pa.field("source_member", pa.string(), nullable=False),
        pa.field("source_start_s", pa.float64(), nullable=False),
        pa.field("mix_source_key", pa.string(), nullable=True),
        pa.field("mix_source_member", pa.string(), nullable=True),
        pa.field("input_rms_db", pa.float64(), nullable=False),
        pa.field("input_peak", pa.float32(), nullable=False),
        pa.field("target_peak", pa.float32(), nullable=False),
        pa.field("member_sizes", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
    ]
)


def effect_manifest_table(rows: list[dict]) -> pa.Table:
    """Rows (dicts with the columns above) → typed table sorted by key."""
    rows = sorted(rows, key=lambda r: r["key"])
    return pa.Table.from_pylist(rows, schema=EFFECT_MANIFEST_SCHEMA)
