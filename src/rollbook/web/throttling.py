"""Sign-in throttling: Rollbook's side of django-axes (decision 0007, docs/web.md).

Axes counts failed sign-ins by the pair (email, client address) and, from the
``AXES_FAILURE_LIMIT``-th failure within ``AXES_COOLOFF_TIME``, refuses that pair — before any
password is hashed, the right password included — until the cool-off is over or an
administrator unlocks it. This module gives axes the email as the sign-in reads it, shows the
locked-out sign-in page, writes an audit entry for every lockout and every unlock, and answers
"is this email locked out?" for the account page and the command line.

The tried password is never stored (axes masks it, and the audit entries never see it); the
audit entries name the account by id and the client address axes already keeps, never the
email typed.
"""

from __future__ import annotations

import math
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from rollbook.directory import audit
from rollbook.directory.models import Account, District
from rollbook.errors import UserError

LOCKED_OUT = "sign-in locked out"
UNLOCKED = "sign-in unlocked"
ACTIONS = (LOCKED_OUT, UNLOCKED)
THROTTLING = audit.Actor(label="sign-in throttling")


def normalise(address: str | None) -> str:
    """An email as the sign-in backend reads it: NFKC (as Django's sign-in form), trimmed,
    lower-case."""
    return unicodedata.normalize("NFKC", address or "").strip().lower()


def sign_in_email(request: HttpRequest | None, credentials: dict | None = None) -> str | None:
    """``AXES_USERNAME_CALLABLE``: the email a try is counted under, so that "Admin@X.org" and
    "admin@x.org" are one email (otherwise each spelling would get its own tries)."""
    value = (credentials or {}).get("username") or (credentials or {}).get("email")
    if not value and request is not None:
        value = request.POST.get("username")
    return normalise(value) or None


def cool_off() -> timedelta:
    return settings.AXES_COOLOFF_TIME


def _cool_off_minutes() -> int:
    return math.ceil(cool_off().total_seconds() / 60)


@dataclass(frozen=True)
class Lockout:
    """One email locked out from one client address, until a time."""

    email: str
    ip_address: str | None
    failures: int
    until: datetime

    def minutes_left(self) -> int:
        return max(1, math.ceil((self.until - timezone.now()).total_seconds() / 60))


def lockouts(email: str | None = None) -> list[Lockout]:
    """The lockouts in force now (of one email, or all), soonest over first.

    Axes keeps one row of failures per (email, address, browser) and locks the (email,
    address) pair while the failures of its rows younger than the cool-off reach the limit; so
    a lockout ends when enough of its oldest rows have aged out.
    """
    now, window, limit = timezone.now(), cool_off(), settings.AXES_FAILURE_LIMIT
    rows = AccessAttempt.objects.filter(attempt_time__gte=now - window)
    if email is not None:
        rows = rows.filter(username=normalise(email))
    pairs: dict[tuple[str, str | None], list[tuple[datetime, int]]] = defaultdict(list)
    for username, ip, at, failures in rows.values_list(
        "username", "ip_address", "attempt_time", "failures_since_start"
    ):
        pairs[username, ip].append((at, failures))
    found = []
    for (username, ip), attempts in pairs.items():
        attempts.sort()
        total = sum(f for _, f in attempts)
        if total < limit:
            continue
        for at, failures in attempts:  # the oldest rows age out first
            total -= failures
            if total < limit:
                found.append(Lockout(username, ip, sum(f for _, f in attempts), at + window))
                break
    return sorted(found, key=lambda lock: (lock.until, lock.email, lock.ip_address or ""))


def _active_account(email: str) -> Account | None:
    if not email:
        return None
    return Account.objects.filter(email=email, is_active=True).first()


def _minutes(n: int) -> str:
    return f"{n} minute{'s' if n != 1 else ''}"


# The locked-out page and the audit of a lockout ------------------------------------------------


def locked_out_page(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the normal sign-in page, with why and for how long (429)."""
    email = sign_in_email(request, credentials)
    ip = getattr(request, "axes_ip_address", None) or get_client_ip_address(request)
    mine = [lock for lock in lockouts(email) if lock.ip_address == ip] if email else []
    minutes = max((lock.minutes_left() for lock in mine), default=_cool_off_minutes())
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {
        "form": form,
        "locked_out": True,
        "locked_minutes": _minutes(minutes),
        "next": request.POST.get("next", ""),
    }
    return render(request, "web/sign_in.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)


@receiver(user_locked_out)
def record_lockout(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """One audit entry when a lockout begins (not for each try refused during it)."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:  # a try refused during a lockout: nothing new
        return
    account = _active_account(username or "")
    note = (
        f"{failures} failed sign-ins from {ip_address or 'an unknown address'}; "
        f"sign-in refused from there for {_minutes(_cool_off_minutes())}"
    )
    if account is None:
        note += " (the email matches no active account)"
    audit.record(
        [
            audit.entry(
                THROTTLING,
                LOCKED_OUT,
                object_type="account",
                object_id=account.pk if account else None,
                after={"ip_address": ip_address, "failures": failures},
                note=note,
            )
        ]
    )


# Unlocking -------------------------------------------------------------------------------------


def unlock(
    email: str, actor: audit.Actor, *, district: District | int | None = None
) -> list[Lockout]:
    """Lift every lockout of an email (from every address) and forget its failed tries;
    audited. Returns the lockouts lifted; none is a :class:`UserError`."""
    address = normalise(email)
    if not address:
        raise UserError("give the email of the sign-in to unlock")
    with transaction.atomic():
        lifted = lockouts(address)
        if not lifted:
            raise UserError(
                f"{address} is not locked out, so there is nothing to unlock "
                "('rollbook accounts locked' lists the sign-ins locked out now)"
            )
        AxesProxyHandler.reset_attempts(username=address)
        account = _active_account(address)
        addresses = sorted({lock.ip_address or "unknown" for lock in lifted})
        audit.record(
            [
                audit.entry(
                    actor,
                    UNLOCKED,
                    object_type="account",
                    object_id=account.pk if account else None,
                    district=district,
                    before={
                        "locked_from": addresses,
                        "until": max(lock.until for lock in lifted).isoformat(),
                    },
                    note=f"lifted {len(lifted)} lockout(s) after failed sign-ins",
                )
            ]
        )
    return lifted
