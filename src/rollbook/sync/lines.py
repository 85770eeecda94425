"""Which line of which file a sync run read a record from, so that a page can say "Created by
sync run 12 on 3 Dec 2026 from users.csv line 4,081".

The reader numbers every row with its line in the file (``oneroster.csvread.LINE``, 1-based,
the header being line 1); the read stage keeps it on the students and people of users.csv,
and the plan in the tables of the records it creates (``student.create.arrow``,
``person.create.arrow``; only there: an update says nothing about where a record began).

While a run's plan is kept the line is read from there. When ``retention.prune_plans``
removes the plan, it first keeps the created records' sourcedIds and lines in one small file
per entity (:func:`keep`: ``plans/lines/run-<id>.<entity>.arrow``, zstd-compressed Arrow IPC;
a few megabytes for a million students) so that pages go on citing the line. A run from
before the plans kept lines, or a record the plan did not take from a file, has none:
the sentence is then said without it.

A look-up memory-maps the file and searches the ``sourced_id`` column in one vectorised pass
per record batch (``pyarrow.compute.is_in``): no row becomes a Python object, and the plan's
other columns are never read, so a page stays fast at a million created students.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
from django.conf import settings

from rollbook.oneroster.csvread import LINE

from .models import SyncRun

#: The entities whose created records keep their line, and the OneRoster file they come from.
FILES = {"student": "users.csv", "person": "users.csv"}
COLUMNS = ["sourced_id", LINE]
#: How the kept lines are written: small batches compress well and are searched one by one.
KEPT_OPTIONS = ipc.IpcWriteOptions(compression="zstd")
KEPT_BATCH = 1 << 16

log = logging.getLogger(__name__)


def kept_path(run: SyncRun, entity: str) -> Path:
    """Where the lines of a run's created records are kept once its plan is removed."""
    return Path(settings.ROLLBOOK_HOME) / "plans" / "lines" / f"run-{run.pk}.{entity}.arrow"


def _plan_path(run: SyncRun, entity: str) -> Path:
    from .services import plan_folder

    return plan_folder(run) / f"{entity}.create.arrow"


def lines_of(run: SyncRun, entity: str, sourced_ids: Iterable[str]) -> dict[str, int]:
    """The line of ``FILES[entity]`` from which ``run`` created each of ``sourced_ids`` (those
    it created and whose line is known; ``{}`` when none is)."""
    wanted = pa.array(sorted({s for s in sourced_ids if s}), pa.string())
    if entity not in FILES or not len(wanted):
        return {}
    # The plan first: pruning writes the kept lines before it removes the plan, so one of the
    # two is always there.
    for path in (_plan_path(run, entity), kept_path(run, entity)):
        if path.exists():
            try:
                return _search(path, wanted)
            except (OSError, pa.ArrowException):  # removed meanwhile, or unreadable: no line
                continue
    return {}


def line_of(run: SyncRun, entity: str, sourced_id: str) -> int | None:
    """The line ``run`` created record ``sourced_id`` of ``entity`` from, if known."""
    return lines_of(run, entity, [sourced_id]).get(sourced_id)


def _search(path: Path, wanted: pa.Array) -> dict[str, int]:
    found: dict[str, int] = {}
    with pa.memory_map(str(path)) as source:
        reader = ipc.open_file(source)
        names = reader.schema.names
        if LINE not in names or "sourced_id" not in names:  # a plan from before lines were kept
            return found
        at = [names.index(c) for c in COLUMNS]
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            ids, lines = batch.column(at[0]), batch.column(at[1])
            hit = pc.and_(pc.is_in(ids, value_set=wanted), pc.is_valid(lines))
            if pc.any(hit).as_py():
                found.update(
                    zip(ids.filter(hit).to_pylist(), lines.filter(hit).to_pylist(), strict=True)
                )
                if len(found) == len(wanted):
                    break
    return found


def keep(run: SyncRun) -> list[Path]:
    """Keep the sourcedIds and lines of the records ``run`` created (before its plan is
    removed); returns the files written. Reads only those two columns of the plan's create
    tables (memory-mapped) and writes them compressed, atomically. A plan that cannot be read
    is logged and skipped: its records are then cited without a line, and pruning goes on."""
    written = []
    for entity in FILES:
        plan = _plan_path(run, entity)
        if not plan.exists():
            continue
        try:
            path = _keep(run, entity, plan)
        except (OSError, pa.ArrowException):
            log.warning("the lines of run %s's %s records could not be kept", run.pk, entity)
            continue
        if path is not None:
            written.append(path)
    return written


def _keep(run: SyncRun, entity: str, plan: Path) -> Path | None:
    with pa.memory_map(str(plan)) as source:
        reader = ipc.open_file(source)
        if LINE not in reader.schema.names:
            return None
        table = reader.read_all().select(COLUMNS)
        if table[LINE].null_count:
            table = table.filter(pc.is_valid(table[LINE]))
        if table.num_rows == 0:
            return None
        path = kept_path(run, entity)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with ipc.new_file(partial, table.schema, options=KEPT_OPTIONS) as writer:
            writer.write_table(table, max_chunksize=KEPT_BATCH)
        os.replace(partial, path)
    return path
