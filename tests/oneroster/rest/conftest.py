"""Fixtures of the REST client tests: generated bundles, their REST records, a fixture SIS."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollbook.oneroster.generator import generate_bundle
from rollbook.oneroster.rest import (
    BearerCredentials,
    FetchFailed,
    FetchOptions,
    OAuth1Credentials,
    OAuth2Credentials,
    RestSource,
    RetryPolicy,
    fetch_bundle,
    mapping,
    render,
)

from .server import BEARER, CLIENT_ID, CLIENT_SECRET, CONSUMER_KEY, CONSUMER_SECRET, OneRosterServer

STUDENTS = 40


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> dict[str, Path]:
    """A small generated bulk bundle per version: ``{"1.1": folder, "1.2": folder}``."""
    root = tmp_path_factory.mktemp("generated")
    out = {}
    for version in ("1.1", "1.2"):
        folder = root / f"g{version}"
        generate_bundle(folder, STUDENTS, version=version)
        out[version] = folder
    return out


def served_records(folder: Path, version: str) -> dict[str, list[dict]]:
    """The REST records of every collection of a bundle folder."""
    return {
        c.path: list(render.records(folder, version, c))
        for c in mapping.COLLECTIONS
        if (folder / f"{c.file}.csv").exists()
    }


@pytest.fixture(scope="session")
def records(generated) -> dict[str, dict[str, list[dict]]]:
    """``{version: {collection: [records]}}`` of the generated bundles."""
    return {v: served_records(f, v) for v, f in generated.items()}


def source_for(server: OneRosterServer, **kw) -> RestSource:
    """A RestSource with the right credentials for ``server.auth``."""
    if server.auth == "oauth2":
        creds = OAuth2Credentials(server.token_url, CLIENT_ID, CLIENT_SECRET, **kw)
    elif server.auth == "oauth1":
        creds = OAuth1Credentials(CONSUMER_KEY, CONSUMER_SECRET, **kw)
    else:
        creds = BearerCredentials(BEARER)
    return RestSource(server.base_url, server.version, creds)


def fast(**kw) -> FetchOptions:
    """Options for tests: small pages, near-zero backoff, short timeouts."""
    kw.setdefault("page_size", 25)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("retry", RetryPolicy.fast())
    return FetchOptions(**kw)


__all__ = ["OneRosterServer", "failure", "fast", "served_records", "source_for"]


def failure(server: OneRosterServer, folder: Path, **options) -> FetchFailed:
    """Fetch from ``server`` expecting FetchFailed; checks nothing was left beside ``folder``."""
    with server as sis:
        try:
            fetch_bundle(source_for(sis), folder, options=fast(**options))
        except FetchFailed as exc:
            caught = exc
        else:
            raise AssertionError("the fetch succeeded")
    assert not folder.exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]
    return caught
