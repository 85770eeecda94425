"""The tasks the queue runs (django-tasks, database backend; decision 0009).

Arguments are ids only: a task is stored as JSON and may run in another process or on another
machine, so it reads what it needs from the database.
"""

from __future__ import annotations

from django_tasks import task

from . import heartbeat


@task(queue_name="heavy")
def run_heavy_job(job_id: int) -> None:
    """A web job that takes a heavy slot: a self-check, a plan, an approval, suggestions."""
    from rollbook.web import jobs

    jobs.execute(job_id, heartbeat.this_process().worker_id)


@task()
def run_job(job_id: int) -> None:
    """A light web job (a Directory action over a large selection)."""
    from rollbook.web import jobs

    jobs.execute(job_id, heartbeat.this_process().worker_id)


@task(queue_name="heavy")
def run_scheduled_sync(source_id: int, slot_id: int) -> None:
    """A source's scheduled run (``scheduler.py``): its folder synced, held if it must be; a
    busy source makes the task queue itself again, 30–60 s later."""
    from . import scheduler

    scheduler.run_slot(source_id, slot_id)
