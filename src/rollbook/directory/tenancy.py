"""Tenancy: one installation, many districts (decision 0008).

An account is a person, and a person may hold roles in two districts (a parent whose children
are in two districts, a teacher who is a parent elsewhere). The rule that follows:

    No action taken in or for district A — a sync, a self-check fix, an adoption, a merge, a
    bulk action, an administrator's edit — changes any field of an account that holds an
    active role in another district, or gives it a role, except through an exact name + email
    + phone match that only adds A's own role.

This module answers the one question every such action asks: which of these accounts hold an
active role outside the district? Roles are staff roles, guardian links, class memberships and
administrator roles.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from django.db.models import QuerySet

from rollbook.errors import UserError

from .models import (
    AdministratorRole,
    ClassMembership,
    GuardianLink,
    StaffRole,
    Status,
)

MANY = 20_000  # accounts to ask about: above this, one read of every outside role is cheaper


def _outside(district_id: int) -> list[QuerySet]:
    """For each kind of role: the active roles held outside the district."""
    return [
        StaffRole.objects.filter(status=Status.ACTIVE).exclude(school__district_id=district_id),
        GuardianLink.objects.filter(status=Status.ACTIVE).exclude(student__district_id=district_id),
        ClassMembership.objects.filter(status=Status.ACTIVE, account__isnull=False).exclude(
            school_class__school__district_id=district_id
        ),
        AdministratorRole.objects.filter(status=Status.ACTIVE).exclude(district_id=district_id),
    ]


def accounts_in_other_districts(district_id: int, accounts: Iterable[int]) -> set[int]:
    """The accounts among ``accounts`` that hold an active role outside the district."""
    ids = sorted(set(accounts))
    if not ids:
        return set()
    found: set[int] = set()
    if len(ids) > MANY:
        wanted = set(ids)
        for roles in _outside(district_id):
            found.update(
                a for a in roles.values_list("account_id", flat=True).distinct() if a in wanted
            )
        return found
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for roles in _outside(district_id):
            found.update(
                roles.filter(account_id__in=chunk).values_list("account_id", flat=True).distinct()
            )
    return found


def refuse_outside(district_id: int, accounts: Collection[int], doing: str) -> None:
    """A UserError if any of the accounts holds a role in another district: ``doing`` would
    change another district's person."""
    outside = accounts_in_other_districts(district_id, accounts)
    if outside:
        raise UserError(
            f"{doing} would change {len(outside)} account(s) that also belong to another "
            "district; Rollbook changes such accounts only from the SIS, on an exact match of "
            "name, email and phone. Nothing was changed."
        )
