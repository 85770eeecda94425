"""JSON records to CSV rows: vendor quirks read as the CSV binding would write them."""

from __future__ import annotations

import pytest

from rollbook.oneroster import read_bundle
from rollbook.oneroster.rest import fetch_bundle
from rollbook.oneroster.rest.mapping import flat_metadata, json_key, role_rows, row_maker, text

from .conftest import fast, source_for
from .server import OneRosterServer


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (True, "true"),
        ("false", "false"),
        (2027, "2027"),
        (2027.0, "2027"),
        ({"href": "https://x/orgs/s1", "sourcedId": "s1", "type": "org"}, "s1"),
        ("s1", "s1"),
        ([{"sourcedId": "a"}, "b", None], "a,b"),
        ({"type": "LDAP", "identifier": "u1"}, "{LDAP:u1}"),
        (["09", "10"], "09,10"),
    ],
)
def test_values_are_written_as_the_csv_binding_writes_them(value, expected):
    assert text(value) == expected


def test_field_names_of_the_rest_binding():
    assert json_key("orgSourcedIds") == "orgs"
    assert json_key("termSourcedIds") == "terms"
    assert json_key("schoolYearSourcedId") == "schoolYear"
    assert json_key("primaryOrgSourcedId") == "primaryOrg"
    assert json_key("preferredGivenName") == "preferredFirstName"
    assert json_key("sourcedId") == "sourcedId"


def test_a_csv_style_field_name_from_a_vendor_is_read_too():
    row = row_maker(["sourcedId", "orgSourcedId"])
    assert row({"sourcedId": "c1", "orgSourcedId": "s1"}) == ["c1", "s1"]
    assert row({"sourcedId": "c1", "org": {"sourcedId": "s2"}}) == ["c1", "s2"]


def test_12_roles_become_rows_and_11_style_users_in_12_get_them_too():
    user = {
        "sourcedId": "u1",
        "status": "active",
        "dateLastModified": "2026-01-01",
        "roles": [
            {"roleType": "primary", "role": "teacher", "org": {"sourcedId": "s1"}},
            {"roleType": "secondary", "role": "parent", "org": "d1", "beginDate": "2026-08-01"},
        ],
    }
    rows = role_rows(user)
    assert [r[0] for r in rows] == ["u1/s1/teacher", "u1/d1/parent"]
    assert rows[1][4:7] == ["secondary", "parent", "2026-08-01"]
    quirk = {"sourcedId": "u2", "role": "student", "orgs": [{"sourcedId": "s1"}, "s2"]}
    assert [(r[4], r[8]) for r in role_rows(quirk)] == [("primary", "s1"), ("secondary", "s2")]


def test_metadata_is_flattened_with_dots():
    record = {"metadata": {"jp": {"kana": "タロウ", "flag": False}, "empty": {}, "none": None}}
    assert flat_metadata(record) == {"metadata.jp.kana": "タロウ", "metadata.jp.flag": "false"}
    assert flat_metadata({"metadata": None}) is None


def _org(i: int, **extra) -> dict:
    return {
        "sourcedId": f"o{i}",
        "status": "active",
        "dateLastModified": "2026-01-01T00:00:00Z",
        "name": f"Org {i}",
        "type": "school",
        **extra,
    }


def test_11_quirks_read_like_their_csv(tmp_path):
    data = {
        "orgs": [
            {**_org(0, type="district"), "metadata": {"ncesId": "0612340"}},
            _org(1, parent={"sourcedId": "o0", "type": "org", "href": "hhttp://x"}),
            _org(2, parent="o0", identifier=None),
        ],
        "users": [
            {
                "sourcedId": "u1",
                "status": "active",
                "dateLastModified": "2026-01-01 05:05:21.299Z",
                "enabledUser": "TRUE",
                "role": "teacher",
                "orgs": ["o1"],
                "username": "t1",
                "givenName": "Ana",
                "familyName": "Ruiz",
                "middleName": None,
                "email": "ana@example.org",
            }
        ],
    }
    for name in ("academicSessions", "courses", "classes", "enrollments", "demographics"):
        data[name] = []
    with OneRosterServer(data, version="1.1", auth="bearer") as sis:
        fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    result = read_bundle(tmp_path / "f")
    orgs = result.model.orgs.to_pylist()
    assert [o["parent_sourced_id"] for o in orgs] == [None, "o0", "o0"]
    assert orgs[0]["metadata.ncesId"] == "0612340" and orgs[1]["metadata.ncesId"] is None
    user = result.model.users.to_pylist()[0]
    assert user["enabled_user"] is True and user["middle_name"] is None
    assert result.findings.counts() == {"OR-VALUE-CASE": 1}  # TRUE, as in a CSV


def test_singular_and_odd_case_envelopes_are_accepted(tmp_path):
    data = {"orgs": [_org(1)], "users": [], "academicSessions": [_session()]}
    for name in ("courses", "classes", "enrollments", "demographics"):
        data[name] = []
    envelopes = {"orgs": "org", "academicSessions": "AcademicSessions"}
    with OneRosterServer(data, version="1.1", auth="bearer", envelopes=envelopes) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    assert report.collections["orgs"].records == report.collections["academicSessions"].records == 1


def _session() -> dict:
    return {
        "sourcedId": "t1",
        "status": "active",
        "dateLastModified": "2026-01-01T00:00:00Z",
        "title": "Fall",
        "type": "term",
        "startDate": "2026-08-01",
        "endDate": "2027-01-01",
        "schoolYear": 2027,
    }
