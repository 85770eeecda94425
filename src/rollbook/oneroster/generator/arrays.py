"""Vectorised helpers over pyarrow arrays: a seeded random source and numpy-like primitives.

numpy is not a dependency of Rollbook, so the few primitives the generator needs (``arange``,
``repeat``, uniform draws, categorical draws, id formatting) are built from ``pyarrow.compute``
and from :meth:`random.Random.randbytes`, whose output is stable for a given integer seed across
Python versions. Nothing here loops over rows in Python.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

INT = pa.int64()
_TWO_POW_53 = float(2**53)


def arange(n: int, start: int = 0) -> pa.Array:
    """Return ``start, start+1, …, start+n-1`` as an int64 array."""
    if n <= 0:
        return pa.array([], INT)
    ones = pa.repeat(pa.scalar(1, INT), n)
    return pc.add(pc.cumulative_sum(ones), start - 1)


def full(n: int, value: int | str | bool | None, type_: pa.DataType | None = None) -> pa.Array:
    """Return an array of ``n`` copies of ``value``."""
    if value is None:
        return pa.nulls(n, type_ or pa.string())
    return pa.repeat(pa.scalar(value, type_), n)


def offsets_of(counts: pa.Array) -> pa.Array:
    """Return exclusive-prefix offsets (length ``len(counts) + 1``) as int64."""
    counts = pc.cast(counts, INT)
    head = pa.array([0], INT)
    if len(counts) == 0:
        return head
    return pa.concat_arrays([head, pc.cumulative_sum(counts)])


def repeat_index(counts: pa.Array) -> pa.Array:
    """numpy's ``repeat(arange(len(counts)), counts)``: parent index of each produced element."""
    offs = offsets_of(counts)
    total = offs[-1].as_py()
    lists = pa.LargeListArray.from_arrays(offs, pa.nulls(total, pa.int8()))
    return pc.cast(pc.list_parent_indices(lists), INT)


def rank_in_group(counts: pa.Array) -> pa.Array:
    """For ``repeat_index(counts)``, the position of each element inside its group."""
    parent = repeat_index(counts)
    return pc.subtract(arange(len(parent)), pc.take(offsets_of(counts), parent))


def mod(x: pa.Array, m: pa.Array | int) -> pa.Array:
    """Non-negative integer remainder ``x mod m`` (element-wise, m > 0)."""
    r = pc.subtract(x, pc.multiply(pc.divide(x, m), m))
    return pc.if_else(pc.less(r, 0), pc.add(r, m), r)


def fmt_ids(prefix: str, numbers: pa.Array, width: int = 7) -> pa.Array:
    """Format integers as zero-padded identifiers, e.g. ``stu-0000042``."""
    digits = pc.utf8_lpad(pc.cast(numbers, pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def id_numbers(ids: pa.Array, prefix_len: int) -> pa.Array:
    """Inverse of :func:`fmt_ids`: the integer part of identifiers (after ``prefix_len``)."""
    return pc.cast(pc.utf8_slice_codeunits(ids, prefix_len), INT)


def join_list(values: pa.Array, counts: pa.Array, sep: str = ",") -> pa.Array:
    """Join consecutive runs of string ``values`` (run lengths ``counts``) with ``sep``.

    Runs of length zero give null (an empty CSV field).
    """
    lists = pa.LargeListArray.from_arrays(offsets_of(counts), values)
    joined = pc.binary_join(lists, sep)
    return pc.if_else(pc.equal(pc.cast(counts, INT), 0), pa.scalar(None, pa.string()), joined)


class Rng:
    """A seeded, reproducible source of vectorised random draws.

    Args:
        seed: any integer; equal seeds give equal streams.
        label: a sub-stream name, so that independent parts of the generator do not shift each
            other's draws when one of them changes.
    """

    def __init__(self, seed: int, label: str = "") -> None:
        self.seed = seed
        self._random = random.Random(f"{seed}:{label}")

    def child(self, label: str) -> Rng:
        """Return an independent stream derived from this seed and ``label``."""
        return Rng(self.seed, label)

    @property
    def py(self) -> random.Random:
        """The underlying :class:`random.Random`, for per-school or per-family choices."""
        return self._random

    def bits(self, n: int) -> pa.Array:
        """Return ``n`` uniformly random uint64 values."""
        if n <= 0:
            return pa.array([], pa.uint64())
        data = self._random.randbytes(8 * n)
        return pa.Array.from_buffers(pa.uint64(), n, [None, pa.py_buffer(data)])

    def uniform(self, n: int) -> pa.Array:
        """Return ``n`` floats uniformly distributed in [0, 1)."""
        top = pc.shift_right(self.bits(n), pa.scalar(11, pa.uint64()))
        return pc.divide(pc.cast(top, pa.float64()), _TWO_POW_53)

    def integers(self, n: int, high: int | pa.Array) -> pa.Array:
        """Return ``n`` integers uniform in ``[0, high)`` (``high`` scalar or per element)."""
        if isinstance(high, pa.Array):
            high_f: pa.Array | float = pc.cast(high, pa.float64())
            top: pa.Array | int = pc.subtract(pc.cast(high, INT), 1)
        else:
            high_f, top = float(high), high - 1
        drawn = pc.cast(pc.floor(pc.multiply(self.uniform(n), high_f)), INT)
        return pc.max_element_wise(pc.min_element_wise(drawn, top), 0)

    def bernoulli(self, n: int, p: float | pa.Array) -> pa.Array:
        """Return ``n`` booleans, each true with probability ``p``."""
        return pc.less(self.uniform(n), p)

    def categorical(self, n: int, weights: Sequence[float]) -> pa.Array:
        """Return ``n`` category indexes drawn with the given (unnormalised) weights."""
        total = float(sum(weights))
        u = self.uniform(n)
        out = pa.repeat(pa.scalar(0, INT), n)
        acc = 0.0
        for w in weights[:-1]:
            acc += w / total
            out = pc.add(out, pc.cast(pc.greater_equal(u, acc), INT))
        return out

    def permutation(self, n: int) -> pa.Array:
        """Return a random permutation of ``0..n-1`` (int64)."""
        return pc.cast(pc.sort_indices(self.bits(n)), INT)

    def sample(self, n: int, k: int) -> pa.Array:
        """Return ``k`` distinct indexes of ``0..n-1`` in increasing order."""
        k = max(0, min(k, n))
        chosen = self.permutation(n).slice(0, k)
        return pc.take(chosen, pc.sort_indices(chosen))
