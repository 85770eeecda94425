"""The job page: the stage, a bar with the share done, the time waited or running, and for a
sync its run's own progress — all read from the database, so a reload shows the same."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from rollbook.sync.models import SyncRun
from rollbook.sync.progress import Progress
from rollbook.web import jobs
from rollbook.web.models import Job
from rollbook.web.views_sync import plan_work

from .conftest import sign_in
from .test_sync_pages import sis_bundle

pytestmark = pytest.mark.django_db


def _job(world, **fields) -> Job:
    fields = {"kind": Job.Kind.PLAN, **fields}
    return Job.objects.create(district=world.district, created_by=world.district_admin, **fields)


def _page(client, world, job, htmx: bool = False) -> str:
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.get(f"/districts/{world.district.pk}/jobs/{job.pk}/", **headers)
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def test_a_running_job_shows_its_stage_share_and_time(client, world):
    job = _job(
        world,
        status=Job.Status.RUNNING,
        started_at=timezone.now() - dt.timedelta(seconds=65),
        stage="Reading the bundle: users.csv — 4.5 of 9.0 MB",
        done=4_500_000,
        total=9_000_000,
    )
    sign_in(client, world.district_admin)
    for htmx in (False, True):  # the page, and the part htmx fetches every second
        text = _page(client, world, job, htmx)
        assert "Reading the bundle: users.csv — 4.5 of 9.0 MB" in text
        assert '<progress max="100" value="50"' in text and "50%" in text
        assert re.search(r"Running for 1 min 0[5-9] s \(started \d\d:\d\d:\d\d\)", text)
        assert 'hx-trigger="every 1s"' in text


def test_a_queued_job_says_it_waits_for_a_worker(client, world):
    job = _job(world, status=Job.Status.QUEUED)
    sign_in(client, world.district_admin)
    text = _page(client, world, job)
    assert "Waiting for a worker for" in text and "<progress" not in text


def test_an_apply_shows_what_another_process_can_know(client, world):
    run = world.held_run
    run.status = SyncRun.Status.APPLYING
    run.save()
    progress = Progress()
    progress.attach(run)
    progress.stage("apply")
    job = _job(
        world,
        kind=Job.Kind.APPROVE,
        status=Job.Status.RUNNING,
        started_at=timezone.now(),
        stage="Applying, in one transaction: other processes see how far it got when it ends",
        params={"run": run.pk},
    )
    sign_in(client, world.district_admin)
    text = _page(client, world, job)
    assert f'Sync run <a href="/districts/{world.district.pk}/sync/runs/{run.pk}/">' in text
    assert f"{run.pk}</a>: Applying (since " in text and "Applying — " not in text
    assert "<progress" not in text  # no count is known from outside the transaction


def test_a_plan_job_notes_its_run_and_the_page_shows_the_result(client, world, settings, tmp_path):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_JOBS_INLINE = True
    folder = sis_bundle(tmp_path / "bundle")
    job = jobs.start(_job(world, bundle=str(folder)), plan_work)
    assert job.status == Job.Status.DONE, job.error
    run = SyncRun.objects.get(pk=job.result["run"])
    assert job.params["run"] == run.pk  # noted while it worked, for the page
    assert run.stage == "plan" and run.progress_at is not None
    sign_in(client, world.district_admin)
    text = _page(client, world, job)
    assert f">{run.pk}</a>: Planned (dry run)." in text and "Took" in text
    assert "<progress" not in text
