"""“Test connection”: sign in, read one page of each collection, say what was found.

``test_connection(source)`` never raises for what the SIS does: every problem becomes a
sentence in the report (the same sentences a fetch would fail with), so that an administrator
setting up a source sees at once whether the address, the credentials and the scopes work.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field, replace

from . import mapping
from .errors import FetchFailed
from .fetch import run
from .paging import Pager
from .retry import RetryPolicy
from .session import FetchOptions, NotOffered, RestSource, Session

#: Records asked for on the one page read from each collection.
SAMPLE = 5


@dataclass
class CollectionCheck:
    """One collection as the test saw it."""

    collection: str
    ok: bool
    offered: bool = True
    total: int | None = None  # X-Total-Count, when given
    on_first_page: int = 0
    problem: str = ""


@dataclass
class ConnectionReport:
    """The result of a connection test."""

    source: str  # RestSource.describe()
    signed_in: bool = False
    collections: list[CollectionCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Signed in and every collection that is offered could be read."""
        return self.signed_in and not self.problems

    def to_dict(self) -> dict:
        """JSON-ready."""
        data = asdict(self)
        data["ok"] = self.ok
        return data


def test_connection(source: RestSource, options: FetchOptions | None = None) -> ConnectionReport:
    """Sign in to ``source`` and read the first page of each rostering collection."""
    options = options or FetchOptions(timeout=20.0, retry=RetryPolicy(attempts=2))
    options = replace(options, page_size=SAMPLE, on_progress=None)
    return run(_test(source, options))


test_connection.__test__ = False  # not a pytest test, despite its name


async def _test(source: RestSource, options: FetchOptions) -> ConnectionReport:
    report = ConnectionReport(source=source.describe())
    async with Session(source, options) as session:
        try:
            await session.sign_in()
        except FetchFailed as exc:
            report.problems.append(exc.message())
            return report
        checks = await asyncio.gather(*(_check(session, c) for c in reversed(mapping.COLLECTIONS)))
    report.collections = list(checks)
    report.signed_in = not any(c.problem and "HTTP 401" in c.problem for c in checks)
    report.problems = [c.problem for c in checks if c.problem]
    if session.demographics_scope_refused():
        for check in report.collections:
            if check.collection == "demographics":
                check.offered, check.ok = False, True
                check.problem = ""
    return report


async def _check(session: Session, collection: mapping.Collection) -> CollectionCheck:
    check = CollectionCheck(collection.path, ok=False)
    pager = Pager(collection, session.source.base_url, SAMPLE, 1)
    try:
        page = await session.get(collection, 1, pager.url_for(0))
        records = pager.records(page.data)
    except NotOffered:
        check.ok, check.offered = True, False
        return check
    except FetchFailed as exc:
        check.problem = exc.message()
        return check
    check.ok = True
    check.on_first_page = len(records)
    total = page.headers.get("X-Total-Count", "").strip()
    check.total = int(total) if total.isdigit() else None
    return check
