"""A stable 64-bit hash of sample_id that any language can reproduce: FNV-1a 64 + murmur3 fmix64.

Why not ``hash()`` or ``pl.Series.hash``: Python salts string hashes per process, and Polars documents
its hash as unstable across versions. The eval hold-out must stay the same for years, so the hash is a
fixed, published algorithm over the UTF-8 bytes of ``salt + "\\x00" + sample_id``:

    h = 0xcbf29ce484222325                          # FNV-1a 64 offset basis
    for byte in data: h = ((h ^ byte) * 0x100000001b3) mod 2**64
    h ^= h >> 33; h = h * 0xff51afd7ed558ccd mod 2**64   # murmur3 fmix64, so that ids differing
    h ^= h >> 33; h = h * 0xc4ceb9fe1a85ec53 mod 2**64   # only in their last character spread over
    h ^= h >> 33                                          # the whole range

``reference_hash`` is that loop in plain Python; ``hash_sample_ids`` computes the same values vectorised
with numpy over the Arrow string buffers (one numpy step per byte position, not per row).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1
FMIX_C1 = 0xFF51AFD7ED558CCD
FMIX_C2 = 0xC4CEB9FE1A85EC53
HASH_NAME = "fnv1a64+fmix64(utf8(salt + '\\x00' + sample_id))"
TIE_SALT = "pixelis-ties-v1"
"""Salt of the hash that orders tied samples under ``split.ties: spread``; not the eval salt, so that the
samples a tie sends up are not the ones with the largest eval hashes (each category's eval share stays fair)."""


def _fnv_bytes(h: int, data: bytes) -> int:
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * FMIX_C1) & MASK64
    h ^= h >> 33
    h = (h * FMIX_C2) & MASK64
    return h ^ (h >> 33)


def reference_hash(sample_id: str, salt: str) -> int:
    """The hash of one sample_id, in plain Python (the definition; ``hash_sample_ids`` must agree)."""
    return _fmix64(_fnv_bytes(FNV_OFFSET, (salt + "\x00" + sample_id).encode("utf-8")))


def hash_sample_ids(ids: pl.Series, salt: str) -> np.ndarray:
    """uint64 hash of every sample_id (no nulls), equal to ``reference_hash`` element by element."""
    arr = pc.cast(ids.to_arrow(), pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if arr.null_count:
        raise ValueError(f"sample_id: {arr.null_count} null value(s); every sample needs an id")
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    starts = offsets[:-1]
    lengths = offsets[1:] - starts

    h = np.full(n, _fnv_bytes(FNV_OFFSET, (salt + "\x00").encode("utf-8")), dtype=np.uint64)
    prime = np.uint64(FNV_PRIME)
    active = np.flatnonzero(lengths > 0)
    pos = 0
    # Byte position by byte position over the rows still long enough: total work = total bytes.
    while active.size:
        byte = data[starts[active] + pos].astype(np.uint64)
        h[active] = (h[active] ^ byte) * prime
        pos += 1
        active = active[lengths[active] > pos]

    h ^= h >> np.uint64(33)
    h *= np.uint64(FMIX_C1)
    h ^= h >> np.uint64(33)
    h *= np.uint64(FMIX_C2)
    h ^= h >> np.uint64(33)
    return h


def unit_interval(h: np.ndarray) -> np.ndarray:
    """The top 53 bits of each hash as a float64 in [0, 1): an exact, platform-independent uniform draw."""
    return (h >> np.uint64(11)).astype(np.float64) * (2.0**-53)
