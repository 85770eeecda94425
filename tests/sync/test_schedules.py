"""A source's schedule edited from the command line and the web (audited, district
administrators only), and the additions-only mode: creates and updates, never archives."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.models import AuditEntry, GuardianLink, Student
from rollbook.sync import services
from rollbook.sync.models import SyncRun, SyncSchedule, SyncSource

pytestmark = pytest.mark.django_db
runner = CliRunner()


# --- additions only ---------------------------------------------------------------------------


def test_additions_only_creates_and_updates_and_archives_nothing(run_sync, bundle):
    bundle.guardian("gdn-1", "Ana", "Lopez", "ana@example.com")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    bundle.student("stu-2", "Leo", "Lopez", guardians=("gdn-1",))
    run_sync(bundle)
    source = run_sync.source
    source.additions_only = True
    source.save()
    bundle.students[0]["givenName"] = "Amelia"
    bundle.students.pop()  # Leo is gone from the SIS: normally archived
    bundle.student("stu-3", "Zoe", "Lopez", guardians=("gdn-1",))
    run = run_sync(bundle, approve=False)  # under the thresholds: applied without approval
    assert run.status == SyncRun.Status.APPLIED, run.hold_reasons
    counts = run.stats["outcome"]["counts"]
    assert counts["student"]["created"] == 1 and counts["student"]["updated"] == 1
    assert all(c["archived"] == 0 for c in counts.values())
    assert run.stats["plan"]["additions_only"] == {
        "archives_skipped": {"student": 1, "guardian_link": 1}
    }
    leo = Student.objects.get(sourced_id="stu-2")
    assert leo.status == "active" and GuardianLink.objects.get(student=leo).status == "active"
    assert Student.objects.get(sourced_id="stu-1").given_name == "Amelia"
    shown = runner.invoke(app, ["run", "show", str(run.pk)])
    assert "Additions only: 2 archive(s) skipped (1 guardian_link, 1 student)" in shown.output
    # Back to normal: the next run archives what is still missing.
    source.additions_only = False
    source.save()
    source.last_bundle_digest = source.last_records_digest = ""
    source.save()
    normal = run_sync(bundle)
    assert normal.stats["outcome"]["counts"]["student"]["archived"] == 1
    assert "additions_only" not in normal.stats["plan"]
    assert Student.objects.get(sourced_id="stu-2").status == "archived"


def test_the_web_run_page_says_archives_were_skipped(run_sync, bundle, client, district):
    from rollbook.directory.audit import Actor
    from rollbook.directory.services import create_administrator

    bundle.student("stu-1", "Mia", "Lopez").student("stu-2", "Leo", "Lopez")
    run_sync(bundle)
    run_sync.source.additions_only = True
    run_sync.source.save()
    bundle.students.pop()
    run = run_sync(bundle, approve=False)
    admin = create_administrator(district, "d@example.org", "a-long-passphrase", Actor(label="x"))
    client.force_login(admin)
    page = client.get(f"/districts/{district.pk}/sync/runs/{run.pk}/").content.decode()
    assert "Additions only:" in page and "archives skipped — 1 student" in page


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def source(district, tmp_path):
    return SyncSource.objects.create(district=district, name="SIS", location=str(tmp_path))


def schedule(*args: str, district) -> object:
    return runner.invoke(app, ["source", "schedule", "SIS", "--district", str(district.pk), *args])


def test_the_command_line_edits_a_schedule_audited(source, district, tmp_path):
    folder = tmp_path / "nightly"
    folder.mkdir()
    result = schedule(
        "--daily",
        "02:30",
        "--folder",
        str(folder),
        "--time-zone",
        "America/Chicago",
        district=district,
    )
    assert result.exit_code == 0, result.output
    assert "every day at 02:30 (America/Chicago)" in result.output
    saved = SyncSchedule.objects.get(source=source)
    assert (saved.kind, saved.time_of_day, saved.alert_after_hours) == ("daily", dt.time(2, 30), 36)
    source.refresh_from_db()
    assert source.location == str(folder.resolve())
    created = AuditEntry.objects.get(action="create_schedule")
    assert created.before is None and created.after["time_of_day"] == "02:30"
    assert created.actor_label.startswith("command line") and created.district_id == district.pk
    assert AuditEntry.objects.get(action="update_district").after == {
        "time_zone": "America/Chicago"
    }
    for args in (
        ["--every-hours", "6", "--starting", "01:00"],
        ["--pause"],
        ["--resume"],
        ["--blackout", "2026-12-24..2027-01-02", "--blackout", "2027-04-01"],
        ["--rollover", "2027-06-20..2027-08-15"],
        ["--additions-only"],
        ["--alert-after-hours", "48"],
    ):
        assert schedule(*args, district=district).exit_code == 0, args
    shown = json.loads(schedule("--show", "--json", district=district).output)
    assert shown["summary"] == (
        "every 6 hours from 01:00 (America/Chicago); no run on 2026-12-24..2027-01-02, "
        "2027-04-01..2027-04-01; rollover pause 2027-06-20..2027-08-15; additions only"
    )
    assert (shown["alert_after_hours"], shown["paused"], shown["next_run"] is not None) == (
        48,
        False,
        True,
    )
    updates = AuditEntry.objects.filter(action="update_schedule").order_by("id")
    assert [(e.before["paused"], e.after["paused"]) for e in updates][1:3] == [
        (False, True),
        (True, False),
    ]
    mode = AuditEntry.objects.filter(action="update_source").latest("id")
    assert (mode.before["additions_only"], mode.after["additions_only"]) == (False, True)
    # Nothing changed: nothing audited.
    count = AuditEntry.objects.count()
    assert schedule("--alert-after-hours", "48", district=district).exit_code == 0
    assert schedule("--show", district=district).exit_code == 0
    assert AuditEntry.objects.count() == count


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pause"], "has no schedule yet"),
        (["--daily", "25:00"], "not a time of day"),
        (["--every-hours", "5"], "same times each day"),
        (["--daily", "02:00", "--every-hours", "6"], "choose one"),
        (["--daily", "02:00", "--blackout", "2027-01-05..2027-01-01"], "ends before it starts"),
        (["--daily", "02:00", "--rollover", "summer"], "not a range of dates"),
        (["--daily", "02:00", "--time-zone", "Mars/Olympus"], "not a time zone"),
        (["--daily", "02:00", "--folder", "/no/such/folder"], "no such file or folder"),
    ],
)
def test_the_command_line_refuses_with_clear_errors(source, district, args, message):
    result = schedule(*args, district=district)
    assert result.exit_code != 0 and message in str(result.exception)
    assert not SyncSchedule.objects.exists() and not AuditEntry.objects.exists()


def test_an_unknown_source_is_a_clear_error(district):
    result = runner.invoke(app, ["source", "schedule", "Nope", "--district", str(district.pk)])
    assert "no source 'Nope'" in str(result.exception)


def test_a_source_without_a_schedule_takes_its_mode_alone(source, district):
    result = schedule("--additions-only", district=district)
    assert result.exit_code == 0 and "has no schedule" in result.output
    source.refresh_from_db()
    assert source.additions_only and not SyncSchedule.objects.exists()
    assert AuditEntry.objects.get(action="update_source").after == {"additions_only": True}


def test_a_sync_by_hand_leaves_a_scheduled_sources_folder_alone(source, district, tmp_path):
    schedule("--daily", "02:30", district=district)
    other = tmp_path / "by-hand"
    assert services.get_source(district, "SIS", str(other)).location == str(tmp_path)


# --- the web -----------------------------------------------------------------------------------


@pytest.fixture
def web(settings, tmp_path):
    from tests.web.conftest import build_world

    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    world = build_world()
    (tmp_path / "imports" / str(world.district.pk) / "nightly").mkdir(parents=True)
    return world


FORM = {
    "archive_percent": "10",
    "update_percent": "75",
    "schools": "",
    "kind": "daily",
    "time_of_day": "03:15",
    "every_hours": "6",
    "time_zone": "America/Denver",
    "folder": "nightly",
    "blackouts": "2026-12-24..2027-01-02\r\n2027-04-01",
    "rollover": "2027-06-20..2027-08-15",
    "alert_after_hours": "24",
}


def test_the_web_edits_a_schedule_audited(client, web, tmp_path):
    source = web.held_run.source
    client.force_login(web.district_admin)
    url = f"/districts/{web.district.pk}/sync/sources/{source.pk}/"
    page = client.get(url).content.decode()
    assert "This source has no schedule" in page and "No: only when someone starts" in page
    response = client.post(url, FORM | {"additions_only": "on"})
    assert response.status_code == 302
    saved = SyncSchedule.objects.get(source=source)
    assert (saved.kind, saved.time_of_day, saved.alert_after_hours) == ("daily", dt.time(3, 15), 24)
    assert saved.blackouts == [["2026-12-24", "2027-01-02"], ["2027-04-01", "2027-04-01"]]
    assert (saved.rollover_start, saved.rollover_end) == (
        dt.date(2027, 6, 20),
        dt.date(2027, 8, 15),
    )
    source.refresh_from_db()
    folder = tmp_path / "imports" / str(web.district.pk) / "nightly"
    assert source.location == str(folder.resolve()) and source.additions_only
    entry = AuditEntry.objects.get(action="create_schedule")
    assert entry.actor == web.district_admin and entry.after["time_of_day"] == "03:15"
    assert AuditEntry.objects.get(action="update_district").after == {"time_zone": "America/Denver"}
    page = client.get(url).content.decode()
    assert "every day at 03:15 (America/Denver)" in page and "Next run:" in page
    assert str(tmp_path) not in page  # the folder by its name, never a server path
    # Paused, every 8 hours: an update with before and after.
    client.post(url, FORM | {"kind": "every", "every_hours": "8", "paused": "on"})
    change = AuditEntry.objects.filter(action="update_schedule").latest("id")
    assert (change.before["kind"], change.after["kind"]) == ("daily", "every")
    assert (change.before["paused"], change.after["paused"]) == (False, True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("folder", "../elsewhere", "there is no folder"),
        ("folder", "", "name the folder"),
        ("blackouts", "someday", "not a range of dates"),
        ("rollover", "2027-08-15..2027-06-20", "ends before it starts"),
        ("time_zone", "Mars/Olympus", "Select a valid choice"),
    ],
)
def test_the_web_form_names_what_is_wrong(client, web, field, value, message):
    source = web.held_run.source
    client.force_login(web.district_admin)
    url = f"/districts/{web.district.pk}/sync/sources/{source.pk}/"
    response = client.post(url, FORM | {field: value})
    assert response.status_code == 200 and message in response.content.decode()
    assert not SyncSchedule.objects.exists()


def test_only_the_districts_administrators_edit_its_schedules(client, web):
    source = web.held_run.source
    url = f"/districts/{web.district.pk}/sync/sources/{source.pk}/"
    client.force_login(web.admin_a)  # a school's administrator
    assert client.get(url).status_code == 404
    assert client.post(url, FORM).status_code == 404
    other = SyncSource.objects.create(district=web.other_district, name="SIS")
    client.force_login(web.district_admin)
    elsewhere = f"/districts/{web.district.pk}/sync/sources/{other.pk}/"
    assert client.post(elsewhere, FORM).status_code == 404
    assert not SyncSchedule.objects.exists()
