"""The audit log: every change is tied to the person or the sync run that made it."""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import models

from .models import Account, AuditEntry, District


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in account, a sync run, or a named operator (the CLI)."""

    account: Account | None = None
    run: Any = None  # rollbook.sync.models.SyncRun
    label: str = ""

    @classmethod
    def command_line(cls) -> Actor:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(label=f"command line (user {user})")

    def describe(self) -> str:
        if self.account is not None:
            return f"account {self.account.pk}"
        if self.run is not None:
            return f"sync run {self.run.pk}"
        return self.label


def json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The object's concrete field values as JSON-safe data (foreign keys as ids)."""
    names = fields or [f.attname for f in obj._meta.concrete_fields if f.attname != "password"]
    return {name: json_value(getattr(obj, name)) for name in names}


def entry(
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    district: District | int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
) -> AuditEntry:
    """Build (not save) one audit entry; save many at once with :func:`record`."""
    district_id = district.pk if isinstance(district, District) else district
    return AuditEntry(
        actor=actor.account,
        actor_label=actor.label,
        run=actor.run,
        district_id=district_id,
        action=action,
        object_type=object_type or (obj._meta.model_name if obj is not None else ""),
        object_id=object_id if object_id is not None else (obj.pk if obj is not None else None),
        before=before,
        after=after,
        note=note,
    )


def record(entries: Iterable[AuditEntry], batch_size: int = 2000) -> int:
    """Save audit entries in bulk; returns how many were written."""
    items = list(entries)
    AuditEntry.objects.bulk_create(items, batch_size=batch_size)
    return len(items)
