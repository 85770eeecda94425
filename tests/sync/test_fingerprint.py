import datetime as dt

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from rollbook.sync.fingerprint import fingerprint_of, fingerprints

text = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",))))


@given(st.lists(st.tuples(text, text), min_size=1, max_size=50))
def test_bulk_fingerprints_equal_the_single_record_form(rows):
    table = pa.table({"a": [r[0] for r in rows], "b": [r[1] for r in rows]})
    assert fingerprints(table, ["a", "b"]).to_pylist() == [fingerprint_of(r) for r in rows]


def test_a_change_in_any_field_changes_the_fingerprint():
    table = pa.table({"a": ["x", "x", "x", None, ""], "b": ["y", "z", "y ", "y", "y"]})
    values = fingerprints(table, ["a", "b"]).to_pylist()
    assert len(set(values)) == 5  # null and empty string differ too


def test_field_boundaries_matter():
    table = pa.table({"a": ["ab", "a"], "b": ["c", "bc"]})
    first, second = fingerprints(table, ["a", "b"]).to_pylist()
    assert first != second


def test_chunked_sliced_and_typed_columns():
    table = pa.concat_tables(
        [
            pa.table({"a": ["1", "2", "3"], "d": [dt.date(2020, 1, 1)] * 3}),
            pa.table({"a": ["4", "5", "6"], "d": [None, dt.date(2021, 5, 6), None]}),
        ]
    ).slice(1, 4)
    expected = [
        fingerprint_of([a, None if d is None else d.isoformat()])
        for a, d in zip(table["a"].to_pylist(), table["d"].to_pylist(), strict=True)
    ]
    assert fingerprints(table, ["a", "d"]).to_pylist() == expected
