"""One run per source at a time, decided by the database (a ``SourceLock`` row per busy
source, unique by source), never by process ids or host names."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.db import IntegrityError, transaction

from rollbook.errors import UserError

from . import heartbeat
from .models import SourceLock

log = logging.getLogger(__name__)


class SourceBusy(UserError):
    """Another process is working on this source's run."""


@contextmanager
def holding(source, run=None):
    """Hold the source while the block runs; SourceBusy if another live process holds it."""
    me = heartbeat.this_process()
    heartbeat.reap()
    try:
        with transaction.atomic():
            SourceLock.objects.create(source=source, run=run, holder=me.worker_id)
    except IntegrityError:
        lock = SourceLock.objects.filter(source=source).first()
        busy = f"run {lock.run_id} " if lock and lock.run_id else "a run "
        raise SourceBusy(
            f"{busy}of the source {source.name} is being read, planned or applied right now; "
            "this request waits in the queue or can be made again when it is done"
        ) from None
    from rollbook.sync.services import settle_interrupted_runs

    try:
        settle_interrupted_runs(source)  # held by no live process: they were interrupted
        yield
    finally:
        try:
            # A run this process leaves unfinished — Ctrl+C, a worker's second SIGTERM, an
            # error while planning — is failed now, not when the source's next run comes.
            settle_interrupted_runs(source)
        except Exception:
            log.warning("source %s: its interrupted run is settled later", source.pk)
        finally:  # even when Ctrl+C lands here, once the run was over: the lock goes
            SourceLock.objects.filter(source=source, holder=me.worker_id).delete()


def set_run(source, run) -> None:
    """Name the run the held source is working on (once the run row exists)."""
    SourceLock.objects.filter(source=source, holder=heartbeat.this_process().worker_id).update(
        run=run
    )
