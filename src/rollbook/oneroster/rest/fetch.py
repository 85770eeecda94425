"""A whole fetch: every rostering collection, concurrently, into one OneRoster CSV bundle.

``fetch_bundle(source, out)`` either writes a complete bundle folder at ``out`` (manifest,
CSV files, ``fetch.json``) and returns a :class:`FetchReport`, or raises :class:`FetchFailed`
and leaves nothing at ``out``. The bundle is then read by ``oneroster.read_bundle`` like any
CSV export. With ``since``, only records modified after it are asked for
(``filter=dateLastModified>'…'``) and the files are declared ``delta``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import time
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import columnar, mapping
from .paging import Pager
from .session import FetchOptions, NotOffered, RestSource, Session, log
from .writer import BundleWriter

_GC_THRESHOLD = 50_000


@dataclass
class CollectionReport:
    """What one collection gave."""

    records: int = 0
    pages: int = 0
    total: int | None = None  # X-Total-Count, when the SIS sent it
    offered: bool = True
    note: str = ""
    pages_by_record: int = 0  # pages the columnar path left to the record-by-record mapping


@dataclass
class FetchReport:
    """What a fetch did (also written as ``fetch.json`` in the bundle)."""

    base_url: str
    version: str
    mode: str  # "bulk" | "delta"
    since: str | None
    started_at: str
    finished_at: str = ""
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    tokens: int = 0
    collections: dict[str, CollectionReport] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # manifest modes
    path: str = ""

    @property
    def records(self) -> int:
        """Records received over all collections."""
        return sum(c.records for c in self.collections.values())

    def to_dict(self) -> dict:
        """JSON-ready."""
        data = asdict(self)
        data["records"] = self.records
        return data


def filter_since(since: datetime) -> str:
    """The ``filter`` expression for records modified after ``since`` (UTC, milliseconds)."""
    if since.tzinfo is None:
        raise ValueError("since must be an aware datetime (e.g. in UTC)")
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return f"dateLastModified>'{stamp}'"


def fetch_bundle(
    source: RestSource,
    out: str | Path,
    *,
    since: datetime | None = None,
    options: FetchOptions | None = None,
) -> FetchReport:
    """Fetch every rostering collection of ``source`` into a new bundle folder ``out``.

    Raises:
        FetchFailed: the fetch did not complete (nothing is left at ``out``).
        FileExistsError: ``out`` already exists.
    """
    options = options or FetchOptions()
    writer = BundleWriter(Path(out), source.version, "delta" if since else "bulk")
    try:
        with _young_objects_collected_less_often():
            report = run(_fetch(source, writer, since, options))
        report.files = writer.finish()
        report.path = str(writer.out)
        writer.write_json("fetch.json", report.to_dict())
        writer.publish()
    except BaseException:
        writer.discard()
        raise
    return report


@contextlib.contextmanager
def _young_objects_collected_less_often() -> Iterator[None]:
    """Raise the garbage collector's first threshold while pages are parsed.

    Each page is thousands of fresh dicts and lists (JSON has no cycles); with the default
    threshold of 700 the collector ran dozens of times a page and doubled the parse time of
    users (measured 17.5 -> 8.0 µs a record). Restored afterwards (it is process-wide).
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], _GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def run(coro: Coroutine):
    """Run ``coro`` to the end from synchronous code (in a thread if a loop already runs here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _fetch(
    source: RestSource, writer: BundleWriter, since: datetime | None, options: FetchOptions
) -> FetchReport:
    started = time.monotonic()
    report = FetchReport(
        base_url=source.base_url,
        version=source.version,
        mode=writer.mode,
        since=since.astimezone(UTC).isoformat() if since else None,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    expr = filter_since(since) if since else None
    async with Session(source, options) as session:
        await session.sign_in()
        tasks = []
        for collection in mapping.COLLECTIONS:
            entry = report.collections[collection.path] = CollectionReport()
            if collection is mapping.DEMOGRAPHICS and session.demographics_scope_refused():
                entry.offered = False
                entry.note = "the token endpoint does not grant the demographics scope"
                continue
            tasks.append(asyncio.create_task(_collection(session, writer, collection, entry, expr)))
        await _all_or_nothing(tasks)
        report.requests, report.retries, report.bytes = (
            session.requests,
            session.retries,
            session.bytes,
        )
        report.tokens = getattr(session.auth, "tokens_fetched", 0)
    report.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    report.seconds = round(time.monotonic() - started, 3)
    log.info(
        "fetched %d records from %s in %.1f s (%d requests, %d retries)",
        report.records,
        source.base_url,
        report.seconds,
        report.requests,
        report.retries,
    )
    return report


async def _all_or_nothing(tasks: list[asyncio.Task]) -> None:
    """Wait for every task; at the first failure cancel the others and raise it."""
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    failed = [t for t in done if t.exception() is not None]
    if failed:
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        raise failed[0].exception()


async def _collection(
    session: Session,
    writer: BundleWriter,
    collection: mapping.Collection,
    entry: CollectionReport,
    expr: str | None,
) -> None:
    options = session.options
    version = session.source.version
    pager = Pager(collection, session.source.base_url, options.page_size, options.max_pages, expr)
    sink = writer.open(collection.file)
    make_row = mapping.row_maker(sink.columns)
    roles = writer.open("roles") if collection is mapping.USERS and version == "1.2" else None
    role_columns = roles.columns if roles is not None else None

    def fast(body: bytes) -> columnar.Columns:
        if not options.columnar:
            raise columnar.Unsupported("off")
        return columnar.convert(body, collection, sink.columns, role_columns)

    while pager.next_url is not None:
        url = pager.next_url
        try:
            page = await session.get(collection, pager.page + 1, url, fast)
        except NotOffered as exc:
            if pager.page:  # it served pages before: a missing page is a failure
                raise pager.fail(
                    f"the SIS stopped serving it (HTTP {exc.status})", page=pager.page + 1
                ) from None
            writer.not_offered(collection.file)
            entry.offered = False
            entry.note = f"not offered by this SIS (HTTP {exc.status})"
            return
        if isinstance(page.data, columnar.Columns):
            done = page.data
            if pager.account(done.ids, len(done), page.headers, url, page.next_link):
                sink.write_table(done.rows)
                if roles is not None and done.roles is not None:
                    roles.write_table(done.roles)
        else:
            records = pager.take(page.data, page.headers, url, page.next_link)
            _write_records(records, sink, make_row, roles)
            entry.pages_by_record += 1
        entry.records, entry.pages, entry.total = pager.count, pager.page, pager.total
        if options.on_progress is not None:
            options.on_progress(collection.path, pager.count, pager.total)
    pager.finish()
    entry.records, entry.pages, entry.total = pager.count, pager.page, pager.total


def _write_records(records: list[dict], sink, make_row, roles) -> None:
    """The record-by-record path (pages the columnar path does not take)."""
    first = sink.rows
    sink.write([make_row(r) for r in records])
    for i, record in enumerate(records):
        if "metadata" in record:
            meta = mapping.flat_metadata(record)
            if meta:
                sink.metadata(first + i, meta)
    if roles is not None:
        roles.write([row for r in records for row in mapping.role_rows(r)])
