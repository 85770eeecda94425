"""fetch_bundle end to end against the fixture SIS: the bundle it writes and what it refuses."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest

from rollbook.oneroster import read_bundle
from rollbook.oneroster.rest import fetch_bundle

from .conftest import failure, fast, source_for
from .server import Fault, OneRosterServer

ENTITIES = (
    "orgs",
    "academic_sessions",
    "courses",
    "classes",
    "users",
    "enrollments",
    "demographics",
    "guardian_links",
)


def _without(table, *columns):
    return table.drop_columns([c for c in columns if c in table.column_names])


def _manifest(folder) -> dict[str, str]:
    with open(folder / "manifest.csv", newline="") as fh:
        return {row["propertyName"]: row["value"] for row in csv.DictReader(fh)}


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_generated_bundle_served_over_rest_reads_into_the_same_tables(
    version, generated, records, tmp_path
):
    with OneRosterServer(records[version], version=version) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "fetch", options=fast())
    original, fetched = read_bundle(generated[version]), read_bundle(tmp_path / "fetch")

    assert fetched.findings.counts() == original.findings.counts()
    assert fetched.can_sync and fetched.version == version
    for entity in ENTITIES:
        assert _without(getattr(fetched.model, entity), "line").equals(
            _without(getattr(original.model, entity), "line")
        ), entity
    # 1.2 REST roles carry no sourcedId: the fetch names them user/org/role
    key = [(c, "ascending") for c in ("user_sourced_id", "org_sourced_id", "role")]
    roles_a = _without(fetched.model.user_roles, "line", "role_sourced_id").sort_by(key)
    roles_b = _without(original.model.user_roles, "line", "role_sourced_id").sort_by(key)
    assert roles_a.equals(roles_b)
    assert report.records == sum(len(r) for r in records[version].values())
    assert report.collections["users"].total == len(records[version]["users"])
    assert (tmp_path / "fetch" / "fetch.json").exists()


@pytest.mark.parametrize("paging", ["link", "total", "offset"])
def test_each_way_of_paging_gets_every_record(paging, records, tmp_path):
    data = records["1.1"]
    with OneRosterServer(data, version="1.1", paging=paging, auth="bearer") as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
        asked = sis.requests_to("enrollments")
    assert report.collections["enrollments"].records == len(data["enrollments"])
    pages = -(-len(data["enrollments"]) // 25)
    # offset-only paging ends on an empty page; the others know where the end is
    assert asked == pages + (1 if paging == "offset" else 0)


def test_short_pages_from_a_server_capping_the_limit_lose_nothing(records, tmp_path):
    data = records["1.2"]
    with OneRosterServer(data, paging="offset", max_limit=9) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast(page_size=50))
    assert report.collections["users"].records == len(data["users"])
    assert read_bundle(tmp_path / "f").model.users.num_rows == len(data["users"])


def test_a_server_ignoring_paging_that_sent_everything_at_once_is_read_once(records, tmp_path):
    data = records["1.1"]
    with OneRosterServer(data, version="1.1", paging="offset", ignore_offset=True) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast(page_size=10_000))
    assert report.collections["users"].records == len(data["users"])


def test_a_server_ignoring_offset_with_full_pages_fails(records, tmp_path):
    server = OneRosterServer(records["1.1"], version="1.1", paging="offset", ignore_offset=True)
    assert "repeats page 1" in failure(server, tmp_path / "f").reason


def test_demographics_not_offered_is_declared_absent(records, tmp_path):
    with OneRosterServer(records["1.2"], missing=("demographics",)) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    assert report.collections["demographics"].offered is False
    assert _manifest(tmp_path / "f")["file.demographics"] == "absent"
    assert not (tmp_path / "f" / "demographics.csv").exists()
    assert read_bundle(tmp_path / "f").can_sync


def test_a_missing_required_collection_fails_and_leaves_nothing(records, tmp_path):
    caught = failure(OneRosterServer(records["1.2"], missing=("classes",)), tmp_path / "f")
    assert caught.collection == "classes" and caught.status == 404
    assert "base URL" in caught.hint


def test_a_failure_late_in_one_collection_leaves_no_bundle(records, tmp_path):
    faults = [Fault("status", "enrollments", offset=175, status=500, times=0)]
    caught = failure(OneRosterServer(records["1.2"], faults=faults), tmp_path / "f")
    assert (caught.collection, caught.page, caught.status) == ("enrollments", 8, 500)
    assert "4 times in a row" in caught.reason


def test_an_existing_folder_is_never_overwritten(records, tmp_path):
    (tmp_path / "f").mkdir()
    with OneRosterServer(records["1.2"]) as sis, pytest.raises(FileExistsError):
        fetch_bundle(source_for(sis), tmp_path / "f", options=fast())


def test_a_delta_asks_for_changes_since_and_writes_a_delta_manifest(records, tmp_path):
    data = {k: [dict(r) for r in v] for k, v in records["1.2"].items()}
    for i, user in enumerate(data["users"][:3]):
        user["dateLastModified"] = "2026-03-02T10:00:00.000Z"
        user["status"] = "tobedeleted" if i == 0 else "active"
    since = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    with OneRosterServer(data) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "d", since=since, options=fast())
        queries = [q for p, q in sis.requests if p == "users"]
    assert all("dateLastModified%3E%272026-03-01T08%3A30%3A00.000Z%27" in q for q in queries)
    assert report.mode == "delta" and report.collections["users"].records == 3
    manifest = _manifest(tmp_path / "d")
    assert manifest["file.users"] == manifest["file.roles"] == "delta"
    assert manifest["file.orgs"] == "absent"  # nothing changed there: no file, no deletes
    users = read_bundle(tmp_path / "d").model.users
    assert users.column("status").to_pylist() == ["tobedeleted", "active", "active"]


def test_a_bulk_fetch_keeps_status_only_on_deleted_rows(records, tmp_path):
    data = {k: [dict(r) for r in v] for k, v in records["1.1"].items()}
    data["users"][0]["status"] = "tobedeleted"
    with OneRosterServer(data, version="1.1") as sis:
        fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    result = read_bundle(tmp_path / "f")
    statuses = result.model.users.column("status").to_pylist()
    assert statuses[0] == "tobedeleted" and set(statuses[1:]) == {None}
    assert result.findings.counts().get("OR-BULK-HAS-STATUS") == 1


def test_progress_is_told_page_by_page(records, tmp_path):
    seen = []
    with OneRosterServer(records["1.1"], version="1.1") as sis:
        fetch_bundle(
            source_for(sis),
            tmp_path / "f",
            options=fast(on_progress=lambda c, n, total: seen.append((c, n, total))),
        )
    users = [(n, t) for c, n, t in seen if c == "users"]
    assert users[-1] == (len(records["1.1"]["users"]),) * 2
    assert [n for n, _ in users] == sorted(n for n, _ in users)
