"""Guardian links when a student entered by hand becomes, or joins, a synced student.

After an adoption (``sync/adoption.py``) or a merge (``services.py``) exactly the SIS's
guardian links are active, plus the ones an administrator chose to keep:

- a link entered by hand to an account the SIS also links to the student is **folded** into
  the SIS's link (archived: the only active link for that account is the synced one);
- a link entered by hand to a guardian the SIS does not list for the student is **dropped**
  (archived) unless an administrator ticked it; then it is **kept by hand**, and the
  student's page says so, with who kept it and when (from the ``keep_by_hand`` audit entry).

Nothing is deleted; every fold, drop and keep is audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from django.utils.dateparse import parse_datetime

from rollbook.directory import audit
from rollbook.directory.models import AuditEntry, GuardianLink, Status

KEEP = "keep_by_hand"  # the audit action of a link kept by hand


def who(actor: audit.Actor) -> str:
    """The actor as an administrator reads it: a name, or the command line's label."""
    return actor.account.name if actor.account is not None else actor.label


def merge_entries(
    actor: audit.Actor,
    record,  # StudentMerge
    kept: list[GuardianLink],
    dropped: list[GuardianLink],
    folded: list[tuple[GuardianLink, int]],  # (old link, the survivor's link it folds into)
    deactivated: list[int],
) -> Iterator[AuditEntry]:
    """One audit entry per guardian link a merge kept, dropped or folded, and per account it
    deactivated."""
    district, survivor, name = record.district_id, record.survivor_id, who(actor)
    for link in kept:
        yield audit.entry(
            actor,
            KEEP,
            link,
            district=district,
            before={"student": record.old_student_id},
            after={
                "student": survivor,
                "kept_by": name,
                "chosen_at": record.created_at.isoformat(),
                "merge": record.pk,
            },
            note=f"kept by hand: the SIS does not list {link.account.name} as a guardian of "
            f"student {survivor}; {name} chose to keep the link in merge {record.pk}",
        )
    for link in dropped:
        yield audit.entry(
            actor,
            "archive",
            link,
            district=district,
            before={"status": Status.ACTIVE},
            after={"status": Status.ARCHIVED, "merge": record.pk},
            note=f"not kept in merge {record.pk}: the SIS does not list {link.account.name} as "
            f"a guardian of student {survivor}",
        )
    for link, into in folded:
        yield audit.entry(
            actor,
            "archive",
            link,
            district=district,
            before={"status": Status.ACTIVE},
            after={"status": Status.ARCHIVED, "folded_into": into, "merge": record.pk},
            note=f"folded into guardian link {into} of student {survivor} (the same account) "
            f"in merge {record.pk}",
        )
    for pk in deactivated:
        yield audit.entry(
            actor,
            "deactivate",
            object_type="account",
            object_id=pk,
            district=district,
            before={"is_active": True},
            after={"is_active": False, "merge": record.pk},
            note=f"no active role left after merge {record.pk}",
        )


def kept_by_hand(student, links: Iterable[GuardianLink]) -> dict[int, dict]:
    """Of a synced student's active links entered by hand, those an administrator kept (in a
    merge or at an adoption): link id → {"by": who chose, "at": when}."""
    if student.origin != "synced":
        return {}
    ids = [link.pk for link in links if link.source_id is None and link.status == Status.ACTIVE]
    found: dict[int, dict] = {}
    entries = AuditEntry.objects.filter(
        object_type="guardianlink", object_id__in=ids, action=KEEP
    ).select_related("actor")
    for e in entries.order_by("at", "id"):  # the latest choice wins
        after = e.after or {}
        at = parse_datetime(after.get("chosen_at") or "") or e.at
        found[e.object_id] = {
            "by": after.get("kept_by") or (e.actor.name if e.actor else e.actor_label),
            "at": at if isinstance(at, dt.datetime) else e.at,
        }
    return found
