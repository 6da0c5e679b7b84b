"""Checksums of feature cache entries: every array read back is verified, fast.

The cache guards against corruption (a bad disk, a partial copy, an edited
file), not against attackers, so a CRC-32 (``zlib.crc32``, which releases the
GIL) is enough: it detects every burst error up to 32 bits and any other change
with probability 1 - 2**-32. Features and patch tokens get one CRC per block of
``chunk_rows`` rows (a build resumes from the last good block); labels and
image ids (the split indices) get one CRC each, stored as attributes.

Reading is the hot path (a warm AwA2-sized entry is read on every run of a
feature method), so :func:`read_rows` reads the raw HDF5 chunks, checks their
CRC while they are in the CPU cache and converts them into the output with
torch (numpy's float16 -> float32 cast is several times slower).
"""

from __future__ import annotations

import warnings
import zlib
from typing import Any

import numpy as np

#: HDF5 dataset names of the per-block checksums of ``cls`` and ``patches``.
CRC_SUFFIX = "_crc32"
CRC_DTYPE = np.uint32


class ChecksumMismatch(Exception):
    """Stored data that does not match its checksum (``where`` names the block or array)."""

    def __init__(self, where: str):
        super().__init__(where)
        self.where = where


def checksum(data: Any) -> int:
    """CRC-32 of the bytes of ``data`` (an array is taken as its C-contiguous bytes)."""
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data)
        return zlib.crc32(data.reshape(-1).view(np.uint8)) if data.size else 0
    return zlib.crc32(data)


def block_checksums(rows: np.ndarray, block_rows: int) -> np.ndarray:
    """One checksum per block of ``block_rows`` rows."""
    return np.asarray([checksum(rows[s:s + block_rows]) for s in range(0, len(rows), block_rows)], dtype=CRC_DTYPE)


def verify_array(values: np.ndarray, expected: int, where: str) -> np.ndarray:
    """``values`` unchanged, or ChecksumMismatch naming ``where``."""
    if checksum(values) != int(expected):
        raise ChecksumMismatch(where)
    return values


def _raw_chunks_usable(dset: Any, block_rows: int) -> bool:
    """Raw chunk reads work for uncompressed datasets chunked along rows only, in whole divisors of a block."""
    chunks = dset.chunks
    return (chunks is not None and dset.compression is None and not dset.shuffle and dset.fletcher32 is False
            and tuple(chunks[1:]) == tuple(dset.shape[1:]) and block_rows % chunks[0] == 0)


def read_rows(dset: Any, digests: np.ndarray | None, block_rows: int, out_dtype: Any = None,
              where: str = "") -> np.ndarray:
    """All rows of an HDF5 dataset, verified block by block against ``digests`` (None: unverified).

    ``out_dtype`` (default: the stored dtype) is what the returned array holds.
    Raises :class:`ChecksumMismatch` naming the first bad block.
    """
    import torch

    n = int(dset.shape[0])
    out = np.empty(dset.shape, dtype=out_dtype or dset.dtype)
    if n == 0:
        return out
    if digests is not None and len(digests) != -(-n // block_rows):
        raise ChecksumMismatch(f"{where}: {len(digests)} checksums for {n} rows")
    row_bytes = int(np.prod(dset.shape[1:], dtype=np.int64)) * dset.dtype.itemsize
    target = torch.from_numpy(out) if out.dtype != dset.dtype else None
    raw = _raw_chunks_usable(dset, block_rows)
    buffer = None if raw else np.empty((min(block_rows, n), *dset.shape[1:]), dtype=dset.dtype)
    with warnings.catch_warnings():  # torch warns that the raw chunk bytes are read-only; they are only read
        warnings.simplefilter("ignore", UserWarning)
        _copy_blocks(dset, digests, block_rows, out, target, raw, buffer, row_bytes, where)
    return out


def _copy_blocks(dset: Any, digests: np.ndarray | None, block_rows: int, out: np.ndarray, target: Any, raw: bool,
                 buffer: np.ndarray | None, row_bytes: int, where: str) -> None:
    import torch

    # h5py properties query HDF5 on every access: read them once
    n, tail, dtype, dsid = int(dset.shape[0]), tuple(dset.shape[1:]), dset.dtype, dset.id
    chunk = int(dset.chunks[0]) if raw else block_rows
    origin = (0,) * len(tail)
    for block, start in enumerate(range(0, n, block_rows)):
        stop = min(n, start + block_rows)
        if raw:
            parts, crc = [], 0
            for sub in range(start, stop, chunk):
                rows = min(chunk, stop - sub)
                data = memoryview(dsid.read_direct_chunk((sub, *origin))[1])[:rows * row_bytes]
                crc = zlib.crc32(data, crc)
                parts.append((sub, rows, data))
        else:
            view = buffer[:stop - start]
            dset.read_direct(view, np.s_[start:stop], np.s_[0:stop - start])
            parts, crc = [(start, stop - start, memoryview(view.reshape(-1).view(np.uint8)))], checksum(view)
        if digests is not None and crc != int(digests[block]):
            raise ChecksumMismatch(f"{where}: block {block} (rows {start}..{stop - 1}) fails its checksum")
        for sub, rows, data in parts:
            rows_array = np.frombuffer(data, dtype=dtype).reshape(rows, *tail)
            if target is None:
                out[sub:sub + rows] = rows_array
            else:
                target[sub:sub + rows].copy_(torch.from_numpy(rows_array))
