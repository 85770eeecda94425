"""Administrators of a district and of its schools: invite, list, deactivate, reactivate, and
the set-password link sent by email.

An administrator is an :class:`~rollbook.directory.models.AdministratorRole` of an account:
of the whole district (``school`` empty) or of one of its schools. The rules:

- an invitation creates the account without a password (or gives the role to the account that
  is exactly this person: same email *and* same name — never to another person's account) and
  sends a link to choose a password: Django's password-reset tokens, which stop working once
  the password is set, after ``PASSWORD_RESET_TIMEOUT`` (3 days), or once the person signs in;
- deactivating ends the role, not the account (the account may be a parent, a teacher, or an
  administrator elsewhere): the person's next page is a page without this place. Nobody
  deactivates themselves, and a district always keeps an active district administrator —
  checked under a lock on the district row, so two administrators deactivating each other at
  once cannot both succeed;
- reactivating gives the role back; nothing is ever deleted;
- every change is audited (``directory/audit.py``) with the district it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from rollbook.errors import UserError

from . import audit
from .contacts import ContactError, name_key, normalize_email
from .models import Account, AdministratorRole, District, School, Status
from .services import typed_name

INVITE, DEACTIVATE, REACTIVATE, SEND_LINK, SET_PASSWORD = (
    "invite",
    "deactivate",
    "reactivate",
    "send-password-link",
    "set-password",
)


@dataclass(frozen=True)
class Invitation:
    """An administrator role just granted, and the link that lets the person choose a
    password (``None`` when their account has one already: they sign in with it)."""

    role: AdministratorRole
    created_account: bool
    link: str | None


def where(role: AdministratorRole) -> str:
    """What a role covers, in words: "the whole district" or the school's name."""
    return "the whole district" if role.school_id is None else role.school.name


def title(role: AdministratorRole) -> str:
    """ "district administrator of Test District", "school administrator of Lincoln"."""
    place = role.district.name if role.school_id is None else role.school.name
    return f"{role.scope_label} of {place}"


# --- reading ---------------------------------------------------------------------------------


def administrators(district: District) -> QuerySet[AdministratorRole]:
    """The district's administrator roles: active first, the whole district's first, then by
    name."""
    return (
        AdministratorRole.objects.filter(district=district)
        .select_related("account", "school", "district")
        .order_by(
            "status",
            F("school__name").asc(nulls_first=True),
            "account__family_name",
            "account__given_name",
            "pk",
        )
    )


def role_of(district: District, role_id: int) -> AdministratorRole | None:
    return administrators(district).filter(pk=role_id).first()


def roles_for_email(district: District, email: str, school_id: int | None = None):
    """The district's roles of the account signing in with ``email`` (its school's only with
    ``school_id``). A UserError when there is none."""
    address = (email or "").strip().lower()
    roles = administrators(district).filter(account__email=address)
    if school_id is not None:
        roles = roles.filter(school_id=school_id)
    found = list(roles)
    if not found:
        where_ = f" for school {school_id}" if school_id is not None else ""
        raise UserError(
            f"{address} is not an administrator of {district.name}{where_}; "
            "'rollbook admins list' lists them"
        )
    return found


def active_district_administrators(district: District) -> QuerySet[AdministratorRole]:
    return AdministratorRole.objects.filter(
        district=district, school__isnull=True, status=Status.ACTIVE, account__is_active=True
    )


# --- links and email -------------------------------------------------------------------------


def link_days() -> int:
    return max(1, round(settings.PASSWORD_RESET_TIMEOUT / 86400))


def password_link(account: Account) -> str:
    """A link to choose a password: it works once, for ``link_days()`` days."""
    uid = urlsafe_base64_encode(force_bytes(account.pk))
    token = default_token_generator.make_token(account)
    path = reverse("web:password-set", kwargs={"uidb64": uid, "token": token})
    return settings.ROLLBOOK_BASE_URL.rstrip("/") + path


def sign_in_link() -> str:
    return settings.ROLLBOOK_BASE_URL.rstrip("/") + reverse("web:sign-in")


def invitation_email(invitation: Invitation, inviter: str) -> tuple[str, str]:
    """The invitation's subject and text."""
    role, account = invitation.role, invitation.role.account
    subject = f"[Rollbook] You are invited to administer {_place(role)}"
    lines = [
        f"Hello {account.given_name},",
        "",
        f"{inviter} made you {title(role)} in Rollbook, the directory of families, students",
        f"and staff of {role.district.name}.",
        "",
    ]
    if invitation.link:
        lines += [
            f"Choose your password with this link (it works once, for {link_days()} days):",
            invitation.link,
            "",
            f"Then sign in at {sign_in_link()} with this email address ({account.email}).",
        ]
    else:
        lines += [
            f"Sign in at {sign_in_link()} with this email address ({account.email}) and the",
            "password you already use for Rollbook.",
        ]
    lines += ["", "If you did not expect this email, tell your district's IT administrator."]
    return subject, "\n".join(lines) + "\n"


def reset_email(account: Account, link: str) -> tuple[str, str]:
    subject = "[Rollbook] Choose a new password"
    body = "\n".join(
        [
            f"Hello {account.given_name},",
            "",
            "Your district administrator sent you a link to choose a new Rollbook password",
            f"(it works once, for {link_days()} days):",
            link,
            "",
            f"Then sign in at {sign_in_link()} with this email address ({account.email}).",
            "Your current password keeps working until you choose a new one.",
            "",
            "If you did not ask for this, you can ignore this email.",
        ]
    )
    return subject, body + "\n"


def send(account: Account, subject: str, body: str) -> None:
    """Send one email to the account (Django's email framework, ``EMAIL_BACKEND``).

    Raises:
        UserError: the email could not be sent; the message says what to do.
    """
    try:
        EmailMessage(subject, body, to=[account.email]).send()
    except Exception as exc:  # an SMTP server away or misconfigured
        raise UserError(
            f"the email to {account.email} could not be sent ({type(exc).__name__}); check "
            "the email settings (ROLLBOOK_EMAIL_HOST), then send a new link (the "
            "Administrators tab, or 'rollbook admins password-link')"
        ) from None


def _place(role: AdministratorRole) -> str:
    if role.school_id is None:
        return role.district.name
    return f"{role.school.name} ({role.district.name})"


# --- changes ---------------------------------------------------------------------------------


@transaction.atomic
def invite(
    district: District,
    *,
    email: str,
    given_name: str,
    family_name: str,
    school: School | None,
    actor: audit.Actor,
) -> Invitation:
    """Make a person administrator of the district (``school`` empty) or of one of its schools.

    Raises:
        UserError: a name or the email is malformed; the school is another district's; the
            email signs in to another person's account (the name differs); the person is
            already an administrator of that place.
    """
    given = typed_name(given_name, "given name")
    family = typed_name(family_name, "family name")
    if not given or not family:
        raise UserError("the administrator needs a given name and a family name")
    try:
        address = normalize_email(email)
    except ContactError as exc:
        raise UserError(f"email: {exc}") from None
    if not address:
        raise UserError("the administrator needs an email address to sign in with")
    if school is not None and school.district_id != district.pk:
        raise UserError(f"{school.name} is not a school of {district.name}")
    account = Account.objects.select_for_update().filter(email=address, is_active=True).first()
    entries = []
    created = account is None
    if account is None:
        account = Account(given_name=given, family_name=family, email=address)
        account.set_unusable_password()
        try:
            with transaction.atomic():
                account.save()
        except IntegrityError:  # the same email, invited at the same moment by someone else
            raise UserError(f"{address} was just given to another account; try again") from None
        entries.append(
            audit.entry(actor, "create", account, district=district, after=_account(account))
        )
    elif (name_key(account.given_name), name_key(account.family_name)) != (
        name_key(given),
        name_key(family),
    ):
        raise UserError(
            f"{address} already signs in to the account of a person with another name; if it "
            "is the same person, type their name exactly as it is known, otherwise use another "
            "email address"
        )
    existing = AdministratorRole.objects.filter(account=account, district=district, school=school)
    if (found := existing.first()) is not None:
        state = "" if found.status == Status.ACTIVE else " (deactivated: reactivate them instead)"
        raise UserError(f"{account.name} is already {title(found)}{state}")
    role = AdministratorRole.objects.create(account=account, district=district, school=school)
    entries.append(audit.entry(actor, INVITE, role, district=district, after=_role(role)))
    audit.record(entries)
    link = None if account.has_usable_password() else password_link(account)
    return Invitation(role, created, link)


def _lock(district: District) -> None:
    """Serialise changes to a district's administrators (PostgreSQL: a row lock; SQLite:
    transactions are immediate already)."""
    District.objects.select_for_update().filter(pk=district.pk).first()


@transaction.atomic
def deactivate(role: AdministratorRole, actor: audit.Actor) -> AdministratorRole:
    """End an administrator role (the account stays, with any other role it has).

    Raises:
        UserError: it is the actor's own role, the district's last active district
            administrator's, or already deactivated.
    """
    _lock(role.district)
    role = AdministratorRole.objects.select_related("account", "district", "school").get(pk=role.pk)
    if role.status != Status.ACTIVE:
        raise UserError(f"{role.account.name} is no longer {title(role)} already")
    if actor.account is not None and actor.account.pk == role.account_id:
        raise UserError("you cannot deactivate yourself; another district administrator can do it")
    if role.school_id is None and not active_district_administrators(role.district).exclude(
        pk=role.pk
    ):
        raise UserError(
            f"{role.account.name} is the last active district administrator of "
            f"{role.district.name}; invite or reactivate another one first"
        )
    return _set_status(role, Status.ARCHIVED, DEACTIVATE, actor)


@transaction.atomic
def reactivate(role: AdministratorRole, actor: audit.Actor) -> AdministratorRole:
    """Give a deactivated administrator their role back.

    Raises:
        UserError: the role is active, or the account itself is closed (the email may
            sign in to another account now): invite the person again instead.
    """
    _lock(role.district)
    role = AdministratorRole.objects.select_related("account", "district", "school").get(pk=role.pk)
    if role.status == Status.ACTIVE:
        raise UserError(f"{role.account.name} is {title(role)} already")
    if not role.account.is_active:
        raise UserError(
            f"{role.account.name}'s account is closed; invite them again with their email"
        )
    return _set_status(role, Status.ACTIVE, REACTIVATE, actor)


def _set_status(role, status: str, action: str, actor: audit.Actor) -> AdministratorRole:
    before = _role(role)
    role.status = status
    role.save(update_fields=["status"])
    audit.record(
        [audit.entry(actor, action, role, district=role.district, before=before, after=_role(role))]
    )
    return role


def password_reset(role: AdministratorRole, actor: audit.Actor) -> str:
    """A new set-password link for an active administrator (audited; the link itself is not
    recorded). The current password keeps working until a new one is chosen.

    Raises:
        UserError: the role is deactivated or the account closed.
    """
    if role.status != Status.ACTIVE or not role.account.is_active:
        raise UserError(f"{role.account.name} is not an active administrator; reactivate first")
    with transaction.atomic():
        audit.record(
            [
                audit.entry(
                    actor,
                    SEND_LINK,
                    role.account,
                    district=role.district,
                    note="a link to choose a new password",
                )
            ]
        )
    return password_link(role.account)


def password_chosen(account: Account) -> None:
    """Audit a password chosen through a link, in each district the account administers."""
    districts = (
        AdministratorRole.objects.filter(account=account, status=Status.ACTIVE)
        .values_list("district_id", flat=True)
        .distinct()
    )
    actor = audit.Actor(account=account)
    audit.record(
        audit.entry(actor, SET_PASSWORD, account, district=d, note="through an emailed link")
        for d in sorted(set(districts))
    )


def _account(account: Account) -> dict:
    return audit.snapshot(account, ["given_name", "family_name", "email"])


def _role(role: AdministratorRole) -> dict:
    return audit.snapshot(role, ["account_id", "district_id", "school_id", "status"])
