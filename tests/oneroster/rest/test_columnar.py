"""The columnar fast path writes what the record-by-record mapping writes, or steps aside."""

from __future__ import annotations

import orjson
import pytest

from rollbook.oneroster import read_bundle
from rollbook.oneroster.rest import columnar, fetch_bundle, mapping

from .conftest import fast, source_for
from .server import OneRosterServer

ENTITIES = ("orgs", "academic_sessions", "courses", "classes", "users", "enrollments",
            "demographics", "roles", "user_roles", "guardian_links")  # fmt: skip


def _both(data: dict, version: str, tmp_path) -> tuple:
    """Fetch ``data`` with and without the columnar path; the two reports and results."""
    out = []
    for on in (True, False):
        with OneRosterServer(data, version=version) as sis:
            folder = tmp_path / f"columnar-{on}"
            report = fetch_bundle(source_for(sis), folder, options=fast(columnar=on))
        out.append((report, read_bundle(folder)))
    return out


def _same_tables(a, b) -> None:
    assert a.findings.counts() == b.findings.counts()
    for entity in ENTITIES:
        assert getattr(a.model, entity).equals(getattr(b.model, entity)), entity


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_uniform_pages_all_go_columnar_and_read_the_same(version, records, tmp_path):
    (fast_report, fast_result), (slow_report, slow_result) = _both(
        records[version], version, tmp_path
    )
    assert all(c.pages_by_record == 0 for c in fast_report.collections.values())
    assert all(c.pages_by_record == c.pages for c in slow_report.collections.values())
    _same_tables(fast_result, slow_result)


def test_a_page_with_mixed_types_goes_record_by_record(records, tmp_path):
    data = {k: [dict(r) for r in v] for k, v in records["1.1"].items()}
    data["users"][3]["enabledUser"] = "true"  # a string among JSON booleans
    data["users"][30]["metadata"] = {"district": {"house": "Blue"}}
    data["classes"][0]["subjectCodes"] = ["", "x"]  # an empty item
    (fast_report, fast_result), (_, slow_result) = _both(data, "1.1", tmp_path)
    users = fast_report.collections["users"]
    assert users.pages_by_record == 2 and users.pages > 2
    assert fast_report.collections["classes"].pages_by_record == 1
    _same_tables(fast_result, slow_result)
    assert fast_result.model.users.column("metadata.district.house").to_pylist()[30] == "Blue"


VALUES = [
    [{"sourcedId": "a", "type": "org", "href": "h"}, None, {"sourcedId": "b"}],
    [[{"sourcedId": "a"}, {"sourcedId": "b"}], [], None, [{"sourcedId": "c"}]],
    [["c", "d"], [], None],
    [[{"type": "LDAP", "identifier": "x"}, {"type": "SIS", "identifier": "1"}], None],
    [True, False, None],
    [2027, None, 2026],
    ["2026-01-01", None, ""],
    [["09", "10"], ["KG"], None],
]


@pytest.mark.parametrize("values", VALUES)
def test_a_column_is_written_as_the_mapping_writes_each_value(values):
    body = orjson.dumps({"orgs": [{"sourcedId": str(i), "v": v} for i, v in enumerate(values)]})
    records = columnar._records(body, mapping.ORGS, columnar._schema(mapping.ORGS, ()))
    got = columnar.text(records.field("v")).to_pylist()
    assert [g or "" for g in got] == [mapping.text(v) for v in values]


def test_what_the_columnar_path_cannot_do_is_refused():
    for body in (
        b'{"orgs": [{"sourcedId": "a", "v": 1.5}]}',  # a float
        b'{"orgs": [{"sourcedId": "a", "v": [{"sourcedId": "b"}, "c"]}]}',  # refs of two kinds
        b'{"orgs": [{"sourcedId": "a", "v": true}, {"sourcedId": "b", "v": "x"}]}',  # mixed
        b'{"org": {"sourcedId": "a"}}',  # a singular envelope
        b'{"orgs": [{"name": "no id"}]}',
        b'{"orgs": [{"sourcedId": "a"',  # cut short
    ):
        with pytest.raises(columnar.Unsupported):
            columnar.convert(body, mapping.ORGS, ["sourcedId", "v"], None)
