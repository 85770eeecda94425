"""Values the directory cannot store are findings when the bundle is read (limits.py), and the
run's own records hold any file name and sourcedId — on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollbook.oneroster import limits
from rollbook.oneroster.schema import BY_ENTITY
from rollbook.oneroster.validate import read_bundle

from .conftest import BASE_11, USERS_11, base_files, write_bundle

#: entity -> column -> (app, model, field) the sync writes the column to.
STORED_IN = {
    "orgs": {"name": ("School", "name"), "identifier": ("School", "identifier")},
    "academic_sessions": {
        "title": ("AcademicSession", "title"),
        "type": ("AcademicSession", "kind"),
    },
    "courses": {"title": ("Course", "title"), "course_code": ("Course", "code")},
    "classes": {
        "title": ("SchoolClass", "title"),
        "class_code": ("SchoolClass", "class_code"),
        "class_type": ("SchoolClass", "class_type"),
    },
    "users": {
        "given_name": ("Student", "given_name"),
        "family_name": ("Student", "family_name"),
        "middle_name": ("Student", "middle_name"),
        "preferred_given_name": ("Student", "preferred_given_name"),
        "preferred_family_name": ("Student", "preferred_family_name"),
        "identifier": ("Student", "sis_identifier"),
        "email": ("Account", "email"),
        "grades": ("Student", "grade"),
    },
    "enrollments": {"role": ("ClassMembership", "role")},
}


@pytest.mark.django_db
def test_the_limits_are_the_directory_columns() -> None:
    from django.apps import apps

    for entity, columns in STORED_IN.items():
        for column, (model, field) in columns.items():
            stored = apps.get_model("directory", model)._meta.get_field(field).max_length
            assert limits.STORED[entity][column] == stored, (entity, column)
        assert set(limits.STORED[entity]) == set(columns)
    for model, field in [("directory", "Account"), ("directory", "Student")]:
        assert apps.get_model(model, field)._meta.get_field("given_name").max_length == 255
    sourced = [
        apps.get_model("sync", "SyncRecord")._meta.get_field("sourced_id"),
        apps.get_model("directory", "Student")._meta.get_field("sourced_id"),
        apps.get_model("directory", "ClassMembership")._meta.get_field("person_sourced_id"),
    ]
    assert {f.max_length for f in sourced} == {limits.MAX_SOURCED_ID}
    issue = apps.get_model("sync", "RunIssue")._meta
    assert issue.get_field("entity").max_length is None  # any file name
    assert issue.get_field("sourced_id").max_length is None  # any sourcedId


def test_every_stored_column_is_checked() -> None:
    for entity, columns in limits.STORED.items():
        names = {c.name for c in BY_ENTITY[entity].columns}
        assert set(columns) <= names, entity


@pytest.mark.parametrize(
    ("files", "column", "line"),
    [
        ({"classes__csv": BASE_11["classes.csv"].replace("Math 1", "M" * 256)}, "title", 2),
        ({"courses__csv": BASE_11["courses.csv"].replace("crs1,", "c" * 256 + ",")}, None, 2),
        (
            {
                "users__csv": USERS_11
                + "stu1,,,true,sch,student,stu1,,Ann,"
                + "L" * 300
                + ",,,ann@example.org,,,,09,\n"
            },
            "familyName",
            2,
        ),
        (
            {
                "users__csv": USERS_11
                + "stu1,,,true,sch,student,stu1,,Ann,Lee,,,,,,,09-grade-twelve-x,\n"
            },
            "grades",
            2,
        ),
        (
            {"orgs__csv": BASE_11["orgs.csv"] + "y,,," + "é" * 255 + ",school,,\n"},
            None,
            None,
        ),
    ],
)
def test_too_long_values_are_errors(tmp_path: Path, files, column, line) -> None:
    result = read_bundle(write_bundle(tmp_path / "b", base_files(**files)))
    if column is None and line is None:  # 255 characters of two bytes each: they fit
        assert "OR-VALUE-TOO-LONG" not in result.findings.counts()
        return
    summary = result.findings.by_code["OR-VALUE-TOO-LONG"]
    assert summary.count == 1
    finding = summary.instances[0]
    assert finding.line == line
    if column:
        assert finding.column == column
    assert not result.can_sync


def test_a_huge_sourced_id_is_kept_short_in_findings(tmp_path: Path) -> None:
    huge = "s" * 200_000
    users = USERS_11 + f"{huge},,,true,sch,student,x,,Ann,Lee,,,,,,,09,\n"
    result = read_bundle(write_bundle(tmp_path / "b", base_files(users__csv=users)))
    for finding in result.findings.all():
        assert len(finding.sourced_id or "") <= 512
        assert len(finding.message) <= 2000
    assert "OR-VALUE-TOO-LONG" in result.findings.counts()


@pytest.mark.django_db
def test_a_sync_of_too_long_values_fails_cleanly_on_either_database(
    tmp_path: Path, district, settings
) -> None:
    """On PostgreSQL, a long extra file name or sourcedId made saving the run's findings
    fail, and a name longer than its column failed in the middle of the apply."""
    from rollbook.directory.audit import Actor
    from rollbook.directory.models import Student
    from rollbook.sync import services
    from rollbook.sync.models import SyncRun
    from tests.sync.bundles import Bundle

    settings.ROLLBOOK_HOME = tmp_path / "home"
    bundle = Bundle().klass("c1").enroll("e1", "c1", "s1")
    bundle.student("s1", "Ann", "L" * 300)
    bundle.student("s" * 300, "Bob", "Lee")
    folder = bundle.write(tmp_path / "b")
    (folder / ("an extra export file of the SIS" * 3 + ".csv")).write_text("a,b\n1,2\n")
    source = services.get_source(district)
    run = services.sync_bundle(source, folder, Actor(label="test"), approve=True)
    assert run.status == SyncRun.Status.FAILED
    assert run.stats["findings"]["OR-VALUE-TOO-LONG"] == 2
    kept = {(i.code, i.entity) for i in run.issues.all()}
    assert ("OR-FILE-UNKNOWN", "an extra export file of the SIS" * 3 + ".csv") in kept
    assert any(len(i.sourced_id) > 255 for i in run.issues.all())
    assert not Student.objects.exists()


def test_ids_the_sync_joins_must_fit_too(tmp_path: Path) -> None:
    """A guardian link is keyed by guardian|student, a 1.1 staff role by user|org|role: each
    part fits, together they do not."""
    g, s, t = "g" * 200, "s" * 100, "t" * 250
    users = (
        USERS_11
        + f"{s},,,true,sch,student,x,,Ann,Lee,,,,,,{g},09,\n"
        + f"{g},,,true,sch,parent,y,,Bob,Lee,,,,,,,,\n"
        + f"{t},,,true,sch,teacher,z,,Cy,Ray,,,,,,,,\n"
    )
    enrollments = BASE_11["enrollments.csv"].replace("stu1", s).replace("tea1", t)
    result = read_bundle(
        write_bundle(tmp_path / "b", base_files(users__csv=users, enrollments__csv=enrollments))
    )
    summary = result.findings.by_code["OR-VALUE-TOO-LONG"]
    assert summary.count == 2
    assert {f.message.split(": ")[1] for f in summary.instances} == {
        "a guardian link, keyed by its guardian and student",
        "a staff role, keyed by its user, org and role",
    }
    assert result.model.guardian_links.num_rows == 0
    assert t not in result.model.user_roles["user_sourced_id"].to_pylist()
    assert not result.can_sync
