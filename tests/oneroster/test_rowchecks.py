"""The byte-level shortcuts of the row checks agree with the regular expressions they skip."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given
from hypothesis import strategies as st

from rollbook.oneroster.rowchecks import (
    GUID_BYTES,
    GUID_RE,
    SPACE_BYTES,
    _lengths_within,
    _no_bytes,
    _only_bytes,
)

ALPHABET = st.sampled_from(list("aZ09._/@-") + [" ", "\t", "\n", "é", ",", "#", "\x0b"])
VALUES = st.lists(
    st.one_of(st.none(), st.text(ALPHABET, min_size=0, max_size=8), st.just("x" * 256)),
    max_size=30,
)


def chunked(values: list[str | None], cut: int, skip: int) -> pa.ChunkedArray:
    """``values`` in two chunks, the first a slice of a longer array (offsets not at 0)."""
    cut = min(cut, len(values))
    pad = ["padding that is not in the slice ^^^"] * skip
    first = pa.array(pad + values[:cut], pa.string()).slice(skip)
    return pa.chunked_array([first, pa.array(values[cut:], pa.string())], pa.string())


def guid_ok(raw: pa.ChunkedArray) -> bool:
    valid = pc.drop_null(raw)
    return bool(pc.all(pc.match_substring_regex(valid, GUID_RE)).as_py() in (True, None))


def spaced(raw: pa.ChunkedArray) -> bool:
    return bool(pc.any(pc.match_substring_regex(raw, r"^\s|\s$")).as_py())


@given(VALUES, st.integers(0, 30), st.integers(0, 3))
def test_the_sourcedid_shortcut_says_valid_exactly_when_the_regex_does(values, cut, skip):
    raw = chunked(values, cut, skip)
    fast = _only_bytes(raw, GUID_BYTES) and _lengths_within(raw, 1, 255)
    assert fast == guid_ok(raw)


@given(VALUES, st.integers(0, 30), st.integers(0, 3))
def test_the_space_shortcut_never_misses_a_leading_or_trailing_space(values, cut, skip):
    raw = chunked(values, cut, skip)
    if _no_bytes(raw, SPACE_BYTES):
        assert not spaced(raw)
    if not any(v and any(c in v for c in " \t\n\x0b") for v in values):
        assert _no_bytes(raw, SPACE_BYTES)


def test_bytes_hidden_in_a_null_slot_only_cost_the_shortcut():
    """A null slot that still holds bytes (allowed by Arrow) makes the shortcut decline;
    the regex then decides."""
    base = pa.array(["ok-1", "has space", "ok-2"], pa.string())
    _, offsets, data = base.buffers()
    validity = pa.array([True, False, True]).buffers()[1]
    masked = pa.Array.from_buffers(pa.string(), 3, [validity, offsets, data])
    raw = pa.chunked_array([masked])
    assert not _only_bytes(raw, GUID_BYTES)
    assert guid_ok(raw)


def test_other_string_types_fall_back_to_the_regex():
    raw = pa.chunked_array([pa.array(["a"], pa.large_string())])
    assert not _only_bytes(raw, GUID_BYTES)
    assert not _no_bytes(raw, SPACE_BYTES)
