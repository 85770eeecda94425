"""Authenticators: httpx2 ``Auth`` objects that sign each request of a fetch.

- OAuth 2 client credentials (:class:`OAuth2ClientCredentialsAuth`): the token is fetched with
  Authlib's httpx client, renewed shortly before it expires and once more when the SIS answers
  401 mid-fetch (a token revoked or expired early); concurrent requests share one renewal.
  When a 1.2 token endpoint refuses the demographics scope, the token is asked for again
  without it and demographics count as not offered.
- OAuth 1.0a (:func:`oauth1_auth`): Authlib's ``OAuth1Auth`` (header signature, query
  parameters such as ``limit``/``offset``/``filter`` signed). HMAC-SHA1 is Authlib's own;
  HMAC-SHA256 is registered with Authlib from oauthlib's implementation. No signing here.
- A static bearer token (:class:`BearerAuth`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator
from types import SimpleNamespace

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth1Auth
from authlib.oauth1 import SIGNATURE_TYPE_HEADER, ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from oauthlib.oauth1.rfc5849.signature import sign_hmac_sha256_with_client

from . import retry
from .credentials import (
    SCOPE_12_DEMOGRAPHICS,
    BearerCredentials,
    Credentials,
    OAuth1Credentials,
    OAuth2Credentials,
    default_scopes,
)
from .errors import FetchFailed, status_summary


def _sign_hmac_sha256(client: ClientAuth, request) -> str:
    """Authlib's base string, oauthlib's HMAC-SHA256 (Authlib ships only HMAC-SHA1)."""
    base = generate_signature_base_string(request)
    secrets = SimpleNamespace(
        client_secret=client.client_secret or "", resource_owner_secret=client.token_secret or ""
    )
    return sign_hmac_sha256_with_client(base, secrets)


ClientAuth.register_signature_method("HMAC-SHA256", _sign_hmac_sha256)


class BearerAuth(httpx2.Auth):
    """Sends a static bearer token."""

    def __init__(self, token: str) -> None:
        self._header = "Bearer " + token

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response]:
        request.headers["Authorization"] = self._header
        yield request


def oauth1_auth(credentials: OAuth1Credentials) -> httpx2.Auth:
    """Authlib's OAuth 1.0a signer for ``credentials`` (signature in the header)."""
    return OAuth1Auth(
        client_id=credentials.consumer_key,
        client_secret=credentials.consumer_secret,
        signature_method=credentials.signature_method,
        signature_type=SIGNATURE_TYPE_HEADER,
    )


class OAuth2ClientCredentialsAuth(httpx2.Auth):
    """OAuth 2 client credentials: a bearer token, renewed on expiry and on 401."""

    requires_response_body = False

    def __init__(
        self,
        credentials: OAuth2Credentials,
        version: str,
        policy: retry.RetryPolicy,
        timeout: httpx2.Timeout,
        leeway: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        self._credentials = credentials
        self.scopes: tuple[str, ...] = (
            credentials.scopes if credentials.scopes is not None else default_scopes(version)
        )
        self._policy = policy
        self._timeout = timeout
        self._leeway = leeway
        self._verify = verify
        self._token: str | None = None
        self._expires_at: float | None = None
        self._lock = asyncio.Lock()
        self.tokens_fetched = 0
        self.dropped_scopes: list[str] = []

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentialsAuth({self._credentials!r})"

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response]:
        raise RuntimeError("OAuth 2 client credentials are used with the async client only")

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self.token()
        request.headers["Authorization"] = "Bearer " + token
        response = yield request
        if response.status_code == 401:
            token = await self.token(stale=token)
            request.headers["Authorization"] = "Bearer " + token
            yield request

    async def token(self, stale: str | None = None) -> str:
        """A valid access token: the current one, or a new one if it expired or is ``stale``."""
        async with self._lock:
            fresh = self._token is not None and self._token != stale
            if fresh and (self._expires_at is None or time.monotonic() < self._expires_at):
                return self._token
            return await self._fetch()

    async def _fetch(self) -> str:
        try:
            data = await retry.call(self._policy, self._fetch_once)
        except retry.Transient as exc:
            raise FetchFailed(
                f"the token endpoint kept failing ({exc.what})",
                "Check that the token URL is right and the SIS is up; try again later.",
                status=exc.status,
            ) from None
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise FetchFailed(
                "the token endpoint answered without an access token",
                "Check the token URL: it should be the SIS's OAuth 2 token endpoint.",
            )
        expires_in = data.get("expires_in")
        self._expires_at = None
        if isinstance(expires_in, int | float | str) and str(expires_in).isdigit():
            self._expires_at = time.monotonic() + max(0.0, float(expires_in) - self._leeway)
        self._token = token
        self.tokens_fetched += 1
        return token

    async def _fetch_once(self) -> dict:
        creds = self._credentials
        scope = " ".join(self.scopes) or None
        try:
            async with AsyncOAuth2Client(
                client_id=creds.client_id,
                client_secret=creds.client_secret,
                scope=scope,
                token_endpoint_auth_method=creds.auth_method,
                timeout=self._timeout,
                verify=self._verify,
            ) as client:
                return dict(
                    await client.fetch_token(creds.token_url, grant_type="client_credentials")
                )
        except OAuthError as exc:
            if exc.error == "invalid_scope" and SCOPE_12_DEMOGRAPHICS in self.scopes:
                self.scopes = tuple(s for s in self.scopes if s != SCOPE_12_DEMOGRAPHICS)
                self.dropped_scopes.append(SCOPE_12_DEMOGRAPHICS)
                return await self._fetch_once()
            raise FetchFailed(
                f"the token endpoint refused the sign-in ({exc.error or 'no reason given'})",
                _token_hint(exc.error),
            ) from None
        except httpx2.HTTPStatusError as exc:
            status = exc.response.status_code
            if status in retry.RETRY_STATUSES:
                raise retry.Transient(
                    f"HTTP {status} from the token endpoint",
                    status,
                    retry.retry_after_seconds(exc.response.headers.get("Retry-After")),
                ) from None
            summary = status_summary(exc.response.content)
            raise FetchFailed(
                "the token endpoint refused the sign-in" + (f" ({summary})" if summary else ""),
                _token_hint(None),
                status=status,
            ) from None
        except (httpx2.TimeoutException, httpx2.TransportError) as exc:
            raise retry.Transient(f"{type(exc).__name__} at the token endpoint") from None
        except ValueError:
            raise FetchFailed(
                "the token endpoint did not answer with a OAuth 2 token (not JSON)",
                "Check the token URL: it should be the SIS's OAuth 2 token endpoint.",
            ) from None


def _token_hint(error: str | None) -> str:
    if error == "invalid_scope":
        return "The SIS does not grant the requested scopes to this client; ask its administrator."
    if error in ("invalid_client", "unauthorized_client", None):
        return "Check the client id and secret, and that the client may use client credentials."
    return "Check the client id, secret and scopes with the SIS administrator."


def make_auth(
    credentials: Credentials,
    version: str,
    policy: retry.RetryPolicy,
    timeout: httpx2.Timeout,
    verify: bool | str = True,
) -> httpx2.Auth:
    """The authenticator for ``credentials`` (``verify``: TLS, for the token endpoint)."""
    if isinstance(credentials, OAuth2Credentials):
        return OAuth2ClientCredentialsAuth(credentials, version, policy, timeout, verify=verify)
    if isinstance(credentials, OAuth1Credentials):
        return oauth1_auth(credentials)
    if isinstance(credentials, BearerCredentials):
        return BearerAuth(credentials.token)
    raise TypeError(f"unknown credentials {type(credentials).__name__}")
