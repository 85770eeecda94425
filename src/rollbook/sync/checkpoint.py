"""SQLite: a large apply's write-ahead log copied into the database beside the work after it.

In WAL mode every page a transaction writes goes to ``rollbook.sqlite3-wal`` first; the
connection that commits then copies the log into the database itself (SQLite's automatic
checkpoint). A first sync at a million students writes ~2 GB: that copy took 8–10 s of the
commit (BENCHMARKS.md, Sync), with the run's work after the commit — its kept state, the
planner's statistics, the district's counts — waiting for it, although none of that work
needs it: readers read the log as well as the database.

So for an apply that wrote many rows, :class:`LaterCheckpoint` turns the committing
connection's automatic checkpoint off for that one commit and copies the log on a thread of
its own (a ``PASSIVE`` checkpoint, which takes no lock that a reader or a writer waits for)
while the run goes on; the run waits for it before it reports itself finished. Nothing about
durability changes: the commit is in the log either way, and a process that ends before the
copy leaves the log to the next connection, as any crash does. ``journal_size_limit``
(settings) then truncates the log file when it is next reset, instead of leaving gigabytes of
it on disk.

PostgreSQL and small applies: nothing changes.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connection, connections

log = logging.getLogger(__name__)

#: Rows written from which the log is copied on its own thread. A day's 1 % of changes at a
#: million students (186,000 rows) touches pages all over the tables and their indexes: its
#: commit's copy took 2.8 s. A handful of rows is copied by the commit as before.
ROWS = 10_000
AUTOCHECKPOINT = 1000  # SQLite's default, restored after the commit


class LaterCheckpoint:
    """Used around one apply: :meth:`hold` inside its transaction, before the commit;
    :meth:`start` after it (also after a failure: it restores the setting); :meth:`wait`
    before the run finishes."""

    def __init__(self) -> None:
        self.held = False
        self.thread: threading.Thread | None = None
        self.seconds = 0.0
        self.error: BaseException | None = None

    def hold(self, rows_written: int) -> None:
        """Before the commit: no automatic checkpoint when the apply wrote many rows."""
        if connection.vendor != "sqlite" or rows_written < ROWS:
            return
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        self.held = True

    def start(self, committed: bool = True) -> None:
        """After the transaction ended: the setting back, and the copy started on its own
        thread when the transaction committed."""
        if not self.held:
            return
        self.held = False
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT}")
        if committed:
            self.thread = threading.Thread(target=self._copy, name="rollbook-checkpoint")
            self.thread.start()

    def _copy(self) -> None:
        started = time.perf_counter()
        try:
            with connections["default"].cursor() as cursor:  # this thread's own connection
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as exc:  # the next commit's automatic checkpoint copies it instead
            self.error = exc
            log.warning("checkpoint: the log was not copied after the apply", exc_info=True)
        finally:
            connections["default"].close()
            self.seconds = time.perf_counter() - started

    def wait(self) -> float | None:
        """Wait for the copy; its seconds (None when there was none)."""
        if self.thread is None:
            return None
        self.thread.join()
        self.thread = None
        return round(self.seconds, 3)
