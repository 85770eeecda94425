"""Paging through one collection: limit/offset, ``X-Total-Count``, ``Link: rel="next"``.

:class:`Pager` decides the next request from each page and refuses what would lose records
silently:

- a ``Link`` next page is followed (same server only: credentials are never sent elsewhere);
  a link already visited is a loop;
- a SIS that gave next links ends when a page has none; without links, ``offset`` grows by
  the records actually received (servers may cap ``limit``) until an empty page, or until
  ``X-Total-Count`` is reached;
- a page identical to the one before is a server ignoring ``offset``: acceptable only on the
  second page when the first was not a full page (everything came at once), else an error;
- more pages than ``max_pages`` is an error (a runaway server);
- at the end, a count different from ``X-Total-Count``, or a sourcedId seen on two different
  pages (paging that shifted under us, so others may have been skipped), is an error.

Duplicate sourcedIds are tracked as 64-bit hashes with their page number (12 bytes a record)
and compared once at the end with Arrow, so a 7M-row collection costs ~84 MB, not a set of
strings.
"""

from __future__ import annotations

from array import array
from urllib.parse import urljoin, urlsplit

import httpx2
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from .errors import FetchFailed
from .mapping import Collection

_SAME_PAGE_HINT = (
    "The SIS seems to ignore the offset parameter; ask its vendor how to page, or lower the "
    "page size."
)


class IdLedger:
    """The sourcedIds seen so far (as hashes) and the page each came on."""

    def __init__(self) -> None:
        self.hashes = array("Q")
        self.pages = array("I")

    def add(self, ids: list[str], page: int) -> None:
        self.hashes.extend(map(xxhash.xxh3_64_intdigest, map(str.encode, ids)))
        self.pages.extend([page] * len(ids))

    def across_pages(self) -> tuple[int, tuple[int, int] | None]:
        """How many sourcedIds came on two different pages, and one such pair of pages."""
        n = len(self.hashes)
        if n < 2:
            return 0, None
        hashes = pa.Array.from_buffers(pa.uint64(), n, [None, pa.py_buffer(self.hashes)])
        pages = pa.Array.from_buffers(pa.uint32(), n, [None, pa.py_buffer(self.pages)])
        order = pc.sort_indices(hashes)
        hashes, pages = hashes.take(order), pages.take(order)
        same = pc.and_(
            pc.equal(hashes.slice(1), hashes.slice(0, n - 1)),
            pc.not_equal(pages.slice(1), pages.slice(0, n - 1)),
        )
        count = pc.sum(same).as_py() or 0
        if not count:
            return 0, None
        first = pc.index(same, True).as_py()
        a, b = pages[first].as_py(), pages[first + 1].as_py()
        return count, (min(a, b), max(a, b))


class Pager:
    """The paging state of one collection."""

    def __init__(
        self,
        collection: Collection,
        base_url: str,
        page_size: int,
        max_pages: int,
        filter_expr: str | None = None,
    ) -> None:
        self.collection = collection
        self.page_size = page_size
        self.max_pages = max_pages
        self._url = base_url.rstrip("/") + "/" + collection.path
        self._origin = _origin(base_url)
        self._filter = filter_expr
        self.page = 0  # pages received
        self.offset = 0
        self.count = 0  # records received
        self.total: int | None = None
        self.next_url: str | None = self.url_for(0)
        self._visited: set[str] = set()
        self._previous_ids: list[str] | None = None
        self._first_size = 0
        self._unpaged = False
        self._linked = False  # the SIS pages with Link headers: no link means the end
        self.ledger = IdLedger()

    def url_for(self, offset: int, limit: int | None = None) -> str:
        """The URL of the page at ``offset``."""
        params: dict[str, str | int] = {"limit": limit or self.page_size, "offset": offset}
        if self._filter:
            params["filter"] = self._filter
        return str(httpx2.URL(self._url, params=params))

    def fail(self, reason: str, hint: str = "", page: int | None = None) -> FetchFailed:
        """A :class:`FetchFailed` about the page being read (by default the last counted)."""
        page = page or self.page or 1
        return FetchFailed(reason, hint, collection=self.collection.path, page=page)

    def records(self, data: object) -> list[dict]:
        """The records of a parsed page body, from whichever envelope key the SIS used."""
        if not isinstance(data, dict):
            raise self.fail(
                f"the answer is a JSON {type(data).__name__}, not an object holding "
                f"{self.collection.envelope[0]!r}",
                "Check the base URL: it should end with /ims/oneroster/v1p1 or "
                "/ims/oneroster/rostering/v1p2 (or the vendor's equivalent).",
                page=self.page + 1,
            )
        found = None
        for key in self.collection.envelope:
            if key in data:
                found = data[key]
                break
        else:
            lower = {k.lower(): k for k in data if isinstance(k, str)}
            for key in self.collection.envelope:
                if key.lower() in lower:
                    found = data[lower[key.lower()]]
                    break
            else:
                keys = ", ".join(sorted(map(str, data))[:5]) or "none"
                raise self.fail(
                    f"the answer has no {self.collection.envelope[0]!r} list (keys found: {keys})",
                    "Check the base URL and the OneRoster version of the source.",
                    page=self.page + 1,
                )
        if found is None:
            return []
        if isinstance(found, dict):
            found = [found]
        if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
            raise self.fail(
                f"{self.collection.envelope[0]!r} is not a list of records",
                "The SIS's answer does not follow the OneRoster REST binding; tell its vendor.",
                page=self.page + 1,
            )
        return found

    def take(
        self, data: object, headers: httpx2.Headers, url: str, link: str | None = None
    ) -> list[dict]:
        """Account for one page; returns its records (none when it repeats the one before).

        ``link``: the ``rel="next"`` target of the page's ``Link`` header, if any.
        """
        records = self.records(data)
        ids = [r.get("sourcedId") for r in records]
        if not all(i.__class__ is str for i in ids):
            ids = [i if isinstance(i, str) else str(i) for i in ids if i is not None]
        return records if self.account(ids, len(records), headers, url, link) else []

    def account(
        self, ids: list[str], count: int, headers: httpx2.Headers, url: str, link: str | None
    ) -> bool:
        """Account for a page of ``count`` records; ``False`` when it is to be dropped."""
        self.page += 1
        self._visited.add(url)
        total = _int(headers.get("X-Total-Count"))
        if total is not None:
            self.total = total
        if link is not None:
            link = urljoin(url, link)
        if count and self._previous_ids is not None and ids == self._previous_ids:
            paged = link is not None or self.total is not None
            if self.page == 2 and not paged and self._first_size != self.page_size:
                self._unpaged = True  # the whole collection came on the first page
                self.next_url = None
                return False
            raise self.fail(f"this page repeats page {self.page - 1}", _SAME_PAGE_HINT)
        if self.page == 1:
            self._first_size = count
        self._previous_ids = ids
        self.ledger.add(ids, self.page)
        self.count += count
        self.next_url = self._next(count, link)
        if self.next_url is not None and self.page >= self.max_pages:
            raise self.fail(
                f"more than {self.max_pages:,} pages",
                "Raise the page size or the page limit of the source if the SIS is that large.",
            )
        return True

    def _next(self, count: int, link: str | None) -> str | None:
        if not count:
            return None
        self.offset += count
        if link is not None:
            if _origin(link) != self._origin:
                raise self.fail(
                    f"the next-page link points to another server ({urlsplit(link).netloc})",
                    "It was not followed, so that the credentials go nowhere else; tell the "
                    "SIS's vendor.",
                )
            if link in self._visited:
                raise self.fail(
                    "the next-page link leads back to a page already read (a loop)",
                    "Tell the SIS's vendor; its Link headers are wrong.",
                )
            self._linked = True
            return link
        if self._linked:
            return None
        if self.total is not None and self.offset >= self.total:
            return None
        return self.url_for(self.offset)

    def finish(self) -> None:
        """Check the collection as a whole once its last page was read."""
        if self.total is not None and not self._unpaged and self.count != self.total:
            raise FetchFailed(
                f"the SIS announced {self.total:,} records (X-Total-Count) but served "
                f"{self.count:,}",
                "Records changed while they were read, or the SIS pages wrongly; run the "
                "fetch again.",
                collection=self.collection.path,
            )
        repeated, pages = self.ledger.across_pages()
        if repeated:
            raise FetchFailed(
                f"{repeated:,} sourcedId(s) came on two different pages (e.g. pages "
                f"{pages[0]} and {pages[1]})",
                "The SIS's paging shifted while it was read, so other records may have been "
                "skipped; run the fetch again, and if it repeats ask the vendor for a stable "
                "sort order.",
                collection=self.collection.path,
            )


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
