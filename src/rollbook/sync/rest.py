"""A REST source's extract stage: fetch the SIS into a CSV bundle kept beside the run, read it.

``RestExtract`` is a ``pipeline.Extract``. Its ``digest()`` fetches (``oneroster.rest.
fetch_bundle``) into ``ROLLBOOK_HOME/fetches/<source id>/<UTC time>/``; ``read()`` is the CSV
reader on that folder — the same tables and findings as a CSV export (decision 0010). A fetch
that does not complete leaves no folder and fails the run with its reason
(``pipeline.ExtractFailed``): nothing is applied.

Deltas and reconciles (``plan_fetch``): a source that has had a successful fetch (its run
applied, or skipped as identical) asks the SIS only for what changed since that fetch began
(``filter=dateLastModified>'…'``, a few minutes earlier for clocks that disagree; a record
fetched twice is unchanged to the sync). Every ``reconcile_days`` days (7 by default), and
for the first fetch, everything is fetched instead: the files are bulk, so whatever the SIS no
longer has is archived. Deletions the SIS marks ``tobedeleted`` archive in both.

Fetches are kept ``ROLLBOOK_FETCH_KEEP_DAYS`` days (30 by default; the newest few of a source
and those a held or planned run read are kept longer): ``prune``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import xxhash
from django.conf import settings
from django.utils import timezone

from rollbook.errors import UserError
from rollbook.oneroster import read_bundle
from rollbook.oneroster.model import ReadResult
from rollbook.oneroster.rest import (
    ConnectionReport,
    FetchFailed,
    FetchOptions,
    FetchReport,
    fetch_bundle,
    test_connection,
)

from . import credentials
from .digests import records_digest
from .models import SyncRun, SyncSource
from .pipeline import ExtractFailed
from .progress import Progress, as_progress, reading

log = logging.getLogger(__name__)

#: Deltas ask for changes since the last fetch began, this much earlier (clock differences).
OVERLAP = dt.timedelta(minutes=5)
#: Fetches of a source always kept, whatever their age (the newest ones).
KEEP_NEWEST = 3
SUCCESSFUL = (SyncRun.Status.APPLIED, SyncRun.Status.SKIPPED)


def fetches_root() -> Path:
    return Path(settings.ROLLBOOK_HOME) / "fetches"


def keep_days() -> int:
    configured = getattr(settings, "ROLLBOOK_FETCH_KEEP_DAYS", None)
    return int(configured or os.environ.get("ROLLBOOK_FETCH_KEEP_DAYS") or 30)


# --- full or delta ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchPlan:
    """What the next fetch asks for: everything (``since`` None) or the changes since."""

    since: dt.datetime | None
    why: str

    @property
    def full(self) -> bool:
        return self.since is None


def _fetched(source: SyncSource) -> list[dict]:
    """The fetches of the source's successful runs, newest first."""
    found = []
    for stats in (
        source.runs.filter(status__in=SUCCESSFUL).order_by("-pk").values_list("stats", flat=True)
    ):
        fetch = (stats or {}).get("fetch")
        if fetch and fetch.get("started_at"):
            found.append(fetch)
    return found


def plan_fetch(
    source: SyncSource, *, full: bool | None = None, now: dt.datetime | None = None
) -> FetchPlan:
    """Full or delta for the source's next fetch (``full`` forces one or the other)."""
    now = now or timezone.now()
    fetched = _fetched(source)
    if full is True:
        return FetchPlan(None, "a full fetch was asked for")
    if not fetched:
        return FetchPlan(None, "the source's first successful fetch is a full one")
    last_full = next((f for f in fetched if f.get("mode") == "bulk"), None)
    since = dt.datetime.fromisoformat(fetched[0]["started_at"]) - OVERLAP
    if full is False:
        return FetchPlan(since, "changes only, as asked")
    if last_full is None:
        return FetchPlan(None, "no full fetch yet: a full reconcile")
    age = now - dt.datetime.fromisoformat(last_full["started_at"])
    if age >= dt.timedelta(days=source.reconcile_days):
        return FetchPlan(
            None,
            f"the weekly reconcile: the last full fetch is {age.days} day(s) old "
            f"(every {source.reconcile_days})",
        )
    return FetchPlan(since, "changes since the last successful fetch")


# --- the extract ------------------------------------------------------------------------------


def csv_digest(folder: Path) -> str:
    """xxh3-128 over the bundle's CSV files (names and bytes), without the fetch's own report
    (``fetch.json``, its times differ at every fetch): two fetches of the same data are equal,
    and the second is skipped like an identical export."""
    digest = xxhash.xxh3_128()
    for item in sorted(folder.glob("*.csv")):
        digest.update(item.name.encode())
        with item.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def new_folder(source: SyncSource, now: dt.datetime | None = None) -> Path:
    stamp = (now or timezone.now()).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return fetches_root() / str(source.pk) / stamp


@dataclass
class RestExtract:
    """The extract stage of a REST source (``pipeline.Extract``)."""

    source: SyncSource
    folder: Path
    plan: FetchPlan
    options: FetchOptions | None = None
    progress: Progress | None = None
    report: FetchReport | None = None
    run_stats: dict = field(default_factory=dict)  # the pipeline puts these on the run

    @property
    def location(self) -> str:
        return str(self.folder)

    def exists(self) -> bool:
        return True  # a REST source is always there to ask; a fetch that fails says why

    def digest(self) -> str:
        if self.report is None:
            self._fetch()
        return csv_digest(self.folder)

    def records_digest(self) -> str | None:
        return records_digest(self.folder, csv_only=True)

    def read(self, progress: Progress) -> ReadResult:
        if self.report is None:
            self._fetch()
        return read_bundle(self.folder, on_file=reading(progress))

    def _fetch(self) -> None:
        progress = as_progress(self.progress)
        try:
            rest = credentials.rest_source(self.source)
        except UserError as exc:
            raise ExtractFailed(str(exc)) from None
        started = timezone.now()
        kind = "everything" if self.plan.full else "changes only"
        progress.update(step=f"fetching from the SIS ({kind})")
        try:
            report = _fetch_watched(rest, self.folder, self.plan.since, self.options, progress)
        except FetchFailed as exc:
            log.warning("source %s: %s", self.source.pk, exc.message())
            raise ExtractFailed(exc.message()) from None
        self.report = report
        details = report.to_dict()
        details.pop("path", None)
        self.run_stats = {
            "fetch": details
            | {"started_at": started.isoformat(), "why": self.plan.why, "folder": str(self.folder)}
        }
        prune(self.source)


def _fetch_watched(rest, folder: Path, since, options, progress: Progress) -> FetchReport:
    """``fetch_bundle`` on a thread of its own while this one reports how far it got (the
    fetch's progress callback runs inside its event loop, where Django may not be called)."""
    seen: dict[str, tuple[int, int | None]] = {}
    base = options or FetchOptions()

    def on_progress(collection: str, records: int, total: int | None) -> None:
        seen[collection] = (records, total)

    from dataclasses import replace

    options = replace(base, on_progress=on_progress)
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["report"] = fetch_bundle(rest, folder, since=since, options=options)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="rest-fetch", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(1.0)
        if seen:
            records = sum(r for r, _ in seen.values())
            progress.update(step=f"fetching from the SIS: {records:,} records so far")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["report"]


def extract_for(
    source: SyncSource,
    *,
    full: bool | None = None,
    options: FetchOptions | None = None,
    progress: Progress | None = None,
) -> RestExtract:
    """The extract of the source's next run: full or delta (``plan_fetch``), into a new folder."""
    plan = plan_fetch(source, full=full)
    return RestExtract(source, new_folder(source), plan, options, progress)


def fetch_to(source: SyncSource, out: Path, *, full: bool = True, options=None) -> FetchReport:
    """``rollbook source fetch``: the source fetched by hand into ``out`` (full by default)."""
    plan = plan_fetch(source, full=bool(full))
    try:
        return fetch_bundle(credentials.rest_source(source), out, since=plan.since, options=options)
    except FetchFailed as exc:
        raise UserError(exc.message()) from None


# --- retention --------------------------------------------------------------------------------


def prune(source: SyncSource, now: dt.datetime | None = None) -> list[Path]:
    """Remove the source's fetches older than ``keep_days()``, except its newest few and those
    a held or planned run read (still to be approved or looked at). Returns what was removed."""
    root = fetches_root() / str(source.pk)
    if not root.is_dir():
        return []
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=keep_days())
    waiting = set(
        source.runs.filter(status__in=[SyncRun.Status.HELD, SyncRun.Status.PLANNED]).values_list(
            "bundle", flat=True
        )
    )
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
    removed = []
    for folder in folders[:-KEEP_NEWEST] if len(folders) > KEEP_NEWEST else []:
        modified = dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.UTC)
        if modified >= cutoff or str(folder) in waiting:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        log.info(
            "source %s: %d fetch(es) older than %d days removed",
            source.pk,
            len(removed),
            keep_days(),
        )
    return removed


def check_connection(source: SyncSource, options: FetchOptions | None = None) -> ConnectionReport:
    """ "Test connection": sign in, read one page of each collection (never raises for what the
    SIS does; a secret that cannot be decrypted is a problem in the report too)."""
    try:
        rest = credentials.rest_source(source)
    except UserError as exc:
        return ConnectionReport(source=source.name, problems=[str(exc)])
    return test_connection(rest, options)


def connection_lines(report: ConnectionReport) -> list[str]:
    """The report in plain sentences: signed in or not, each collection's count, problems."""
    lines = [("Signed in" if report.signed_in else "Could not sign in") + f" to {report.source}."]
    for check in report.collections:
        if not check.offered:
            lines.append(f"{check.collection}: not offered by this SIS (that is allowed).")
        elif check.ok:
            count = f"{check.total:,} in all" if check.total is not None else "count not sent"
            lines.append(f"{check.collection}: readable ({count}).")
    lines += report.problems
    lines.append("Everything needed can be read." if report.ok else "Fix the problems above.")
    return lines
