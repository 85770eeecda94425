"""The job page in a real browser: the bar follows the job's record by itself (htmx polling),
a reload shows the same, and a real plan run by the queue's worker ends on its run's page."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from django.utils import timezone

from rollbook.web.models import Job

from .test_sync_pages import sis_bundle

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("ROLLBOOK_SCREENSHOTS", "/tmp"))


def test_the_job_page_follows_the_record_and_survives_a_reload(browser_world, signed_in):
    w = browser_world
    job = Job.objects.create(
        district=w.district,
        created_by=w.district_admin,
        kind=Job.Kind.PLAN,
        status=Job.Status.RUNNING,
        started_at=timezone.now() - dt.timedelta(seconds=42),
        stage="Reading the bundle: enrollments.csv — 31.5 of 90.0 MB",
        done=31_500_000,
        total=90_000_000,
        bundle="tuesday-export.zip",
    )
    page = signed_in(w.district_admin)
    page.goto(f"/districts/{w.district.pk}/jobs/{job.pk}/")
    bar = page.locator("#job progress")
    assert bar.get_attribute("value") == "35"
    assert "enrollments.csv — 31.5 of 90.0 MB" in page.locator(".job-stage").inner_text()
    assert re.search(r"Running for 4\d s", page.locator("#job").inner_text())
    page.screenshot(path=str(SHOTS / "rollbook-job-running.png"), full_page=True)
    # The worker writes further on; the page follows without a reload.
    Job.objects.filter(pk=job.pk).update(stage="Planning: resolving 12,345 people", done=0, total=0)
    page.wait_for_selector(".job-stage:has-text('resolving 12,345 people')")
    assert page.locator("#job progress").count() == 0
    Job.objects.filter(pk=job.pk).update(stage="Applying: 40 of 50 rows", done=40, total=50)
    page.wait_for_selector("#job progress[value='80']")
    page.reload()  # what the page shows comes from the database
    assert page.locator("#job progress").get_attribute("value") == "80"
    assert "80%" in page.locator(".job-bar").inner_text()
    page.screenshot(path=str(SHOTS / "rollbook-job-applying.png"), full_page=True)


def test_a_plan_runs_on_the_worker_and_the_page_ends_on_its_run(
    browser_world, signed_in, settings, tmp_path
):
    w = browser_world
    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    sis_bundle(tmp_path / "imports" / str(w.district.pk) / "tuesday")
    page = signed_in(w.district_admin)
    page.goto(f"/districts/{w.district.pk}/sync/")
    page.get_by_label(re.compile("or a folder")).fill("tuesday")
    page.get_by_role("button", name="Make a plan (dry run)").click()
    page.wait_for_url(re.compile(r"/sync/runs/\d+/$"), timeout=60_000)
    job = Job.objects.get(kind=Job.Kind.PLAN)
    assert job.status == Job.Status.DONE and job.params["run"] == job.result["run"]
    page.goto(f"/districts/{w.district.pk}/jobs/{job.pk}/")
    text = page.locator("#job").inner_text()
    assert f"Sync run {job.result['run']}: Planned (dry run)." in text and "Took" in text
    page.screenshot(path=str(SHOTS / "rollbook-job-done.png"), full_page=True)


def test_an_apply_in_its_transaction_says_what_is_known(browser_world, signed_in):
    from rollbook.sync.models import SyncRun
    from rollbook.sync.progress import Progress

    w = browser_world
    run = w.held_run
    run.status = SyncRun.Status.APPLYING
    run.save()
    progress = Progress()
    progress.attach(run)
    progress.stage("apply")
    job = Job.objects.create(
        district=w.district,
        created_by=w.district_admin,
        kind=Job.Kind.APPROVE,
        status=Job.Status.RUNNING,
        started_at=timezone.now() - dt.timedelta(seconds=75),
        stage="Applying, in one transaction: other processes see how far it got when it ends",
        params={"run": run.pk},
    )
    page = signed_in(w.district_admin)
    page.goto(f"/districts/{w.district.pk}/jobs/{job.pk}/")
    text = page.locator("#job").inner_text()
    assert "Running for 1 min 1" in text and f"Sync run {run.pk}: Applying (since" in text
    page.screenshot(path=str(SHOTS / "rollbook-job-transaction.png"), full_page=True)
