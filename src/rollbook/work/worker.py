"""``rollbook worker``: processes that run the queue's tasks (decision 0009).

A worker is a supervisor and ``--concurrency`` child processes. Each child runs django-tasks-db's
worker loop on its queues, renews its heartbeat (``heartbeat.py``) and, every few seconds,
reaps dead processes' work and asks the scheduler for due runs (``housekeeping``). Admission:
the first ``--heavy`` children take the ``heavy`` queue (syncs, plans, approvals, self-checks,
merge suggestions — several GB each at a million students), the others only ``default``; so a
worker never runs more heavy jobs at once than it has heavy children, and the rest wait,
queued, visibly. The supervisor restarts a child that dies.

Any number of workers may run, on any number of machines, against one PostgreSQL database
(tasks are claimed with ``SELECT … FOR UPDATE SKIP LOCKED``). On SQLite run one worker: SQLite
has one writer at a time.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from django.db import close_old_connections, connections
from django_tasks_db.management.commands.db_worker import Worker as DatabaseWorker

from rollbook.sync import retention

from . import heartbeat, scheduler
from .models import WorkerProcess

log = logging.getLogger(__name__)
QUEUES = ("default", "heavy")
HOUSEKEEPING_SECONDS = 10.0

#: Called every few seconds by each worker child (the scheduler registers itself here).
housekeepers: list[Callable[[], None]] = [heartbeat.reap, scheduler.tick, retention.housekeeping]


class Worker(DatabaseWorker):
    """django-tasks-db's worker loop, telling the others what it does."""

    def __init__(self, beat: heartbeat.Heartbeat, **kwargs):
        super().__init__(worker_id=beat.worker_id, **kwargs)
        self.beat = beat

    def run_task(self, db_task_result) -> None:
        self.beat.doing(f"{db_task_result.task_path} {db_task_result.args_kwargs}")
        try:
            super().run_task(db_task_result)
        finally:
            self.beat.doing("")


def housekeeping(stop: threading.Event, every: float = HOUSEKEEPING_SECONDS) -> None:
    """Reap dead processes and enqueue due scheduled runs, until ``stop``."""
    while not stop.wait(every):
        for keeper in housekeepers:
            try:
                keeper()
            except Exception:  # a busy SQLite, a lost connection: the next round does it
                log.warning("housekeeping: %s failed this time", keeper.__name__, exc_info=True)
        try:
            close_old_connections()
            connections.close_all()
        except Exception:
            pass


def run_child(queues: list[str], interval: float = 1.0, batch: bool = False) -> None:
    """One worker process: heartbeat, housekeeping thread, the task loop."""
    beat = heartbeat.Heartbeat(WorkerProcess.Kind.WORKER, ",".join(queues)).start()
    heartbeat.adopt(beat)
    stop = threading.Event()
    keeper = threading.Thread(target=housekeeping, args=(stop,), daemon=True, name="housekeeping")
    keeper.start()
    for run in housekeepers:  # once at start: free what a previous crash left
        try:
            run()
        except Exception:
            log.warning("housekeeping at start failed", exc_info=True)
    worker = Worker(
        beat,
        queue_names=queues,
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=not batch,
        max_tasks=None,
        excluded_queue_names=[],
    )
    worker.configure_signals()
    try:
        worker.run()
    finally:
        stop.set()
        beat.stop()


def _die_with_parent() -> None:
    """In the child, before it runs: SIGTERM when the supervisor dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def supervise(
    concurrency: int, heavy: int, interval: float = 1.0, parent: int | None = None
) -> None:
    """Start the children and keep them running until SIGTERM or Ctrl+C (or, for the worker
    of ``rollbook serve``, until the ``parent`` process that started it is gone)."""
    heavy = max(0, min(heavy, concurrency))
    plans = [list(QUEUES) if i < heavy else ["default"] for i in range(concurrency)]
    children: dict[int, subprocess.Popen] = {}
    stopping = threading.Event()

    def spawn(i: int) -> subprocess.Popen:
        args = [sys.executable, "-m", "rollbook", "worker", "--child", "--interval", str(interval)]
        args += ["--queues", ",".join(plans[i])]
        # Its own process group: a Ctrl+C or a SIGTERM to the supervisor's group reaches the
        # children once, through the supervisor (a second signal would abort a running task);
        # and a child whose supervisor dies is told to stop as if by the supervisor.
        return subprocess.Popen(
            args, env=os.environ.copy(), start_new_session=True, preexec_fn=_die_with_parent
        )

    def stop(signum, frame) -> None:
        stopping.set()
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for i in range(concurrency):
        children[i] = spawn(i)
    while not stopping.is_set():
        time.sleep(0.5)
        if parent is not None and os.getppid() != parent:
            # The web server was killed or stopped by SIGTERM, which runs none of its cleanup.
            log.warning("the web server that started this worker stopped; stopping too")
            stop(signal.SIGTERM, None)
        for i, child in list(children.items()):
            if child.poll() is not None and not stopping.is_set():
                log.warning("worker child %s stopped (code %s); starting another", i, child.poll())
                children[i] = spawn(i)
    for child in children.values():
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()


def embedded(interval: float = 1.0) -> subprocess.Popen:
    """One worker beside ``rollbook serve`` (the default setup): a child process of it."""
    args = [sys.executable, "-m", "rollbook", "worker", "--concurrency", "1"]
    args += ["--heavy", "1", "--interval", str(interval), "--parent", str(os.getpid())]
    return subprocess.Popen(args, env=os.environ.copy())
