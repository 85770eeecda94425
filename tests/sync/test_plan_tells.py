"""The plan tells everything before approval (issue 17, item 3): adoptions, conflicts, who
approved, and plans that expire rather than wait for ever."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from django.utils import timezone
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.audit import Actor
from rollbook.directory.models import Account, GuardianLink, School, Student
from rollbook.errors import UserError
from rollbook.sync import retention, services
from rollbook.sync.models import SyncRun

from .bundles import Bundle

pytestmark = pytest.mark.django_db
runner = CliRunner()


def family() -> Bundle:
    b = Bundle()
    b.guardian("gdn-1", "Ana", "Lopez", "ana@example.com", "(212) 555-0101")
    b.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    return b


def test_a_school_entered_by_hand_is_shown_adopted_in_the_plan(run_sync, district):
    School.objects.create(district=district, name="School sch-1")  # the SIS school's name
    planned = run_sync(family(), dry_run=True)
    assert planned.report.plan.counts["school"]["created"] == 0
    assert planned.report.plan.counts["school"]["adopted"] == 1
    applied = services.approve_run(planned, Actor(label="test"))
    done = applied.report.outcome.counts["school"]
    assert (done["created"], done["adopted"]) == (0, 1)  # as the plan said
    assert School.objects.filter(district=district).count() == 1


def test_a_dry_run_lists_the_conflicts_it_will_record(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    school = School.objects.create(district=district, name="Hand School")
    kid = Student.objects.create(district=district, school=school, given_name="K", family_name="Z")
    holder = Account.objects.create(
        given_name="Zed", family_name="Holder", email="ana@example.com", origin="manual"
    )
    GuardianLink.objects.create(account=holder, student=kid)
    folder = family().write(tmp_path / "b")
    done = runner.invoke(
        app, ["sync", str(folder), "--district", str(district.pk), "--dry-run", "--json"]
    )
    run = json.loads(done.stdout)
    assert run["status"] == "planned"
    assert [c["code"] for c in run["conflicts"]] == ["SYNC-EMAIL-TAKEN"]
    assert run["conflicts"][0]["person_sourced_id"] == "gdn-1"


def test_a_run_approved_up_front_names_its_approver(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    folder = family().write(tmp_path / "b")
    done = runner.invoke(
        app, ["sync", str(folder), "--district", str(district.pk), "--approve", "--json"]
    )
    run = json.loads(done.stdout)
    assert run["status"] == "applied" and run["hold_reasons"]  # a first sync: it needed one
    assert run["approved_by"] == run["started_by"] and run["approved_by"]


def test_an_old_dry_run_expires_and_cannot_be_approved(run_sync, settings):
    planned = run_sync(family(), dry_run=True)
    assert retention.expire_plans() == 0  # young: kept
    SyncRun.objects.filter(pk=planned.pk).update(
        created_at=timezone.now() - dt.timedelta(days=retention.plan_days() + 1)
    )
    assert retention.expire_plans() == 1
    planned.refresh_from_db()
    assert planned.status == "discarded" and "expired" in planned.report.note
    with pytest.raises(UserError, match="only a planned or held run"):
        services.approve_run(planned, Actor(label="test"))


def test_a_finished_runs_plan_files_are_removed_after_the_plan_days(run_sync):
    applied = run_sync(family())
    folder = services.plan_folder(applied)
    assert folder.exists()
    assert retention.prune_plans() == 0
    later = timezone.now() + dt.timedelta(days=retention.plan_days() + 1)
    assert retention.prune_plans(now=later) == 1
    assert not folder.exists()
    applied.refresh_from_db()
    assert applied.report.outcome.counts["student"]["created"] == 1  # the report stays


def test_staff_at_the_district_are_counted_as_left_out_never_silently(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path
    b = Bundle(schools=["sch-1", "sch-2"])
    b.student("stu-1", "Mia", "Lopez")
    b.student("stu-2", "Noa", "Kim", school="sch-2")
    b.teacher("tch-1", "Tom", "Reed", "tom@example.org")
    b.teacher("adm-1", "Dee", "Ward", "dee@example.org", school="dst-1", role="administrator")
    folder = b.write(tmp_path / "b")
    args = ["sync", str(folder), "--district", str(district.pk), "--schools", "sch-1"]
    done = runner.invoke(app, [*args, "--dry-run", "--json"])
    run = json.loads(done.stdout)
    left = run["stats"]["plan"]["skipped_outside_schools"]
    assert left["staff_role_not_at_a_school"] == 1  # the district's administrator
    assert left["student_at_other_schools"] == 1  # Noa, at sch-2
    assert left["school"] == 1
    shown = runner.invoke(app, ["run", "show", str(run["id"])])
    assert "1 staff role at the district or another organisation" in shown.output
    assert "1 student at schools this source does not sync" in shown.output


def two_schools() -> Bundle:
    """Lincoln (sch-1) is synced, Jefferson (sch-2) is not: everything of Jefferson's is left
    out, and counted."""
    b = Bundle(schools=["sch-1", "sch-2"])
    b.guardian("gdn-1", "Ana", "Lopez", "ana@example.com")  # Mia's too: synced
    b.guardian("gdn-2", "Bo", "Kim", "bo@example.com")  # Noa's only
    b.guardian("gdn-3", "Cy", "Ng", "cy@example.com", school="sch-2")  # Ola's only
    b.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    b.student("stu-2", "Noa", "Kim", school="sch-2", guardians=("gdn-1", "gdn-2"))
    b.student("stu-3", "Ola", "Ng", school="sch-2", guardians=("gdn-3",))
    b.student("stu-4", "Pia", "Diaz", school="sch-1,sch-2")  # at Lincoln too: synced
    b.teacher("tch-1", "Tom", "Reed", "tom@example.org")
    b.teacher("tch-2", "Uma", "Ray", "uma@example.org", school="sch-2")
    b.teacher("adm-1", "Dee", "Ward", "dee@example.org", school="dst-1", role="administrator")
    b.klass("c-1").klass("c-2", school="sch-2")
    b.enroll("e-1", "c-1", "stu-1").enroll("e-2", "c-1", "stu-4")
    b.enroll("e-3", "c-1", "tch-1", role="teacher")
    for n, user in enumerate(("stu-2", "stu-3", "stu-4", "tch-2"), start=4):
        b.enroll(
            f"e-{n}", "c-2", user, role="teacher" if user == "tch-2" else "student", school="sch-2"
        )
    return b


#: What a source of Lincoln alone leaves out of ``two_schools()``.
LEFT_OUT = {
    "school": 1,  # Jefferson
    "student_at_other_schools": 2,  # Noa and Ola (Pia is at Lincoln too)
    "guardian_link": 3,  # Ana–Noa, Bo–Noa, Cy–Ola
    "guardian_at_other_schools": 2,  # Bo and Cy (Ana is Mia's guardian too)
    "staff_role_at_other_schools": 1,  # Uma
    "staff_role_not_at_a_school": 1,  # Dee, at the district
    "enrollment_at_other_schools": 4,  # every enrollment in Jefferson's class
}
LEFT_OUT_WORDS = [
    "1 school not among the source's chosen schools",
    "2 students at schools this source does not sync",
    "3 guardian links of students this source does not sync",
    "2 parents or guardians whose children are all at schools this source does not sync",
    "1 staff role at schools this source does not sync",
    "1 staff role at the district or another organisation that is not a school (the directory "
    "keeps staff roles at schools)",
    "4 class enrollments at schools this source does not sync",
]


def test_a_source_of_chosen_schools_tells_everything_it_leaves_out(
    tmp_path, district, settings, client
):
    from rollbook.directory.services import create_administrator
    from rollbook.readiness.services import run_check

    settings.ROLLBOOK_HOME = tmp_path
    folder = two_schools().write(tmp_path / "b")
    args = ["sync", str(folder), "--district", str(district.pk), "--schools", "sch-1"]
    done = runner.invoke(app, [*args, "--dry-run", "--json"])
    assert done.exit_code == 0, done.output
    run = json.loads(done.stdout)
    assert run["status"] == "planned"
    assert run["stats"]["plan"]["skipped_outside_schools"] == LEFT_OUT
    counts = run["stats"]["plan"]["counts"]
    assert counts["student"]["created"] == 2  # Mia and Pia
    assert counts["guardian_link"]["created"] == 1  # Ana–Mia
    assert counts["enrollment"]["created"] == 3  # Lincoln's class only

    shown = runner.invoke(app, ["run", "show", str(run["id"])]).output
    told = " ".join(shown.split())  # the console wraps long lines
    assert "Left out of this sync: " + "; ".join(LEFT_OUT_WORDS) + "." in told

    admin = create_administrator(
        district, "district@example.org", "a-long-passphrase", Actor(label="test")
    )
    client.force_login(admin)
    page = client.get(f"/districts/{district.pk}/sync/runs/{run['id']}/")
    assert page.status_code == 200
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.content.decode())).split())
    assert "Left out of this sync: " + "; ".join(LEFT_OUT_WORDS) + "." in text

    report = run_check(district, folder, source_name="Check", schools=["sch-1"])
    skips = report.finding("CHECK-SYNC-SKIPS")
    assert skips is not None and skips.count == sum(LEFT_OUT.values())
    said = {row["entity"]: row["message"] for row in skips.rows}
    assert said == {
        kind: sentence + " — left out of the sync"
        for kind, sentence in zip(LEFT_OUT, LEFT_OUT_WORDS, strict=True)
    }


def test_an_adoption_confirmed_for_one_source_is_not_counted_in_anothers_plan(run_sync, district):
    """The apply adopts a student only for the source the adoption was confirmed for; the
    plan of another source of the district counted it as adopted all the same."""
    from rollbook.merge.adoption import confirm_adoptions

    school = School.objects.create(district=district, name="School sch-1")
    kid = Student.objects.create(
        district=district, school=school, given_name="Mia", family_name="Lopez"
    )
    confirm_adoptions(district, [(kid.pk, "stu-1")], Actor(label="test"), source_name="Other")
    planned = run_sync(family(), dry_run=True)  # the source "SIS"
    assert planned.report.plan.counts["student"]["created"] == 1
    assert "adopted" not in planned.report.plan.counts["student"]
    applied = services.approve_run(planned, Actor(label="test"))
    assert applied.report.outcome.counts["student"]["created"] == 1  # as the plan said
    kid.refresh_from_db()
    assert kid.source_id is None  # still the hand-entered student, beside the SIS one
