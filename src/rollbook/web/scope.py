"""What a signed-in administrator may see and act on: the one place the web app asks.

A district administrator's scope is every school of the district; a school administrator's is
the schools they were given. Every page, list and action starts from a :class:`Scope`, and
anything outside it is a plain 404 — the same answer as for something that does not exist, so
an id outside one's scope tells nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from rollbook.directory.models import (
    Account,
    AdministratorRole,
    ClassMembership,
    District,
    GuardianLink,
    School,
    SchoolClass,
    StaffRole,
    Status,
    Student,
)


@dataclass(frozen=True)
class Scope:
    """The districts an account administers whole, and every school it may see."""

    account_id: int | None
    full_districts: frozenset[int]
    school_ids: frozenset[int]  # every school in scope, those of full districts included
    district_ids: frozenset[int]  # every district with a school in scope
    extra_schools: frozenset[int] = frozenset()  # schools given one by one, outside those

    @classmethod
    def empty(cls) -> Scope:
        return cls(None, frozenset(), frozenset(), frozenset())

    @classmethod
    def for_account(cls, account) -> Scope:
        """The scope of an account's *active* administrator roles (none: an empty scope)."""
        if account is None or not account.is_authenticated or not account.is_active:
            return cls.empty()
        roles = list(
            AdministratorRole.objects.filter(account=account, status=Status.ACTIVE).values_list(
                "district_id", "school_id"
            )
        )
        full = frozenset(d for d, s in roles if s is None)
        chosen = {s for d, s in roles if s is not None}
        school_rows = School.objects.filter(Q(district__in=full) | Q(pk__in=chosen)).values_list(
            "pk", "district_id"
        )
        # A school role counts only for a school of the role's own district.
        allowed = {(d, s) for d, s in roles}
        schools = {
            pk: district
            for pk, district in school_rows
            if district in full or (district, pk) in allowed
        }
        return cls(
            account.pk,
            full,
            frozenset(schools),
            frozenset(schools.values()) | full,
            frozenset(pk for pk, district in schools.items() if district not in full),
        )

    # Questions ----------------------------------------------------------------------------

    def is_empty(self) -> bool:
        return not self.school_ids and not self.full_districts

    def administers_district(self, district_id: int) -> bool:
        return district_id in self.full_districts

    # Places -------------------------------------------------------------------------------

    def districts(self) -> QuerySet[District]:
        """Districts the account administers whole."""
        return District.objects.filter(pk__in=self.full_districts)

    def schools(self) -> QuerySet[School]:
        return School.objects.filter(pk__in=self.school_ids)

    def classes(self) -> QuerySet[SchoolClass]:
        return SchoolClass.objects.filter(school__in=self.school_ids)

    def get_district(self, pk: int) -> District:
        """A district page needs a district administrator role; anything else is a 404."""
        if pk not in self.full_districts:
            raise Http404
        return _get(District.objects.all(), pk)

    def get_school(self, pk: int) -> School:
        if pk not in self.school_ids:
            raise Http404
        return _get(School.objects.select_related("district"), pk)

    # People -------------------------------------------------------------------------------

    def students(self) -> QuerySet[Student]:
        """Students of the districts held whole, and of the schools given one by one."""
        if self.is_empty():
            return Student.objects.none()
        if not self.full_districts:  # a school administrator
            return Student.objects.filter(school__in=self.extra_schools)
        if not self.extra_schools:  # a district administrator
            return Student.objects.filter(district__in=self.full_districts)
        return Student.objects.filter(
            Q(district__in=self.full_districts) | Q(school__in=self.extra_schools)
        )

    def get_student(self, pk: int) -> Student:
        return _get(self.students().select_related("school", "district"), pk)

    def guardian_links(self) -> QuerySet[GuardianLink]:
        return GuardianLink.objects.filter(student__school__in=self.school_ids)

    def staff_roles(self) -> QuerySet[StaffRole]:
        return StaffRole.objects.filter(school__in=self.school_ids)

    def memberships(self) -> QuerySet[ClassMembership]:
        return ClassMembership.objects.filter(school_class__school__in=self.school_ids)

    def administrator_roles(self) -> QuerySet[AdministratorRole]:
        """Administrator roles of the schools in scope, and of the districts held whole."""
        return AdministratorRole.objects.filter(
            Q(school__in=self.school_ids) | Q(school__isnull=True, district__in=self.full_districts)
        )

    def accounts(self) -> QuerySet[Account]:
        """Accounts holding a role or link (of any status) inside the scope."""
        if self.is_empty():
            return Account.objects.none()
        linked = (
            Exists(self.guardian_links().filter(account=OuterRef("pk")))
            | Exists(self.staff_roles().filter(account=OuterRef("pk")))
            | Exists(self.memberships().filter(account=OuterRef("pk")))
            | Exists(self.administrator_roles().filter(account=OuterRef("pk")))
        )
        return Account.objects.filter(linked)

    def get_account(self, pk: int) -> Account:
        return _get(self.accounts(), pk)


def _get(queryset: QuerySet, pk: int):
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def scope_of(request) -> Scope:
    """The request's scope, computed once per request."""
    scope = getattr(request, "_rollbook_scope", None)
    if scope is None:
        scope = Scope.for_account(request.user)
        request._rollbook_scope = scope
    return scope
