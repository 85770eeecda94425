"""The Sync and Self-check tabs: bundles in, plans and reports out, approvals and fixes — for
district administrators only."""

from __future__ import annotations

import io
import zipfile

import pytest

from rollbook.directory.models import AuditEntry, Student
from rollbook.sync.models import SyncRun
from rollbook.web.models import Job

from ..sync.bundles import Bundle
from .conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def inline(settings, tmp_path):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    settings.ROLLBOOK_JOBS_INLINE = True
    return tmp_path


def sis_bundle(folder):
    b = Bundle(schools=["sch-1"])
    b.guardian("gdn-1", "Ana", "Lopez", "ana@example.com", "=1+2")
    b.guardian("gdn-2", "Pat", "Parent", "pat@example.org", "(202) 555-0101")  # exists
    b.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    b.student("stu-2", "Leo", "Lopez", guardians=("gdn-1", "gdn-2"))
    return b.write(folder)


def test_plan_review_and_approve_in_the_browser_pages(client, world, inline):
    sis_bundle(inline / "imports" / str(world.district.pk) / "tuesday")
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    page = client.get(f"{base}/sync/")
    assert page.status_code == 200 and b"Make a plan" in page.content
    started = client.post(f"{base}/sync/", {"folder": "tuesday", "do": "plan"})
    assert started.status_code == 302
    job = Job.objects.get(kind="plan")
    assert job.status == "done", job.error
    run = SyncRun.objects.get(pk=job.result["run"])
    assert run.status == "planned"
    shown = client.get(started["Location"])
    assert f"/sync/runs/{run.pk}/" in shown.content.decode()
    detail = client.get(f"{base}/sync/runs/{run.pk}/")
    text = detail.content.decode()
    assert "What this run will do" in text and "stu-1" in text
    matches = client.get(f"{base}/sync/runs/{run.pk}/", {"entity": "matches"}).content.decode()
    assert "1 record" in matches and "gdn-2" in matches  # Pat Parent keeps her account
    searched = client.get(f"{base}/sync/runs/{run.pk}/", {"entity": "student", "q": "leo"})
    assert "stu-2" in searched.content.decode() and "stu-1" not in searched.content.decode()
    csv = client.get(f"{base}/sync/runs/{run.pk}/person-create.csv")
    body = b"".join(csv.streaming_content).decode()
    assert "'=1+2" in body  # neutralised for spreadsheets
    confirm = client.get(f"{base}/sync/runs/{run.pk}/decide/", {"decision": "approve"})
    assert "create 2 students" in confirm.content.decode()
    assert Student.objects.filter(origin="synced").count() == 0
    client.post(f"{base}/sync/runs/{run.pk}/decide/", {"decision": "approve", "confirm": "yes"})
    run.refresh_from_db()
    assert run.status == "applied"
    assert Student.objects.filter(origin="synced").count() == 2


def test_upload_a_zip_and_run_the_self_check_then_archive(client, world, inline):
    folder = sis_bundle(inline / "b")
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for path in folder.iterdir():
            archive.write(path, path.name)
    data.seek(0)
    data.name = "export.zip"
    world.school_a.name = "School sch-1"  # the SIS school: the sync adopts it
    world.school_a.save()
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    started = client.post(f"{base}/sync/", {"upload": data, "do": "check"})
    assert started.status_code == 302
    job = Job.objects.get(kind="check")
    assert job.status == "done", job.error
    assert "uploads" in job.bundle and not job.bundle.startswith(str(inline / "b"))
    report = client.get(f"{base}/self-check/{job.pk}/")
    text = report.content.decode()
    assert "Existing families" in text and "Prediction" in text
    existing = Student.objects.filter(school=world.school_a, status="active").count()
    assert f"Archive the {existing} students" in text
    confirm = client.get(f"{base}/self-check/{job.pk}/fix/archive/")
    assert f"Archive {existing} students" in confirm.content.decode()
    client.post(f"{base}/self-check/{job.pk}/fix/archive/", {"confirm": "yes"})
    assert not Student.objects.filter(school=world.school_a, status="active").exists()
    assert Student.objects.filter(school=world.school_b, status="active").count() == 2
    assert (
        AuditEntry.objects.filter(action="archive", actor=world.district_admin).count() == existing
    )
    tab = client.get(f"{base}/self-check/")
    assert f"Self-check {job.pk}" in tab.content.decode()


def test_a_folder_outside_the_import_folder_is_refused(client, world, inline):
    sign_in(client, world.district_admin)
    page = client.post(
        f"/districts/{world.district.pk}/sync/", {"folder": "../../etc", "do": "plan"}
    )
    assert page.status_code == 200
    assert "there is no folder &#x27;../../etc&#x27; in this district&#x27;s import folder" in (
        page.content.decode()
    )
    assert str(inline) not in page.content.decode()
    assert not Job.objects.exists()


def test_school_administrators_see_runs_but_cannot_sync(client, world, inline):
    sign_in(client, world.admin_a)
    page = client.get(f"/schools/{world.school_a.pk}/sync/")
    assert page.status_code == 200 and b"Make a plan" not in page.content
    assert client.post(f"/schools/{world.school_a.pk}/sync/", {"do": "plan"}).status_code == 404
    run = world.held_run
    assert client.get(f"/districts/{world.district.pk}/sync/runs/{run.pk}/").status_code == 404
    check = client.get(f"/schools/{world.school_a.pk}/self-check/")
    assert b"district's administrators run it" in check.content


def test_update_guardians_contacts_from_the_report(client, world, inline):
    """Pat Parent's SIS record has another phone: the report offers the fix, one account or
    all; after it, the first sync keeps Pat's account."""
    b = Bundle(schools=["sch-1"])
    b.guardian("gdn-1", "Pat", "Parent", "pat@example.org", "(202) 555-0199")
    b.student("stu-1", "Ana", "Able", guardians=("gdn-1",))
    b.write(inline / "imports" / str(world.district.pk) / "wed")
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    client.post(f"{base}/sync/", {"folder": "wed", "do": "check"})
    job = Job.objects.get(kind="check")
    report = client.get(f"{base}/self-check/{job.pk}/").content.decode()
    assert "Update the contact details of 1 guardian to the SIS values" in report
    pat = world.guardians["pat"]
    confirm = client.get(f"{base}/self-check/{job.pk}/fix/contacts/", {"account": pat.pk})
    text = confirm.content.decode()
    assert "+12025550101" in text and "+12025550199" in text
    client.post(f"{base}/self-check/{job.pk}/fix/contacts/", {"confirm": "yes", "account": pat.pk})
    pat.refresh_from_db()
    assert pat.phone == "+12025550199"
    entry = AuditEntry.objects.get(action="update_contacts", object_id=pat.pk)
    assert entry.actor == world.district_admin


def test_a_large_selection_is_changed_by_a_worker_and_reported(client, world, inline, settings):
    from rollbook.web import views_directory

    settings.ROLLBOOK_JOBS_INLINE = True
    old, views_directory.INLINE_LIMIT = views_directory.INLINE_LIMIT, 2
    try:
        sign_in(client, world.admin_a)
        url = f"/schools/{world.school_a.pk}/directory/actions/"
        response = client.post(url, {"action": "archive", "selection": "all", "confirm": "yes"})
    finally:
        views_directory.INLINE_LIMIT = old
    job = Job.objects.get(kind="action")
    assert response["Location"] == f"/schools/{world.school_a.pk}/jobs/{job.pk}/"
    assert job.status == "done" and job.school_id == world.school_a.pk
    page = client.get(response["Location"])
    assert "Archived 6 students." in page.content.decode()
    assert not Student.objects.filter(school=world.school_a, status="active").exists()
    assert Student.objects.filter(school=world.school_b, status="active").count() == 2
    # Another school's administrator cannot see the job.
    sign_in(client, world.admin_b)
    assert client.get(f"/schools/{world.school_b.pk}/jobs/{job.pk}/").status_code == 404


def test_a_sources_thresholds_and_schools(client, world, inline):
    source = world.held_run.source
    sign_in(client, world.district_admin)
    url = f"/districts/{world.district.pk}/sync/sources/{source.pk}/"
    assert "10.0" in client.get(url).content.decode()
    assert client.post(url, {"archive_percent": "150", "update_percent": "75"}).status_code == 200
    client.post(url, {"archive_percent": "5", "update_percent": "50", "schools": "sch-1, sch-2"})
    source.refresh_from_db()
    assert (source.archive_threshold, source.update_threshold) == (0.05, 0.5)
    assert source.school_sourced_ids == ["sch-1", "sch-2"]
    entry = AuditEntry.objects.get(action="update_source")
    assert entry.before["archive_threshold"] == 0.1 and entry.actor == world.district_admin


def test_the_plan_page_shows_conflicts_before_approval(client, world, inline):
    from rollbook.directory.models import Account

    Account.objects.create(
        given_name="Zed", family_name="Holder", email="ana@example.com", origin="manual"
    )  # the SIS gives Ana Lopez this email
    sis_bundle(inline / "imports" / str(world.district.pk) / "tuesday")
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    client.post(f"{base}/sync/", {"folder": "tuesday", "do": "plan"})
    run = SyncRun.objects.get(pk=Job.objects.get(kind="plan").result["run"])
    text = client.get(f"{base}/sync/runs/{run.pk}/").content.decode()
    assert "Conflicts this run will record (2)" in text  # the taken email, the bad phone
    assert "SYNC-EMAIL-TAKEN" in text and "gdn-1" in text
    assert '<th scope="col">Adopted</th>' in text


def test_a_failed_run_is_tried_again_from_its_page(client, world, inline):
    folder = sis_bundle(inline / "imports" / str(world.district.pk) / "tuesday")
    users = folder / "users.csv"
    good = users.read_text()
    users.write_text(good + "\n,,,,\n")  # a row the reader refuses: the plan fails
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    client.post(f"{base}/sync/", {"folder": "tuesday", "do": "plan"})
    failed = SyncRun.objects.latest("pk")
    assert failed.status == "failed"
    page = client.get(f"{base}/sync/runs/{failed.pk}/").content.decode()
    assert "Try again…" in page
    confirm = client.get(f"{base}/sync/runs/{failed.pk}/decide/", {"decision": "retry"})
    assert "as a plan only" in confirm.content.decode()  # it was a dry run: it plans again
    users.write_text(good)  # the export fixed in the SIS
    client.post(f"{base}/sync/runs/{failed.pk}/decide/", {"decision": "retry", "confirm": "yes"})
    again = SyncRun.objects.filter(pk__gt=failed.pk).get()
    assert again.status == "planned" and again.report.retry_of == failed.pk
    page = client.get(f"{base}/sync/runs/{failed.pk}/").content.decode()
    assert "Tried again as" in page and "Try again…" not in page


def test_a_skipped_run_says_which_run_applied_its_delivery(client, world, inline):
    from rollbook.directory.audit import Actor
    from rollbook.sync import services

    folder = sis_bundle(inline / "monday")
    source = services.get_source(world.district)
    first = services.sync_bundle(source, folder, Actor(label="t"), approve=True)
    again = services.sync_bundle(source, folder, Actor(label="t"), approve=True)
    assert (first.status, again.status) == ("applied", "skipped")
    sign_in(client, world.district_admin)
    page = client.get(f"/districts/{world.district.pk}/sync/runs/{again.pk}/").content.decode()
    assert "What this run did" in page and "did not get that far" not in page
    assert f'/sync/runs/{first.pk}/">run {first.pk}</a> applied it' in page
    assert "The bundle is byte-identical to the last one applied." in page
