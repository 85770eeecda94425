"""The source's state: what it delivered before, per entity — read from the directory's rows.

A re-sync needs the state of every entity (at a million students, about twelve million rows),
and reading it is mostly the database's own work. :class:`StatePrefetch` does that work on a
second thread, on its own database connection, while the first thread reads and checks the
bundle: the two take the machine's two cores instead of one after the other. The thread
writes each entity's state to an Arrow file as soon as it is read, so the state takes no
memory while the bundle's model is in memory; it is loaded once the model is freed.

Most of the time the state need not be read at all: the last apply kept it beside the database
(kept_state.py), and the thread only asks the database whether its rows still agree with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
from django.conf import settings
from django.db import connection

from . import bulk, kept_state
from .models import SyncSource
from .plan import STATE_SCHEMA

ACTIVE_STATE = ["sourced_id", "sis_fingerprint", "id", "status = 'active'", "0"]


def _state_queries(source_pk: int, only: tuple[str, ...] = ()):
    """(entity, table, columns, where, params) of each entity's state query."""
    from .specs import SPECS

    for entity, spec in SPECS.items():
        if not only or entity in only:
            yield entity, spec.table, ACTIVE_STATE, "source_id = %s", [source_pk]
    if not only:
        yield (
            "person",
            "sync_syncrecord",
            ["sourced_id", "fingerprint", "local_id", "active", "withheld"],
            "source_id = %s AND entity = 'person'",
            [source_pk],
        )


def load_states(
    source: SyncSource, only: tuple[str, ...] = (), kept: bool = False, hits: list | None = None
) -> dict[str, pa.Table]:
    """What the source delivered before, per entity: sourced_id, state_fingerprint, local_id,
    active, withheld — read from the directory's own rows (people: from their records).
    ``only``: just these entities; ``kept``: the state kept by the last apply where the
    directory agrees with it (kept_state.py), else read; ``hits``: told those entities."""
    if not kept:
        return {
            entity: bulk.select_rows(table, columns, where, params, STATE_SCHEMA)
            for entity, table, columns, where, params in _state_queries(source.pk, only)
        }
    home = Path(settings.ROLLBOOK_HOME)
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="state-kept-", dir=home) as into:
        states = {}
        for entity, *query in _state_queries(source.pk, only):
            path = kept_state.take(source.pk, entity, Path(into), tuple(query))
            if path is None:
                states[entity] = bulk.select_rows(*query, schema=STATE_SCHEMA)
                continue
            states[entity] = kept_state.read(path)
            if hits is not None:
                hits.append(entity)
        return states


def _remove_left_over(home: Path) -> None:
    """Remove the state files of processes that were killed while reading (name: pid)."""
    for folder in home.glob("state-*-*"):
        try:
            os.kill(int(folder.name.split("-")[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError):
            continue


class StatePrefetch:
    """The source's whole state, read on a worker thread; :meth:`result` waits for it.

    The thread sees only committed rows (its own connection). Inside a transaction — a test's,
    or a caller's that has written to the directory — that would be the wrong state, so the
    state is then read on the caller's connection when :meth:`result` is called.
    """

    def __init__(self, source: SyncSource | None):
        self.source = source
        self.error: BaseException | None = None
        self.folder: Path | None = None
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()
        self.raw = None  # the thread's SQLite connection, to interrupt a query when discarded
        self.kept: list[str] = []  # the entities whose kept state the directory agreed with
        if source is None or source.pk is None or connection.in_atomic_block:
            return
        home = Path(settings.ROLLBOOK_HOME)
        home.mkdir(parents=True, exist_ok=True)
        _remove_left_over(home)
        self.folder = Path(tempfile.mkdtemp(prefix=f"state-{os.getpid()}-", dir=home))
        self.thread = threading.Thread(target=self._work, name="rollbook-state", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            if connection.vendor == "sqlite":
                connection.ensure_connection()
                self.raw = connection.connection
            with bulk.read_snapshot():  # one consistent view of every entity
                for entity, *query in _state_queries(self.source.pk):
                    if self.stop.is_set():
                        return
                    kept = kept_state.take(self.source.pk, entity, self.folder, tuple(query))
                    if kept is not None:
                        kept.rename(self.folder / f"{entity}.arrow")
                        self.kept.append(entity)
                        continue
                    state = bulk.select_rows(*query, schema=STATE_SCHEMA)
                    with ipc.new_file(self.folder / f"{entity}.arrow", STATE_SCHEMA) as writer:
                        writer.write_table(state)
                    del state
        except BaseException as exc:  # handed to the caller by result()
            self.error = exc
        finally:
            connection.close()  # this thread's own connection
            _trim_heap()

    def result(self) -> dict[str, pa.Table]:
        """The state of every entity (empty tables for a source not saved yet)."""
        if self.source is None or self.source.pk is None:
            return {e: STATE_SCHEMA.empty_table() for e, *_ in _state_queries(0)}
        if self.thread is None:
            return load_states(self.source, kept=True, hits=self.kept)
        self.thread.join()  # not discard(): this waits for the whole state
        try:
            if self.error is not None:
                raise self.error
            states = {}
            for entity, *_ in _state_queries(self.source.pk):
                states[entity] = kept_state.read(self.folder / f"{entity}.arrow")
            return states
        finally:
            self.discard()

    def discard(self) -> None:
        """Stop the thread (its state is no longer wanted) and remove its files."""
        if self.thread is not None:
            if self.thread.is_alive():
                self.stop.set()
                if self.raw is not None:
                    self.raw.interrupt()  # SQLite ends the running query at once
            self.thread.join()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _trim_heap() -> None:
    """Linux (glibc): give the heap memory this thread freed back to the OS.

    SQLite's page cache of the thread's connection (up to 256 MB) and the state's text were
    allocated by C ``malloc`` in the thread's own arena; freed, they stay in the process's
    RSS while the reader holds the bundle (measured: 0.3 GB at L). Elsewhere this does
    nothing.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
