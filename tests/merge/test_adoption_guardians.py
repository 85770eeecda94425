"""Adoption leaves exactly the SIS's guardian links active (issue 13, case 4): a link entered
by hand to an account the SIS also links to the student is folded into the SIS's link, so that
when the SIS later removes that guardian the guardian loses access; a guardian the SIS does not
list is archived by the first sync unless the administrator kept it when confirming."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.audit import Actor
from rollbook.directory.models import Account, AuditEntry, GuardianLink, School
from rollbook.merge import adoption, guardians
from rollbook.merge.services import MergeRefused
from rollbook.readiness.services import run_check
from rollbook.sync import services as sync
from rollbook.sync.models import StudentAdoption

from ..readiness.conftest import same_json
from ..sync.bundles import Bundle

pytestmark = pytest.mark.django_db
runner = CliRunner()
SYNC = Actor(label="test")


@pytest.fixture
def mia(district, tmp_path, settings, make):
    """Mia entered by hand with Ana (whom the SIS lists as her guardian, same name, email and
    phone) and Oma (whom the SIS does not list); the SIS has Mia with Ana."""
    settings.ROLLBOOK_HOME = tmp_path / "home"
    school = School.objects.create(district=district, name="School sch-1")
    mia = make.old("Mia", "Lopez", school=school)
    make.history(mia, 2)
    ana = make.guardian(mia, "Ana", "Lopez", "ana@example.com", "+12025550101")
    oma = make.guardian(mia, "Oma", "Lopez", "oma@example.com")
    b = Bundle()
    b.guardian("gdn-1", "Ana", "Lopez", "ana@example.com", "202-555-0101")
    b.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    b.student("stu-2", "Zoe", "Park")
    return b.write(tmp_path / "bundle"), mia, ana, oma


def active(student) -> list[tuple[int, bool]]:
    """(account, synced) of the student's active guardian links."""
    return sorted(
        (a, s is not None)
        for a, s in GuardianLink.objects.filter(student=student, status="active").values_list(
            "account_id", "source_id"
        )
    )


def test_the_issue_replayed_a_removed_guardian_loses_access(mia, district, actor, tmp_path):
    folder, mia, ana, oma = mia
    assert {
        s: [link.account_id for link in links]
        for s, links in adoption.unlisted_guardians(district, folder, [(mia.pk, "stu-1")]).items()
    } == {mia.pk: [oma.pk]}
    adoption.confirm_adoptions(district, [(mia.pk, "stu-1")], actor)
    report = run_check(district, folder)  # the self-check rehearses the same
    source = sync.get_source(district)
    run = sync.sync_bundle(source, folder, SYNC, approve=True)
    assert run.status == "applied", run.stats
    assert same_json(run.stats["outcome"], report.outcome)
    counts = run.stats["outcome"]["counts"]["guardian_link"]
    assert (counts["folded"], counts["hand_entered_archived"], counts["kept_by_hand"]) == (1, 1, 0)
    assert [
        report.prediction[f"adopted_guardian_links_{k}"]
        for k in ("folded", "archived", "kept_by_hand")
    ] == [1, 1, 0]
    # Exactly one active link for Ana: the SIS's. Oma, not listed and not kept: archived.
    assert active(mia) == [(ana.pk, True)]
    by_hand = GuardianLink.objects.get(student=mia, account=ana, source__isnull=True)
    assert (by_hand.status, by_hand.last_run_id) == ("archived", run.pk)  # kept, not deleted
    folded = AuditEntry.objects.get(object_type="guardianlink", object_id=by_hand.pk, run=run)
    synced = GuardianLink.objects.get(student=mia, account=ana, source=source)
    assert folded.action == "archive" and folded.after["folded_into"] == synced.pk
    assert "folded into" in folded.note
    dropped = GuardianLink.objects.get(account=oma)
    assert dropped.status == "archived"
    assert AuditEntry.objects.filter(
        object_type="guardianlink", object_id=dropped.pk, run=run, action="archive"
    ).exists()
    oma.refresh_from_db()
    assert not oma.is_active  # no other role: deactivated by the sync, never deleted

    # The SIS removes Ana as Mia's guardian: she keeps no access to Mia.
    b = Bundle()
    b.student("stu-1", "Mia", "Lopez")
    b.student("stu-2", "Zoe", "Park")
    later = sync.sync_bundle(source, b.write(tmp_path / "later"), SYNC, approve=True)
    assert later.status == "applied", later.stats
    assert not GuardianLink.objects.filter(account=ana, student=mia, status="active").exists()
    ana.refresh_from_db()
    assert not ana.is_active  # no other role


def test_a_guardian_kept_when_confirming_is_kept_by_hand(mia, district, tmp_path):
    folder, mia, ana, oma = mia
    admin = Account.objects.create(given_name="Dee", family_name="Admin", email="dee@x.org")
    with pytest.raises(MergeRefused, match="not a guardian entered by hand"):
        adoption.confirm_adoptions(
            district, [(mia.pk, "stu-1")], Actor(account=admin), keep_guardians=[admin.pk]
        )
    assert not StudentAdoption.objects.exists()  # nothing recorded
    [made] = adoption.confirm_adoptions(
        district, [(mia.pk, "stu-1")], Actor(account=admin), keep_guardians=[oma.pk]
    )
    assert made.kept_guardians == [oma.pk]
    source = sync.get_source(district)
    run = sync.sync_bundle(source, folder, SYNC, approve=True)
    assert active(mia) == sorted([(ana.pk, True), (oma.pk, False)])
    kept = GuardianLink.objects.get(account=oma)
    entry = AuditEntry.objects.get(object_type="guardianlink", object_id=kept.pk, run=run)
    assert entry.action == "keep_by_hand" and entry.after["kept_by"] == "Dee Admin"
    mia.refresh_from_db()
    shown = guardians.kept_by_hand(mia, list(mia.guardian_links.all()))
    assert list(shown) == [kept.pk]
    assert shown[kept.pk]["by"] == "Dee Admin"
    assert shown[kept.pk]["at"] == made.created_at
    oma.refresh_from_db()
    assert oma.is_active


def test_from_the_command_line(mia, district):
    folder, mia, ana, oma = mia
    pairs = folder.parent / "pairs.csv"
    pairs.write_text(f"student,sis\n{mia.pk},stu-1\n")
    base = ["merge", "adopt", "confirm", str(folder), "--district", str(district.pk)]
    base += ["--pairs", str(pairs)]
    dry = runner.invoke(app, [*base, "--dry-run"], terminal_width=200)
    assert dry.exit_code == 0, dry.output
    assert "Oma Lopez" in dry.output and "link archived" in dry.output
    assert "Ana Lopez" not in dry.output  # the SIS lists her: folded, not a choice
    assert "--keep-guardian" in dry.output and not StudentAdoption.objects.exists()
    wrong = runner.invoke(app, [*base, "--keep-guardian", str(ana.pk + 1000)])
    assert "nothing was recorded" in str(wrong.exception)
    result = runner.invoke(app, [*base, "--keep-guardian", str(oma.pk), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["kept_guardians"] == [oma.pk]
    assert StudentAdoption.objects.get().kept_guardians == [oma.pk]
