"""Signing in: OAuth 2 client credentials, OAuth 1.0a (checked by oauthlib), bearer tokens.

And the rule that a secret is never shown: not in a repr, an error, a traceback or a log.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime

import pytest

from rollbook.oneroster.rest import (
    BearerCredentials,
    OAuth1Credentials,
    OAuth2Credentials,
    RestSource,
    fetch_bundle,
)
from rollbook.oneroster.rest.credentials import SCOPE_12_CORE, SCOPE_12_DEMOGRAPHICS

from .conftest import failure, fast, source_for
from .server import CLIENT_ID, CLIENT_SECRET, CONSUMER_KEY, Fault, OneRosterServer


def test_oauth2_asks_for_the_12_rostering_scopes_once(records, tmp_path):
    with OneRosterServer(records["1.2"]) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    assert sis.scopes_asked == [f"{SCOPE_12_CORE} {SCOPE_12_DEMOGRAPHICS}"]
    assert report.tokens == 1


def test_a_token_that_expires_mid_fetch_is_renewed(records, tmp_path):
    # each token is good for 5 requests: the fetch needs several, and gets them on 401
    with OneRosterServer(records["1.2"], token_uses=5) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    assert report.tokens == sis.tokens_issued > 3
    assert report.collections["enrollments"].records == len(records["1.2"]["enrollments"])


def test_a_token_revoked_mid_fetch_is_renewed(records, tmp_path):
    with OneRosterServer(records["1.2"], faults=[Fault("revoke", "users", 50)]) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    assert report.tokens == 2 and report.retries == 0


def test_a_token_refused_even_when_fresh_fails_with_401(records, tmp_path):
    server = OneRosterServer(records["1.2"], faults=[Fault("revoke", "users", 50, times=0)])
    caught = failure(server, tmp_path / "f")
    assert caught.status == 401 and (caught.collection, caught.page) == ("users", 3)


def test_a_token_that_expires_by_its_lifetime_is_renewed_before_use(records, tmp_path):
    # expires_in under the 30 s leeway: every request needs a new token
    with OneRosterServer(records["1.1"], version="1.1", expires_in=10) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast(concurrency=1))
    assert report.tokens == report.requests + 1  # the sign-in, then one per request


def test_a_refused_demographics_scope_is_dropped_and_demographics_not_offered(records, tmp_path):
    with OneRosterServer(records["1.2"], refuse_scopes=(SCOPE_12_DEMOGRAPHICS,)) as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
        asked = sis.requests_to("demographics")
    assert sis.scopes_asked[-1] == SCOPE_12_CORE
    assert report.collections["demographics"].offered is False and asked == 0
    assert report.collections["users"].records == len(records["1.2"]["users"])


def test_wrong_client_secret_fails_before_any_page(records, tmp_path):
    with OneRosterServer(records["1.2"]) as sis:
        source = RestSource(
            sis.base_url, "1.2", OAuth2Credentials(sis.token_url, CLIENT_ID, "wrong-secret-123")
        )
        with pytest.raises(Exception) as caught:
            fetch_bundle(source, tmp_path / "f", options=fast())
        assert sis.requests == []
    assert "refused the sign-in (invalid_client)" in str(caught.value)
    assert "client id and secret" in str(caught.value)


def test_client_secret_post_sends_the_secret_in_the_form(records, tmp_path):
    with OneRosterServer(records["1.1"], version="1.1") as sis:
        creds = OAuth2Credentials(
            sis.token_url, CLIENT_ID, CLIENT_SECRET, scopes=(), auth_method="client_secret_post"
        )
        fetch_bundle(RestSource(sis.base_url, "1.1", creds), tmp_path / "f", options=fast())
    assert sis.scopes_asked == [""]


@pytest.mark.parametrize("method", ["HMAC-SHA256", "HMAC-SHA1"])
def test_oauth1_signatures_pass_oauthlibs_verifier(method, records, tmp_path):
    with OneRosterServer(records["1.1"], version="1.1", auth="oauth1") as sis:
        source = source_for(sis, signature_method=method)
        report = fetch_bundle(source, tmp_path / "f", options=fast())
    assert set(sis.signature_methods) == {method}
    assert len(sis.signature_methods) == report.requests


def test_oauth1_signs_the_delta_filter_too(records, tmp_path):
    with OneRosterServer(records["1.1"], version="1.1", auth="oauth1") as sis:
        fetch_bundle(
            source_for(sis), tmp_path / "f", since=datetime(2020, 1, 1, tzinfo=UTC), options=fast()
        )
    assert sis.signature_methods and all("filter=" in q for _, q in sis.requests)


def test_oauth1_with_a_wrong_secret_is_refused(records, tmp_path):
    server = OneRosterServer(records["1.1"], version="1.1", auth="oauth1")
    with server as sis:
        source = RestSource(sis.base_url, "1.1", OAuth1Credentials(CONSUMER_KEY, "not-it"))
        with pytest.raises(Exception) as caught:
            fetch_bundle(source, tmp_path / "f", options=fast())
    assert caught.value.status == 401 and "server's clock" in caught.value.hint


def test_bearer_token(records, tmp_path):
    with OneRosterServer(records["1.2"], auth="bearer") as sis:
        report = fetch_bundle(source_for(sis), tmp_path / "f", options=fast())
    assert report.records and report.tokens == 0


SECRETS = ("s3cr3t-client-secret-XYZ", "s3cr3t-consumer-secret-XYZ", "static-bearer-token-s3cr3t")


@pytest.mark.parametrize("auth", ["oauth2", "oauth1", "bearer"])
def test_secrets_never_show_in_reprs_errors_tracebacks_or_logs(auth, records, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    faults = [Fault("status", "users", 25, status=503, times=0)]
    server = OneRosterServer(records["1.2"], auth=auth, faults=faults)
    with server as sis:
        source = source_for(sis)
    caught = failure(server, tmp_path / "f")
    shown = [
        repr(source),
        repr(source.credentials),
        source.describe(),
        str(caught),
        repr(caught),
        str(caught.to_dict()),
        "".join(traceback.format_exception(caught)),
        caplog.text,
    ]
    assert "HTTP 503" in str(caught) and caplog.text
    for text in shown:
        for secret in SECRETS:
            assert secret not in text


def test_credentials_repr_hides_the_secret():
    assert "hunter2" not in repr(OAuth2Credentials("https://t.example/token", "id", "hunter2"))
    assert "hunter2" not in repr(OAuth1Credentials("key", "hunter2"))
    assert "hunter2" not in repr(BearerCredentials("hunter2"))
    with pytest.raises(ValueError):
        OAuth1Credentials("key", "secret", signature_method="PLAINTEXT")
