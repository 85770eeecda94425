"""Long work the web app asks for, run by a worker process through the queue (decision 0009).

``start`` saves the job and enqueues it (``rollbook.work.tasks``); a ``rollbook worker``
process picks it up and ``execute`` runs its work function — a module-level function
``work(job, progress)`` named in ``job.params["work"]``, so that any worker process on any
machine can import it. The function reports how far it got with ``progress(stage, done,
total)`` (written at most once a second); what it returns is stored as the job's result; an
exception marks the job failed with a message for the administrator (a ``UserError``'s own
words; otherwise a generic message, the details in the worker's log — never personal data in
the page). A job whose worker stopped is failed by the next process that looks
(``rollbook.work.heartbeat.reap``), so a page never shows "running" for work nobody does.

Nothing runs in the web process, except in tests that set ``ROLLBOOK_JOBS_INLINE`` (the work
then runs in the request, inside the test's transaction).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from rollbook.errors import UserError

from .models import Job

log = logging.getLogger(__name__)

Progress = Callable[..., None]
Work = Callable[[Job, Progress], dict[str, Any]]

#: Kinds of job that need a heavy worker slot (a self-check, a plan or an approval at a million
#: students takes several GB): ``rollbook worker --heavy N`` admits at most N at once.
HEAVY = {Job.Kind.CHECK, Job.Kind.PLAN, Job.Kind.APPROVE, Job.Kind.SUGGEST, Job.Kind.SYNC}


def start(job: Job, work: Work) -> Job:
    """Save the job and queue its work (a module-level function)."""
    name = f"{work.__module__}.{work.__qualname__}"
    if "<" in name:
        raise TypeError(f"{name}: a job's work must be a module-level function")
    job.params = {**job.params, "work": name}
    job.status = Job.Status.QUEUED
    job.save()
    if getattr(settings, "ROLLBOOK_JOBS_INLINE", False):
        execute(job.pk)
        job.refresh_from_db()
        return job
    from rollbook.work import tasks

    task = tasks.run_heavy_job if job.kind in HEAVY else tasks.run_job
    result = task.enqueue(job.pk)
    Job.objects.filter(pk=job.pk).update(task_id=str(result.id))
    job.task_id = str(result.id)
    return job


def execute(job_id: int, worker: str = "") -> None:
    """Run a queued job (in a worker process)."""
    job = Job.objects.select_related("district", "created_by").get(pk=job_id)
    if job.status != Job.Status.QUEUED:
        return  # failed meanwhile (its worker was found dead), or already done
    job.status, job.started_at, job.stage = Job.Status.RUNNING, timezone.now(), "Starting…"
    job.worker = worker
    job.save(update_fields=["status", "started_at", "stage", "worker"])
    last: list[Any] = [0.0, None]  # when written, and the stage written

    def progress(stage: str, done: int | None = None, total: int | None = None) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0 and done is not None and stage == last[1]:
            return  # counts at most once a second; a new stage is always written
        last[0], last[1] = now, stage
        fields: dict[str, Any] = {"stage": stage[:200]}
        if done is not None:
            fields["done"] = done
        if total is not None:
            fields["total"] = total
        Job.objects.filter(pk=job_id).update(**fields)

    try:
        result = import_string(job.params["work"])(job, progress)
    except UserError as exc:
        _finish(job_id, Job.Status.FAILED, error=str(exc))
    except Exception:
        log.exception("job %s (%s) failed", job_id, job.kind)
        _finish(
            job_id,
            Job.Status.FAILED,
            error="The work stopped on an unexpected error; the worker's log has the details.",
        )
    else:
        _finish(job_id, Job.Status.DONE, result=result or {})


def _finish(job_id: int, status: str, *, error: str = "", result: dict | None = None) -> None:
    Job.objects.filter(pk=job_id).update(
        status=status,
        error=error,
        result=result or {},
        stage="",
        finished_at=timezone.now(),
    )


def refresh(job: Job) -> Job:
    """The job as it is now (a job whose worker stopped is failed first, and the sources it
    held are freed: its run says it failed, not "applying" until a worker starts)."""
    from rollbook.work.heartbeat import reap

    if job.status == Job.Status.RUNNING:
        reap()
    job.refresh_from_db()
    return job
