"""Running long work outside the request, in a worker thread of the web process.

``start`` saves the job and runs its function in a daemon thread (or at once when the setting
``ROLLBOOK_JOBS_INLINE`` is true, as in tests that run inside one database transaction). The
function reports its stage with ``progress(text)``; what it returns is stored as the job's
result; an exception marks the job failed with a message for the administrator (a
``UserError``'s own words; otherwise a generic message, the details in the server log — never
personal data in the page). A job left running by a process that stopped is reported as
interrupted the next time it is looked at.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from rollbook.errors import UserError

from .models import Job

log = logging.getLogger(__name__)
_running: dict[int, threading.Thread] = {}

Work = Callable[[Job, Callable[[str], None]], dict[str, Any]]


def start(job: Job, work: Work) -> Job:
    job.status = Job.Status.QUEUED
    job.save()
    if getattr(settings, "ROLLBOOK_JOBS_INLINE", False):
        _run(job.pk, work)
        job.refresh_from_db()
        return job
    thread = threading.Thread(
        target=_thread, args=(job.pk, work), daemon=True, name=f"job-{job.pk}"
    )
    _running[job.pk] = thread
    thread.start()
    return job


def _thread(job_id: int, work: Work) -> None:
    close_old_connections()
    try:
        _run(job_id, work)
    finally:
        # Only this thread's entry: a job id can come again after the database is emptied
        # (the tests do), and another thread may run that job by now.
        if _running.get(job_id) is threading.current_thread():
            _running.pop(job_id, None)
        connections.close_all()


def _run(job_id: int, work: Work) -> None:
    job = Job.objects.get(pk=job_id)
    job.status, job.started_at, job.stage = Job.Status.RUNNING, timezone.now(), "Starting…"
    job.save(update_fields=["status", "started_at", "stage"])

    def progress(stage: str) -> None:
        Job.objects.filter(pk=job_id).update(stage=stage[:200])

    try:
        result = work(job, progress)
    except UserError as exc:
        _finish(job_id, Job.Status.FAILED, error=str(exc))
    except Exception:
        log.exception("job %s (%s) failed", job_id, job.kind)
        _finish(
            job_id,
            Job.Status.FAILED,
            error="The work stopped on an unexpected error; the server log has the details.",
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
    """The job as it is now; a job that no thread of this process runs any more, and that
    did not finish, was interrupted (the server stopped)."""
    job.refresh_from_db()
    inline = getattr(settings, "ROLLBOOK_JOBS_INLINE", False)
    if job.status == Job.Status.RUNNING and job.pk not in _running and not inline:
        _finish(job.pk, Job.Status.FAILED, error="Interrupted: the server stopped while it ran.")
        job.refresh_from_db()
    return job
