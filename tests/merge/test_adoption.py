"""Adopt before the first sync: confirmed students entered by hand become the SIS students
(keeping their history, with the SIS's guardians) instead of being duplicated; nothing else
changes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.audit import Actor
from rollbook.directory.models import AuditEntry, GuardianLink, School, Student
from rollbook.merge import adoption
from rollbook.merge.services import MergeRefused
from rollbook.readiness.services import run_check
from rollbook.sync import services as sync
from rollbook.sync.models import StudentAdoption

from ..readiness.conftest import same_json
from ..sync.bundles import Bundle

pytestmark = pytest.mark.django_db
runner = CliRunner()


@pytest.fixture
def before_sync(district, tmp_path, settings, make):
    """A school entered by hand with the SIS school's name; Mia (with history and a guardian)
    and Noah entered by hand; the SIS has Mia, Noah (as 'Noah Kim-Lee') and Zoe."""
    settings.ROLLBOOK_HOME = tmp_path / "home"
    school = School.objects.create(district=district, name="School sch-1")
    mia = make.old("Mia", "Lopez", school=school)
    make.history(mia, 2)
    make.guardian(mia, "Ana", "Lopez", "ana.old@example.com")
    noah = make.old("Noah", "Kim", school=school)
    b = Bundle()
    b.guardian("gdn-1", "Ana", "Lopez", "ana@example.com")
    b.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    b.student("stu-2", "Noah", "Kim-Lee", grade="04")
    b.student("stu-3", "Zoe", "Park")
    return b.write(tmp_path / "bundle"), mia, noah


def test_suggest_confirm_then_the_first_sync_adopts(before_sync, district, actor):
    folder, mia, noah = before_sync
    found, sids = adoption.suggest_adoptions(district, folder)
    by_student = {s.old.id: s for s in found}
    assert by_student[mia.pk].bucket == "ready"
    assert sids[by_student[mia.pk].best.student.id] == "stu-1"
    adoption.confirm_adoptions(district, [(mia.pk, "stu-1")], actor)
    assert AuditEntry.objects.filter(action="confirm_adoption", object_id=mia.pk).exists()

    report = run_check(district, folder)
    assert report.prediction["students_adopted"] == 1
    assert report.prediction["students_created"] == 2
    source = sync.get_source(district)
    run = sync.sync_bundle(source, folder, Actor(label="test"), approve=True)
    assert same_json(run.stats["outcome"], report.outcome)
    mia.refresh_from_db()
    assert (mia.origin, mia.sourced_id, mia.source_id, mia.status) == (
        "synced",
        "stu-1",
        source.pk,
        "active",
    )
    assert mia.history.count() == 2  # kept
    # Her guardian entered by hand (another email than the SIS's Ana): not listed by the SIS,
    # not kept when confirming, so archived (test_adoption_guardians.py has the details).
    by_hand = GuardianLink.objects.get(student=mia, source__isnull=True)
    assert by_hand.status == "archived"
    assert GuardianLink.objects.get(student=mia, source=source).status == "active"  # the SIS's
    assert Student.objects.filter(sourced_id="stu-1").count() == 1  # no duplicate
    noah.refresh_from_db()
    assert (noah.origin, noah.source_id) == ("manual", None)  # not confirmed: untouched
    assert StudentAdoption.objects.get().status == "adopted"
    assert AuditEntry.objects.filter(action="adopt", object_id=mia.pk, run=run).exists()
    # The next sync treats the adopted student as its own.
    again = sync.sync_bundle(source, folder, Actor(label="test"), dry_run=True)  # not skipped
    assert again.stats["plan"]["counts"]["student"]["created"] == 0
    assert again.stats["plan"]["counts"]["student"]["unchanged"] == 3


def test_guards_and_cancel(before_sync, district, actor, make):
    folder, mia, noah = before_sync
    synced = make.synced("Zed", "Synced")
    with pytest.raises(MergeRefused, match="entered by hand"):
        adoption.confirm_adoptions(district, [(synced.pk, "stu-3")], actor)
    adoption.confirm_adoptions(district, [(mia.pk, "stu-1")], actor)
    with pytest.raises(MergeRefused, match="already waiting"):
        adoption.confirm_adoptions(district, [(noah.pk, "stu-1")], actor)
    pending = StudentAdoption.objects.get(status="pending")
    adoption.cancel_adoption(district, pending.pk, actor)
    source = sync.get_source(district)
    sync.sync_bundle(source, folder, Actor(label="test"), approve=True)
    mia.refresh_from_db()
    assert mia.origin == "manual"  # cancelled: the first sync created stu-1 beside her
    assert Student.objects.filter(sourced_id="stu-1", origin="synced").exists()


def test_from_the_command_line(before_sync, district, tmp_path):
    folder, mia, _ = before_sync
    result = runner.invoke(
        app, ["merge", "adopt", "suggest", str(folder), "--district", str(district.pk), "--json"]
    )
    assert result.exit_code == 0, result.output
    records = {r["student"]["id"]: r for r in json.loads(result.output)}
    assert records[mia.pk]["candidates"][0]["sourced_id"] == "stu-1"
    result = runner.invoke(
        app,
        [
            "merge",
            "adopt",
            "confirm",
            str(folder),
            "--district",
            str(district.pk),
            "--bucket",
            "ready",
        ],
    )
    assert result.exit_code == 0 and "confirmed" in result.output
    assert StudentAdoption.objects.filter(student=mia, sourced_id="stu-1").exists()
    bad = tmp_path / "pairs.csv"
    bad.write_text("student,sis\nabc,stu-2\n")
    result = runner.invoke(
        app,
        [
            "merge",
            "adopt",
            "confirm",
            str(folder),
            "--district",
            str(district.pk),
            "--pairs",
            str(bad),
        ],
    )
    assert "line 2" in str(result.exception)
