"""Reading and validating a whole bundle: ``read_bundle(path) -> ReadResult``."""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import queue
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from . import schema, threads
from .bundle import Bundle, BundleError, Manifest, open_bundle, read_manifest
from .checks import arange, check_references, check_school_types, check_users_have_roles
from .csvread import LINE, FileRejected, map_header, prescan, read_header, read_table
from .findings import Findings
from .limits import check_joined_ids, check_lengths
from .manifestrules import check_manifest
from .model import ENTITIES, USER_COLUMNS_MOVED, FileInfo, ReadResult, RosterModel
from .people import guardian_links, user_roles
from .quoting import scan_quoting
from .rolechecks import check_people_rules
from .rowchecks import check_file

MODES = ("bulk", "delta", "absent")
_OTHER = {n.lower() + ".csv" for n in schema.OTHER_FILES_12}


#: ``on_file(name, bytes_done, bytes_total)``: called before each roster file is read (with the
#: bytes of the files read so far) and once at the end (name ``""``, done == total).
OnFile = Callable[[str, int, int], None]


def read_bundle(
    path: str | Path,
    strict: bool = False,
    encoding: str | None = None,
    on_file: OnFile | None = None,
) -> ReadResult:
    """Read, check and model a OneRoster bundle (a .zip or a folder of CSV files).

    Args:
        path: the bundle.
        strict: 1EdTech conformance (every deviation is an error) instead of lenient.
        encoding: the encoding of the CSV files when they are not UTF-8 (e.g. ``cp932``).
        on_file: told how far the reading got, file by file (progress bars).

    Raises:
        BundleError: the bundle cannot be read at all (unsafe zip, no CSV files, ...).
    """
    if encoding:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise BundleError(
                f"unknown encoding {encoding!r}; use e.g. utf-8, cp932, cp1252."
            ) from exc
    with _no_huge_pages(), open_bundle(path) as bundle:
        return _read(bundle, strict, encoding, on_file)


_PR_SET_THP_DISABLE, _PR_GET_THP_DISABLE = 41, 42


@contextlib.contextmanager
def _no_huge_pages() -> Iterator[None]:
    """Linux: no transparent huge pages for this process while a bundle is read.

    Arrow asks for huge pages (2 MiB) on its large buffers; a huge page stays resident until
    all of it is freed, so at L scale RSS ran ~0.1 GB above what 4 KiB pages cost (measured
    on the 1.2 L bundle: peak 1,957 -> 1,872 MiB, same wall time). The previous setting is
    restored afterwards; elsewhere (or if prctl is unavailable) this does nothing.
    """
    prctl = None
    if sys.platform.startswith("linux"):
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            prctl = None
    before = prctl(_PR_GET_THP_DISABLE, 0, 0, 0, 0) if prctl else -1
    changed = before == 0 and prctl is not None and prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        if changed and prctl is not None:
            prctl(_PR_SET_THP_DISABLE, 0, 0, 0, 0)


def _read(bundle: Bundle, strict: bool, encoding: str | None, on_file: OnFile | None) -> ReadResult:
    findings = Findings(strict=strict)
    if bundle.nested_folder:
        findings.add(
            "OR-FILE-NESTED",
            f"the CSV files are inside the folder "
            f"{bundle.nested_folder!r}; they were read from there.",
        )
    for note in bundle.notes:  # junk members of the zip (bundle.py)
        findings.add(note.code, note.message, file=note.file)
    by_lower = {n.lower(): n for n in bundle.files}
    manifest_name = by_lower.get("manifest.csv")
    manifest = read_manifest(bundle.files[manifest_name], encoding) if manifest_name else None
    if manifest is not None:  # case, duplicates, manifest.version; keys as the spec spells them
        check_manifest(bundle.files[manifest_name], manifest, findings, encoding)
    version, declared_version = _version(bundle, manifest, findings)
    files: dict[str, FileInfo] = {}
    present: dict[str, str] = {}  # OneRoster filename -> name in the bundle
    extra: list[str] = []
    specs = {f.filename.lower(): f for f in schema.ROSTER_FILES}
    for name in [*bundle.files, *bundle.others]:  # others: present, not unpacked
        low = name.lower()
        if low == "manifest.csv":
            continue
        spec = specs.get(low)
        if spec is None:
            extra.append(name)
            if low not in _OTHER:
                findings.add(
                    "OR-FILE-UNKNOWN", f"{name} is not a OneRoster file; it was ignored.", file=name
                )
            continue
        if version not in spec.versions:
            extra.append(name)
            findings.add(
                "OR-FILE-UNKNOWN",
                f"{name} is a OneRoster 1.2 file but the bundle is {version}; it was ignored.",
                file=name,
            )
            continue
        if name != spec.filename:
            findings.add(
                "OR-FILE-NAME-CASE",
                f"{name} should be named {spec.filename}; it was read as that file.",
                file=name,
            )
        present[spec.filename] = name
    _modes(manifest, version, present, files, findings)

    tables: dict[str, pa.Table] = {}
    modes: dict[str, str] = {}
    names: dict[str, str] = {}
    zeros = _Zeros()
    columns: dict[str, dict[str, str]] = {}  # entity -> canonical column -> as the file spells it
    to_read = [
        spec
        for spec in schema.ROSTER_FILES
        if files[spec.filename].found_as and files[spec.filename].mode != "absent"
    ]

    def read_one(spec: schema.FileSpec, into: Findings) -> pa.Table | None:
        info = files[spec.filename]
        return _read_file(
            bundle.files[info.found_as],
            info,
            spec,
            version,
            encoding,
            into,
            manifest is not None,
            zeros,
            columns,
        )

    sizes = {
        spec.entity: bundle.files[files[spec.filename].found_as].stat().st_size for spec in to_read
    }
    read = _side_by_side(to_read, sizes, read_one, findings, on_file, files)
    for spec in schema.ROSTER_FILES:
        info = files[spec.filename]
        names[spec.entity] = info.found_as or spec.filename
        table = read.get(spec.entity)
        if table is None:
            table = _empty(spec, version)
            info.mode = "absent" if info.state != "read" else info.mode
        tables[spec.entity] = table
        modes[spec.entity] = info.mode
    del read
    if on_file is not None:
        on_file("", sum(sizes.values()), sum(sizes.values()))

    # the row in users.csv of each role's user, kept from the reference check (see below)
    rows_of: dict[tuple[str, str], pa.Array | pa.ChunkedArray | None] = {
        ("roles", "user_sourced_id"): None,
        ("users", "agent_sourced_ids"): None,
    }
    rejects = check_references(tables, modes, names, findings, columns, rows_of)
    role_rows = rows_of.pop(("roles", "user_sourced_id"))
    agent_rows = rows_of.pop(("users", "agent_sourced_ids"))
    for entity, mask in rejects.items():
        tables[entity] = tables[entity].filter(pc.invert(mask))
        if entity == "roles" and role_rows is not None:
            role_rows = role_rows.filter(pc.invert(mask))
        files[schema.BY_ENTITY[entity].filename].rows_rejected += (
            pc.sum(mask.cast(pa.int64())).as_py() or 0
        )
    _release()

    users = tables["users"]
    # The row in users.csv of each role's user (null: not there), looked up once for every
    # check that needs it: users' sourcedIds are unique (repeats were rejected), so rows stand
    # for ids, and rows compare as integers (a string look-up of 3.4M ids costs ~1-3 s at a
    # million students, three times more when the rows are not in id order).
    if version == "1.2":
        person_roles = tables["roles"].select(["user_sourced_id", "role"])
        if role_rows is None or len(role_rows) != person_roles.num_rows:
            ids = person_roles["user_sourced_id"]
            role_rows = pc.index_in(ids, value_set=users["sourced_id"])
    else:
        person_roles = pa.table({"user_sourced_id": users["sourced_id"], "role": users["role"]})
        role_rows = arange(users.num_rows)
    # The users' roles, then the guardian links, each with its own findings, merged in the
    # order they always had. One after the other, not side by side: each stacks ~0.25 GB of
    # hash tables on the tables read, and together they set the reader's peak at a million
    # students (2.2-2.3 GiB side by side, 1.9 GiB one after the other, for ~3 s more).
    roles_findings, links_findings = findings.child(), findings.child()

    def roles_side(role_rows: pa.Array | pa.ChunkedArray) -> pa.Table:
        check_school_types(tables, names, roles_findings)
        check_users_have_roles(tables, modes, names, roles_findings, role_rows)
        check_people_rules(tables, modes, names, version, roles_findings, columns, role_rows)
        return user_roles(
            users,
            tables["roles"],
            tables["orgs"],
            modes["orgs"],
            version,
            names,
            roles_findings,
            role_rows if version == "1.2" else None,
        )

    ur = roles_side(role_rows)
    _release()
    gl = guardian_links(users, person_roles, names, links_findings, role_rows, agent_rows)
    del agent_rows
    findings.merge(roles_findings)
    findings.merge(links_findings)
    ur, gl = check_joined_ids(ur, gl, names["users"], findings)  # ids the sync joins: limits.py
    del person_roles, role_rows
    _release()
    if version != "1.2":  # the first org listed stands for the primary org
        first = (
            pc.list_element(users["org_sourced_ids"], 0)
            if users.num_rows
            else pa.array([], pa.string())
        )
        users = users.set_column(
            users.schema.get_field_index("primary_org_sourced_id"), "primary_org_sourced_id", first
        )
    tables["users"] = users.drop_columns(list(USER_COLUMNS_MOVED))
    model = RosterModel(version, {e: tables[e] for e in ENTITIES}, modes, ur, gl)
    return ReadResult(
        str(bundle.source), version, declared_version, strict, files, model, findings, extra
    )


def _side_by_side(
    specs: list[schema.FileSpec],
    sizes: dict[str, int],
    read_one: Callable[[schema.FileSpec, Findings], pa.Table | None],
    findings: Findings,
    on_file: OnFile | None,
    files: dict[str, FileInfo],
) -> dict[str, pa.Table | None]:
    """The roster files read on two threads, each file's checks included (entity → table).

    Reading and checking one file uses one core for most of its time (Arrow's compute
    functions, one after another); the files are independent until the checks across them,
    so two lanes of about equal bytes — the largest file first into the lane with fewer —
    read side by side. Each file's findings are collected apart and joined in the files'
    order, as if read one after the other; ``on_file`` is told of each file as its lane
    starts it, from the calling thread (progress may write to the database)."""
    lanes: list[list[schema.FileSpec]] = [[] for _ in range(threads.WORKERS)]
    loads = [0] * threads.WORKERS
    for spec in sorted(specs, key=lambda s: -sizes[s.entity]):
        lane = loads.index(min(loads))
        lanes[lane].append(spec)
        loads[lane] += sizes[spec.entity]
    started: queue.SimpleQueue[schema.FileSpec] = queue.SimpleQueue()
    own = {spec.entity: findings.child() for spec in specs}

    def lane(specs: list[schema.FileSpec]) -> dict[str, pa.Table | None]:
        out = {}
        for spec in specs:
            started.put(spec)
            out[spec.entity] = read_one(spec, own[spec.entity])
            _release()
        return out

    done = 0

    def tell(spec: schema.FileSpec) -> None:
        nonlocal done
        if on_file is not None:
            on_file(files[spec.filename].found_as, done, sum(sizes.values()))
        done += sizes[spec.entity]

    with ThreadPoolExecutor(threads.WORKERS, thread_name_prefix="rollbook-files") as pool:
        futures = [pool.submit(lane, specs) for specs in lanes if specs]
        while not all(f.done() for f in futures):
            with contextlib.suppress(queue.Empty):
                tell(started.get(timeout=0.1))
        while not started.empty():
            tell(started.get())
        read: dict[str, pa.Table | None] = {}
        for future in futures:
            read |= future.result()
    for spec in specs:  # in the files' order, whichever lane read them
        findings.merge(own[spec.entity])
    return read


def _release() -> None:
    """Hand freed Arrow memory back to the OS between stages.

    jemalloc keeps freed pages for reuse; with the large, differently sized buffers of each
    stage they are mostly not reused, and RSS ran ~0.5 GB above the live Arrow data.
    """
    pa.default_memory_pool().release_unused()


def _version(
    bundle: Bundle, manifest: Manifest | None, findings: Findings
) -> tuple[str, str | None]:
    if manifest is None:
        findings.add(
            "OR-MANIFEST-MISSING",
            "there is no manifest.csv, so the bundle was read "
            "as OneRoster 1.0 (no modes: every file is read as bulk).",
        )
        return schema.V10, None
    if not manifest.has_header:
        findings.add(
            "OR-MANIFEST-HEADER",
            "manifest.csv has no `propertyName,value` header line.",
            file="manifest.csv",
            line=1,
        )
    for line, text in manifest.bad_rows:
        findings.add(
            "OR-MANIFEST-PROPERTY",
            f"manifest.csv line {line}: {text!r} is not a `name,value` row; ignored.",
            file="manifest.csv",
            line=line,
        )
    declared = manifest.properties.get("oneroster.version")
    if declared in (schema.V11, schema.V12):
        return declared, declared
    lower = {n.lower() for n in bundle.files}
    guess = schema.V12 if "roles.csv" in lower else schema.V11
    if guess == schema.V11 and "users.csv" in lower:
        header = Path(bundle.files[next(n for n in bundle.files if n.lower() == "users.csv")])
        with open(header, "rb") as f:
            first = f.readline(65536)
        if b"primaryOrgSourcedId" in first or b"orgSourcedIds" not in first:
            guess = schema.V12
    findings.add(
        "OR-MANIFEST-VERSION",
        f"oneroster.version is {declared!r}, not 1.1 or 1.2; "
        f"the files look like {guess} and were read as such.",
        file="manifest.csv",
        line=manifest.lines.get("oneroster.version"),
        column="oneroster.version",
    )
    return guess, declared


def _modes(
    manifest: Manifest | None,
    version: str,
    present: dict[str, str],
    files: dict[str, FileInfo],
    findings: Findings,
) -> None:
    """Per-file mode from the manifest, compared with the files present."""
    props = manifest.properties if manifest else {}
    if manifest is not None:
        known = set(schema.MANIFEST_FILES[schema.V12]) | set(schema.MANIFEST_OTHER_KEYS)
        for key in props:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                findings.add(
                    "OR-MANIFEST-PROPERTY",
                    f"manifest.csv: unknown property `{key}`{hint}; ignored.",
                    file="manifest.csv",
                    line=manifest.lines.get(key),
                    column=key,
                )
        needed = schema.MANIFEST_FILES.get(version, ()) + ("manifest.version",)
        missing = [k for k in needed if k not in props]
        if missing:
            findings.add(
                "OR-MANIFEST-INCOMPLETE",
                f"manifest.csv lacks {', '.join(missing)}.",
                file="manifest.csv",
            )
    for spec in schema.ROSTER_FILES:
        info = FileInfo(spec.filename, found_as=present.get(spec.filename))
        files[spec.filename] = info
        if version not in spec.versions:
            continue
        raw = props.get(spec.manifest_key)
        info.declared = raw
        mode = (raw or "").strip().lower()
        here = info.found_as is not None
        if manifest is None:
            info.mode = "bulk" if here else "absent"
            continue
        if raw is not None and mode not in MODES:
            findings.add(
                "OR-MANIFEST-MODE",
                f"manifest.csv: {spec.manifest_key} is {raw!r}, "
                "not absent, bulk or delta; " + ("read as bulk." if here else "read as absent."),
                file="manifest.csv",
                line=manifest.lines.get(spec.manifest_key),
                column=spec.manifest_key,
            )
            info.mode = "bulk" if here else "absent"
        elif mode in ("bulk", "delta") and not here:
            findings.add(
                "OR-FILE-MISSING",
                f"manifest.csv declares {spec.filename} as {mode} "
                "but the file is not in the bundle; treated as absent.",
                file=spec.filename,
            )
            info.mode = "absent"
        elif here and mode in ("", "absent"):
            findings.add(
                "OR-FILE-UNDECLARED",
                f"{spec.filename} is in the bundle but "
                + ("declared absent" if mode else "not declared")
                + " in "
                "manifest.csv; it was read as bulk.",
                file=info.found_as,
            )
            info.mode = "bulk"
        else:
            info.mode = mode if mode in MODES else "absent"


def _read_file(
    path: Path,
    info: FileInfo,
    spec: schema.FileSpec,
    version: str,
    encoding: str | None,
    findings: Findings,
    has_manifest: bool,
    zeros: _Zeros,
    columns: dict[str, dict[str, str]],
) -> pa.Table | None:
    display = info.found_as or spec.filename
    try:
        encoding = prescan(path, display, encoding, findings)  # a byte-order mark's
        header, first_row = read_header(path, display, encoding, findings)
        hmap = map_header(header, first_row, spec, version, display, findings)
        quotes = scan_quoting(path, display, encoding, findings, header)
        info.lines_are_records = quotes.lines_are_records
        raw = zeros.compact(
            read_table(
                path, display, spec, version, hmap, encoding, findings, quotes.quoted_newlines
            )
        )
    except FileRejected:
        info.state = "rejected"
        return None
    info.rows_read = raw.num_rows
    info.metadata_columns = [c for c in raw.column_names if c.startswith("metadata.")]
    if raw.num_rows == 0:
        info.state = "empty"
        findings.add(
            "OR-FILE-EMPTY",
            f"{display} has no data rows (declared {info.mode}); it was treated as absent.",
            file=display,
        )
        return None
    info.state = "read"
    mode = info.mode if has_manifest else "none"
    spelled = columns[spec.entity] = {
        name: header[i].strip() for name, i in hmap.fields.items() if i < len(header)
    }
    typed, rejected = check_file(raw, spec, version, mode, display, findings, spelled)
    rejected = pc.or_(rejected, check_lengths(typed, spec, display, findings))  # limits.py
    del raw
    n_rej = pc.sum(rejected.cast(pa.int64())).as_py() or 0
    info.rows_rejected = n_rej
    return zeros.compact(typed.filter(pc.invert(rejected)) if n_rej else typed)


class _Zeros:
    """One zeroed Arrow buffer, shared by every all-null column of the read.

    A column with no value at all (e.g. the unused 1.2 columns of users.csv, or an empty
    status/date column of enrollments.csv) otherwise keeps its own offsets or values buffer:
    ~10-36 MB per column at L scale. Slices of one zero buffer serve as validity bitmap
    (all null), offsets (all 0) and values of every such column; types are unchanged.
    """

    def __init__(self) -> None:
        self.buf: pa.Buffer | None = None

    def get(self, nbytes: int) -> pa.Buffer:
        if self.buf is None or self.buf.size < nbytes:
            self.buf = pa.nulls(nbytes // 8 + 1, pa.int64()).buffers()[1]  # zero-filled
        return self.buf.slice(0, nbytes)

    def nulls(self, typ: pa.DataType, n: int) -> pa.Array | None:
        """An all-null array of ``typ`` backed by the shared zeros (None: type not handled)."""
        bitmap = self.get((n + 7) // 8)
        if pa.types.is_string(typ):
            return pa.Array.from_buffers(
                typ, n, [bitmap, self.get(4 * (n + 1)), pa.py_buffer(b"")], null_count=n
            )
        if pa.types.is_list(typ) and pa.types.is_string(typ.value_type):
            child = pa.array([], typ.value_type)
            return pa.Array.from_buffers(
                typ, n, [bitmap, self.get(4 * (n + 1))], null_count=n, children=[child]
            )
        if pa.types.is_boolean(typ):
            return pa.Array.from_buffers(typ, n, [bitmap, bitmap], null_count=n)
        if pa.types.is_integer(typ) or pa.types.is_temporal(typ):
            width = typ.bit_width // 8
            return pa.Array.from_buffers(typ, n, [bitmap, self.get(width * n)], null_count=n)
        return None

    def compact(self, table: pa.Table) -> pa.Table:
        """``table`` with every all-null column re-pointed at the shared zeros."""
        n = table.num_rows
        if not n:
            return table
        for i, field in enumerate(table.schema):
            col = table.column(i)
            if col.null_count != n or col.nbytes <= (n + 7) // 8 + 64:
                continue
            arr = self.nulls(field.type, n)
            if arr is not None:
                table = table.set_column(i, field, arr)
        return table


def _empty(spec: schema.FileSpec, version: str) -> pa.Table:
    cols = {c.name: pa.array([], pa.string()) for c in spec.columns}
    cols[LINE] = pa.array([], pa.int32())
    typed, _ = check_file(pa.table(cols), spec, version, "absent", spec.filename, Findings())
    return typed
