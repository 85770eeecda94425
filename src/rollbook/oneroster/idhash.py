"""64-bit hashes of sourcedIds, and the repeated ids of a column found through them.

Sorting or hashing millions of strings costs memory look-ups all over the column: an SIS export
whose rows are not in id order (the usual case) made `rollbook validate` ~10 s slower at a
million students than the generator's ordered bundle. Integers sort and compare in place, so
the checks that look for equal ids work on :func:`hash64` of them first, and compare the
strings themselves only where two hashes are equal: a hash decides nothing on its own (never a
false "duplicate", never a missed one; tests force collisions with another ``hash_ids``).

The hash is computed with Arrow kernels only (no NumPy): each id's bytes are cut into 8-byte
words (zero-padded), each word read as an unsigned 64-bit integer and mixed into the id's
hash. Only the first and last 32 bytes of an id are hashed, so ids longer than 64 bytes that
differ only in their middle share a hash — and are then compared as strings, as every equal
hash is.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

HashIds = Callable[[pa.Array | pa.ChunkedArray], pa.Array]

_WORD = 8
_EDGE_WORDS = 4  # words hashed from each end of an id
_EMPTY = pa.scalar(b"", pa.binary())
_ZEROS = pa.scalar(b"\x00" * _WORD, pa.binary())
_K = pa.scalar(0x9E3779B97F4A7C15, pa.uint64())
_S32 = pa.scalar(32, pa.uint64())


def _word(data: pa.Array, start: int, full: bool) -> pa.Array:
    """Bytes ``start``..``start + 8`` of each value (negative: counted from the end) as a
    uint64, zero-padded when the value is shorter. ``full``: every value has those 8 bytes
    (then the sliced bytes are read in place as integers)."""
    stop = start + _WORD
    part = pc.binary_slice(data, start, stop) if stop != 0 else pc.binary_slice(data, start)
    if full:
        _, offsets, values = part.buffers()
        if part.offset == 0 and values is not None and values.size >= _WORD * len(part):
            return pa.Array.from_buffers(pa.uint64(), len(part), [None, values])
    else:
        part = pc.binary_slice(pc.binary_join_element_wise(part, _ZEROS, _EMPTY), 0, _WORD)
    return pc.cast(part, pa.binary(_WORD)).view(pa.uint64())


def hash64(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A 64-bit hash of each string (uint64; null for null): equal strings get equal hashes
    **within one call** (which bytes are read depends on the column's shortest and longest
    values)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    data = values.cast(pa.binary()) if not pa.types.is_binary(values.type) else values
    n, nulls = len(data), data.null_count
    if not n or nulls == n:
        return pa.nulls(n, pa.uint64())
    if nulls:  # hashed as some value, then null again
        data = pc.fill_null(data, data.filter(pc.is_valid(data))[0])
    length = pc.binary_length(data)
    bounds = pc.min_max(length)
    shortest, longest = bounds["min"].as_py(), bounds["max"].as_py()
    # words from the front, then from the end for longer values; a word every value holds
    # whole is read in place, others are zero-padded
    front = min(shortest // _WORD, _EDGE_WORDS) or min(-(-longest // _WORD), _EDGE_WORDS)
    back = min(-(-(longest - _WORD * front) // _WORD), _EDGE_WORDS)
    words = [(_WORD * k, _WORD * (k + 1) <= shortest) for k in range(front)]
    words += [(-_WORD * (k + 1), _WORD * (k + 1) <= shortest) for k in range(back)]
    h = pc.multiply(pc.cast(length, pa.uint64()), _K)  # wraps modulo 2**64
    for i, (start, full) in enumerate(words):
        if i:
            h = pc.bit_wise_xor(h, pc.shift_right(h, _S32))
        h = pc.multiply(pc.bit_wise_xor(h, _word(data, start, full)), _K)
    if nulls:
        h = pc.if_else(pc.is_valid(values), h, pa.scalar(None, pa.uint64()))
    return h


def repeated_ids(ids: pa.Array | pa.ChunkedArray, hash_ids: HashIds = hash64) -> pa.Array:
    """The distinct non-null ids that occur more than once in ``ids`` (in no set order).

    Ids already in ascending order are compared with their neighbours. Otherwise their
    hashes are sorted and compared with their neighbours; only the rows whose hash occurs
    more than once (normally none) have their strings sorted and compared, which decides.
    """
    n = len(ids)
    if n < 2:
        return pa.array([], pa.string())
    ascending = pc.fill_null(pc.less_equal(ids.slice(0, n - 1), ids.slice(1)), False)
    if pc.all(ascending).as_py():  # already in order (a generated bundle): neighbours decide
        same = pc.fill_null(pc.equal(ids.slice(1), ids.slice(0, n - 1)), False)
        return _unique(ids.slice(1).filter(same))
    del ascending
    hashes = hash_ids(ids)
    ordered = hashes.take(pc.sort_indices(hashes))
    same = pc.fill_null(pc.equal(ordered.slice(1), ordered.slice(0, n - 1)), False)
    if not pc.any(same).as_py():
        return pa.array([], pa.string())  # distinct hashes: distinct ids
    shared = pc.unique(ordered.slice(1).filter(same))
    del ordered, same
    rows = pc.indices_nonzero(pc.fill_null(pc.is_in(hashes, value_set=shared), False))
    del hashes, shared
    return _repeated_strings(ids.take(rows))


def _repeated_strings(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The distinct non-null ids occurring more than once, by sorting the strings."""
    n = len(ids)
    if n < 2:
        return pa.array([], pa.string())
    ordered = ids.take(pc.sort_indices(ids))
    same = pc.fill_null(pc.equal(ordered.slice(1), ordered.slice(0, n - 1)), False)
    return _unique(ordered.slice(1).filter(same))


def _unique(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    out = pc.unique(values)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
