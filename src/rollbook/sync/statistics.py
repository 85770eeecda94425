"""The query planner's statistics, refreshed after a sync's bulk load (issue 18).

Both databases choose their indexes from statistics that ``ANALYZE`` gathers, and nothing
gathered them here: SQLite never does by itself, and PostgreSQL's autovacuum may be off or not
yet round. Planned blind, at a million students the Directory's guardians list took 7.2 s on
PostgreSQL instead of 0.5 s, and on SQLite following the people who moved to another account
walked every row the source owns (the ``(source_id, sourced_id)`` index) instead of the few
rows of the accounts concerned.

After a run's apply has committed, :func:`refresh` analyzes each of the directory's tables that

- has no statistics yet and holds rows: a first sync, or a database that was never analyzed
  (one from before this change: its next sync analyzes it, no separate step), or
- was written by the run (rows inserted, updated or upserted, counted by ``bulk.counting``) at
  least ``ROWS + SHARE × rows`` times, ``rows`` as the statistics last counted them: the rule
  of PostgreSQL's autovacuum with its default settings (50 rows + 10 %). A no-change re-sync
  writes nothing and analyzes nothing; a day's 1 % of changes none of the large tables.

SQLite: a full ``ANALYZE`` of each table. Not ``PRAGMA analysis_limit``: a limited analysis
reads only the first N entries of each index and so takes the ``source_id`` leading every
``(source_id, sourced_id)`` index for almost unique (N rows a source instead of all of them),
and the moved people are still looked up through it; the full analysis of a 10-million-row table
with four indexes takes about 2 s (BENCHMARKS.md). Not ``PRAGMA optimize`` either: on SQLite
before 3.46 it analyzes only tables its own connection has queried, and a fresh connection after
a bulk load gets none. The write lock it needs is waited for ``WAIT_SECONDS`` at most (another
district's run may be writing): then this run's analysis is skipped and said so in the log.

PostgreSQL: ``ANALYZE`` of each table in its own short transaction, after the run's commit, so
it holds none of the run's locks. It takes only a SHARE UPDATE EXCLUSIVE lock, which no read or
write of rows waits for (another district's apply goes on), but which two ANALYZEs of one table
(another run's, autovacuum's) do: each waits ``WAIT_SECONDS`` at most (``lock_timeout``, longer
than ``deadlock_timeout``'s 1 s, after which an autovacuum in the way gives up its lock), then
the table is skipped — the other analysis is refreshing it at that moment. A session waiting
here holds no other lock, so it cannot be part of a deadlock.

Nothing here fails a run: an error is logged and the rest goes on. Connections opened after
the analysis plan with it (SQLite loads statistics with the schema; web requests and worker
tasks open their own connections).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import DatabaseError, connection, transaction

log = logging.getLogger(__name__)

ROWS = 50  # autovacuum_analyze_threshold's default
SHARE = 0.10  # autovacuum_analyze_scale_factor's default
WAIT_SECONDS = 2  # for a table's lock (PostgreSQL) or the write lock (SQLite)


def sync_tables() -> list[str]:
    """The tables a sync writes and reads most: checked for missing statistics on every run,
    written or not (so a database that was never analyzed gets them at its next sync)."""
    from rollbook.directory.models import Account

    from .models import SyncRecord
    from .specs import SPECS

    return [
        *(spec.table for spec in SPECS.values()),
        Account._meta.db_table,
        SyncRecord._meta.db_table,
    ]


def stale(written: Mapping[str, int], tables: Iterable[str] = ()) -> dict[str, str]:
    """The tables to analyze, each with the reason, from the rows written to each table and
    the statistics as they are."""
    candidates = sorted(set(written) | set(tables))
    counted = _counted(candidates)  # table → rows the statistics counted; absent: none
    found: dict[str, str] = {}
    for table in candidates:
        n = written.get(table, 0)
        if table not in counted:
            if n or _has_rows(table):
                found[table] = "no statistics yet"
        elif n >= ROWS + SHARE * counted[table]:
            found[table] = f"{n:,} rows written, {counted[table]:,} counted before"
    return found


def refresh(written: Mapping[str, int]) -> dict[str, Any]:
    """Analyze the tables the run made stale (see the module's rules). Returns what was done:
    ``seconds`` (0 when nothing was to do), ``analyzed`` and ``skipped`` (table names).
    Never raises."""
    started = time.perf_counter()
    done: dict[str, Any] = {"seconds": 0.0, "analyzed": [], "skipped": []}
    try:
        tables = stale(written, sync_tables())
    except Exception:
        log.warning("statistics: could not tell which tables to analyze", exc_info=True)
        return done
    if not tables:
        return done
    analyzed, skipped = done["analyzed"], done["skipped"]
    try:
        with _waiting_at_most(WAIT_SECONDS):
            for table, why in tables.items():
                began = time.perf_counter()
                try:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
                except DatabaseError as exc:
                    if not _busy(exc):
                        skipped.append(table)
                        log.warning("statistics: %s could not be analyzed", table, exc_info=True)
                    elif connection.vendor == "sqlite":  # one write lock for every table
                        skipped.extend(t for t in tables if t not in analyzed)
                        log.info(
                            "statistics: skipped, the database is busy: %s", ", ".join(skipped)
                        )
                        break
                    else:
                        skipped.append(table)
                        log.info("statistics: %s skipped, another analysis holds it", table)
                    continue
                analyzed.append(table)
                log.debug(
                    "statistics: %s analyzed in %.2f s (%s)",
                    table,
                    time.perf_counter() - began,
                    why,
                )
    except Exception:
        log.warning("statistics: the analysis stopped", exc_info=True)
    done["seconds"] = time.perf_counter() - started
    return done


def _counted(tables: list[str]) -> dict[str, int]:
    """Rows each table had when its statistics were gathered, for the tables that have some."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone() is None:
                return {}
            cursor.execute("SELECT tbl, stat FROM sqlite_stat1")
            counted: dict[str, int] = {}
            for table, stat in cursor.fetchall():
                rows = int((stat or "0").split()[0])  # "rows per-column…" for each index
                counted[table] = max(counted.get(table, 0), rows)
            return {t: counted[t] for t in tables if t in counted}
        # Statistics exist when pg_stats has the table's columns (an analyzed empty table has
        # none: its next write analyzes it again). reltuples: the rows counted (-1: never).
        cursor.execute(
            "SELECT c.relname, GREATEST(c.reltuples, 0)::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = ANY(%s) AND EXISTS "
            "(SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname)",
            [list(tables)],
        )
        return dict(cursor.fetchall())


def _has_rows(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")
        return cursor.fetchone() is not None


class _waiting_at_most:
    """How long a statement waits for a lock, set for the analysis and put back after."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.before: object = None

    def __enter__(self):
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA busy_timeout")
                self.before = cursor.fetchone()[0]
                cursor.execute(f"PRAGMA busy_timeout = {int(self.seconds * 1000)}")
            else:
                cursor.execute("SELECT current_setting('lock_timeout')")
                self.before = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{self.seconds}s"])
        return self

    def __exit__(self, *exc):
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(f"PRAGMA busy_timeout = {int(self.before)}")
            else:
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [self.before])
        return False


def _busy(exc: BaseException) -> bool:
    """A lock not had in time: PostgreSQL's lock_timeout (55P03), SQLite's busy database."""
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == "55P03":
        return True
    return "database is locked" in str(exc) or "database is busy" in str(exc)
