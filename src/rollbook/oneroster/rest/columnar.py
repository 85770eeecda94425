"""The fast path: a page parsed by Arrow's JSON reader and turned into CSV columns at once.

Most SIS serve uniform pages (every record the same shape). Such a page is parsed by
``pyarrow.json`` as one object (newline bytes outside strings are only whitespace in JSON, so
the body is made one line), its records become a struct array, and each CSV column is
computed for the whole page with Arrow kernels — the same values the record-by-record mapping
(``mapping.py``) writes. Anything this path does not handle exactly like that mapping raises
:class:`Unsupported` and the page goes the record-by-record way: mixed types in a field (a
boolean here, a string there), ``metadata``, floats, odd envelopes, lists with empty items,
1.1-style users in 1.2, records without a sourcedId. Both paths are tested to give the same
tables.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ..schema import BY_FILENAME
from .mapping import Collection, json_key

_STRING = pa.string()
_TEXT_KINDS = frozenset(
    {"id", "text", "name", "date", "datetime", "enum", "status", "email", "year"}
)


class Unsupported(Exception):
    """This page needs the record-by-record mapping."""


@dataclass
class Columns:
    """A converted page: its sourcedIds, and the rows of its CSV file(s) as string tables."""

    ids: list[str]
    rows: pa.Table
    roles: pa.Table | None = None

    def __len__(self) -> int:
        return len(self.ids)


def convert(
    body: bytes, collection: Collection, columns: list[str], role_columns: list[str] | None
) -> Columns:
    """The page ``body`` of ``collection`` as CSV columns, or :class:`Unsupported`."""
    try:
        return _convert(body, collection, columns, role_columns)
    except pa.ArrowException as exc:  # anything Arrow cannot do here: record by record
        raise Unsupported(str(exc)) from exc


def _convert(
    body: bytes, collection: Collection, columns: list[str], role_columns: list[str] | None
) -> Columns:
    records = _records(body, collection, _schema(collection, tuple(columns)))
    names = {f.name for f in records.type}
    if "metadata" in names and records.field("metadata").null_count < len(records):
        raise Unsupported("metadata")
    if "sourcedId" not in names:
        raise Unsupported("no sourcedId")
    ids = records.field("sourcedId")
    if ids.type != _STRING or ids.null_count:
        raise Unsupported("sourcedId")
    rows = pa.table([_column(records, names, h) for h in columns], names=columns)
    roles = None
    if role_columns is not None:
        roles = _roles(records, names, rows, role_columns)
    return Columns(ids.to_pylist(), rows, roles)


@functools.cache
def _schema(collection: Collection, columns: tuple[str, ...]) -> pa.Schema:
    """The envelope with every scalar text field typed as a string.

    Arrow's JSON reader would otherwise turn ``2021-08-02`` or ``2026-01-01T00:00:00Z`` into
    timestamps (and lose how they were written); booleans and references are left to
    inference (a field that is sometimes a boolean and sometimes a string fails the parse,
    and the page goes record by record).
    """
    kinds = {c.header: c.kind for c in BY_FILENAME[collection.file + ".csv"].columns}
    fields = [
        pa.field(json_key(h), _STRING) for h in columns if kinds.get(h, "text") in _TEXT_KINDS
    ]
    if collection.file == "users":
        dates = [pa.field("beginDate", _STRING), pa.field("endDate", _STRING)]
        fields.append(pa.field("roles", pa.list_(pa.struct(dates))))
    return pa.schema([pa.field(collection.envelope[0], pa.list_(pa.struct(fields)))])


def _records(body: bytes, collection: Collection, schema: pa.Schema) -> pa.StructArray:
    flat = body.replace(b"\n", b" ").replace(b"\r", b" ")
    try:
        table = pj.read_json(
            pa.BufferReader(flat),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(flat) + 1024),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="infer"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise Unsupported("not parsed by Arrow") from exc
    key = collection.envelope[0]
    if table.num_rows != 1 or key not in table.column_names:
        raise Unsupported("envelope")
    column = table.column(key).combine_chunks()
    if pa.types.is_list(column.type) and pa.types.is_null(column.type.value_type):
        return pa.array([], pa.struct([]))
    if not (pa.types.is_list(column.type) and pa.types.is_struct(column.type.value_type)):
        raise Unsupported("not a list of records")
    if column.null_count:
        raise Unsupported("null envelope")
    return pc.list_flatten(column)


def _column(records: pa.StructArray, names: set[str], header: str) -> pa.Array:
    key = json_key(header)
    if key not in names and header in names:
        key = header
    if key not in names:
        return pa.nulls(len(records), _STRING)
    if key != header and header in names and records.field(header).null_count < len(records):
        raise Unsupported(f"both {key} and {header}")
    return text(pc.struct_field(records, [key]))


def text(values: pa.Array) -> pa.Array:
    """An array as the CSV binding writes it (see ``mapping.text``)."""
    kind = values.type
    if kind == _STRING:
        return values
    if pa.types.is_null(kind):
        return pa.nulls(len(values), _STRING)
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind):
        return pc.cast(values, _STRING)
    if pa.types.is_struct(kind) and kind.get_field_index("sourcedId") >= 0:
        return text(pc.struct_field(values, ["sourcedId"]))
    if pa.types.is_list(kind):
        return _joined(values)
    raise Unsupported(f"a {kind} column")


def _joined(lists: pa.ListArray) -> pa.Array:
    items = pc.list_flatten(lists)
    kind = items.type
    if pa.types.is_struct(kind) and kind.get_field_index("sourcedId") >= 0:
        items = text(pc.struct_field(items, ["sourcedId"]))
    elif pa.types.is_struct(kind) and kind.get_field_index("identifier") >= 0:
        if kind.get_field_index("type") < 0:
            raise Unsupported("userIds without type")
        kinds = text(pc.struct_field(items, ["type"]))
        idents = text(pc.struct_field(items, ["identifier"]))
        if kinds.null_count or idents.null_count:
            raise Unsupported("userIds with nulls")
        items = pc.binary_join_element_wise("{", kinds, ":", idents, "}", "")
    elif pa.types.is_null(kind):
        items = pa.nulls(len(items), _STRING)
    else:
        items = text(items)
    if items.null_count or (len(items) and pc.any(pc.equal(items, "")).as_py()):
        raise Unsupported("a list with empty items")
    lengths = pc.fill_null(pc.list_value_length(lists), 0)
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(lengths)])
    rebuilt = pa.ListArray.from_arrays(pc.cast(offsets, pa.int32()), items)
    return pc.binary_join(rebuilt, ",")


def _roles(
    records: pa.StructArray, names: set[str], rows: pa.Table, columns: list[str]
) -> pa.Table:
    """roles.csv rows of 1.2 users (see ``mapping.role_rows``)."""
    if "roles" not in names:
        if "role" in names:
            raise Unsupported("1.1-style users")
        return pa.table([pa.array([], _STRING)] * len(columns), names=columns)
    roles = records.field("roles")
    if not pa.types.is_list(roles.type):
        raise Unsupported("roles is not a list")
    if pa.types.is_null(roles.type.value_type):
        return pa.table([pa.array([], _STRING)] * len(columns), names=columns)
    if not pa.types.is_struct(roles.type.value_type):
        raise Unsupported("roles are not objects")
    parents = pc.list_parent_indices(roles)
    flat = pc.list_flatten(roles)
    fields = {f.name for f in flat.type}

    def field(name: str) -> pa.Array:
        if name in fields:
            return text(pc.struct_field(flat, [name]))
        return pa.nulls(len(flat), _STRING)

    role, org, kind = field("role"), field("org"), field("roleType")
    if role.null_count or org.null_count:
        raise Unsupported("a role without role or org")
    user = pc.take(rows.column("sourcedId"), parents)
    values = {
        "sourcedId": pc.binary_join_element_wise(user, org, role, "/"),
        "status": pc.take(rows.column("status"), parents),
        "dateLastModified": pc.take(rows.column("dateLastModified"), parents),
        "userSourcedId": user,
        "roleType": kind,
        "role": role,
        "beginDate": field("beginDate"),
        "endDate": field("endDate"),
        "orgSourcedId": org,
    }
    n = len(flat)
    arrays = [values[c].cast(_STRING) if c in values else pa.nulls(n, _STRING) for c in columns]
    return pa.table(arrays, names=columns)
