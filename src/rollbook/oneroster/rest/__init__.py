"""OneRoster over REST (1.1 and 1.2): fetch a SIS's rostering collections into a CSV bundle.

No Django here. The fetch writes a OneRoster CSV bundle folder that ``read_bundle`` reads like
any export, so records reach the same typed tables with the same findings, and each fetch is
kept and replayable (docs/rest.md, decision 0010)::

    from rollbook.oneroster.rest import (
        RestSource, OAuth2Credentials, fetch_bundle, test_connection, FetchFailed,
    )
    source = RestSource(
        "https://sis.example/ims/oneroster/rostering/v1p2", "1.2",
        OAuth2Credentials("https://sis.example/oauth/token", "client-id", "secret"),
    )
    report = test_connection(source)          # ConnectionReport: .ok, .problems, counts
    try:
        fetched = fetch_bundle(source, "runs/42/fetch")   # or since=last_success for a delta
    except FetchFailed as exc:                # nothing was written; exc.message() says why
        ...
    result = read_bundle("runs/42/fetch")
"""

from .connection import CollectionCheck, ConnectionReport, test_connection
from .credentials import BearerCredentials, Credentials, OAuth1Credentials, OAuth2Credentials
from .errors import FetchFailed
from .fetch import CollectionReport, FetchReport, fetch_bundle, filter_since
from .retry import RetryPolicy
from .session import FetchOptions, RestSource

__all__ = [
    "BearerCredentials",
    "CollectionCheck",
    "CollectionReport",
    "ConnectionReport",
    "Credentials",
    "FetchFailed",
    "FetchOptions",
    "FetchReport",
    "OAuth1Credentials",
    "OAuth2Credentials",
    "RestSource",
    "RetryPolicy",
    "fetch_bundle",
    "filter_since",
    "test_connection",
]
