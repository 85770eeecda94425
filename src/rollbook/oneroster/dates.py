"""Dates the calendar has: typing date and date-time text without a Python loop per value.

Arrow parses ``2020-02-30`` as an error and ``0000-01-01`` as a date, but neither is a date
Python (year 1 to 9999) or PostgreSQL (no year 0) can hold, and a SQLite directory holding
year 0 can no longer be read back. :func:`cast_dates` types a column of ISO text and says
which values are not calendar dates; those become null and are reported by the caller
(``OR-VALUE-DATE-IMPOSSIBLE``), so they never reach storage.

Valid columns take one cast and one comparison. Only a column with an impossible value is
checked field by field, each step one vectorised pass over the whole column, however many
distinct bad values it holds.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

#: 0001-01-01 in days and in milliseconds since 1970-01-01: nothing earlier is a Python date.
FIRST_DAY = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days
FIRST_MS = FIRST_DAY * 86_400_000
_DAYS = pa.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int8())
_ISO_TIME = (
    r"^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?"
    r"(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?$"
)


def _field(text: pa.ChunkedArray | pa.Array, start: int, stop: int) -> pa.Array:
    return pc.cast(pc.utf8_slice_codeunits(text, start, stop), pa.int32())


def calendar_days(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Whether each ``YYYY-MM-DD…`` value (null: none) is a day of years 1 to 9999."""
    shaped = pc.fill_null(pc.match_substring_regex(text, r"^\d{4}-\d{2}-\d{2}"), False)
    digits = pc.if_else(shaped, text, "0000-00-00")
    year, month, day = _field(digits, 0, 4), _field(digits, 5, 7), _field(digits, 8, 10)
    leap = pc.and_(
        pc.equal(pc.bit_wise_and(year, 3), 0),
        pc.or_(
            pc.not_equal(pc.subtract(year, pc.multiply(pc.divide(year, 100), 100)), 0),
            pc.equal(pc.subtract(year, pc.multiply(pc.divide(year, 400), 400)), 0),
        ),
    )
    in_year = pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12))
    last = pc.take(_DAYS, pc.if_else(in_year, month, 0)).cast(pa.int32())
    last = pc.add(last, pc.if_else(pc.and_(leap, pc.equal(month, 2)), 1, 0))
    return pc.and_(
        pc.and_(shaped, pc.greater_equal(year, 1)),
        pc.and_(in_year, pc.and_(pc.greater_equal(day, 1), pc.less_equal(day, last))),
    )


def cast_dates(
    text: pa.ChunkedArray | pa.Array, typ: pa.DataType
) -> tuple[pa.ChunkedArray | pa.Array, pa.ChunkedArray | pa.Array]:
    """``text`` (ISO dates, or date-times for a timestamp ``typ``) typed as ``typ``, and the
    mask of the values that are not calendar dates (typed as null)."""
    try:
        typed = pc.cast(text, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        typed = None
    if typed is not None:
        ticks = typed.cast(pa.int32() if typ == pa.date32() else pa.int64())
        early = pc.fill_null(pc.less(ticks, FIRST_DAY if typ == pa.date32() else FIRST_MS), False)
        if not pc.any(early).as_py():
            return typed, early
        return pc.if_else(early, pa.scalar(None, typ), typed), early
    good = calendar_days(text)
    if typ != pa.date32():
        good = pc.and_(good, pc.fill_null(pc.match_substring_regex(text, _ISO_TIME), False))
    impossible = pc.and_(pc.is_valid(text), pc.invert(good))
    kept = pc.if_else(good, text, pa.scalar(None, pa.string()))
    try:
        return pc.cast(kept, typ), impossible
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _one_by_one(kept, typ, impossible)


def _one_by_one(
    kept: pa.ChunkedArray | pa.Array, typ: pa.DataType, impossible: pa.ChunkedArray | pa.Array
) -> tuple[pa.ChunkedArray | pa.Array, pa.ChunkedArray | pa.Array]:
    """A form the checks above let through but Arrow refuses (none is known): each distinct
    such value is tried alone, and the ones Arrow refuses are reported too."""
    good: list[str] = []
    parsed: list[object] = []
    for value in pc.unique(kept).drop_null().to_pylist():
        try:
            parsed.append(pa.array([value]).cast(typ)[0])
            good.append(value)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    at = pc.index_in(kept, value_set=pa.array(good, pa.string()))
    typed = pc.take(pa.array([p.value for p in parsed], typ), at)
    refused = pc.and_(pc.is_valid(kept), pc.is_null(at))
    return typed, pc.or_(impossible, refused)
