"""A fixture OneRoster REST server on 127.0.0.1 (real HTTP, a thread), with injectable faults.

Serves ``{collection: [records]}`` under a base path, pages with limit/offset, sends
``X-Total-Count`` and/or ``Link: rel="next"``, and checks the client's credentials: OAuth 2
client credentials (its own token endpoint), OAuth 1.0a signatures (oauthlib's server-side
verifier, HMAC-SHA256 and HMAC-SHA1), or a static bearer token.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint

CLIENT_ID, CLIENT_SECRET = "rollbook-client", "s3cr3t-client-secret-XYZ"
CONSUMER_KEY, CONSUMER_SECRET = "rollbook-consumer-key", "s3cr3t-consumer-secret-XYZ"
BEARER = "static-bearer-token-s3cr3t"


@dataclass
class Fault:
    """Something going wrong on a page: ``kind`` on ``collection`` at ``offset``.

    kinds: ``status`` (answer ``status``, with ``retry_after``), ``slow`` (answer only after the
    client gave up), ``malformed`` (cut JSON), ``envelope`` (wrong key), ``html``, ``repeat``
    (serve the page before), ``loop`` (next link back to the first page), ``revoke`` (401 as
    if the token expired), ``foreign`` (next link to another host). ``times``: how often it
    fires (0 = every time).
    """

    kind: str
    collection: str | None = None
    offset: int | None = None
    status: int = 500
    retry_after: str | None = None
    times: int = 1
    fired: int = 0

    def matches(self, collection: str, offset: int) -> bool:
        if self.collection not in (None, collection):
            return False
        if self.offset is not None and self.offset != offset:
            return False
        return self.times == 0 or self.fired < self.times


class _Validator(RequestValidator):
    enforce_ssl = False
    allowed_signature_methods = ("HMAC-SHA1", "HMAC-SHA256")
    client_key_length = (3, 64)
    nonce_length = (8, 64)
    dummy_client = "dummy-client-key-000"

    def __init__(self) -> None:
        super().__init__()
        self.nonces: set[tuple[str, str]] = set()

    def check_client_key(self, client_key):
        return 3 <= len(client_key) <= 64

    def validate_client_key(self, client_key, request):
        return client_key == CONSUMER_KEY

    def get_client_secret(self, client_key, request):
        return CONSUMER_SECRET if client_key == CONSUMER_KEY else "dummy"

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request, **kwargs):
        if (timestamp, nonce) in self.nonces:
            return False
        self.nonces.add((timestamp, nonce))
        return True


@dataclass
class OneRosterServer:
    """The fixture SIS. Use as a context manager; ``base_url`` and ``token_url`` once started."""

    data: dict[str, list[dict]]
    version: str = "1.2"
    auth: str = "oauth2"  # oauth2 | oauth1 | bearer | none
    prefix: str = ""
    paging: str = "both"  # both | link | total | offset
    max_limit: int | None = None  # serve at most this many records a page
    token_uses: int | None = None  # requests a token is good for (then 401)
    expires_in: int = 3600
    refuse_scopes: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # collections answered 404
    ignore_offset: bool = False
    envelopes: dict[str, str] = field(default_factory=dict)  # another key than the collection's
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    tokens_issued: int = 0
    signature_methods: list[str] = field(default_factory=list)
    scopes_asked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.prefix:
            self.prefix = (
                "/ims/oneroster/v1p1" if self.version == "1.1" else "/ims/oneroster/rostering/v1p2"
            )
        self._tokens: dict[str, int] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.release = threading.Event()
        self._endpoint = SignatureOnlyEndpoint(_Validator())

    def __enter__(self) -> OneRosterServer:
        server = self
        handler = type("Handler", (_Handler,), {"fixture": server})
        self._httpd = _Quiet(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._httpd.server_address[:2]
        self.origin = f"http://{host}:{port}"
        self.base_url = self.origin + self.prefix
        self.token_url = self.origin + "/oauth/token"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def requests_to(self, collection: str) -> int:
        """How many GETs reached ``collection``."""
        return sum(1 for p, _ in self.requests if p == collection)

    # -- the pieces the handler calls --------------------------------------------------------

    def issue_token(self, headers, body: bytes) -> tuple[int, dict]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client", "error_description": "unknown client"}
        scopes = form.get("scope", "").split()
        self.scopes_asked.append(" ".join(scopes))
        if any(s in self.refuse_scopes for s in scopes):
            return 400, {"error": "invalid_scope"}
        with self._lock:
            token = f"token-{next(self._counter)}"
            self._tokens[token] = self.token_uses if self.token_uses is not None else 10**9
            self.tokens_issued += 1
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}

    def authorized(self, handler: _Handler) -> bool:
        header = handler.headers.get("Authorization", "")
        if self.auth == "none":
            return True
        if self.auth == "bearer":
            return header == f"Bearer {BEARER}"
        if self.auth == "oauth2":
            token = header.removeprefix("Bearer ")
            with self._lock:
                left = self._tokens.get(token, 0)
                if left <= 0:
                    return False
                self._tokens[token] = left - 1
            return True
        uri = f"http://{handler.headers['Host']}{handler.path}"
        valid, request = self._endpoint.validate_request(uri, "GET", None, dict(handler.headers))
        if valid:
            self.signature_methods.append(request.signature_method)
        return valid

    def fault(self, collection: str, offset: int) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.matches(collection, offset):
                    f.fired += 1
                    return f
        return None


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # a client that hung up: not news
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    fixture: OneRosterServer

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict | None = None, kind="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: object, headers: dict | None = None):
        self._send(status, json.dumps(data).encode(), headers)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if urlsplit(self.path).path != "/oauth/token":
            return self._json(404, {"error": "not_found"})
        status, data = self.fixture.issue_token(self.headers, body)
        self._json(status, data)

    def do_GET(self):  # noqa: N802
        fx = self.fixture
        parts = urlsplit(self.path)
        if not parts.path.startswith(fx.prefix + "/"):
            return self._json(404, _status("unknownobject", "no such service"))
        collection = parts.path[len(fx.prefix) + 1 :]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        fx.requests.append((collection, parts.query))
        if not fx.authorized(self):
            return self._json(401, _status("unauthorisedrequest", "not signed in"))
        if collection in fx.missing or collection not in fx.data:
            return self._json(404, _status("unknownobject", f"{collection} not served"))
        limit = int(query.get("limit", 100))
        offset = 0 if fx.ignore_offset else int(query.get("offset", 0))
        if fx.max_limit:
            limit = min(limit, fx.max_limit)
        fault = fx.fault(collection, offset)
        rows = fx.data[collection]
        if "filter" in query:
            rows = _filtered(rows, query["filter"])
        if fault and fault.kind == "repeat" and offset:
            offset = max(0, offset - limit)
        page = rows[offset : offset + limit]
        headers = {}
        if fx.paging in ("both", "total"):
            headers["X-Total-Count"] = str(len(rows))
        more = offset + len(page) < len(rows)
        if fx.paging in ("both", "link") and more:
            nxt = {**query, "offset": offset + len(page), "limit": limit}
            headers["Link"] = f'<{fx.base_url}/{collection}?{urlencode(nxt)}>; rel="next"'
        envelope = fx.envelopes.get(collection, collection)
        body: object = page
        if not envelope.endswith("s") and len(page) == 1:  # {"org": {...}}
            body = page[0]
        if fault:
            kind = fault.kind
            if kind == "status":
                if fault.retry_after:
                    headers["Retry-After"] = fault.retry_after
                return self._json(fault.status, _status("server_busy", "try later"), headers)
            if kind == "revoke":
                return self._json(401, _status("unauthorisedrequest", "token expired"))
            if kind == "slow":
                fx.release.wait(10)
            if kind == "malformed":
                return self._send(200, b'{"' + collection.encode() + b'": [{"sourcedId": "x"')
            if kind == "html":
                return self._send(200, b"<html>Sign in</html>", kind="text/html")
            if kind == "envelope":
                envelope = "data"
            if kind == "loop":
                first = {**query, "offset": 0, "limit": limit}
                headers["Link"] = f'<{fx.base_url}/{collection}?{urlencode(first)}>; rel="next"'
            if kind == "foreign":
                headers["Link"] = f'<http://other.invalid/{collection}?offset=9>; rel="next"'
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._json(200, {envelope: body}, headers)


def _status(minor: str, description: str) -> dict:
    return {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [
                {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": minor}
            ]
        },
    }


def _filtered(rows: list[dict], expr: str) -> list[dict]:
    """``dateLastModified>'…'`` only (what the client sends)."""
    field_, _, value = expr.partition(">")
    value = value.strip("'")
    return [r for r in rows if str(r.get(field_, "")) > value]
