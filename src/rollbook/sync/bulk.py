"""Bulk reads and writes for the sync, the same statements' shapes on SQLite and PostgreSQL.

The sync writes millions of rows; building a Django model object per row costs more than the
write itself. These helpers take Arrow tables (or column lists) and use the fastest plain path
of each backend, inside the caller's transaction:

- SQLite: ``executemany`` on the raw connection;
- PostgreSQL: ``COPY … FROM STDIN`` (into the table, or into a temporary table followed by one
  ``UPDATE … FROM`` / ``INSERT … ON CONFLICT``).

Inside :func:`counting`, the rows each table is written are counted (``statistics.py`` decides
from them which tables' planner statistics a run made stale).
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import chain
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from django.db import connection, transaction

CHUNK = 50_000

_written: ContextVar[Counter[str] | None] = ContextVar("rollbook_bulk_written", default=None)


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count the rows written to each table (inserted, updated, upserted) by the helpers
    below, while inside; temporary tables are not counted."""
    counter: Counter[str] = Counter()
    token = _written.set(counter)
    try:
        yield counter
    finally:
        _written.reset(token)


def _wrote(table_name: str, n: int) -> None:
    counter = _written.get()
    if counter is not None and n:
        counter[table_name] += n


def _python_columns(table: pa.Table) -> list[list[Any]]:
    """Columns as Python lists the database driver accepts (dates as ISO text on SQLite)."""
    columns = []
    for column in table.columns:
        temporal = pa.types.is_date(column.type) or pa.types.is_timestamp(column.type)
        if temporal and connection.vendor == "sqlite":
            column = pc.cast(column, pa.string())
        columns.append(column.to_pylist())
    return columns


def _columns(table: pa.Table, constants: Sequence[Any]) -> Iterator[list[list[Any]]]:
    """The table's columns, plus one column per constant, CHUNK rows at a time."""
    for start in range(0, table.num_rows, CHUNK):
        part = table.slice(start, CHUNK)
        columns = _python_columns(part)
        if constants:
            n = part.num_rows
            columns += [[value] * n for value in constants]
        yield columns


def _rows(table: pa.Table, constants: Sequence[Any]) -> Iterable[tuple]:
    for columns in _columns(table, constants):
        yield from zip(*columns, strict=True)


#: Rows per SQLite INSERT statement (within SQLite's 32,766 parameters). One statement per
#: row pays SQLite's per-statement work (its AUTOINCREMENT bookkeeping, foreign-key and
#: statement set-up) on every row: 4.5M enrollments took 21.1 s one row per statement and
#: 14.3 s a hundred rows per statement (BENCHMARKS.md, "Sync").
ROWS_PER_STATEMENT = 100


def _insert_sqlite(head: str, marks: str, tail: str, data: pa.Table, bound: Sequence[Any]):
    """``head VALUES (marks), (marks), … tail`` with ROWS_PER_STATEMENT rows per statement
    (the rows' order kept: SQLite gives them ids in that order), the rest one per statement.
    ``marks`` binds the data's columns, then ``bound``'s constants."""
    width = data.num_columns + len(bound)
    per = max(1, min(ROWS_PER_STATEMENT, 32_766 // max(width, 1)))
    many = f"{head} VALUES {', '.join([f'({marks})'] * per)} {tail}"
    one = f"{head} VALUES ({marks}) {tail}"
    step = per * width
    connection.ensure_connection()
    raw = connection.connection.cursor()
    for columns in _columns(data, bound):
        n = len(columns[0])
        full = n - n % per
        flat = list(chain.from_iterable(zip(*(c[:full] for c in columns), strict=True)))
        raw.executemany(many, (flat[start : start + step] for start in range(0, len(flat), step)))
        if full < n:
            raw.executemany(one, zip(*(c[full:] for c in columns), strict=True))
    raw.close()


def adapt(value: Any) -> Any:
    """A constant (a timestamp, say) as the backend stores it."""
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _constant_column(value: Any, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    if isinstance(value, dt.datetime):
        return pa.array([value] * n, pa.timestamp("us", tz="UTC"))
    return pa.array([value] * n)


def _copy_csv(
    cursor, table_name: str, names: str, data: pa.Table, constants: dict[str, Any]
) -> None:
    """COPY rows as CSV written by Arrow: no Python object per row. In PostgreSQL's CSV
    format an unquoted empty field is NULL and a quoted one ("") an empty string, which is
    exactly how Arrow writes nulls and empty strings."""
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with cursor.cursor.copy(f"COPY {table_name} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
        for start in range(0, data.num_rows, CHUNK * 2):
            part = data.slice(start, CHUNK * 2)
            for name, value in constants.items():
                part = part.append_column(name, _constant_column(value, part.num_rows))
            buffer = io.BytesIO()
            pacsv.write_csv(part, buffer, options)
            copy.write(buffer.getvalue())


def insert(table_name: str, data: pa.Table, constants: dict[str, Any] | None = None) -> int:
    """Insert every row of ``data`` (column names = database columns) plus constant columns."""
    _wrote(table_name, data.num_rows)
    return _insert(table_name, data, constants)


def _insert(table_name: str, data: pa.Table, constants: dict[str, Any] | None = None) -> int:
    if data.num_rows == 0:
        return 0
    constants = {k: adapt(v) for k, v in (constants or {}).items()}
    columns = list(data.column_names) + list(constants)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            _copy_csv(cursor, table_name, names, data, constants)
        return data.num_rows
    # Constants go into the statement as literals: SQLite then binds only the data's own
    # columns for each row (a third less work per row than binding the constants too).
    inline = {c: lit for c, v in constants.items() if (lit := _sql_literal(v)) is not None}
    bound = {c: v for c, v in constants.items() if c not in inline}
    names = ", ".join(connection.ops.quote_name(c) for c in [*data.column_names, *inline, *bound])
    marks = ", ".join(["?"] * data.num_columns + list(inline.values()) + ["?"] * len(bound))
    _insert_sqlite(f"INSERT INTO {table_name} ({names})", marks, "", data, list(bound.values()))
    return data.num_rows


def _sql_literal(value: Any) -> str | None:
    """``value`` as an SQLite literal, or None when it is better bound as a parameter."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


@transaction.atomic(savepoint=False)  # PostgreSQL's temporary table lives for one transaction
def update(
    table_name: str, data: pa.Table, key: str = "id", constants: dict[str, Any] | None = None
) -> int:
    """Set the columns of ``data`` (and constants) on the rows whose ``key`` matches."""
    if data.num_rows == 0:
        return 0
    _wrote(table_name, data.num_rows)
    constants = {k: adapt(v) for k, v in (constants or {}).items()}
    value_columns = [c for c in data.column_names if c != key]
    quote = connection.ops.quote_name
    if connection.vendor == "postgresql":
        temp = f"rb_update_{table_name}"
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {temp}")
            cursor.execute(
                f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS "
                f"SELECT {', '.join(quote(c) for c in data.column_names)} FROM {table_name} "
                "WITH NO DATA"
            )
        _insert(temp, data)
        assignments = [f"{quote(c)} = {temp}.{quote(c)}" for c in value_columns]
        assignments += [f"{quote(c)} = %s" for c in constants]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table_name} SET {', '.join(assignments)} FROM {temp} "
                f"WHERE {table_name}.{quote(key)} = {temp}.{quote(key)}",
                list(constants.values()),
            )
            cursor.execute(f"DROP TABLE {temp}")
        return data.num_rows
    ordered = data.select(value_columns + [key])
    assignments = [f"{quote(c)} = ?" for c in value_columns] + [
        f"{quote(c)} = ?" for c in constants
    ]
    sql = f"UPDATE {table_name} SET {', '.join(assignments)} WHERE {quote(key)} = ?"
    constant_values = list(constants.values())

    def rows():
        for row in _rows(ordered, []):
            yield (*row[:-1], *constant_values, row[-1])

    raw = connection.connection.cursor()
    raw.executemany(sql, rows())
    raw.close()
    return data.num_rows


@transaction.atomic(savepoint=False)
def upsert(
    table_name: str, data: pa.Table, unique: Sequence[str], constants: dict[str, Any] | None = None
) -> int:
    """Insert rows, or update the existing row with the same ``unique`` columns."""
    if data.num_rows == 0:
        return 0
    _wrote(table_name, data.num_rows)
    constants = {k: adapt(v) for k, v in (constants or {}).items()}
    quote = connection.ops.quote_name
    columns = list(data.column_names) + list(constants)
    changes = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in unique)
    conflict = f"ON CONFLICT ({', '.join(quote(c) for c in unique)}) DO UPDATE SET {changes}"
    names = ", ".join(quote(c) for c in columns)
    if connection.vendor == "postgresql":
        temp = f"rb_upsert_{table_name}"
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {temp}")
            cursor.execute(
                f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {names} "
                f"FROM {table_name} WITH NO DATA"
            )
        _insert(temp, data, constants)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table_name} ({names}) SELECT {names} FROM {temp} {conflict}"
            )
            cursor.execute(f"DROP TABLE {temp}")
        return data.num_rows
    marks = ", ".join("?" * len(columns))
    _insert_sqlite(
        f"INSERT INTO {table_name} ({names})", marks, conflict, data, list(constants.values())
    )
    return data.num_rows


TEXT_CHUNK = 250_000


def select(sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """Run a query and return its rows as an Arrow table of the given schema."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        parts = []
        while rows := cursor.fetchmany(CHUNK):
            arrays = []
            for values, column in zip(zip(*rows, strict=True), schema, strict=True):
                if pa.types.is_boolean(column.type):  # SQLite answers 0 and 1
                    values = [None if v is None else bool(v) for v in values]
                arrays.append(pa.array(values, column.type))
            parts.append(pa.table(arrays, schema=schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def select_rows(
    table: str, columns: Sequence[str], where: str, params: Sequence[Any], schema: pa.Schema
) -> pa.Table:
    """``SELECT columns FROM table WHERE where`` as Arrow, for millions of rows.

    On SQLite the rows never become Python objects: SQLite writes each chunk of rows as CSV
    text (one ``printf`` per row, ``group_concat`` per chunk of ids) and Arrow's CSV reader
    parses it — a million state rows in well under a second instead of several. Elsewhere,
    :func:`read_committed`. ``table`` must have an integer ``id``.
    """
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {where}"
    if connection.vendor != "sqlite":
        return read_committed(sql, params, schema)
    import pyarrow.csv as pacsv

    # One printf per row: about half the cost of quote() and || per column. Text as %Q
    # (single-quoted, NULL unquoted), integers and booleans as %s (NULL as an empty field).
    plain = [pa.types.is_integer(f.type) or pa.types.is_boolean(f.type) for f in schema]
    fmt = ",".join("%%s" if p else "%%Q" for p in plain)  # %% is Django's literal %
    line = f"printf('{fmt}', {', '.join(columns)})"
    chunk_sql = (
        f"SELECT max(id), count(*), group_concat(line, char(10)) FROM (SELECT id, {line} AS line "
        f"FROM {table} NOT INDEXED WHERE ({where}) AND id > %s ORDER BY id LIMIT {TEXT_CHUNK})"
    )
    read = pacsv.ReadOptions(column_names=schema.names, block_size=1 << 24)
    parse = pacsv.ParseOptions(quote_char="'", double_quote=True, newlines_in_values=True)
    types = {f.name: pa.int64() if pa.types.is_boolean(f.type) else f.type for f in schema}
    # An unquoted NULL is SQL's NULL in every column, text included (Arrow keeps it as the
    # text "NULL" unless told); a quoted 'NULL' or '' is text.
    convert = pacsv.ConvertOptions(
        column_types=types,
        null_values=["NULL", ""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    parts, last = [], -1
    with connection.cursor() as cursor:
        while True:
            cursor.execute(chunk_sql, [*params, last])
            top, n, text = cursor.fetchone()
            if not n:
                break
            part = pacsv.read_csv(
                pa.py_buffer(text.encode()),
                read_options=read,
                parse_options=parse,
                convert_options=convert,
            )
            parts.append(part)
            last = top
    if not parts:
        return schema.empty_table()
    table_ = pa.concat_tables(parts)
    return pa.table([pc.cast(table_[f.name], f.type) for f in schema], schema=schema)


@contextmanager
def read_snapshot():
    """Reads inside see one committed state of the database (outside any transaction).

    On SQLite, a deferred read transaction: in WAL mode it blocks no writer and sees none of
    their later commits. On PostgreSQL the state is read through ADBC, one statement (and
    snapshot) per entity, and this does nothing.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            cursor.execute("ROLLBACK")  # it wrote nothing


def _adbc_uri() -> str | None:
    """Where ADBC can open the same database, or None.

    Never for SQLite: the ADBC driver carries its own copy of the SQLite library, and two
    SQLite libraries in one process opening the same file break each other's POSIX locks
    (closing one's file handle drops the other's locks), which lets other processes read a
    database in the middle of a write ("database disk image is malformed").
    """
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        from urllib.parse import quote

        auth = quote(settings.get("USER") or "")
        if settings.get("PASSWORD"):
            auth += ":" + quote(settings["PASSWORD"])
        host = settings.get("HOST") or "localhost"
        port = settings.get("PORT") or "5432"
        return f"postgresql://{auth}@{host}:{port}/{settings['NAME']}"
    return None


def read_committed(sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """A read of committed data as Arrow, through ADBC (columnar, no Python object per row).

    Inside a transaction (a test's, say) a separate connection would not see its rows, so the
    query then runs on Django's connection instead; so it does when ADBC is not installed.
    """
    uri = _adbc_uri()
    if connection.in_atomic_block or uri is None:
        return select(sql, params, schema)
    try:
        import adbc_driver_postgresql.dbapi as adbc
    except ImportError:
        return select(sql, params, schema)
    parts = sql.split("%s")
    text = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))
    with adbc.connect(uri) as conn, conn.cursor() as cursor:
        cursor.execute(text, list(params))
        table = cursor.fetch_arrow_table()
    table = table.rename_columns(schema.names)
    return pa.table([pc.cast(table[f.name], f.type) for f in schema], schema=schema)


def _secondary_indexes(table_name: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the indexes a bulk load can drop and build again."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                "tbl_name = %s AND sql IS NOT NULL",
                [table_name],
            )
        else:
            cursor.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND "
                "NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                [table_name],
            )
        return list(cursor.fetchall())


#: The fewest rows :func:`insert_many` loads with the table's indexes dropped.
MANY_ROWS = 50_000


@transaction.atomic(savepoint=False)
def insert_many(
    table_name: str, data: pa.Table, constants: dict[str, Any] | None = None, existing: int = 0
) -> int:
    """Insert like :func:`insert`; when the rows outnumber those already there (a first
    sync), the table's secondary indexes are dropped first and built again afterwards, in the
    same transaction: building an index once is several times faster than growing it row by
    row. Unique indexes are rebuilt too, so every constraint is still checked."""
    if data.num_rows < MANY_ROWS or data.num_rows <= existing or _shared():
        return insert(table_name, data, constants)
    indexes = _secondary_indexes(table_name)
    foreign_keys = _foreign_keys(table_name)
    texts, triggers = _text_indexes(table_name)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {quote(name)}")
        for name, _ in foreign_keys:
            cursor.execute(f"ALTER TABLE {table_name} DROP CONSTRAINT {quote(name)}")
        for name, _ in triggers:
            cursor.execute(f"DROP TRIGGER {quote(name)}")
    count = insert(table_name, data, constants)
    with connection.cursor() as cursor, _build_settings(cursor):
        if connection.vendor == "postgresql":  # check the deferred foreign keys now: an
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # index cannot be built while
        for name, definition in foreign_keys:  # their checks are pending; a foreign key
            cursor.execute(  # added back checks every row at once, in one join
                f"ALTER TABLE {table_name} ADD CONSTRAINT {quote(name)} {definition}"
            )
        for _, sql in indexes:
            cursor.execute(sql)
        for name in texts:  # every row's names again, from the table itself
            cursor.execute(f"INSERT INTO {quote(name)}({quote(name)}) VALUES ('rebuild')")
        for _, sql in triggers:
            cursor.execute(sql)
    return count


#: How the database builds indexes and checks foreign keys after a load, and how it was
#: before. SQLite: helper threads for the sorts (the enrollments' four indexes at L take
#: 8.5 s with two against 9.9 s with none) and an 8 MiB page cache, which also bounds each
#: sort's memory before it goes to temporary files: the twenty indexes of a first sync at L
#: build in 17.5-18.8 s and 46 MiB against 25.5-26.2 s and 485 MiB with the usual 256 MiB
#: (BENCHMARKS.md, Sync). PostgreSQL: memory for the sorts and the foreign keys' joins,
#: which its defaults (64 MB, 4 MB) send to disk at district scale.
BUILD_SETTINGS = {
    "sqlite": {"threads": "2", "cache_size": "-8192"},
    "postgresql": {"maintenance_work_mem": "512MB", "work_mem": "128MB"},
}


@contextmanager
def _build_settings(cursor) -> Iterator[None]:
    """Inside, the settings of BUILD_SETTINGS for this connection; then those before. On
    PostgreSQL they are the transaction's own (``SET LOCAL``): a failure inside aborts the
    transaction, whose rollback undoes them."""
    sqlite = connection.vendor == "sqlite"
    before = {}
    for name, value in BUILD_SETTINGS.get(connection.vendor, {}).items():
        if sqlite:
            cursor.execute(f"PRAGMA {name}")
            before[name] = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA {name} = {value}")
        else:
            cursor.execute("SELECT current_setting(%s)", [name])
            before[name] = cursor.fetchone()[0]
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])

    def restore() -> None:
        for name, value in before.items():
            if sqlite:
                cursor.execute(f"PRAGMA {name} = {int(value)}")
            else:
                cursor.execute("SELECT set_config(%s, %s, true)", [name, value])

    try:
        yield
    except BaseException:
        if sqlite:
            restore()
        raise
    restore()


def _text_indexes(table_name: str) -> tuple[list[str], list[tuple[str, str]]]:
    """SQLite: the FTS5 tables holding ``table_name``'s text (external content, the
    Directory's name search, web/search.py) and the triggers that keep each exact, named
    ``<fts>_a…``. Fed by their triggers, a million rows' names cost several times what one
    ``rebuild`` after the load does; the load drops the triggers and rebuilds instead."""
    if connection.vendor != "sqlite":
        return [], []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE %s AND sql LIKE %s",
            ["CREATE VIRTUAL TABLE%USING fts5%", f"%content='{table_name}'%"],
        )
        texts = [row[0] for row in cursor.fetchall()]
        triggers = []
        for name in texts:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s "
                "AND substr(name, 1, length(%s) + 2) = %s || '_a'",
                [table_name, name, name],
            )
            triggers += cursor.fetchall()
    return texts, triggers


def _shared() -> bool:
    """PostgreSQL with more than one sync source: the directory's tables are shared by runs
    that may apply at the same time (other districts', on other workers). Dropping an index
    or a constraint locks the whole table against every other district — its pages and its
    runs — for the rest of the apply, and deadlocks with another apply that already wrote to
    the table and waits for the account-writing lock (``claims.py``; found by the fleet
    benchmark). Then rows are inserted with the indexes in place. (SQLite has one writer at a
    time: nothing to share.)"""
    if connection.vendor != "postgresql":
        return False
    from .models import SyncSource

    return SyncSource.objects.count() > 1


def _foreign_keys(table_name: str) -> list[tuple[str, str]]:
    """PostgreSQL: (name, definition) of the table's foreign keys. Checked row by row they
    cost more than the load itself; dropped and added back, they are checked in one pass.
    (SQLite cannot drop a constraint; there they stay, checked row by row.)"""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'",
            [table_name],
        )
        return list(cursor.fetchall())


def last_id(table_name: str) -> int:
    """The table's highest id (0 when empty)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table_name}")
        return cursor.fetchone()[0]


def appended_ids(
    table_name: str, after: int | None, sourced_ids: pa.ChunkedArray | pa.Array
) -> pa.Array | None:
    """SQLite: the ids of the rows just inserted, in insertion order, without reading them.

    Inside the run's write transaction nobody else inserts, and SQLite gives each inserted
    row the next id, in the order ``executemany`` received them: the rows are then exactly
    ``after + 1 … after + n``. That is checked (count, lowest and highest id, and the
    sourcedIds of the first, middle and last rows); anything else — or PostgreSQL, whose
    ``COPY`` makes no such promise — returns None and the caller reads the ids back.
    """
    n = len(sourced_ids)
    if connection.vendor != "sqlite" or after is None or not n:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), MIN(id), MAX(id) FROM {table_name} WHERE id > %s", [after]
        )
        if tuple(cursor.fetchone()) != (n, after + 1, after + n):
            return None
        probes = sorted({0, n // 2, n - 1})
        cursor.execute(
            f"SELECT id, sourced_id FROM {table_name} WHERE id IN "
            f"({', '.join(['%s'] * len(probes))}) ORDER BY id",
            [after + 1 + i for i in probes],
        )
        found = [row[1] for row in cursor.fetchall()]
    if found != [sourced_ids[i].as_py() for i in probes]:
        return None
    return pa.array(range(after + 1, after + n + 1), pa.int64())
