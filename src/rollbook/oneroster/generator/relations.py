"""Relational helpers on pyarrow arrays: comma lists, grouping pairs, patching a few rows."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from .arrays import INT, arange, join_list


def split_list(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Split comma-list strings; return ``(parent row index, element)`` for every element."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    lists = pc.split_pattern(values, ",")
    parent = pc.cast(pc.list_parent_indices(lists), INT)
    return parent, pc.list_flatten(lists)


def shifted(values: pa.Array) -> pa.Array:
    """``values`` moved down one row (first row null)."""
    if len(values) == 0:
        return values
    return pa.concat_arrays([pa.nulls(1, values.type), values.slice(0, len(values) - 1)])


def distinct_orgs(user: pa.Array, org: pa.Array) -> pa.Table:
    """Group ``(user, org)`` pairs into one row per user.

    Returns columns ``user`` (sorted), ``orgs`` (sorted distinct org ids, comma-joined) and
    ``primaryOrg`` (the first of them).
    """
    table = pa.table({"u": user, "o": org}).sort_by([("u", "ascending"), ("o", "ascending")])
    u = table["u"].combine_chunks()
    o = table["o"].combine_chunks()
    dup = pc.fill_null(pc.and_(pc.equal(u, shifted(u)), pc.equal(o, shifted(o))), False)
    keep = pc.invert(dup)
    u, o = pc.filter(u, keep), pc.filter(o, keep)
    if len(u) == 0:
        return pa.table({"user": u, "orgs": o, "primaryOrg": o})
    runs = pc.run_end_encode(u)
    ends = pc.cast(runs.run_ends, INT)
    counts = pc.subtract(ends, shifted(ends).fill_null(0))
    starts = pc.subtract(ends, counts)
    return pa.table(
        {"user": runs.values, "orgs": join_list(o, counts), "primaryOrg": pc.take(o, starts)}
    )


def patch(values: pa.Array, rows: Sequence[int], new: Sequence[object]) -> pa.Array:
    """Return ``values`` with ``values[rows[i]] = new[i]`` (rows distinct)."""
    if not rows:
        return values
    pairs = sorted(zip(rows, new, strict=True))
    mask = pc.is_in(arange(len(values)), value_set=pa.array([r for r, _ in pairs], INT))
    return pc.replace_with_mask(values, mask, pa.array([v for _, v in pairs], values.type))


def lookup(keys: pa.Array, table_keys: pa.Array, table_values: pa.Array) -> pa.Array:
    """``table_values[position of key in table_keys]`` per key (null when absent)."""
    return pc.take(table_values, pc.index_in(keys, value_set=table_keys))
