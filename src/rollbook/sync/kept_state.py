"""The source's state kept beside the database after each apply, used while the directory
still agrees with it.

A re-sync compares the bundle with what the source delivered before (state.py): at a million
students, about twelve million rows that reading back from the directory costs more than
reading the bundle itself. So after each apply commits, the run keeps the state it leaves
behind — the state it read, with the rows it wrote — as Arrow files under
``ROLLBOOK_HOME/state/source-<id>/``, one per entity.

The files are a cache, never the truth. Each one carries a summary of its rows (how many, how
many active, sums over the local ids, the fingerprints and the sourcedIds' lengths, and sums
that tie each id to its fingerprint and to its sourcedId's length); the next run asks the
database for the same summary of the entity's rows — one pass that SQLite and PostgreSQL
compute in their own code, a few seconds at a million students, on the state thread beside the
bundle's reader — and uses the file only when the two agree. Anything else that changed the
source's rows (a hand archive, a merge, a restored backup, a worker on another machine whose
files are elsewhere, a run that rolled back after the files were written) changes a summary,
and the entity is read from the directory as before. Removing the folder costs time, never
correctness.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
from django.conf import settings
from django.db import connection

from .plan import STATE_SCHEMA

log = logging.getLogger(__name__)

SUMMARY_KEY = b"rollbook.summary"
LOW = 0xFFFFFFFF  # the fingerprint's low 32 bits (sums of 12M of them stay within int64)
MIX = 0xFFFF


def folder(source_pk: int) -> Path:
    return Path(settings.ROLLBOOK_HOME) / "state" / f"source-{source_pk}"


# --- the summary, in SQL and in Arrow -------------------------------------------------------


def summary_sql(table: str, columns: list[str], where: str) -> str:
    """The summary of the rows of ``SELECT columns FROM table WHERE where`` (state.py's
    columns: sourced_id, fingerprint, local id, active, withheld), computed by the database.
    """
    sid, fp, local, active, withheld = columns

    def count(condition: str) -> str:
        return f"coalesce(sum(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)"

    parts = [
        "count(*)",
        count(active),
        f"coalesce(sum({local}), 0)",
        f"coalesce(sum(CASE WHEN {active} THEN {local} ELSE 0 END), 0)",
        f"coalesce(sum({fp} & {LOW}), 0)",
        f"coalesce(sum({fp} >> 32), 0)",
        f"coalesce(sum(({local} & {MIX}) * ({fp} & {MIX})), 0)",
        f"coalesce(sum(length({sid})), 0)",
        f"coalesce(sum(length({sid}) * ({local} & {MIX})), 0)",
        "0" if withheld == "0" else count(withheld),
    ]
    scan = " NOT INDEXED" if connection.vendor == "sqlite" else ""
    return f"SELECT {', '.join(parts)} FROM {table}{scan} WHERE {where}"


def database_summary(table: str, columns: list[str], where: str, params: list) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(summary_sql(table, columns, where), params)
        return [int(v) for v in cursor.fetchone()]


def summary(state: pa.Table) -> list[int]:
    """The same summary as :func:`summary_sql`, of a state table (STATE_SCHEMA)."""

    def total(values) -> int:
        return int(pc.sum(values).as_py() or 0)

    fp, local, active = state["state_fingerprint"], state["local_id"], state["active"]
    flag = pc.fill_null(active, False)
    zero = pa.scalar(0, pa.int64())
    chars = pc.utf8_length(state["sourced_id"]).cast(pa.int64())
    return [
        state.num_rows,
        total(flag.cast(pa.int64())),
        total(local),
        total(pc.if_else(flag, local, zero)),
        total(pc.bit_wise_and(fp, LOW)),
        total(pc.shift_right(fp, 32)),
        total(pc.multiply(pc.bit_wise_and(local, MIX), pc.bit_wise_and(fp, MIX))),
        total(chars),
        total(pc.multiply(chars, pc.bit_wise_and(local, MIX))),
        total(pc.fill_null(state["withheld"], False).cast(pa.int64())),
    ]


# --- reading and writing --------------------------------------------------------------------


def take(source_pk: int, entity: str, into: Path, query: tuple) -> Path | None:
    """The kept state of ``entity`` as a file of its own in ``into`` when the directory still
    agrees with it (``query``: state.py's table, columns, where, params), else None."""
    kept = folder(source_pk) / f"{entity}.arrow"
    mine = into / f"{entity}.kept.arrow"
    try:  # a link of its own: a run that keeps a newer state meanwhile replaces, never edits
        os.link(kept, mine)
    except FileNotFoundError:
        return None
    except OSError:
        try:
            shutil.copyfile(kept, mine)
        except OSError:
            return None
    try:
        with ipc.open_file(mine) as reader:
            metadata = reader.schema.metadata or {}
            stored = json.loads(metadata[SUMMARY_KEY])
            same_schema = reader.schema.remove_metadata().equals(STATE_SCHEMA)
    except (OSError, KeyError, ValueError, pa.ArrowInvalid):
        stored, same_schema = None, False
    table, columns, where, params = query
    if same_schema and stored == database_summary(table, columns, where, params):
        return mine
    mine.unlink(missing_ok=True)
    return None


def read(path: Path) -> pa.Table:
    with ipc.open_file(path) as reader:
        return reader.read_all().replace_schema_metadata(None)


def keep(source_pk: int, states: dict[str, pa.Table]) -> None:
    """Keep the state a run left behind (after its commit). Never fails the run: a state not
    kept is read from the directory next time."""
    place = folder(source_pk)
    try:
        place.mkdir(parents=True, exist_ok=True)
        for entity, state in states.items():
            state = state.cast(STATE_SCHEMA).replace_schema_metadata(
                {SUMMARY_KEY: json.dumps(summary(state))}
            )
            partial = place / f"{entity}.arrow.{os.getpid()}"
            options = ipc.IpcWriteOptions(compression="lz4")
            with ipc.new_file(partial, state.schema, options=options) as writer:
                writer.write_table(state)
            os.replace(partial, place / f"{entity}.arrow")
    except Exception:
        log.warning("state of source %s not kept", source_pk, exc_info=True)
        forget(source_pk)


def forget(source_pk: int) -> None:
    shutil.rmtree(folder(source_pk), ignore_errors=True)


# --- the state after an apply ---------------------------------------------------------------


def after_apply(before: pa.Table, written: list[pa.Table], archived: list[pa.Array]) -> pa.Table:
    """The state after a run: ``before`` with each row ``written`` (STATE_SCHEMA) in place of
    the row of the same sourcedId, then the ``archived`` local ids made inactive."""
    state = before.cast(STATE_SCHEMA)
    if written:
        rows = pa.concat_tables([t.cast(STATE_SCHEMA) for t in written])
        if rows.num_rows and state.num_rows:  # (nothing to replace on a first sync)
            replaced = pc.is_in(state["sourced_id"], value_set=rows["sourced_id"].combine_chunks())
            state = state.filter(pc.invert(replaced))
        state = pa.concat_tables([state, rows])
    ids = [a for a in archived if len(a)]
    if ids:
        lost = pc.is_in(state["local_id"], value_set=pa.concat_arrays(ids).cast(pa.int64()))
        active = pc.and_(pc.fill_null(state["active"], False), pc.invert(lost))
        state = state.set_column(state.schema.get_field_index("active"), "active", active)
    return state
