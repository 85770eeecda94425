"""What the self-check's report asks of the directory after the sync's apply, from either
rehearsal: the full one (the directory itself, inside the transaction before its rollback:
:class:`Applied`) or the foreseen apply (``sync.forecast.Forecast``, which answers the same
questions from the plan and the directory as it is).

Both answer in the same shapes, so the report is written by one function whichever ran
(``services._Check._write``), and the tests compare the two reports whole.
"""

from __future__ import annotations

from typing import Protocol

from rollbook.directory.models import Account, GuardianLink, School, StaffRole, Status
from rollbook.sync.models import RunIssue, SyncRun, SyncSource


class After(Protocol):
    adopted_students: set[int] | dict[int, int]  # still entered by hand in the directory read
    adopted_schools: set[int]

    def schools(self) -> dict[int, tuple[str, str]]:
        """The source's active schools: id → (sourcedId, name)."""

    def reused(self, accounts: set[int]) -> set[int]:
        """Which of these accounts hold an active guardian link or staff role of the source."""

    def names(self, accounts: set[int]) -> dict[int, str]:
        """The accounts' names."""

    def skips(self) -> list[dict]:
        """The run's ``SYNC-REFERENCE-MISSING`` issues in order: entity, sourced_id, message."""


class Applied:
    """The directory as the full rehearsal's apply left it (read before the rollback): what
    the sync adopted is no longer entered by hand there, so nothing needs leaving out."""

    adopted_students: set[int] = frozenset()
    adopted_schools: set[int] = frozenset()

    def __init__(self, run: SyncRun, source: SyncSource):
        self.run, self.source = run, source

    def schools(self) -> dict[int, tuple[str, str]]:
        return {
            pk: (sid, name)
            for pk, sid, name in School.objects.filter(
                source=self.source, status=Status.ACTIVE
            ).values_list("pk", "sourced_id", "name")
        }

    def reused(self, accounts: set[int]) -> set[int]:
        found: set[int] = set()
        ordered = sorted(accounts)
        for model in (GuardianLink, StaffRole):
            for i in range(0, len(ordered), 900):
                found.update(
                    model.objects.filter(
                        source=self.source,
                        status=Status.ACTIVE,
                        account_id__in=ordered[i : i + 900],
                    ).values_list("account_id", flat=True)
                )
        return found

    def names(self, accounts: set[int]) -> dict[int, str]:
        return {a.pk: a.name for a in Account.objects.filter(pk__in=sorted(accounts))}

    def skips(self) -> list[dict]:
        return [
            {"entity": i.entity, "sourced_id": i.sourced_id, "message": i.message}
            for i in RunIssue.objects.filter(run=self.run, code="SYNC-REFERENCE-MISSING").order_by(
                "id"
            )
        ]
