"""Apply, people: accounts created, re-described, followed and (de)activated.

The decisions were made in the plan (``identity.py``); this module writes them:

- new accounts, and accounts re-described in place, with identifiers moved in two steps so
  that two accounts never hold one email or phone, even for a moment;
- a person who moved to another account takes every role, guardian link and class membership
  of theirs along — the old account keeps no access to their students;
- an account left with no active role is deactivated (never deleted); one that regains a role is
  reactivated, without any identifier that someone else holds meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, Q

from rollbook.directory import audit
from rollbook.directory.models import (
    Account,
    AdministratorRole,
    ClassMembership,
    GuardianLink,
    Origin,
    StaffRole,
    Status,
)

from .models import RunIssue, SyncRecord
from .plan import rows as _rows

if TYPE_CHECKING:
    from .apply import Writer

IDENTIFIERS = ("email", "phone")


def apply_people(writer: Writer) -> None:
    identity = writer.plan.identity
    run, actor = writer.run, writer.actor
    updates = {r["account"]: r for r in _rows(identity["account_updates"])}
    # 1. Release identifiers that re-described accounts give up.
    current = {a.pk: a for a in Account.objects.filter(pk__in=list(updates))}
    releasing = []
    for pk, row in updates.items():
        account = current[pk]
        changed = [n for n in IDENTIFIERS if getattr(account, n) != row[n]]
        if changed:
            releasing.append(pk)
    Account.objects.filter(pk__in=releasing).update(email=None, phone=None)
    # 2. New accounts.
    refs: dict[int, int] = {}
    new = [
        (
            row["ref"],
            Account(
                given_name=row["given_name"],
                family_name=row["family_name"],
                email=row["email"],
                phone=row["phone"],
                password="!",
                origin=Origin.SYNCED,
                created_by_run=run,
            ),
        )
        for row in _rows(identity["new_accounts"])
    ]
    Account.objects.bulk_create([a for _, a in new], batch_size=5000)
    for ref, account in new:
        refs[ref] = account.pk
        writer.audit.append(
            audit.entry(
                actor,
                "create",
                object_type="account",
                object_id=account.pk,
                district=writer.district_id,
                after=audit.snapshot(account),
            )
        )
    # 3. Re-described accounts take their new details.
    changed_accounts = []
    for pk, row in updates.items():
        account = current[pk]
        before = audit.snapshot(account, ["given_name", "family_name", "email", "phone"])
        for name in ("given_name", "family_name", *IDENTIFIERS):
            setattr(account, name, row[name])
        after = audit.snapshot(account, ["given_name", "family_name", "email", "phone"])
        if before != after:
            changed_accounts.append(account)
            writer.audit.append(
                audit.entry(
                    actor,
                    "update",
                    object_type="account",
                    object_id=pk,
                    district=writer.district_id,
                    before=before,
                    after=after,
                )
            )
    Account.objects.bulk_update(
        changed_accounts, ["given_name", "family_name", *IDENTIFIERS], batch_size=5000
    )
    # 4. Person records → accounts, remembered in the source's state.
    withheld = set(identity["withheld"]["sourced_id"].to_pylist())
    person_plan = writer.plan.entities["person"]
    fingerprints = {}
    for table in (
        person_plan.create,
        person_plan.update,
        person_plan.reactivate,
        identity["rechecked"],
    ):
        for row in _rows(table.select(["sourced_id", "fingerprint"])):
            fingerprints[row["sourced_id"]] = row["fingerprint"]
    for row in _rows(identity["person_account"]):
        account = refs.get(row["account"], row["account"])
        writer.ids["person"][row["sourced_id"]] = account
        # A person whose identifier was withheld is resolved again next time.
        writer._record(
            "person",
            row,
            account,
            fingerprints[row["sourced_id"]],
            withheld=row["sourced_id"] in withheld,
        )
        writer.moved[row["sourced_id"]] = (row["previous_account"], account)
    for row in _rows(person_plan.archive):
        writer.records.append(
            SyncRecord(
                source=writer.source,
                entity="person",
                sourced_id=row["sourced_id"],
                fingerprint=0,
                local_id=row["local_id"],
                active=False,
                last_run=run,
            )
        )
    counts = dict(writer.plan.summary.get("identity", {}))
    counts["people_archived"] = person_plan.archive.num_rows
    writer.outcome.identity = counts
    writer.outcome.counts["person"] = person_plan.counts() | {
        "archived": person_plan.archive.num_rows
    }
    for row in _rows(identity["conflicts"]):
        holder = row["holder_account"]
        writer.issues.append(
            RunIssue(
                run=run,
                code=row["code"],
                severity="warning",
                entity="person",
                sourced_id=row["person_sourced_id"],
                account_id=holder,
                message=row["message"],
                detail={"field": row["field"], "holder_sourced_id": row["holder_sourced_id"]},
            )
        )


def follow_moved_people(writer: Writer) -> None:
    """A person now on another account takes their roles, links and memberships along."""
    source = writer.source
    for sid, (previous, account) in writer.moved.items():
        if previous is None or previous == account:
            continue
        for model in (StaffRole, GuardianLink, ClassMembership):
            ids = list(
                model.objects.filter(
                    source=source, person_sourced_id=sid, account_id=previous
                ).values_list("pk", flat=True)
            )
            if not ids:
                continue
            model.objects.filter(pk__in=ids).update(account_id=account, last_run=writer.run)
            writer.audit.extend(
                audit.entry(
                    writer.actor,
                    "move",
                    object_type=model._meta.model_name,
                    object_id=pk,
                    district=writer.district_id,
                    before={"account": previous},
                    after={"account": account},
                    note=f"SIS person {sid} is now account {account}",
                )
                for pk in ids
            )


def _touched_accounts(writer: Writer) -> set[int]:
    run = writer.run
    touched: set[int] = set()
    for model in (StaffRole, GuardianLink, ClassMembership):
        touched.update(
            model.objects.filter(last_run=run, account__isnull=False).values_list(
                "account_id", flat=True
            )
        )
    touched.update(Account.objects.filter(created_by_run=run).values_list("pk", flat=True))
    for previous, account in writer.moved.values():
        touched.add(account)
        if previous is not None:
            touched.add(previous)
    return touched


def _has_role() -> Q:
    active = Status.ACTIVE
    return (
        Q(Exists(StaffRole.objects.filter(account=OuterRef("pk"), status=active)))
        | Q(Exists(GuardianLink.objects.filter(account=OuterRef("pk"), status=active)))
        | Q(Exists(AdministratorRole.objects.filter(account=OuterRef("pk"), status=active)))
        | Q(Exists(ClassMembership.objects.filter(account=OuterRef("pk"), status=active)))
    )


def settle_activity(writer: Writer) -> None:
    """Deactivate accounts left with no active role; reactivate those that regained one."""
    touched = sorted(_touched_accounts(writer))
    deactivate, reactivate = [], []
    for i in range(0, len(touched), 900):
        chunk = touched[i : i + 900]
        deactivate += list(
            Account.objects.filter(pk__in=chunk, is_active=True)
            .exclude(_has_role())
            .values_list("pk", flat=True)
        )
        reactivate += list(
            Account.objects.filter(pk__in=chunk, is_active=False).filter(_has_role())
        )
    for i in range(0, len(deactivate), 900):
        Account.objects.filter(pk__in=deactivate[i : i + 900]).update(
            is_active=False, deactivated_at=writer.now
        )
    writer.audit.extend(
        audit.entry(
            writer.actor,
            "deactivate",
            object_type="account",
            object_id=pk,
            district=writer.district_id,
            before={"is_active": True},
            after={"is_active": False},
            note="no active role left",
        )
        for pk in deactivate
    )
    for account in reactivate:
        before = audit.snapshot(account, ["is_active", *IDENTIFIERS])
        for name in IDENTIFIERS:
            value = getattr(account, name)
            if value and Account.objects.filter(is_active=True, **{name: value}).exists():
                writer.issues.append(
                    RunIssue(
                        run=writer.run,
                        code=f"SYNC-{name.upper()}-TAKEN",
                        entity="account",
                        sourced_id="",
                        account=account,
                        message=f"account {account.pk} was reactivated without its {name} "
                        f"{value}: another active account uses it now.",
                        detail={"field": name},
                    )
                )
                setattr(account, name, None)
        account.is_active, account.deactivated_at = True, None
        account.save(update_fields=["is_active", "deactivated_at", *IDENTIFIERS])
        writer.audit.append(
            audit.entry(
                writer.actor,
                "reactivate",
                object_type="account",
                object_id=account.pk,
                district=writer.district_id,
                before=before,
                after=audit.snapshot(account, ["is_active", *IDENTIFIERS]),
            )
        )
    writer.outcome.identity["accounts_deactivated"] = len(deactivate)
    writer.outcome.identity["accounts_reactivated"] = len(reactivate)
