"""Repeated sourcedIds are found through 64-bit hashes, but a hash never decides: with hash
functions that collide on purpose (every id, or ids of one length, or of one first letter,
share a hash) the answer is still exactly the ids that occur twice, and the findings of a
file are byte for byte those of the default hash."""

from __future__ import annotations

from collections import Counter
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollbook.oneroster import rowchecks
from rollbook.oneroster.findings import Findings
from rollbook.oneroster.idhash import hash64, repeated_ids
from rollbook.oneroster.schema import BY_ENTITY


def same_for_all(values):
    """Every id the same hash (nulls too): every row is compared as a string."""
    return pa.array([0] * len(values), pa.uint64())


def by_length(values):
    return pc.cast(pc.binary_length(values), pa.uint64())


def by_first_letter(values):
    first = pc.utf8_slice_codeunits(values, 0, 1)
    return pc.cast(pc.binary_length(pc.binary_join_element_wise(first, first, "")), pa.uint64())


HASHES = [hash64, same_for_all, by_length, by_first_letter]
IDS = st.sampled_from(
    ["a", "b", "ab", "ba", "é", "abcdefgh", "abcdefgi", "x" * 70, "x" * 35 + "y" + "x" * 34]
    + [f"stu-{i:07d}" for i in range(6)]
    + ["p" * 40 + str(i) + "q" * 40 for i in range(3)]  # differ only in the middle
)
COLUMNS = st.lists(st.one_of(st.none(), IDS, st.text(max_size=12)), max_size=40)


def chunked(values, cut, skip):
    """``values`` in two chunks, the first a slice of a longer array (offsets not at 0)."""
    cut = min(cut, len(values))
    pad = ["padding not in the slice"] * skip
    first = pa.array(pad + values[:cut], pa.string()).slice(skip)
    return pa.chunked_array([first, pa.array(values[cut:], pa.string())], pa.string())


def plain(values):
    counts = Counter(v for v in values if v is not None)
    return {v for v, n in counts.items() if n > 1}


@settings(max_examples=300, deadline=None)
@given(COLUMNS, st.integers(0, 40), st.integers(0, 3), st.sampled_from(HASHES), st.booleans())
def test_repeated_ids_are_exactly_the_ids_seen_twice(values, cut, skip, hash_ids, in_order):
    if in_order:  # the neighbour shortcut for ids already sorted (no null among them)
        values = sorted(v for v in values if v is not None)
    found = repeated_ids(chunked(values, cut, skip), hash_ids=hash_ids)
    assert found.null_count == 0
    assert sorted(found.to_pylist()) == sorted(plain(values))


@settings(deadline=None)
@given(COLUMNS, st.integers(0, 40), st.integers(0, 3))
def test_equal_ids_get_equal_hashes_and_null_stays_null(values, cut, skip):
    hashes = hash64(chunked(values, cut, skip)).to_pylist()
    assert len(hashes) == len(values)
    seen = {}
    for value, h in zip(values, hashes, strict=True):
        assert (h is None) == (value is None)
        if value is not None:
            assert seen.setdefault(value, h) == h


def test_distinct_ids_of_a_real_shape_get_distinct_hashes():
    ids = [f"stu-{i:07d}" for i in range(200_000)] + [f"{i * 7919:032x}" for i in range(5_000)]
    assert pc.count_distinct(hash64(pa.array(ids))).as_py() == len(ids)


def test_ids_that_differ_only_in_their_middle_share_a_hash_and_are_still_told_apart():
    a, b = "p" * 40 + "1" + "q" * 40, "p" * 40 + "2" + "q" * 40
    h = hash64(pa.array([a, b])).to_pylist()
    assert h[0] == h[1]  # the middle of a long id is not hashed ...
    assert repeated_ids(pa.array([b, a, "z"])).to_pylist() == []  # ... and decides nothing
    assert repeated_ids(pa.array([b, a, b])).to_pylist() == [b]


def _users(ids: list[str | None]) -> pa.Table:
    spec = BY_ENTITY["users"]
    n = len(ids)
    cols = {c.name: pa.nulls(n, pa.string()) for c in spec.columns}
    cols["sourced_id"] = pa.array(ids, pa.string())
    cols["line"] = pa.array(range(2, n + 2), pa.int32())
    return pa.table(cols)


def _duplicate_findings(ids):
    findings = Findings()
    _, rejected = rowchecks.check_file(
        _users(ids), BY_ENTITY["users"], "1.2", "bulk", "u.csv", findings
    )
    dup = [f.to_dict() for f in findings.all() if f.code == "OR-ROW-DUPLICATE-ID"]
    return dup, findings.counts().get("OR-ROW-DUPLICATE-ID"), rejected.to_pylist()


@pytest.mark.parametrize("hash_ids", [same_for_all, by_length, by_first_letter])
@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.one_of(st.none(), IDS), min_size=2, max_size=30))
def test_a_file_s_duplicate_findings_do_not_depend_on_the_hash(hash_ids, ids):
    expected = _duplicate_findings(ids)
    forced = partial(repeated_ids, hash_ids=hash_ids)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rowchecks, "repeated_ids", forced)
        assert _duplicate_findings(ids) == expected
    later = [i for i, v in enumerate(ids) if v is not None and v in ids[:i]]
    assert [i for i, r in enumerate(expected[2]) if r and ids[i] is not None] == later
