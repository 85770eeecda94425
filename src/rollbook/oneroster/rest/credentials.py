"""What a REST source signs in with: small objects whose secrets never show in a repr or a log.

Three kinds, one per authenticator (``auth.py``):

- :class:`OAuth2Credentials` — OAuth 2 client credentials (OneRoster 1.2, and many 1.1 vendors);
- :class:`OAuth1Credentials` — OAuth 1.0a request signing, HMAC-SHA256 or HMAC-SHA1 (1.1);
- :class:`BearerCredentials` — a static bearer token handed out by the vendor.

The secret fields are kept out of ``repr`` (and so out of tracebacks' reprs, logs and the
Django debug page); ``describe()`` is what may be shown to an administrator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: OneRoster 1.2 rostering scopes (SPEC-NOTES §2.6): the top-level collections and demographics.
SCOPE_12_CORE = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly"
SCOPE_12_ROSTER = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster.readonly"
SCOPE_12_DEMOGRAPHICS = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-demographics.readonly"
#: The OAuth 2 scope 1.1 providers use in practice.
SCOPE_11 = "https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly"

SIGNATURE_METHODS = ("HMAC-SHA256", "HMAC-SHA1")
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def default_scopes(version: str) -> tuple[str, ...]:
    """The scopes asked for when a source names none: core (+ demographics) for 1.2."""
    if version == "1.2":
        return (SCOPE_12_CORE, SCOPE_12_DEMOGRAPHICS)
    return (SCOPE_11,)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


@dataclass(frozen=True)
class OAuth2Credentials:
    """OAuth 2 client credentials grant: a token from ``token_url``, sent as a bearer token.

    ``scopes``: ``None`` asks for the version's defaults (:func:`default_scopes`); an empty
    tuple sends no scope. ``auth_method``: how the client id and secret reach the token
    endpoint (HTTP Basic, the default, or form fields).
    """

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] | None = None
    auth_method: str = "client_secret_basic"

    def __post_init__(self) -> None:
        if self.auth_method not in TOKEN_AUTH_METHODS:
            raise ValueError(f"auth_method must be one of {', '.join(TOKEN_AUTH_METHODS)}")
        if urlsplit(self.token_url).scheme not in ("http", "https"):
            raise ValueError("token_url must be an http(s) address")

    def __repr__(self) -> str:
        return f"OAuth2Credentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def describe(self) -> str:
        """Plain words for an administrator (no secret)."""
        host = _host(self.token_url)
        return f"OAuth 2 client credentials (client {self.client_id}, tokens from {host})"


@dataclass(frozen=True)
class OAuth1Credentials:
    """OAuth 1.0a request signing with a consumer key and secret (no token)."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    signature_method: str = "HMAC-SHA256"

    def __post_init__(self) -> None:
        if self.signature_method not in SIGNATURE_METHODS:
            raise ValueError(f"signature_method must be one of {', '.join(SIGNATURE_METHODS)}")

    def __repr__(self) -> str:
        return (
            f"OAuth1Credentials(consumer_key={self.consumer_key!r}, "
            f"signature_method={self.signature_method!r})"
        )

    def describe(self) -> str:
        """Plain words for an administrator (no secret)."""
        return f"OAuth 1.0a {self.signature_method} (consumer key {self.consumer_key})"


@dataclass(frozen=True)
class BearerCredentials:
    """A static bearer token given by the vendor."""

    token: str = field(repr=False)

    def __repr__(self) -> str:
        return "BearerCredentials(token=<hidden>)"

    def describe(self) -> str:
        """Plain words for an administrator (no secret)."""
        return "a bearer token"


Credentials = OAuth2Credentials | OAuth1Credentials | BearerCredentials


def secrets_of(credentials: Credentials) -> list[str]:
    """The secret strings of ``credentials`` (for tests and for scrubbing messages)."""
    if isinstance(credentials, OAuth2Credentials):
        return [credentials.client_secret]
    if isinstance(credentials, OAuth1Credentials):
        return [credentials.consumer_secret]
    return [credentials.token]
