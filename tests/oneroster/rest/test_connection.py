"""test_connection: sign in, one page of each collection, counts and problems in plain words."""

from __future__ import annotations

from rollbook.oneroster.rest import OAuth2Credentials, RestSource, test_connection

from .conftest import fast, source_for
from .server import CLIENT_ID, Fault, OneRosterServer


def _by_name(report) -> dict:
    return {c.collection: c for c in report.collections}


def test_a_working_source_shows_each_collections_count(records):
    with OneRosterServer(records["1.2"]) as sis:
        report = test_connection(source_for(sis), fast())
        asked = {p for p, _ in sis.requests}
    checks = _by_name(report)
    assert report.ok and report.signed_in and report.problems == []
    assert checks["users"].total == len(records["1.2"]["users"])
    assert checks["users"].on_first_page == 5
    assert asked == set(checks)  # one request per collection
    assert report.to_dict()["ok"] is True


def test_wrong_credentials_say_so_and_read_nothing(records):
    with OneRosterServer(records["1.2"]) as sis:
        creds = OAuth2Credentials(sis.token_url, CLIENT_ID, "wrong")
        report = test_connection(RestSource(sis.base_url, "1.2", creds), fast())
        assert sis.requests == []
    assert not report.ok and not report.signed_in
    assert "invalid_client" in report.problems[0] and "wrong" not in report.problems[0]


def test_demographics_not_offered_is_not_a_problem(records):
    with OneRosterServer(records["1.2"], missing=("demographics",)) as sis:
        report = test_connection(source_for(sis), fast())
    demographics = _by_name(report)["demographics"]
    assert report.ok and demographics.offered is False and demographics.ok


def test_a_wrong_base_url_is_one_problem_per_collection(records):
    with OneRosterServer(records["1.1"], version="1.1", auth="bearer") as sis:
        source = source_for(sis)
        wrong = RestSource(sis.origin + "/oneroster", "1.1", source.credentials)
        report = test_connection(wrong, fast())
    assert not report.ok
    assert len(report.problems) == 6  # demographics: not offered
    assert all("HTTP 404" in p and "base URL" in p for p in report.problems)


def test_a_broken_collection_is_named(records):
    faults = [Fault("envelope", "classes", times=0)]
    with OneRosterServer(records["1.2"], faults=faults) as sis:
        report = test_connection(source_for(sis), fast())
    assert not report.ok and report.signed_in
    assert [c.collection for c in report.collections if not c.ok] == ["classes"]
    assert "no 'classes' list" in report.problems[0]
