"""Read TensorFlow checkpoints (the "tensor bundle" format) without TensorFlow.

A checkpoint with prefix ``P`` is two kinds of file:

- ``P.index``: an immutable sorted key/value table in LevelDB's SSTable layout. Keys are tensor
  names; the empty key holds a ``BundleHeaderProto`` (shard count, byte order), every other key
  a ``BundleEntryProto`` (dtype, shape, shard id, byte offset, byte size, masked CRC-32C).
- ``P.data-SSSSS-of-NNNNN``: the raw little-endian tensor bytes, concatenated.

The SSTable layout (footer, block handles, prefix-compressed entries with restart points, block
trailers with a masked CRC-32C) is parsed here; the two protocol-buffer messages are decoded by the
``protobuf`` library from descriptors built at import time (no generated code, no TensorFlow);
CRC-32C comes from ``google-crc32c``. Only what TF 1.x/2.x ``tf.train.Saver`` writes is supported:
uncompressed blocks, one full (unsliced) tensor per entry, numeric dtypes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import google_crc32c
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

TABLE_MAGIC = 0xDB4775248B80FB57  # LevelDB table footer magic (little-endian uint64)
FOOTER_BYTES = 48
BLOCK_TRAILER_BYTES = 5  # 1 byte compression type + 4 bytes masked CRC-32C
CRC_MASK_DELTA = 0xA282EAD8

# tensorflow/core/framework/types.proto DataType values -> numpy little-endian dtypes
TF_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?",
             17: "<u2", 19: "<f2", 22: "<u4", 23: "<u8"}


class BundleError(ValueError):
    """The bytes are not a tensor bundle this reader understands (the message says why)."""


def _build_messages():
    """BundleHeaderProto / BundleEntryProto (tensorflow/core/protobuf/tensor_bundle.proto), field numbers only."""
    f = descriptor_pb2.FileDescriptorProto(name="dmc_tensor_bundle.proto", package="dmc_tfbundle", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto

    def message(name, fields):
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                fd.type_name = type_name
        return m

    opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    message("Dim", [("size", 1, T.TYPE_INT64, opt, None), ("name", 2, T.TYPE_STRING, opt, None)])
    message("TensorShape", [("dim", 2, T.TYPE_MESSAGE, rep, ".dmc_tfbundle.Dim"),
                            ("unknown_rank", 3, T.TYPE_BOOL, opt, None)])
    message("Header", [("num_shards", 1, T.TYPE_INT32, opt, None), ("endianness", 2, T.TYPE_INT32, opt, None)])
    message("Entry", [("dtype", 1, T.TYPE_INT32, opt, None),
                      ("shape", 2, T.TYPE_MESSAGE, opt, ".dmc_tfbundle.TensorShape"),
                      ("shard_id", 3, T.TYPE_INT32, opt, None), ("offset", 4, T.TYPE_INT64, opt, None),
                      ("size", 5, T.TYPE_INT64, opt, None), ("crc32c", 6, T.TYPE_FIXED32, opt, None),
                      ("slices", 7, T.TYPE_BYTES, rep, None)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("dmc_tfbundle.Header")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("dmc_tfbundle.Entry")))


HeaderProto, EntryProto = _build_messages()


def unmask_crc(masked: int) -> int:
    """LevelDB/TF CRC masking inverted: masked = rotr15(crc) + 0xa282ead8 (mod 2**32)."""
    rot = (masked - CRC_MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise BundleError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise BundleError("varint longer than 64 bits")


def _block(table: bytes, offset: int, size: int) -> bytes:
    """The contents of the block at (offset, size), its trailer checked (type 0 = uncompressed, CRC-32C)."""
    end = offset + size
    if end + BLOCK_TRAILER_BYTES > len(table):
        raise BundleError(f"block at {offset} (+{size}) runs past the end of the index ({len(table)} bytes)")
    data, kind = table[offset:end], table[end]
    if kind != 0:
        raise BundleError(f"block at {offset} uses compression type {kind}; only uncompressed tables are supported")
    (masked,) = struct.unpack_from("<I", table, end + 1)
    if google_crc32c.value(table[offset:end + 1]) != unmask_crc(masked):
        raise BundleError(f"block at {offset}: CRC-32C mismatch (damaged index)")
    return data


def _block_entries(block: bytes):
    """(key, value) pairs of one block: prefix-compressed keys, the restart array at the end."""
    if len(block) < 4:
        raise BundleError("block shorter than its restart count")
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise BundleError("restart array larger than its block")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise BundleError("corrupt block entry")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + value_len]
        pos += value_len


def table_items(table: bytes) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of a LevelDB-layout SSTable held in memory, in key order."""
    if len(table) < FOOTER_BYTES:
        raise BundleError(f"index is {len(table)} bytes, shorter than a table footer")
    footer = table[-FOOTER_BYTES:]
    (magic,) = struct.unpack_from("<Q", footer, FOOTER_BYTES - 8)
    if magic != TABLE_MAGIC:
        raise BundleError("no SSTable magic number at the end: not a TensorFlow .index file")
    pos = 0
    _, pos = _varint(footer, pos)  # metaindex handle (unused: TF writes no filter blocks)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    items = []
    for _, handle in _block_entries(_block(table, index_offset, index_size)):
        offset, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        items.extend(_block_entries(_block(table, offset, size)))
    return items


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int  # masked, as stored


def read_index(index: bytes) -> tuple[int, list[TensorEntry]]:
    """(number of data shards, tensor entries) of a bundle's ``.index`` bytes."""
    items = table_items(index)
    if not items or items[0][0] != b"":
        raise BundleError("index has no bundle header (empty key)")
    header = HeaderProto.FromString(items[0][1])
    if header.endianness != 0:
        raise BundleError("big-endian bundles are not supported")
    entries = []
    for key, value in items[1:]:
        e = EntryProto.FromString(value)
        name = key.decode("utf-8")
        if e.slices:
            raise BundleError(f"tensor {name!r} is stored in slices (partitioned variable); not supported")
        if e.dtype not in TF_DTYPES:
            raise BundleError(f"tensor {name!r} has TF dtype {e.dtype}, which this reader does not decode")
        entries.append(TensorEntry(name, TF_DTYPES[e.dtype], tuple(int(d.size) for d in e.shape.dim),
                                   int(e.shard_id), int(e.offset), int(e.size), int(e.crc32c)))
    return max(1, header.num_shards), entries


def read_bundle(index: bytes, shards: list[bytes], names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Tensors of a bundle given its ``.index`` bytes and its data shards' bytes (in shard order).

    ``names``: only these tensors (default all). Each tensor's bytes are checked against the
    CRC-32C in its entry, so a damaged ``.data`` file raises :class:`BundleError`.
    """
    n_shards, entries = read_index(index)
    if len(shards) != n_shards:
        raise BundleError(f"bundle has {n_shards} data shards, {len(shards)} given")
    wanted = None if names is None else set(names)
    out = {}
    for e in entries:
        if wanted is not None and e.name not in wanted:
            continue
        data = shards[e.shard]
        if e.offset + e.size > len(data):
            raise BundleError(f"tensor {e.name!r} lies past the end of data shard {e.shard}")
        raw = data[e.offset:e.offset + e.size]
        if google_crc32c.value(raw) != unmask_crc(e.crc32c):
            raise BundleError(f"tensor {e.name!r}: CRC-32C mismatch (damaged data shard)")
        count = int(np.prod(e.shape)) if e.shape else 1
        if count * np.dtype(e.dtype).itemsize != e.size:
            raise BundleError(f"tensor {e.name!r}: {e.size} bytes for shape {e.shape} of {e.dtype}")
        out[e.name] = np.frombuffer(raw, dtype=e.dtype).reshape(e.shape).astype(np.dtype(e.dtype).newbyteorder("="))
    if wanted is not None and wanted - out.keys():
        raise BundleError(f"tensors not in bundle: {sorted(wanted - out.keys())}")
    return out
