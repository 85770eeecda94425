"""A REST source and one session with it: the httpx2 client, the request limit, page GETs.

:class:`RestSource` says where and how to connect; :class:`FetchOptions` how hard to push;
:class:`Session` does the requests: at most ``concurrency`` in flight, each retried per the
:class:`~.retry.RetryPolicy`, each answer turned into parsed JSON or a :class:`FetchFailed`
naming the collection, page and status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx2
import orjson

from . import retry
from .auth import OAuth2ClientCredentialsAuth, make_auth
from .columnar import Unsupported
from .credentials import Credentials
from .errors import FetchFailed, status_summary
from .mapping import Collection

log = logging.getLogger("rollbook.rest")

VERSIONS = ("1.1", "1.2")
_BASE_HINT = (
    "Check the base URL: it usually ends with /ims/oneroster/v1p1 (1.1) or "
    "/ims/oneroster/rostering/v1p2 (1.2)."
)


@dataclass(frozen=True)
class RestSource:
    """A OneRoster REST service: its base URL (with any vendor prefix), version, credentials."""

    base_url: str
    version: str
    credentials: Credentials

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "the base URL must be an http(s) address, e.g. https://sis.example/ims/oneroster/v1p1"
            )
        if parts.username or parts.password:
            raise ValueError(
                "the base URL must not hold a user name or password; use the credentials"
            )
        if parts.query or parts.fragment:
            raise ValueError("the base URL must not have a query (?...) or fragment (#...)")
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}")

    def describe(self) -> str:
        """Plain words for an administrator (no secret)."""
        return f"OneRoster {self.version} at {self.base_url} with {self.credentials.describe()}"


@dataclass(frozen=True)
class FetchOptions:
    """How a fetch talks to the SIS.

    ``concurrency``: requests in flight at most; ``page_size``: the ``limit`` asked for (a SIS
    may serve fewer); ``max_pages``: per collection; ``timeout``: seconds per request (connect,
    read, write); ``verify``: TLS verification (``True``, a CA bundle path, or ``False``);
    ``on_progress(collection, records, total_or_None)``: after each page.
    """

    concurrency: int = 4
    page_size: int = 1000
    max_pages: int = 200_000
    timeout: float = 60.0
    retry: retry.RetryPolicy = field(default_factory=retry.RetryPolicy)
    verify: bool | str = True
    on_progress: Callable[[str, int, int | None], None] | None = None
    columnar: bool = True  # convert uniform pages with Arrow (False: record by record)

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= 32:
            raise ValueError("concurrency must be between 1 and 32")
        if self.page_size < 1 or self.max_pages < 1:
            raise ValueError("page_size and max_pages must be positive")


FastPath = Callable[[bytes], object]


class NotOffered(Exception):
    """An optional collection this SIS does not serve (404, 501, or 403 on demographics)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class Page:
    """One parsed answer."""

    data: object
    headers: httpx2.Headers
    next_link: str | None
    size: int


class Session:
    """The client and the in-flight limit of one fetch or connection test."""

    def __init__(self, source: RestSource, options: FetchOptions) -> None:
        self.source = source
        self.options = options
        timeout = httpx2.Timeout(options.timeout)
        self.auth = make_auth(
            source.credentials, source.version, options.retry, timeout, options.verify
        )
        n = options.concurrency
        self.client = httpx2.AsyncClient(
            auth=self.auth,
            timeout=timeout,
            limits=httpx2.Limits(max_connections=n, max_keepalive_connections=n),
            verify=options.verify,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )
        self._slots = asyncio.Semaphore(n)
        self.requests = 0
        self.retries = 0
        self.bytes = 0

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def sign_in(self) -> None:
        """Get a token now (OAuth 2), so that a refused sign-in fails before any page."""
        if isinstance(self.auth, OAuth2ClientCredentialsAuth):
            await self.auth.token()

    def demographics_scope_refused(self) -> bool:
        """The token endpoint refused the demographics scope (1.2)."""
        return isinstance(self.auth, OAuth2ClientCredentialsAuth) and bool(self.auth.dropped_scopes)

    async def get(
        self, collection: Collection, page: int, url: str, fast: FastPath | None = None
    ) -> Page:
        """GET one page, retried per the policy; raises :class:`FetchFailed` or NotOffered.

        ``fast(body)``: converts a page at once (``columnar.convert``) or raises
        ``Unsupported``, and the body is then parsed record by record (``Page.data``).
        """
        where = {"collection": collection.path, "page": page}

        def on_retry(exc: retry.Transient, wait: float) -> None:
            self.retries += 1
            log.info(
                "%s page %d: %s; asking again in %.1f s", collection.path, page, exc.what, wait
            )

        try:
            return await retry.call(
                self.options.retry, lambda: self._get_once(collection, page, url, fast), on_retry
            )
        except retry.Transient as exc:
            tries = self.options.retry.attempts
            raise FetchFailed(
                f"{exc.what}, {tries} time{'s' if tries > 1 else ''} in a row",
                "The SIS is busy, down or too slow; try again later (or raise the timeout).",
                status=exc.status,
                **where,
            ) from None

    async def _get_once(
        self, collection: Collection, page: int, url: str, fast: FastPath | None
    ) -> Page:
        where = {"collection": collection.path, "page": page}
        async with self._slots:
            self.requests += 1
            try:
                response = await self.client.get(url)
            except httpx2.TimeoutException:
                raise retry.Transient(f"no answer within {self.options.timeout:g} s") from None
            except httpx2.TransportError as exc:
                raise retry.Transient(f"the connection failed ({type(exc).__name__})") from None
        status = response.status_code
        body = response.content
        self.bytes += len(body)
        if status == 200:
            link = response.links.get("next", {}).get("url")
            if fast is not None:
                try:
                    return Page(fast(body), response.headers, link, len(body))
                except Unsupported:
                    pass
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                kind = response.headers.get("Content-Type", "").split(";")[0].strip()
                if "html" in kind:
                    raise FetchFailed(
                        "the SIS answered with a web page, not OneRoster JSON", _BASE_HINT, **where
                    ) from None
                raise retry.Transient("the answer was not valid JSON (cut short?)") from None
            return Page(data, response.headers, link, len(body))
        if status in retry.RETRY_STATUSES:
            after = retry.retry_after_seconds(response.headers.get("Retry-After"))
            raise retry.Transient(f"HTTP {status}", status, after)
        summary = status_summary(body)
        said = f" ({summary})" if summary else ""
        if collection.optional and status in (403, 404, 501):
            raise NotOffered(status)
        if status == 401:
            raise FetchFailed(
                f"the SIS refused the credentials (HTTP 401){said}",
                "Check the credentials (and, for OAuth 1, the server's clock); they may have "
                "been revoked.",
                status=status,
                **where,
            )
        if status == 403:
            raise FetchFailed(
                f"the SIS does not allow these credentials to read {collection.path}{said}",
                "Ask the SIS administrator to grant the rostering scopes to this client.",
                status=status,
                **where,
            )
        if status == 404:
            raise FetchFailed(f"not found (HTTP 404){said}", _BASE_HINT, status=status, **where)
        if 300 <= status < 400:
            target = urlsplit(response.headers.get("Location", "")).netloc or "elsewhere"
            raise FetchFailed(
                f"the SIS redirects to {target} (HTTP {status})",
                "Use the address it redirects to as the base URL.",
                status=status,
                **where,
            )
        if status == 400 and "filter" in url:
            raise FetchFailed(
                f"the SIS refused the request (HTTP 400){said}",
                "It may not support filtering by dateLastModified; run a full fetch instead.",
                status=status,
                **where,
            )
        raise FetchFailed(
            f"the SIS refused the request (HTTP {status}){said}",
            "Tell the SIS's vendor; the request follows the OneRoster REST binding.",
            status=status,
            **where,
        )
