"""Is a working process alive? Each one renews a heartbeat while it lives; one that stopped is
reaped by whichever process looks next: its runs are failed and its sources freed.

The heartbeat lives in the database (``WorkerProcess.heartbeat_at``), renewed by a thread every
``ROLLBOOK_HEARTBEAT_SECONDS``. On SQLite a long apply holds the database's only write lock for
minutes, so there the thread also touches a file under ``ROLLBOOK_HOME/workers/`` — SQLite is
one machine's database, so every process can see that file — and a process is alive while
either is fresh. A process is dead once both are older than ``ROLLBOOK_HEARTBEAT_EXPIRY``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import threading
from pathlib import Path

from django.conf import settings
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from .models import WorkerProcess

log = logging.getLogger(__name__)


def beat_seconds() -> float:
    return float(getattr(settings, "ROLLBOOK_HEARTBEAT_SECONDS", 5))


def expiry() -> dt.timedelta:
    return dt.timedelta(seconds=float(getattr(settings, "ROLLBOOK_HEARTBEAT_EXPIRY", 60)))


def _folder() -> Path:
    return Path(settings.ROLLBOOK_HOME) / "workers"


def _file(worker_id: str) -> Path:
    return _folder() / f"{worker_id}.alive"


class Heartbeat:
    """This process, seen by the others: a row renewed by a thread until ``stop``."""

    def __init__(self, kind: str = WorkerProcess.Kind.WORKER, queues: str = ""):
        host = socket.gethostname()[:30]
        self.worker_id = f"{host}-{os.getpid()}-{secrets.token_hex(4)}"
        self.kind, self.queues = kind, queues
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        now = timezone.now()
        WorkerProcess.objects.create(
            worker_id=self.worker_id,
            kind=self.kind,
            host=socket.gethostname()[:255],
            pid=os.getpid(),
            queues=self.queues[:200],
            heartbeat_at=now,
        )
        self._touch()
        self._thread = threading.Thread(target=self._run, daemon=True, name="heartbeat")
        self._thread.start()
        return self

    def _touch(self) -> None:
        if connection.vendor == "sqlite":
            _folder().mkdir(parents=True, exist_ok=True)
            _file(self.worker_id).touch()

    def _run(self) -> None:
        while not self._stop.wait(beat_seconds()):
            try:
                self._touch()
                if connection.vendor == "sqlite":
                    # Wait at most a beat for the write lock a long apply holds (30 s by
                    # default): the file must go on being touched meanwhile.
                    with connection.cursor() as cursor:
                        cursor.execute(f"PRAGMA busy_timeout = {int(beat_seconds() * 1000)}")
                WorkerProcess.objects.filter(worker_id=self.worker_id).update(
                    heartbeat_at=timezone.now()
                )
            except Exception:  # SQLite busy with a long apply: the file counts meanwhile
                log.debug("heartbeat not written this time", exc_info=True)
            finally:
                with contextlib.suppress(Exception):
                    connections.close_all()

    def doing(self, text: str) -> None:
        with contextlib.suppress(OperationalError):
            WorkerProcess.objects.filter(worker_id=self.worker_id).update(doing=text[:200])

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=beat_seconds() + 1)
        WorkerProcess.objects.filter(worker_id=self.worker_id).update(stopped_at=timezone.now())
        _file(self.worker_id).unlink(missing_ok=True)


_this: Heartbeat | None = None
_this_lock = threading.Lock()


def this_process(kind: str = WorkerProcess.Kind.COMMAND) -> Heartbeat:
    """The heartbeat of this process, started on first use (a worker starts its own)."""
    global _this
    with _this_lock:
        if _this is None:
            _this = Heartbeat(kind).start()
        return _this


def adopt(heartbeat: Heartbeat) -> None:
    """A worker process declares its heartbeat as this process's."""
    global _this
    _this = heartbeat


def is_alive(worker_id: str, now: dt.datetime | None = None) -> bool:
    if _this is not None and worker_id == _this.worker_id:
        return True
    now = now or timezone.now()
    row = (
        WorkerProcess.objects.filter(worker_id=worker_id)
        .values("heartbeat_at", "stopped_at", "host", "pid")
        .first()
    )
    if row is None or row["stopped_at"] is not None:
        return False
    if row["host"] == socket.gethostname() and row["pid"] and not _pid_runs(row["pid"]):
        return False  # on this machine, a process that is gone is dead at once
    if now - row["heartbeat_at"] < expiry():
        return True
    path = _file(worker_id)
    if path.exists():
        touched = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
        return now - touched < expiry()
    return False


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed process whose parent is gone stays a zombie until init collects it (seconds,
    # in a container): it runs nothing.
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] != "Z"
    return True


def reap() -> int:
    """Free the sources held by dead processes and say what happened to their work: a run
    they were reading, planning or applying failed (the database rolled its transaction back),
    a web job they ran failed. Returns how many processes were found dead."""
    from rollbook.sync.services import settle_interrupted_runs

    from .models import SourceLock

    dead = 0
    for lock in SourceLock.objects.select_related("source"):
        if is_alive(lock.holder):
            continue
        dead += 1
        try:
            with transaction.atomic():
                if SourceLock.objects.filter(pk=lock.pk, holder=lock.holder).delete()[0]:
                    settle_interrupted_runs(lock.source)
        except OperationalError:  # SQLite busy: the next look does it
            log.info("source %s: could not free it yet (database busy)", lock.source_id)
    reap_jobs()
    reap_tasks()
    return dead


def reap_jobs() -> None:
    from rollbook.sync.models import SyncRun
    from rollbook.web.models import Job

    running = Job.objects.filter(status=Job.Status.RUNNING).exclude(worker="")
    for job_id, worker, kind, params in running.values_list("pk", "worker", "kind", "params"):
        if is_alive(worker):
            continue
        run_id = (params or {}).get("run") if kind == Job.Kind.APPROVE else None
        if run_id and SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.APPLIED).exists():
            # Stopped after the approval committed ("applied" is written in its transaction):
            # the job did its work, and its page says so rather than "start it again".
            outcome = {"status": Job.Status.DONE, "result": {"run": run_id, "status": "applied"}}
        else:
            outcome = {
                "status": Job.Status.FAILED,
                "error": "Interrupted: the worker running it stopped. Start it again.",
            }
        Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(
            **outcome, stage="", finished_at=timezone.now()
        )


STOPPED_TASK = (
    "The worker running this task stopped (killed, or its machine lost) before it finished; "
    "what it was doing was failed and its source freed (rollbook.work.heartbeat.reap)."
)


def reap_tasks() -> None:
    """The queue's own records (django-tasks-db) of tasks a dead worker was running: failed,
    saying why, so that no task stays "running" for good."""
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING)
    for pk, workers in running.values_list("pk", "worker_ids"):
        if not workers or is_alive(workers[-1]):
            continue
        DBTaskResult.objects.filter(pk=pk, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED,
            finished_at=timezone.now(),
            exception_class_path="rollbook.work.heartbeat.WorkerStopped",
            traceback=STOPPED_TASK,
        )
