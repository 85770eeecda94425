"""How long plans are kept: dry runs expire, and a finished run's plan files are removed.

A plan (``ROLLBOOK_HOME/plans/run-<id>/``) says record by record what a run will do or did;
at a million students a first sync's plan is about a gigabyte. What a person needs after a
few days is in the run's report (counts, conflicts, issues) and the audit trail, which stay.
So, after ``ROLLBOOK_PLAN_DAYS`` (7 by default):

- a **dry run** that nobody approved is discarded — "expired" — and can no longer be approved
  (the directory has almost surely changed since; make a new plan);
- the plan files of a finished run (applied, discarded, failed, skipped) are removed; its page
  says so. A held run keeps its plan until someone approves or discards it.

One thing of a plan outlives it: which line of users.csv each student and person an applied
run created came from, so that the student and account pages go on saying "Created by sync
run 12 on 3 Dec 2026 from users.csv line 4,081". Before removing the plan, the sourcedIds
and lines of its created records are kept in a small compressed file per entity
(``plans/lines/run-<id>.<entity>.arrow``, ``lines.keep``); kept as long as the audit trail.
A REST source's bundle is a file Rollbook wrote, whose lines mean nothing to anyone: none kept.

The state a run keeps for the next (``state/source-<id>/``, kept_state.py) is replaced by each
apply; the folder of a source that no longer exists is removed.

Run by every worker's housekeeping (``work/worker.py``) and by ``rollbook runs``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from . import lines
from .models import SyncRun


def plan_days() -> int:
    return int(getattr(settings, "ROLLBOOK_PLAN_DAYS", 7))


def expire_plans(now: dt.datetime | None = None) -> int:
    """Discard dry runs older than the plan days; returns how many."""
    from .pipeline import finish
    from .report import amend

    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=plan_days())
    expired = 0
    for run in SyncRun.objects.filter(status=SyncRun.Status.PLANNED, created_at__lt=cutoff):
        amend(
            run,
            note=f"expired: a plan is kept for {plan_days()} days; the directory has changed "
            "since it was made. Make a new plan.",
        )
        finish(run, SyncRun.Status.DISCARDED, run.report.timings)
        expired += 1
    return expired


def prune_plans(now: dt.datetime | None = None) -> int:
    """Remove the plan files of runs finished before the plan days; returns how many."""
    from .services import plan_folder

    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=plan_days())
    removed = 0
    finished = SyncRun.objects.filter(finished_at__lt=cutoff).exclude(
        status__in=[SyncRun.Status.HELD, SyncRun.Status.PLANNED]
    )
    for run in finished.select_related("source").only("pk", "status", "source__kind"):
        folder = plan_folder(run)
        if folder.exists():
            if run.status == SyncRun.Status.APPLIED and not run.source.is_rest:
                lines.keep(run)  # first: a page reads the plan until it is gone (lines.py)
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


_last_run = 0.0
EVERY_SECONDS = 3600


def housekeeping() -> None:
    """Both, as a worker's housekeeper: when the worker starts, then once an hour."""
    global _last_run
    if _last_run and time.monotonic() - _last_run < EVERY_SECONDS:
        return
    _last_run = time.monotonic()
    expire_plans()
    prune_plans()
    prune_kept_states()


def prune_kept_states() -> int:
    """Remove the kept state of sources that no longer exist (kept_state.py); how many."""
    from .models import SyncSource

    place = Path(settings.ROLLBOOK_HOME) / "state"
    folders = {f: f.name.removeprefix("source-") for f in place.glob("source-*")}
    alive = {
        str(pk)
        for pk in SyncSource.objects.filter(
            pk__in=[int(v) for v in folders.values() if v.isdigit()]
        ).values_list("pk", flat=True)
    }
    removed = 0
    for folder, pk in folders.items():
        if pk not in alive:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
