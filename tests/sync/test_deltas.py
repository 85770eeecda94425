"""Deltas that lose nothing: references in a delta resolve against the bundle *and* what the
source delivered before (sync/delta.py, sync/resolve.py), through the real pipeline, on the
real database. Each test syncs a first bulk bundle, then one delta, and looks at the
directory's rows — and a self-check of the same delta predicts the same."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rollbook.directory.audit import Actor
from rollbook.directory.models import (
    Account,
    ClassMembership,
    GuardianLink,
    SchoolClass,
    StaffRole,
    Student,
)
from rollbook.oneroster import schema
from rollbook.readiness.services import run_check
from rollbook.sync import services
from rollbook.sync.models import SyncRun

from .bundles import FILES, Bundle

pytestmark = pytest.mark.django_db

NOTHING = {f: "absent" for f in FILES}


def delta(**files: str) -> Bundle:
    """A bundle of only these files, in these modes (every other file absent)."""
    return Bundle(schools=[], modes=NOTHING | files)


@dataclass
class Bundle12(Bundle):
    """The same bundle in OneRoster 1.2: users.csv without roles, and roles.csv — with only
    the roles of ``roles_of`` (None: of every user written) plus ``extra_roles``."""

    roles_of: set[str] | None = None
    extra_roles: list[dict] = field(default_factory=list)

    def write(self, path: Path) -> Path:
        super().write(path)
        modes = {f: "bulk" for f in FILES} | self.modes
        roles_mode = modes.get("roles", "bulk")
        manifest = [["manifest.version", "1.0"], ["oneroster.version", "1.2"]]
        for key in schema.MANIFEST_FILES["1.2"]:
            name = key.removeprefix("file.")
            mode = roles_mode if name == "roles" else modes.get(name, "absent")
            if name != "roles" and not (path / f"{name}.csv").exists():
                mode = "absent"
            manifest.append([key, mode])
        users, roles = [], []
        stamp = "2027-01-15T06:00:00.000Z"
        header = [c.header for c in schema.USERS.columns_for("1.2")]
        if (path / "users.csv").exists():
            with (path / "users.csv").open(newline="") as handle:
                for row in csv.DictReader(handle):
                    orgs = [o for o in row["orgSourcedIds"].split(",") if o]
                    users.append(row | {"primaryOrgSourcedId": orgs[0] if orgs else ""})
                    if self.roles_of is None or row["sourcedId"] in self.roles_of:
                        for org in orgs:
                            roles.append(
                                {
                                    "userSourcedId": row["sourcedId"],
                                    "role": row["role"],
                                    "orgSourcedId": org,
                                    "status": row["status"] or "active",
                                }
                            )
            with (path / "users.csv").open("w", newline="") as handle:
                writer = csv.DictWriter(handle, header, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(users)
        roles += [{"status": "active"} | r for r in self.extra_roles]
        if roles_mode != "absent" and roles:
            with (path / "roles.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow([c.header for c in schema.BY_ENTITY["roles"].columns_for("1.2")])
                for r in roles:
                    delta_file = roles_mode == "delta"
                    writer.writerow(
                        [
                            r.get("sourcedId", f"r-{r['userSourcedId']}-{r['orgSourcedId']}"),
                            r["status"] if delta_file else "",
                            stamp if delta_file else "",
                            r["userSourcedId"],
                            "primary",
                            r["role"],
                            "",
                            "",
                            r["orgSourcedId"],
                            "",
                        ]
                    )
        elif roles_mode != "absent":
            manifest = [m if m[0] != "file.roles" else ["file.roles", "absent"] for m in manifest]
        with (path / "manifest.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows([["propertyName", "value"], *manifest])
        return path


def first_day(kind: type[Bundle] = Bundle) -> Bundle:
    b = kind()
    b.guardian("g-1", "Ana", "Lopez", email="ana@example.com")
    b.guardian("g-2", "Raul", "Diaz", email="raul@example.com", role="guardian")
    b.student("s-1", "Mia", "Lopez", guardians=("g-1",), birthDate="2016-04-02")
    b.student("s-2", "Leo", "Diaz", guardians=("g-2",), birthDate="2015-09-30")
    b.student("s-3", "Ivy", "Chen")
    b.teacher("t-1", "Tom", "Hill", email="tom@example.com")
    b.klass("c-1", title="Room 1").klass("c-2", title="Room 2")
    b.enroll("e-1", "c-1", "s-1").enroll("e-2", "c-1", "t-1", role="teacher")
    b.enroll("e-3", "c-2", "s-2")
    return b


def classes_of(sourced_id: str) -> set[str]:
    return set(
        ClassMembership.objects.filter(student__sourced_id=sourced_id, status="active").values_list(
            "school_class__sourced_id", flat=True
        )
    )


def guardians_of(sourced_id: str) -> dict[str, str]:
    return dict(
        GuardianLink.objects.filter(student__sourced_id=sourced_id, status="active").values_list(
            "person_sourced_id", "relationship"
        )
    )


def missing(run: SyncRun) -> list[dict]:
    return list(
        run.issues.filter(code="SYNC-REFERENCE-MISSING").values(
            "entity", "sourced_id", "message", "detail"
        )
    )


@pytest.fixture
def synced(run_sync):
    """The source after its first (bulk) sync."""
    run = run_sync(first_day())
    assert run.status == SyncRun.Status.APPLIED
    assert classes_of("s-1") == {"c-1"} and guardians_of("s-1") == {"g-1": "parent"}
    return run_sync


@pytest.fixture
def synced12(run_sync):
    """The source after a first 1.2 (bulk) sync."""
    run = run_sync(first_day(Bundle12))
    assert run.status == SyncRun.Status.APPLIED
    assert run.stats["plan"]["version"] == "1.2"
    assert classes_of("s-1") == {"c-1"} and guardians_of("s-2") == {"g-2": "guardian"}
    return run_sync


def delta12(**files: str) -> Bundle12:
    return Bundle12(schools=[], modes=NOTHING | {"roles": "absent"} | files)


@pytest.fixture
def predicted(district, tmp_path):
    """Run the self-check on a written bundle, then the sync; both outcomes."""

    def both(sync, b: Bundle):
        folder = b.write(tmp_path / f"checked-{len(list(tmp_path.iterdir()))}")
        report = run_check(district, folder)
        run = services.sync_bundle(sync.source, folder, Actor(label="test"), approve=True)
        return report, run

    return both


# --- (1) enrollments in existing classes ---------------------------------------------------


def test_a_delta_enrolls_existing_students_in_existing_classes(synced, predicted):
    d = delta(enrollments="delta")
    d.enroll("e-4", "c-2", "s-1").enroll("e-5", "c-1", "s-3").enroll("e-6", "c-2", "t-1", "teacher")
    report, run = predicted(synced, d)
    assert run.status == SyncRun.Status.APPLIED, run.stats
    assert run.stats["outcome"]["counts"]["enrollment"]["created"] == 3
    assert classes_of("s-1") == {"c-1", "c-2"}
    assert classes_of("s-3") == {"c-1"}
    assert ClassMembership.objects.get(sourced_id="e-6").account.email == "tom@example.com"
    assert missing(run) == []
    assert report.outcome == run.stats["outcome"]


def test_a_delta_reactivates_students_and_enrolls_them(synced):
    gone = delta(users="delta")
    gone.student("s-3", "Ivy", "Chen", status="tobedeleted")
    assert synced(gone).status == SyncRun.Status.APPLIED
    assert Student.objects.get(sourced_id="s-3").status == "archived"
    back = delta(users="delta", enrollments="delta")
    back.student("s-3", "Ivy", "Chen")
    back.enroll("e-7", "c-2", "s-3")
    run = synced(back)
    assert run.stats["outcome"]["counts"]["student"]["reactivated"] == 1
    assert Student.objects.get(sourced_id="s-3").status == "active"
    assert classes_of("s-3") == {"c-2"}


# --- (2) a guardian added to an existing student ------------------------------------------


def test_a_new_guardian_row_names_a_student_that_is_not_re_sent(synced, predicted):
    d = delta(users="delta")
    d.guardian(
        "g-3", "Eva", "Lopez", email="eva@example.com", role="relative", agentSourcedIds="s-1"
    )
    report, run = predicted(synced, d)
    assert run.status == SyncRun.Status.APPLIED
    assert guardians_of("s-1") == {"g-1": "parent", "g-3": "relative"}
    assert missing(run) == []
    assert report.outcome == run.stats["outcome"]


def test_a_re_sent_student_lists_a_new_and_an_existing_guardian(synced):
    """The student's row lists g-1 (not re-sent) and the new g-3: both links stay."""
    d = delta(users="delta")
    d.student("s-1", "Mia", "Lopez", guardians=("g-1", "g-3"))
    d.guardian("g-3", "Eva", "Lopez", email="eva@example.com")
    run = synced(d)
    assert run.status == SyncRun.Status.APPLIED
    assert guardians_of("s-1") == {"g-1": "parent", "g-3": "parent"}
    # The student's birth date was not re-sent (no demographics.csv): it is kept.
    assert str(Student.objects.get(sourced_id="s-1").birth_date) == "2016-04-02"
    assert run.stats["outcome"]["counts"]["student"]["updated"] == 0


def test_1_2_a_student_re_sent_without_its_role_row_keeps_and_gains_guardians(synced12):
    d = delta12(users="delta", roles="delta")
    d.student("s-1", "Mia", "Lopez", guardians=("g-1", "g-3"))
    d.guardian("g-3", "Eva", "Lopez", email="eva@example.com")
    d.roles_of = {"g-3"}  # the student's own role row is not re-sent
    run = synced12(d)
    assert run.status == SyncRun.Status.APPLIED
    assert "OR-AGENT-NOT-GUARDIAN" not in run.stats.get("findings", {})
    assert guardians_of("s-1") == {"g-1": "parent", "g-3": "parent"}
    student = Student.objects.get(sourced_id="s-1")
    assert (student.status, student.school.sourced_id) == ("active", "sch-1")
    assert missing(run) == []


def test_1_2_a_guardian_added_by_a_student_row_only(synced12):
    """Neither side's role is re-sent: the directory knows s-2 as a student, g-1 as a
    parent; the new link takes g-1's relationship."""
    d = delta12(users="delta")
    d.student("s-2", "Leo", "Diaz", guardians=("g-2", "g-1"))
    run = synced12(d)
    assert run.status == SyncRun.Status.APPLIED
    assert guardians_of("s-2") == {"g-2": "guardian", "g-1": "parent"}
    assert run.stats["outcome"]["counts"]["student"]["updated"] == 0


# --- (3) only a role row ---------------------------------------------------------------------


def test_1_2_a_delta_of_one_role_row_changes_that_role_only(synced12, predicted):
    d = delta12(roles="delta")
    d.extra_roles = [{"userSourcedId": "t-1", "role": "aide", "orgSourcedId": "sch-1"}]
    report, run = predicted(synced12, d)
    assert run.status == SyncRun.Status.APPLIED
    assert StaffRole.objects.get(person_sourced_id="t-1").role == "aide"
    counts = run.stats["outcome"]["counts"]
    assert counts["staff_role"]["updated"] == 1
    assert all(c["archived"] == 0 for c in counts.values())
    assert Account.objects.get(email="tom@example.com").is_active
    assert classes_of("s-1") == {"c-1"} and guardians_of("s-1") == {"g-1": "parent"}
    assert report.outcome == run.stats["outcome"]


@pytest.mark.parametrize("few", [20_000, 0], ids=["by-value", "whole-set"])
def test_1_2_users_bulk_with_a_delta_of_roles_loses_nobody(synced12, few, monkeypatch):
    """users.csv bulk (the whole set), roles.csv a delta of one row: every user keeps what
    the directory knows of its roles — no student archived, no link lost, staff stays staff.
    (``few`` = 0: the directory's rows are read as the source's whole set, as at scale.)"""
    from rollbook.sync import known

    monkeypatch.setattr(known, "FEW", few)
    d = first_day(Bundle12)
    d.modes = {"roles": "delta"} | {f: "absent" for f in FILES if f != "users"}
    d.roles_of = set()
    d.extra_roles = [{"userSourcedId": "t-1", "role": "aide", "orgSourcedId": "sch-1"}]
    run = synced12(d)
    assert run.status == SyncRun.Status.APPLIED, run.stats
    counts = run.stats["outcome"]["counts"]
    assert all(c["archived"] == 0 and c["skipped"] == 0 for c in counts.values()), counts
    assert counts["student"]["unchanged"] == 3 and counts["person"]["unchanged"] == 3
    assert counts["guardian_link"]["unchanged"] == 2
    assert StaffRole.objects.get(person_sourced_id="t-1").role == "aide"
    assert guardians_of("s-2") == {"g-2": "guardian"}


# --- (4) rows marked tobedeleted -------------------------------------------------------------


@pytest.mark.parametrize("kind", [Bundle, Bundle12])
def test_tobedeleted_rows_of_a_delta_archive(run_sync, kind):
    assert run_sync(first_day(kind)).status == SyncRun.Status.APPLIED
    files = {"users": "delta", "enrollments": "delta", "classes": "delta", "roles": "absent"}
    d = kind(schools=[], modes=NOTHING | files)
    d.student("s-3", "Ivy", "Chen", status="tobedeleted")
    d.klass("c-2", title="Room 2").classes[0]["status"] = "tobedeleted"
    d.enroll("e-1", "c-1", "s-1").enrollments[0]["status"] = "tobedeleted"
    run = run_sync(d)
    assert run.status == SyncRun.Status.APPLIED, run.stats
    counts = run.stats["outcome"]["counts"]
    assert (counts["student"]["archived"], counts["class"]["archived"]) == (1, 1)
    assert counts["enrollment"]["archived"] == 1
    assert Student.objects.get(sourced_id="s-3").status == "archived"  # never deleted
    assert SchoolClass.objects.get(sourced_id="c-2").status == "archived"
    assert ClassMembership.objects.get(sourced_id="e-1").status == "archived"
    assert Student.objects.filter(status="active").count() == 2
    assert guardians_of("s-1") == {"g-1": "parent"}


# --- (5) bulk and delta in one bundle ---------------------------------------------------------


def test_users_bulk_and_enrollments_delta(synced, predicted):
    """users.csv is the whole set (s-3 is gone: archived); enrollments.csv only adds."""
    d = first_day()
    d.students = [s for s in d.students if s["sourcedId"] != "s-3"]
    d.enrollments = []
    d.enroll("e-4", "c-2", "s-1")
    d.modes = {"users": "bulk", "enrollments": "delta"} | {
        f: "absent" for f in FILES if f not in ("users", "enrollments")
    }
    report, run = predicted(synced, d)
    assert run.status == SyncRun.Status.APPLIED
    counts = run.stats["outcome"]["counts"]
    assert counts["student"]["archived"] == 1 and counts["enrollment"]["archived"] == 0
    assert Student.objects.get(sourced_id="s-3").status == "archived"
    assert classes_of("s-1") == {"c-1", "c-2"} and classes_of("s-2") == {"c-2"}
    assert report.outcome == run.stats["outcome"]


# --- (6) a reference known nowhere ------------------------------------------------------------


def test_a_reference_known_nowhere_is_reported_with_its_place(synced, predicted, tmp_path):
    from rollbook.oneroster import read_bundle

    d = delta(enrollments="delta", users="delta")
    d.enroll("e-8", "c-9", "s-1").enroll("e-9", "c-1", "s-9").enroll("e-10", "c-2", "s-3")
    d.guardian("g-4", "Kim", "Park", email="kim@example.com", agentSourcedIds="s-99")
    # The validator alone does not know the directory: no error for what it cannot resolve.
    assert read_bundle(d.write(tmp_path / "alone")).can_sync
    report, run = predicted(synced, d)
    assert run.status == SyncRun.Status.APPLIED
    counts = run.stats["outcome"]["counts"]
    assert counts["enrollment"]["created"] == 1 and counts["enrollment"]["skipped"] == 2
    assert counts["guardian_link"]["skipped"] == 1
    assert classes_of("s-3") == {"c-2"}
    assert not ClassMembership.objects.filter(sourced_id__in=["e-8", "e-9"]).exists()
    assert not Account.objects.filter(email="kim@example.com").exists()
    found = {i["sourced_id"]: i for i in missing(run)}
    assert set(found) == {"e-8", "e-9", "g-4|s-99"}
    assert found["e-8"]["detail"] == {
        "file": "enrollments.csv",
        "line": 2,
        "column": "classSourcedId",
        "value": "c-9",
    }
    assert "Export the class" in found["e-8"]["message"]
    assert found["e-9"]["detail"]["column"] == "userSourcedId"
    assert found["g-4|s-99"]["detail"]["column"] == "agentSourcedIds"
    assert run.stats["plan"]["counts"]["enrollment"]["skipped"] == 2  # the preview said so
    assert report.outcome == run.stats["outcome"]
    assert report.count("CHECK-SYNC-SKIPS") == 3


def test_1_2_a_student_moves_school_by_role_rows_alone(run_sync):
    first = first_day(Bundle12)
    first.schools = ["sch-1", "sch-2"]
    assert run_sync(first).status == SyncRun.Status.APPLIED
    d = delta12(roles="delta")
    d.extra_roles = [
        {
            "userSourcedId": "s-3",
            "role": "student",
            "orgSourcedId": "sch-1",
            "status": "tobedeleted",
        },
        {"userSourcedId": "s-3", "role": "student", "orgSourcedId": "sch-2"},
        {"userSourcedId": "s-1", "role": "student", "orgSourcedId": "sch-1"},  # as it was
        {"userSourcedId": "s-77", "role": "student", "orgSourcedId": "sch-1"},  # never sent
    ]
    run = run_sync(d)
    assert run.status == SyncRun.Status.APPLIED, run.stats
    counts = run.stats["outcome"]["counts"]["student"]
    assert (counts["updated"], counts["unchanged"], counts["skipped"]) == (1, 1, 1)
    moved = Student.objects.get(sourced_id="s-3")
    assert (moved.school.sourced_id, moved.given_name, moved.status) == ("sch-2", "Ivy", "active")
    assert str(Student.objects.get(sourced_id="s-1").birth_date) == "2016-04-02"
    assert guardians_of("s-1") == {"g-1": "parent"}
    [issue] = missing(run)
    assert issue["sourced_id"] == "s-77" and issue["detail"]["file"] == "roles.csv"
    assert issue["detail"]["line"] == 5


def test_1_2_a_role_of_a_user_known_nowhere_is_reported(synced12):
    d = delta12(roles="delta")
    d.extra_roles = [{"userSourcedId": "t-9", "role": "teacher", "orgSourcedId": "sch-1"}]
    run = synced12(d)
    assert run.stats["outcome"]["counts"]["staff_role"]["skipped"] == 1
    [issue] = missing(run)
    assert (issue["entity"], issue["detail"]["column"]) == ("staff_role", "userSourcedId")
    assert not StaffRole.objects.filter(person_sourced_id="t-9").exists()


def test_a_classes_delta_names_a_course_and_a_school_known_nowhere(synced):
    d = delta(classes="delta")
    d.klass("c-3", title="Room 3").klass("c-4", school="sch-9", title="Room 4")
    d.classes[0]["courseSourcedId"] = "crs-9"  # the helper writes crs-<school>
    run = synced(d)
    assert run.status == SyncRun.Status.APPLIED
    counts = run.stats["outcome"]["counts"]["class"]
    assert (counts["created"], counts["skipped"]) == (1, 1)
    assert SchoolClass.objects.get(sourced_id="c-3").course is not None  # crs-sch-1 is known
    found = {(i["sourced_id"], i["detail"]["column"]) for i in missing(run)}
    assert found == {("c-4", "schoolSourcedId")}


def test_a_dry_run_plans_the_findings_that_its_approval_records(synced):
    from rollbook.sync.services import approve_run

    d = delta(enrollments="delta")
    d.enroll("e-8", "c-9", "s-1").enroll("e-10", "c-2", "s-3")
    planned = synced(d, dry_run=True)
    assert planned.status == SyncRun.Status.PLANNED
    assert planned.stats["plan"]["counts"]["enrollment"]["skipped"] == 1
    assert missing(planned) == []  # nothing recorded before it applies, but listed
    from rollbook.sync import plan as plans
    from rollbook.sync.services import plan_folder

    listed = plans.listing(plans.load(plan_folder(planned)), "enrollment", "skipped")
    assert listed.select(["sourced_id", "line", "column"]).to_pylist() == [
        {"sourced_id": "e-8", "line": 2, "column": "classSourcedId"}
    ]
    applied = approve_run(planned, Actor(label="test"))
    assert applied.status == SyncRun.Status.APPLIED
    assert [i["sourced_id"] for i in missing(applied)] == ["e-8"]
    assert classes_of("s-3") == {"c-2"}


def test_with_chosen_schools_other_schools_rows_are_outside_not_findings(run_sync):
    first = first_day()
    first.schools = ["sch-1", "sch-2"]
    first.student("s-5", "Ada", "Ng", school="sch-2").klass("c-5", school="sch-2")
    run_sync.source.school_sourced_ids = ["sch-1"]
    run_sync.source.save()
    assert run_sync(first).status == SyncRun.Status.APPLIED
    assert not Student.objects.filter(sourced_id="s-5").exists()
    d = delta(enrollments="delta", users="delta")
    d.enroll("e-11", "c-5", "s-5", school="sch-2").enroll("e-12", "c-2", "s-3")
    d.guardian("g-5", "Bo", "Ng", email="bo@example.com", agentSourcedIds="s-5")
    run = run_sync(d)
    assert run.status == SyncRun.Status.APPLIED
    assert missing(run) == []
    assert classes_of("s-3") == {"c-2"}
    assert run.stats["plan"]["skipped_outside_schools"]["guardian_link"] == 1


def test_1_2_a_guardian_s_role_row_sent_alone_changes_the_relationship(synced12):
    d = delta12(roles="delta")
    d.extra_roles = [
        {"userSourcedId": "g-1", "role": "relative", "orgSourcedId": "sch-1"},
        {"userSourcedId": "g-2", "role": "guardian", "orgSourcedId": "sch-1"},  # as it was
    ]
    run = synced12(d)
    assert run.status == SyncRun.Status.APPLIED, run.stats
    counts = run.stats["outcome"]["counts"]["guardian_link"]
    assert (counts["updated"], counts["unchanged"], counts["archived"]) == (1, 1, 0)
    assert guardians_of("s-1") == {"g-1": "relative"}
    assert guardians_of("s-2") == {"g-2": "guardian"}
    assert missing(run) == []


def test_1_2_a_link_declared_from_both_sides_is_made_once(synced12):
    """s-1 (no role row re-sent) lists g-3; g-3 (with its role) lists s-1: one link."""
    d = delta12(users="delta", roles="delta")
    d.student("s-1", "Mia", "Lopez", guardians=("g-1", "g-3"))
    d.guardian("g-3", "Eva", "Lopez", email="eva@example.com", agentSourcedIds="s-1")
    d.roles_of = {"g-3"}
    run = synced12(d)
    assert run.status == SyncRun.Status.APPLIED, run.stats
    assert run.stats["outcome"]["counts"]["guardian_link"]["created"] == 1
    assert guardians_of("s-1") == {"g-1": "parent", "g-3": "parent"}


def test_a_guardian_re_sent_alone_is_updated_and_keeps_its_link(synced):
    """Before: a guardian row whose student was not re-sent was no person of the sync, and
    its new email was dropped without a word."""
    d = delta(users="delta")
    d.guardian("g-1", "Ana", "Lopez", email="ana.lopez@example.com", agentSourcedIds="s-1")
    run = synced(d)
    assert run.status == SyncRun.Status.APPLIED
    counts = run.stats["outcome"]["counts"]
    assert counts["person"]["updated"] == 1 and counts["guardian_link"]["unchanged"] == 1
    link = GuardianLink.objects.get(person_sourced_id="g-1", status="active")
    assert link.account.email == "ana.lopez@example.com"
    assert guardians_of("s-1") == {"g-1": "parent"}
