"""Every shared third-party sample set, read in both modes, with its findings pinned.

The samples are never copied into the repository (their licences forbid it); the tests skip
when the shared folder is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rollbook.oneroster.bundle import BundleError
from rollbook.oneroster.validate import read_bundle

# set -> (version, can sync lenient, can sync strict, finding counts (same in both modes))
PINS = {
    "moodle-enrol-oneroster/Test_full_data_set": (
        "1.1",
        True,
        False,
        {
            "OR-AGENT-NOT-GUARDIAN": 4,
            "OR-BULK-HAS-STATUS": 19,
            "OR-BULK-INCOMPLETE": 1,
            "OR-REF-ORG-PARENT": 1,
            "OR-REF-SESSION-PARENT": 2,
            "OR-SCHOOL-NOT-SCHOOL": 8,
            "OR-VALUE-CASE": 7,
            "OR-VALUE-DATETIME": 7,
            "OR-VALUE-INACTIVE": 1,
            "OR-VALUE-LIST-SPACES": 2,
            "OR-VALUE-SUBJECT-CODES": 1,
        },
    ),
    "moodle-enrol-oneroster/Test_full_data_set.zip": (
        "1.1",
        True,
        False,
        {
            "OR-AGENT-NOT-GUARDIAN": 4,
            "OR-BULK-HAS-STATUS": 19,
            "OR-BULK-INCOMPLETE": 1,
            "OR-REF-ORG-PARENT": 1,
            "OR-REF-SESSION-PARENT": 2,
            "OR-SCHOOL-NOT-SCHOOL": 8,
            "OR-VALUE-CASE": 7,
            "OR-VALUE-DATETIME": 7,
            "OR-VALUE-INACTIVE": 1,
            "OR-VALUE-LIST-SPACES": 2,
            "OR-VALUE-SUBJECT-CODES": 1,
        },
    ),
    "moodle-enrol-oneroster/Test_minimal_data_set": (
        "1.1",
        True,
        False,
        {"OR-BULK-INCOMPLETE": 1, "OR-SCHOOL-NOT-SCHOOL": 8, "OR-VALUE-CASE": 7},
    ),
    "moodle-enrol-oneroster/Test_minimal_data_set.zip": (
        "1.1",
        True,
        False,
        {"OR-BULK-INCOMPLETE": 1, "OR-SCHOOL-NOT-SCHOOL": 8, "OR-VALUE-CASE": 7},
    ),
    "moodle-enrol-oneroster/oneroster_test_data": ("1.2", True, False, {"OR-VALUE-CASE": 1}),
    "moodle-enrol-oneroster/oneroster_test_data.zip": ("1.2", True, False, {"OR-VALUE-CASE": 1}),
    "moodle-enrol-oneroster/test01": (
        "1.1",
        False,
        False,
        {
            "OR-BULK-INCOMPLETE": 1,
            "OR-REF-ENROLLMENT-CLASS": 1,
            "OR-REF-ORG-PARENT": 1,
            "OR-REF-SESSION-PARENT": 1,
            "OR-SCHOOL-NOT-SCHOOL": 2,
            "OR-VALUE-CASE": 2,
            "OR-VALUE-DATE": 6,
        },
    ),
    "moodle-enrol-oneroster/test01.zip": (
        "1.1",
        False,
        False,
        {
            "OR-BULK-INCOMPLETE": 1,
            "OR-REF-ENROLLMENT-CLASS": 1,
            "OR-REF-ORG-PARENT": 1,
            "OR-REF-SESSION-PARENT": 1,
            "OR-SCHOOL-NOT-SCHOOL": 2,
            "OR-VALUE-CASE": 2,
            "OR-VALUE-DATE": 6,
        },
    ),
    "moodle-enrol-oneroster/v1p2_full_dataset": (
        "1.2",
        True,
        False,
        {
            "OR-AGENT-NOT-GUARDIAN": 3,
            "OR-BULK-HAS-STATUS": 33,
            "OR-BULK-INCOMPLETE": 1,
            "OR-FILE-NAME-CASE": 1,
            "OR-HEADER-ALIAS": 5,
            "OR-HEADER-EMPTY": 2,
            "OR-HEADER-MISSING": 2,
            "OR-HEADER-UNKNOWN": 5,
            "OR-MANIFEST-MODE": 1,
            "OR-REF-ORG-PARENT": 1,
            "OR-REF-SESSION-PARENT": 2,
            "OR-ROLE-ORG-TYPE": 1,
            "OR-ROW-REQUIRED": 28,
            "OR-SCHOOL-NOT-SCHOOL": 8,
            "OR-VALUE-CASE": 7,
            "OR-VALUE-DATETIME": 21,
            "OR-VALUE-INACTIVE": 1,
            "OR-VALUE-LIST-SPACES": 2,
            "OR-VALUE-SUBJECT-CODES": 1,
        },
    ),
    "moodle-enrol-oneroster/v1p2_full_dataset.zip": (
        "1.2",
        True,
        False,
        {
            "OR-AGENT-NOT-GUARDIAN": 3,
            "OR-BULK-HAS-STATUS": 33,
            "OR-BULK-INCOMPLETE": 1,
            "OR-FILE-NAME-CASE": 1,
            "OR-HEADER-ALIAS": 5,
            "OR-HEADER-EMPTY": 2,
            "OR-HEADER-MISSING": 2,
            "OR-HEADER-UNKNOWN": 5,
            "OR-MANIFEST-MODE": 1,
            "OR-REF-ORG-PARENT": 1,
            "OR-REF-SESSION-PARENT": 2,
            "OR-ROLE-ORG-TYPE": 1,
            "OR-ROW-REQUIRED": 28,
            "OR-SCHOOL-NOT-SCHOOL": 8,
            "OR-VALUE-CASE": 7,
            "OR-VALUE-DATETIME": 21,
            "OR-VALUE-INACTIVE": 1,
            "OR-VALUE-LIST-SPACES": 2,
            "OR-VALUE-SUBJECT-CODES": 1,
        },
    ),
    "oat-sa-oneroster-import/OneRosterv1p1BaseCSV": (
        "1.1",
        True,
        False,
        {
            "OR-BULK-HAS-STATUS": 4,
            "OR-BULK-INCOMPLETE": 1,
            "OR-FILE-EMPTY": 3,
            "OR-HEADER-ALIAS": 6,
            "OR-HEADER-CASE": 1,
            "OR-HEADER-METADATA-POSITION": 2,
            "OR-HEADER-MISSING": 5,
            "OR-HEADER-ORDER": 2,
            "OR-HEADER-UNKNOWN": 9,
            "OR-ROW-REQUIRED": 3,
            "OR-VALUE-CASE": 2,
            "OR-VALUE-DATETIME": 2,
        },
    ),
    "oat-sa-oneroster-import/oneRoster1.0": (
        "1.0",
        True,
        False,
        {
            "OR-BULK-INCOMPLETE": 1,
            "OR-FILE-EMPTY": 3,
            "OR-HEADER-ALIAS": 7,
            "OR-HEADER-CASE": 1,
            "OR-HEADER-METADATA-POSITION": 2,
            "OR-HEADER-MISSING": 5,
            "OR-HEADER-ORDER": 1,
            "OR-HEADER-UNKNOWN": 9,
            "OR-MANIFEST-MISSING": 1,
            "OR-ROW-REQUIRED": 5,
            "OR-VALUE-DATETIME": 2,
        },
    ),
    "rjeike-oneroster-net/CSVSample": (
        "1.0",
        True,
        False,
        {
            "OR-HEADER-EMPTY": 3,
            "OR-HEADER-MISSING": 5,
            "OR-HEADER-ORDER": 1,
            "OR-MANIFEST-MISSING": 1,
            "OR-REF-CLASS-SCHOOL": 2,
            "OR-REF-CLASS-TERM": 4,
            "OR-REF-COURSE-SCHOOLYEAR": 4,
            "OR-REF-SESSION-PARENT": 3,
            "OR-REF-USER-ORG": 3,
            "OR-VALUE-CASE": 5,
            "OR-VALUE-DATE": 6,
        },
    ),
    "rjeike-oneroster-net/CSVSample/Step1-UpdateCourse": (
        "1.0",
        True,
        False,
        {
            "OR-HEADER-EMPTY": 3,
            "OR-HEADER-MISSING": 5,
            "OR-HEADER-ORDER": 1,
            "OR-MANIFEST-MISSING": 1,
            "OR-REF-CLASS-SCHOOL": 2,
            "OR-REF-CLASS-TERM": 4,
            "OR-REF-COURSE-SCHOOLYEAR": 5,
            "OR-REF-SESSION-PARENT": 3,
            "OR-REF-USER-ORG": 3,
            "OR-VALUE-CASE": 5,
            "OR-VALUE-DATE": 6,
            "OR-VALUE-INACTIVE": 1,
        },
    ),
    "rjeike-oneroster-net/CSVSample/Step2-AddCourse": (
        "1.0",
        True,
        False,
        {
            "OR-HEADER-EMPTY": 3,
            "OR-HEADER-MISSING": 5,
            "OR-HEADER-ORDER": 1,
            "OR-MANIFEST-MISSING": 1,
            "OR-REF-CLASS-SCHOOL": 2,
            "OR-REF-CLASS-TERM": 4,
            "OR-REF-COURSE-SCHOOLYEAR": 5,
            "OR-REF-SESSION-PARENT": 3,
            "OR-REF-USER-ORG": 3,
            "OR-VALUE-CASE": 5,
            "OR-VALUE-DATE": 6,
        },
    ),
    "rjeike-oneroster-net/CSVSample/Step3-DeleteCourse": (
        "1.0",
        True,
        False,
        {
            "OR-HEADER-EMPTY": 3,
            "OR-HEADER-MISSING": 5,
            "OR-HEADER-ORDER": 1,
            "OR-MANIFEST-MISSING": 1,
            "OR-REF-CLASS-SCHOOL": 2,
            "OR-REF-CLASS-TERM": 4,
            "OR-REF-COURSE-SCHOOLYEAR": 4,
            "OR-REF-SESSION-PARENT": 3,
            "OR-REF-USER-ORG": 3,
            "OR-VALUE-CASE": 5,
            "OR-VALUE-DATE": 6,
        },
    ),
    "rjeike-oneroster-net/CSVSample/Step4-AddClass": (
        "1.0",
        True,
        False,
        {
            "OR-HEADER-EMPTY": 3,
            "OR-HEADER-MISSING": 5,
            "OR-HEADER-ORDER": 1,
            "OR-MANIFEST-MISSING": 1,
            "OR-REF-CLASS-SCHOOL": 2,
            "OR-REF-CLASS-TERM": 5,
            "OR-REF-COURSE-SCHOOLYEAR": 4,
            "OR-REF-SESSION-PARENT": 3,
            "OR-REF-USER-ORG": 3,
            "OR-SCHOOL-NOT-SCHOOL": 1,
            "OR-VALUE-CASE": 5,
            "OR-VALUE-DATE": 6,
        },
    ),
    "lepo-roster-hub/sample_csv/en": (
        "1.1",
        True,
        False,
        {"OR-MANIFEST-INCOMPLETE": 1, "OR-MANIFEST-PROPERTY": 1},
    ),
    "lepo-roster-hub/sample_csv/en/oneroster.zip": (
        "1.1",
        True,
        False,
        {"OR-MANIFEST-INCOMPLETE": 1, "OR-MANIFEST-PROPERTY": 1},
    ),
    "lepo-roster-hub/sample_csv/ja": (
        "1.1",
        True,
        False,
        {"OR-MANIFEST-INCOMPLETE": 1, "OR-MANIFEST-PROPERTY": 1},
    ),
    "lepo-roster-hub/sample_csv/ja/oneroster.zip": (
        "1.1",
        True,
        False,
        {"OR-MANIFEST-INCOMPLETE": 1, "OR-MANIFEST-PROPERTY": 1},
    ),
    "lepo-roster-hub/public_csv_2017_shiftjis": (
        "1.1",
        False,
        False,
        {
            "OR-BULK-INCOMPLETE": 2,
            "OR-FILE-ENCODING": 3,
            "OR-HEADER-MISSING": 3,
            "OR-MANIFEST-FORMAT-VERSION": 1,
            "OR-MANIFEST-HEADER": 1,
            "OR-MANIFEST-INCOMPLETE": 1,
            "OR-MANIFEST-PROPERTY": 1,
            "OR-VALUE-DATE": 8,
        },
    ),
    "nicelion-oneroster-mocker/oneroster-example-csv": (
        "1.1",
        True,
        False,
        {"OR-FILE-EMPTY": 7, "OR-FILE-UNDECLARED": 1},
    ),
    "nicelion-oneroster-mocker/outputs": (
        "1.0",
        True,
        False,
        {"OR-FILE-UNKNOWN": 1, "OR-MANIFEST-MISSING": 1, "OR-VALUE-ROLE-VERSION": 1},
    ),
}
SJIS_WITH_ENCODING = (
    "1.1",
    True,
    {
        "OR-HEADER-MISSING": 6,
        "OR-MANIFEST-FORMAT-VERSION": 1,
        "OR-MANIFEST-HEADER": 1,
        "OR-MANIFEST-INCOMPLETE": 1,
        "OR-MANIFEST-PROPERTY": 1,
        "OR-VALUE-DATE": 8,
    },
)


@pytest.mark.parametrize("name", sorted(PINS))
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_sample_findings_are_pinned(samples: Path, name: str, strict: bool) -> None:
    version, ok_lenient, ok_strict, counts = PINS[name]
    result = read_bundle(samples / name, strict=strict)
    assert result.version == version
    assert result.findings.counts() == counts
    assert result.can_sync is (ok_strict if strict else ok_lenient)
    for finding in result.findings.all():
        assert finding.message and finding.code in counts


def test_shift_jis_reads_with_encoding(samples: Path) -> None:
    version, ok, counts = SJIS_WITH_ENCODING
    result = read_bundle(samples / "lepo-roster-hub/public_csv_2017_shiftjis", encoding="cp932")
    assert (result.version, result.can_sync, result.findings.counts()) == (version, ok, counts)
    assert "大分　太郎" in result.model.users["given_name"].to_pylist()


@pytest.mark.parametrize("name", ["da2022-japan-rest-v1p2", "fint-norway-rest-v1p1"])
def test_rest_json_samples_are_not_csv_bundles(samples: Path, name: str) -> None:
    with pytest.raises(BundleError, match="no CSV files"):
        read_bundle(samples / name)


def test_nicelion_families_give_guardian_links(samples: Path, tmp_path: Path) -> None:
    """The 1 999-user file (students listing 1-3 parents) read as users.csv."""
    shutil.copyfile(
        samples / "nicelion-oneroster-mocker/outputs/test-csv.csv", tmp_path / "users.csv"
    )
    result = read_bundle(tmp_path)
    links = result.model.guardian_links
    assert result.model.users.num_rows == 1999
    assert links.num_rows == 401 + 369 * 2 + 417 * 3
    assert set(links["declared_by"].to_pylist()) == {"student"}


def test_moodle_two_way_links_are_deduplicated(samples: Path) -> None:
    links = read_bundle(samples / "moodle-enrol-oneroster/test01").model.guardian_links
    assert links.to_pylist() == [
        {
            "student_sourced_id": "usr-222-66778899",
            "guardian_sourced_id": "usr-222-66778900",
            "declared_by": "both",
        }
    ]


def test_v11_and_v12_give_the_same_role_rows(samples: Path) -> None:
    v11 = read_bundle(samples / "moodle-enrol-oneroster/Test_full_data_set").model.user_roles
    v12 = read_bundle(samples / "moodle-enrol-oneroster/v1p2_full_dataset").model.user_roles
    assert v11.schema == v12.schema
    assert set(v12["role"].to_pylist()) >= {"teacher", "student", "siteAdministrator"}
