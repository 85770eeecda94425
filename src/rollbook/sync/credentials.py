"""A REST source's secret, encrypted at rest, and the keys that encrypt it.

The secret (an OAuth 2 client secret, an OAuth 1.0a consumer secret or a bearer token) is kept
on ``SyncSource.secret_encrypted`` as a Fernet token (``cryptography``: AES-128-CBC with an
HMAC-SHA256, the time of encryption inside). The keys, newest first:

- ``ROLLBOOK_SECRET_KEYS`` (comma-separated Fernet keys), when set — the key store of an
  installation with several machines (every web and worker process needs the same keys);
- otherwise the file ``ROLLBOOK_HOME/rest_secret_keys`` (one key a line, mode 0600), created
  with a new key on first use.

Decryption tries every key (``MultiFernet``), so a key may be added in front and the old one
removed once ``rollbook secrets rotate`` has re-encrypted every secret with the newest.

A secret is decrypted only to build the ``RestSource`` a fetch or a connection test signs in
with (``rest_source``) and is never logged, shown back on a page, exported, put in ``--json``
output or in the audit trail: the audit records that a secret changed, never its value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rollbook.directory import audit
from rollbook.errors import UserError
from rollbook.oneroster.rest import (
    BearerCredentials,
    OAuth1Credentials,
    OAuth2Credentials,
    RestSource,
)

from .models import SyncSource

KEYS_ENV = "ROLLBOOK_SECRET_KEYS"
KEY_FILE = "rest_secret_keys"


def key_file() -> Path:
    return Path(settings.ROLLBOOK_HOME) / KEY_FILE


def _keys_from_file(create: bool) -> list[str]:
    path = key_file()
    if not path.exists():
        if not create:
            return []
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created with mode 0600 from the start: never readable by others, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode() + "\n")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def keys(create: bool = True) -> list[str]:
    """The keys, newest first (the environment's, or the key file's)."""
    from_env = os.environ.get(KEYS_ENV, "")
    if from_env.strip():
        return [k.strip() for k in from_env.split(",") if k.strip()]
    return _keys_from_file(create)


def _fernet() -> MultiFernet:
    found = keys()
    try:
        return MultiFernet([Fernet(k.encode()) for k in found])
    except (ValueError, TypeError):
        where = KEYS_ENV if os.environ.get(KEYS_ENV, "").strip() else str(key_file())
        raise UserError(
            f"a key in {where} is not a Fernet key (44 characters of URL-safe base64); "
            "make one with 'rollbook secrets rotate' or Fernet.generate_key()"
        ) from None


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(source: SyncSource) -> str:
    """The source's secret in clear (only to sign in with it)."""
    if not source.secret_encrypted:
        raise UserError(
            f"source {source.name} has no secret yet; set it with 'rollbook source add "
            f"{source.name} … --replace' or on the source's page"
        )
    try:
        return _fernet().decrypt(source.secret_encrypted.encode()).decode()
    except InvalidToken:
        raise UserError(
            f"the secret of source {source.name} cannot be decrypted with the keys in "
            f"{KEYS_ENV} or {KEY_FILE}: the key that encrypted it is gone. Put it back (newest "
            "first), or give the source its secret again"
        ) from None


def set_secret(source: SyncSource, secret: str, actor: audit.Actor) -> None:
    """Encrypt and keep a new secret; the audit says it changed (never what it is)."""
    secret = secret.strip()
    if not secret:
        raise UserError("the secret is empty")
    had = bool(source.secret_encrypted)
    source.secret_encrypted = encrypt(secret)
    source.secret_changed_at = timezone.now()
    source.save(update_fields=["secret_encrypted", "secret_changed_at"])
    audit.record(
        [
            audit.entry(
                actor,
                "change_secret" if had else "set_secret",
                source,
                district=source.district_id,
                note=f"the secret of source {source.name} was "
                + ("changed" if had else "set")
                + " (its value is never recorded)",
            )
        ]
    )


def rest_source(source: SyncSource) -> RestSource:
    """What ``oneroster.rest`` signs in with (the secret decrypted, kept out of every repr)."""
    if not source.is_rest:
        raise UserError(f"source {source.name} is not a REST source")
    secret = decrypt(source)
    auth = source.auth
    try:
        if auth == SyncSource.Auth.OAUTH2:
            creds = OAuth2Credentials(
                source.token_url,
                source.client_id,
                secret,
                scopes=tuple(source.scopes) if source.scopes else None,
            )
        elif auth in (SyncSource.Auth.OAUTH1_SHA256, SyncSource.Auth.OAUTH1_SHA1):
            method = "HMAC-SHA256" if auth == SyncSource.Auth.OAUTH1_SHA256 else "HMAC-SHA1"
            creds = OAuth1Credentials(source.client_id, secret, method)
        elif auth == SyncSource.Auth.BEARER:
            creds = BearerCredentials(secret)
        else:
            raise UserError(f"source {source.name} has no sign-in method")
        return RestSource(source.rest_url, source.rest_version, creds)
    except ValueError as exc:  # the client's own checks: words without the secret
        raise UserError(f"source {source.name}: {exc}") from None


def rotate(actor: audit.Actor, new_key: bool = True) -> dict:
    """Re-encrypt every secret with the newest key. With keys in the key file and ``new_key``,
    a new key is made first and put in front of the file (the old ones stay until removed by
    hand, so a process that still has old keys can read until it restarts). With keys in
    ``ROLLBOOK_SECRET_KEYS``, put the new key first there, then rotate."""
    made = False
    if new_key and not os.environ.get(KEYS_ENV, "").strip():
        old = _keys_from_file(create=True)
        path = key_file()
        temporary = path.with_name(path.name + ".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join([Fernet.generate_key().decode(), *old]) + "\n")
        temporary.replace(path)
        made = True
    fernet = _fernet()
    count = 0
    with transaction.atomic():
        for source in SyncSource.objects.select_for_update().exclude(secret_encrypted=""):
            try:
                token = fernet.rotate(source.secret_encrypted.encode()).decode()
            except InvalidToken:
                raise UserError(
                    f"the secret of source {source.name} (district {source.district_id}) "
                    "cannot be decrypted with the keys given: nothing was re-encrypted. Put "
                    "the old key back after the new one and rotate again"
                ) from None
            SyncSource.objects.filter(pk=source.pk).update(secret_encrypted=token)
            count += 1
        audit.record(
            [
                audit.entry(
                    actor,
                    "rotate_secret_keys",
                    object_type="syncsource",
                    note=f"{count} source secret(s) re-encrypted with the newest key"
                    + (" (a new key was made)" if made else ""),
                )
            ]
        )
    return {"sources": count, "new_key": made, "keys": len(keys())}


# --- a REST source's settings -----------------------------------------------------------------

#: What the audit records of a REST source's settings (never the secret, not even encrypted).
REST_FIELDS = [
    "kind",
    "rest_url",
    "rest_version",
    "auth",
    "token_url",
    "client_id",
    "scopes",
    "reconcile_days",
]


@dataclass
class RestSettings:
    """Where and how a REST source signs in (everything but the secret)."""

    url: str
    version: str
    auth: str
    token_url: str = ""
    client_id: str = ""
    scopes: list[str] = field(default_factory=list)
    reconcile_days: int = 7

    def check(self) -> None:
        """Plain-words refusals of what could never sign in."""
        if self.version not in ("1.1", "1.2"):
            raise UserError("the OneRoster version is 1.1 or 1.2")
        if self.auth not in SyncSource.Auth.values:
            raise UserError(
                "the sign-in is one of: "
                + ", ".join(SyncSource.Auth.values)
                + f" (not {self.auth!r})"
            )
        if self.auth != SyncSource.Auth.BEARER and not self.client_id.strip():
            raise UserError("give the client id (OAuth 2) or consumer key (OAuth 1.0a)")
        if self.auth == SyncSource.Auth.OAUTH2 and not self.token_url.strip():
            raise UserError("OAuth 2 needs the token URL (where client credentials get a token)")
        if not 1 <= self.reconcile_days <= 365:
            raise UserError("the full reconcile is every 1 to 365 days")
        try:  # the client's own checks of the addresses, with a stand-in secret
            probe = (
                OAuth2Credentials(self.token_url.strip(), "probe", "probe")
                if self.auth == SyncSource.Auth.OAUTH2
                else BearerCredentials("probe")
            )
            RestSource(self.url.strip(), self.version, probe)
        except ValueError as exc:
            raise UserError(str(exc)) from None


def save_rest_source(
    district,
    name: str,
    wanted: RestSettings,
    secret: str | None,
    actor: audit.Actor,
    *,
    replace: bool = False,
) -> SyncSource:
    """Add a REST source to a district, or change one (``replace``; a CSV source may become a
    REST source and keeps what it synced). A new source, or a new sign-in method, needs its
    secret. Audited: the settings before and after, and "secret set/changed" on its own."""
    wanted.check()
    name = name.strip()
    if not name:
        raise UserError("give the source a name (e.g. SIS)")
    with transaction.atomic():
        source = SyncSource.objects.select_for_update().filter(district=district, name=name).first()
        if source is not None and not replace:
            raise UserError(
                f"district {district.pk} already has a source named {name!r}: choose another "
                "name (on the command line, --replace changes that source into this one)"
            )
        created = source is None
        source = source or SyncSource(district=district, name=name)
        before = None if created else audit.snapshot(source, REST_FIELDS)
        method_changed = not created and source.auth != wanted.auth
        source.kind = SyncSource.Kind.ONEROSTER_REST
        source.rest_url = wanted.url.strip()
        source.rest_version = wanted.version
        source.auth = wanted.auth
        source.token_url = wanted.token_url.strip() if wanted.auth == "oauth2" else ""
        source.client_id = "" if wanted.auth == "bearer" else wanted.client_id.strip()
        source.scopes = [s for s in wanted.scopes if s.strip()] if wanted.auth == "oauth2" else []
        source.reconcile_days = wanted.reconcile_days
        if not secret and (created or method_changed or not source.secret_encrypted):
            raise UserError(
                "give the secret (client secret, consumer secret or token): from a prompt, "
                "--secret-file or ROLLBOOK_REST_SECRET — never on the command line"
            )
        source.save()
        after = audit.snapshot(source, REST_FIELDS)
        if before != after:
            audit.record(
                [
                    audit.entry(
                        actor,
                        "create_source" if created else "update_source",
                        source,
                        district=district,
                        before=before,
                        after=after,
                        note=f"REST source {name}",
                    )
                ]
            )
        if secret:
            set_secret(source, secret, actor)
    return source


def public(source: SyncSource) -> dict:
    """A source as pages, ``--json`` and exports show it: never the secret."""
    data = {
        "id": source.pk,
        "name": source.name,
        "district_id": source.district_id,
        "kind": source.kind,
        "active": source.is_active,
    }
    if source.is_rest:
        data |= {
            "url": source.rest_url,
            "version": source.rest_version,
            "auth": source.auth,
            "token_url": source.token_url,
            "client_id": source.client_id,
            "scopes": source.scopes,
            "reconcile_days": source.reconcile_days,
            "secret_set": bool(source.secret_encrypted),
            "secret_changed_at": source.secret_changed_at.isoformat()
            if source.secret_changed_at
            else None,
        }
    else:
        data["folder"] = source.location
        data["encoding"] = source.encoding  # "": UTF-8
    return data
