"""Deltas that lose nothing: references in a delta resolve against the bundle *and* what the
source delivered before (sync/delta.py, sync/resolve.py), through the real pipeline, on the
real database. Each test syncs a first bulk bundle, then one delta, and looks at the
directory's rows — and a self-check of the same delta predicts the same."""

from __future__ import annotations

import pytest

from rollbook.directory.audit import Actor
from rollbook.directory.models import ClassMembership, GuardianLink, Student
from rollbook.readiness.services import run_check
from rollbook.sync import services
from rollbook.sync.models import SyncRun

from .bundles import FILES, Bundle

pytestmark = pytest.mark.django_db

NOTHING = {f: "absent" for f in FILES}


def delta(**files: str) -> Bundle:
    """A bundle of only these files, in these modes (every other file absent)."""
    return Bundle(schools=[], modes=NOTHING | files)


def first_day() -> Bundle:
    b = Bundle()
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
