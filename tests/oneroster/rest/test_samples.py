"""The shared REST samples (SOURCES.md §6, §7) served by the fixture SIS, fetched and read.

Every finding the reader reports must come from a known quirk of the sample itself (the same
finding its equivalent CSV export would give), never from the fetch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollbook.oneroster import read_bundle
from rollbook.oneroster.rest import fetch_bundle, mapping

from .conftest import fast, source_for
from .server import OneRosterServer


def _served(folder: Path) -> dict[str, list[dict]]:
    """The sample's records by collection; collections it lacks are served empty."""
    data: dict[str, list[dict]] = {c.path: [] for c in mapping.COLLECTIONS}
    for path in sorted(folder.glob("*.json")):
        ((key, rows),) = json.loads(path.read_text(encoding="utf-8")).items()
        data[key] = rows
    return data


def _fetch(samples: Path, name: str, version: str, tmp_path: Path):
    folder = samples / name
    if not folder.is_dir():
        pytest.skip(f"{name} not in the shared samples")
    with OneRosterServer(_served(folder), version=version) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "fetch", options=fast())
    return report, read_bundle(tmp_path / "fetch")


def test_japan_12_sample_reads_with_only_the_samples_own_gaps(samples, tmp_path):
    report, result = _fetch(samples, "da2022-japan-rest-v1p2", "1.2", tmp_path)
    assert result.can_sync and result.version == "1.2"
    assert report.files["courses"] == report.files["academicSessions"] == "absent"
    assert result.findings.counts() == {
        "OR-BULK-INCOMPLETE": 2,  # no courses, and roles: [] so no roles.csv
        "OR-REF-ORG-PARENT": 1,  # the school's district is not in orgs
        "OR-ROW-REQUIRED": 1,  # the class has terms: []
    }
    user = result.model.users.to_pylist()[0]
    assert user["given_name"] == "たろう" and user["enabled_user"] is True
    assert user["primary_org_sourced_id"] == "500bc782-3ff9-4fd8-9dc7-ba6abfb38d80"
    assert user["metadata.jp.kanaGivenName"] == "タロウ"
    assert result.model.enrollments.column("primary").to_pylist() == [False]


def test_norway_11_sample_reads_clean(samples, tmp_path):
    _, result = _fetch(samples, "fint-norway-rest-v1p1", "1.1", tmp_path)
    assert result.can_sync and result.findings.counts() == {}
    users = {u["sourced_id"]: u for u in result.model.users.to_pylist()}
    assert users["00004818-f4ba-4104-9282-8c85e40cf497"]["user_ids"] == [
        "{Feide:brukernavn@feide.fylke.no}"
    ]
    classes = result.model.classes
    assert classes.num_rows == 3
    assert classes.column("term_sourced_ids").to_pylist()[0] == [
        "64444dfe-d597-4fcc-be4b-09ebd639ec5e",
        "559b775e-7f8a-407e-945c-71e7e27dc62a",
    ]
    assert result.model.academic_sessions.column("school_year").to_pylist() == [2021, 2021]
