"""Directory actions done by people (as opposed to the sync): districts, administrators, staff.

Every action here is all or nothing and writes the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from rollbook.errors import UserError

from . import audit, counts
from .contacts import (
    ContactError,
    PersonKey,
    check_name,
    clean_name,
    name_key,
    normalize_email,
    normalize_phone,
)
from .models import Account, AdministratorRole, District, Origin, School, StaffRole, Status


@dataclass
class Person:
    """A person as entered by hand, with normalised email and phone."""

    given_name: str
    family_name: str
    email: str | None
    phone: str | None

    @property
    def key(self) -> PersonKey:
        return PersonKey.of(self.given_name, self.family_name, self.email, self.phone)

    @classmethod
    def parse(
        cls, given_name: str, family_name: str, email: str | None, phone: str | None, region: str
    ) -> Person:
        """Normalise a person's details; raises ContactError for a name holding a hidden
        character (``contacts.HIDDEN_CHARACTERS``) or a malformed email or phone."""
        check_name(given_name)
        check_name(family_name)
        return cls(
            clean_name(given_name),
            clean_name(family_name),
            normalize_email(email),
            normalize_phone(phone, region),
        )


def typed_name(value: str | None, what: str) -> str:
    """A name typed by hand, cleaned (Unicode NFC, whitespace folded).

    Raises:
        UserError: the name holds a hidden character (``contacts.HIDDEN_CHARACTERS``); the
            message says ``what`` name and which character.
    """
    try:
        check_name(value)
    except ContactError as exc:
        raise UserError(f"{what}: {exc}") from None
    return clean_name(value)


def account_key(account: Account) -> PersonKey:
    return PersonKey.of(account.given_name, account.family_name, account.email, account.phone)


class IdentityConflict(UserError):
    """An email or phone already identifies a different person."""


def find_account(person: Person) -> Account | None:
    """The active account that is exactly this person, or ``None``.

    Raises:
        IdentityConflict: the email or phone belongs to an active account whose name, email
            and phone are not all the same — giving it to this person would hand them
            someone else's sign-in.
    """
    lookups = Q()
    if person.email:
        lookups |= Q(email=person.email)
    if person.phone:
        lookups |= Q(phone=person.phone)
    if not lookups:
        return None
    holders = list(Account.objects.filter(lookups, is_active=True))
    for holder in holders:
        if account_key(holder) == person.key:
            return holder
    if holders:
        fields = []
        if person.email and any(h.email == person.email for h in holders):
            fields.append("email")
        if person.phone and any(h.phone == person.phone for h in holders):
            fields.append("phone")
        raise IdentityConflict(
            f"the {' and '.join(fields)} of {person.given_name} {person.family_name} already "
            "belong to another person's account (name, email and phone differ); use the exact "
            "same name, email and phone as that account if it is the same person, otherwise "
            "a different email or phone"
        )
    return None


@transaction.atomic
def get_district(district_id: int | None) -> District:
    """The district a command names; without an id, the only one there is. A UserError that
    says what to do otherwise."""
    if district_id is None:
        districts = list(District.objects.all()[:2])
        if len(districts) == 1:
            return districts[0]
        if not districts:
            raise UserError("there is no district yet; run 'rollbook init' first")
        raise UserError("there are several districts; name one with --district ID")
    found = District.objects.filter(pk=district_id).first()
    if found is None:
        raise UserError(
            f"no district with id {district_id}; 'rollbook export districts' lists them"
        )
    return found


def create_district(name: str, actor: audit.Actor, default_region: str = "US") -> District:
    name = clean_name(name)
    if not name:
        raise UserError("the district needs a name")
    if District.objects.filter(name=name).exists():
        existing = District.objects.get(name=name)
        raise UserError(f"a district named '{name}' exists already (id {existing.pk})")
    district = District.objects.create(name=name, default_region=default_region.upper())
    audit.record(
        [audit.entry(actor, "create", district, district=district, after=audit.snapshot(district))]
    )
    return district


@transaction.atomic
def create_administrator(
    district: District,
    email: str,
    password: str,
    actor: audit.Actor,
    *,
    given_name: str = "District",
    family_name: str = "Administrator",
    school: School | None = None,
) -> Account:
    """Create an administrator sign-in for a district (or one of its schools)."""
    given_name = typed_name(given_name, "administrator given name")
    family_name = typed_name(family_name, "administrator family name")
    try:
        address = normalize_email(email)
    except ContactError as exc:
        raise UserError(f"administrator email: {exc}") from None
    if not address:
        raise UserError("the administrator needs an email address to sign in with")
    if Account.objects.filter(email=address, is_active=True).exists():
        raise UserError(f"an active account already signs in with {address}; choose another email")
    try:
        validate_password(password)
    except ValidationError as exc:
        raise UserError("administrator password: " + " ".join(exc.messages)) from None
    account = Account(given_name=given_name, family_name=family_name, email=address)
    account.set_password(password)
    account.save()
    role = AdministratorRole.objects.create(account=account, district=district, school=school)
    audit.record(
        [
            audit.entry(actor, "create", account, district=district, after=audit.snapshot(account)),
            audit.entry(actor, "grant", role, district=district, after=audit.snapshot(role)),
        ]
    )
    return account


@transaction.atomic
def add_staff(
    school: School, person: Person, role: str, actor: audit.Actor
) -> tuple[Account, StaffRole]:
    """Give a person a staff role at a school, reusing their account when it is exactly them.

    Raises:
        UserError: a name holds a hidden character.
    """
    person = Person(
        typed_name(person.given_name, "given name"),
        typed_name(person.family_name, "family name"),
        person.email,
        person.phone,
    )
    kept = counts.hold([school.district_id])  # the district's overview counts (counts.py)
    account = find_account(person)
    entries = []
    if account is None:
        account = Account.objects.create(
            given_name=person.given_name,
            family_name=person.family_name,
            email=person.email,
            phone=person.phone,
            password="!",
            origin=Origin.MANUAL,
        )
        entries.append(
            audit.entry(
                actor, "create", account, district=school.district_id, after=audit.snapshot(account)
            )
        )
    staff_role = StaffRole.objects.create(account=account, school=school, role=role)
    if kept:  # one more staff member, unless already staff at a school of the district
        others = StaffRole.objects.filter(
            account=account, status=Status.ACTIVE, school__district_id=school.district_id
        ).exclude(pk=staff_role.pk)
        counts.add(school.district_id, staff=0 if others.exists() else 1)
    entries.append(
        audit.entry(
            actor,
            "create",
            staff_role,
            district=school.district_id,
            after=audit.snapshot(staff_role),
        )
    )
    audit.record(entries)
    return account, staff_role


@transaction.atomic
def rename_school(district: District, school_id: int, name: str, actor: audit.Actor) -> School:
    """Rename a school entered by hand (say, to the SIS school's exact name before the first
    sync, so that the sync adopts it). A synced school's name belongs to the SIS."""
    school = School.objects.select_for_update().filter(district=district, pk=school_id).first()
    if school is None:
        raise UserError(
            f"no school {school_id} in {district.name}; 'rollbook export districts' lists them"
        )
    if school.is_synced:
        raise UserError(
            f"{school.name} comes from the SIS, which owns its name; rename it in the SIS"
        )
    name = typed_name(name, "the school's name")
    _check_school_name(district, name, school.pk)
    audit.change(actor, "rename", school, {"name": name}, district=district)
    return school


def _check_school_name(district: District, name: str, school_id: int | None = None) -> None:
    """A school's name must be there and be the district's only one (letter case and spacing
    aside): the sync adopts a school entered by hand only when exactly one has the SIS
    school's name (``sync/adoption.py``)."""
    if not name:
        raise UserError("the school needs a name")
    key = name_key(name)
    for other in School.objects.filter(district=district).exclude(pk=school_id):
        if name_key(other.name) == key:
            raise UserError(
                f"{district.name} has a school named '{other.name}' already; "
                "give each school its own name"
            )


@transaction.atomic
def add_school(district: District, name: str, actor: audit.Actor, identifier: str = "") -> School:
    """Add a school by hand (audited) — before the first sync, with the SIS school's exact
    name: the sync then adopts it (``sync/adoption.py``) instead of creating a second one.

    Raises:
        UserError: no name, a hidden character in it, or another school of the district
            with the same name.
    """
    District.objects.select_for_update().filter(pk=district.pk).first()  # one add at a time
    name = typed_name(name, "the school's name")
    _check_school_name(district, name)
    identifier = typed_name(identifier, "the school's identifier")[:255]
    school = School.objects.create(district=district, name=name, identifier=identifier)
    audit.record(
        [
            audit.entry(
                actor,
                "create",
                school,
                district=district,
                after=audit.snapshot(school, ["name", "identifier"]),
            )
        ]
    )
    return school
