"""Sign-in throttling (django-axes, web/throttling.py): failed sign-ins for one email from one
address lock that pair out; the lockout is audited, shown on the styled sign-in page, costs no
password hash, ends after the cool-off, and an administrator can lift it (command line, or the
account page within their scope)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db.models import F
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.models import AuditEntry, GuardianLink
from rollbook.errors import UserError
from rollbook.web import throttling

from .conftest import PASSWORD, sign_in

pytestmark = pytest.mark.django_db
runner = CliRunner()
LIMIT = settings.AXES_FAILURE_LIMIT
WRONG = "not-the-passphrase"
LOCKED = "Too many failed sign-ins"


def attempt(client, email, password=WRONG, address="127.0.0.1"):
    return client.post("/sign-in/", {"username": email, "password": password}, REMOTE_ADDR=address)


def lock_out(client, email, address="127.0.0.1"):
    for _ in range(LIMIT - 1):
        assert attempt(client, email, address=address).status_code == 200
    response = attempt(client, email, address=address)
    assert response.status_code == 429, "the last allowed failure locks out"
    return response


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def age(minutes: float) -> None:
    """Move every counted failure back in time (axes' clock is the rows' attempt_time)."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=minutes))


def entries(action):
    return list(AuditEntry.objects.filter(action=action).order_by("pk"))


def test_failures_lock_out_and_then_the_right_password_is_refused(client, world):
    email = world.admin_a.email
    for _ in range(LIMIT - 1):
        response = attempt(client, email)
        assert response.status_code == 200
        assert b"don't match" in response.content
    page = attempt(client, email).text
    # The normal, styled sign-in page, with plain words and how long.
    assert '<link rel="stylesheet"' in page and 'class="card narrow"' in page
    assert "Too many failed sign-ins with this email" in page
    assert "try again in 15 minutes, or ask your district administrator" in page
    assert f'value="{email}"' in page and 'name="password"' in page

    right = attempt(client, email, PASSWORD)
    assert right.status_code == 429
    assert LOCKED in right.text and not signed_in(client)
    assert client.get("/").status_code == 302

    [entry] = entries(throttling.LOCKED_OUT)  # one entry: tries during the lockout add none
    assert (entry.object_type, entry.object_id) == ("account", world.admin_a.pk)
    assert entry.actor_label == "sign-in throttling" and entry.actor_id is None
    assert entry.after == {"ip_address": "127.0.0.1", "failures": LIMIT}
    stored = json.dumps([entry.before, entry.after, entry.note])
    assert WRONG not in stored and PASSWORD not in stored and email not in stored


def test_a_locked_out_try_costs_no_password_hash(client, world):
    calls = []

    def spy(name):
        original = getattr(Argon2PasswordHasher, name)

        def counted(self, *args, **kwargs):
            calls.append(name)
            return original(self, *args, **kwargs)

        return mock.patch.object(Argon2PasswordHasher, name, counted)

    with spy("verify"), spy("encode"):
        attempt(client, world.admin_a.email)
        assert calls == ["verify"]  # the spy sees an ordinary failure's hash
        attempt(client, "nobody@example.org")
        assert calls == ["verify", "encode"]  # an unknown email costs the same
        calls.clear()
        for _ in range(LIMIT - 1):
            attempt(client, world.admin_a.email)
        assert len(calls) == LIMIT - 1
        calls.clear()
        for password in (PASSWORD, WRONG, PASSWORD):
            assert attempt(client, world.admin_a.email, password).status_code == 429
        assert calls == []


def test_the_email_counts_however_it_is_typed(client, world):
    spellings = ["LINCOLN@example.org", " lincoln@example.org ", "Lincoln@Example.org"]
    for i in range(LIMIT - 1):
        assert attempt(client, spellings[i % 3]).status_code == 200
    assert attempt(client, "lincoln@EXAMPLE.org").status_code == 429
    assert attempt(client, "lincoln@example.org", PASSWORD).status_code == 429


def test_another_address_or_another_email_is_not_locked(client, world):
    lock_out(client, world.admin_a.email)
    other_address = attempt(client, world.admin_a.email, PASSWORD, address="10.0.0.2")
    assert other_address.status_code == 302 and signed_in(client)
    client.logout()
    assert attempt(client, world.admin_b.email, PASSWORD).status_code == 302
    client.logout()
    assert attempt(client, world.admin_a.email, PASSWORD).status_code == 429


def test_a_successful_sign_in_forgets_the_failures_before_it(client, world):
    for _ in range(LIMIT - 1):
        attempt(client, world.admin_a.email)
    assert attempt(client, world.admin_a.email, PASSWORD).status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):
        assert attempt(client, world.admin_a.email).status_code == 200


def test_the_lockout_ends_after_the_cool_off(client, world):
    lock_out(client, world.admin_a.email)
    age(10)
    response = attempt(client, world.admin_a.email, PASSWORD)
    assert response.status_code == 429 and "try again in 5 minutes" in response.text
    [lock] = throttling.lockouts(world.admin_a.email)
    assert lock.minutes_left() == 5
    age(5.1)
    assert throttling.lockouts() == []
    assert attempt(client, world.admin_a.email, PASSWORD).status_code == 302


def test_failures_older_than_the_cool_off_do_not_count(client, world):
    for _ in range(LIMIT - 1):
        attempt(client, world.admin_a.email)
    age(16)
    assert attempt(client, world.admin_a.email).status_code == 200  # a fresh count
    assert not entries(throttling.LOCKED_OUT)


def test_an_email_of_nobody_is_locked_out_too_and_not_written_down(client, world):
    lock_out(client, "stranger@example.org")
    [entry] = entries(throttling.LOCKED_OUT)
    assert entry.object_id is None and "matches no active account" in entry.note
    assert "stranger" not in json.dumps([entry.after, entry.note])


def test_no_email_or_password_in_the_logs(client, world, caplog):
    with caplog.at_level("DEBUG"):
        lock_out(client, world.admin_a.email)
        attempt(client, world.admin_a.email, PASSWORD)
    for secret in (world.admin_a.email, "lincoln", WRONG, PASSWORD):
        assert secret not in caplog.text


# Unlock: the command line -------------------------------------------------------------------


def test_unlock_from_the_command_line(client, world):
    lock_out(client, world.admin_a.email)
    lock_out(client, world.admin_a.email, address="10.0.0.9")
    listed = runner.invoke(app, ["accounts", "locked", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {(lock["email"], lock["ip_address"]) for lock in json.loads(listed.output)} == {
        ("lincoln@example.org", "127.0.0.1"),
        ("lincoln@example.org", "10.0.0.9"),
    }
    shown = runner.invoke(app, ["accounts", "locked"])
    assert "lincoln@example.org" in shown.output and "10.0.0.9" in shown.output

    result = runner.invoke(app, ["accounts", "unlock", " Lincoln@Example.org"])
    assert result.exit_code == 0, result.output
    assert "Unlocked the sign-in of lincoln@example.org" in result.output
    [entry] = entries(throttling.UNLOCKED)
    assert entry.actor_label.startswith("command line") and entry.district_id is None
    assert (entry.object_type, entry.object_id) == ("account", world.admin_a.pk)
    assert entry.before["locked_from"] == ["10.0.0.9", "127.0.0.1"]
    assert attempt(client, world.admin_a.email, PASSWORD).status_code == 302
    assert "No sign-in is locked out." in runner.invoke(app, ["accounts", "locked"]).output

    again = runner.invoke(app, ["accounts", "unlock", world.admin_a.email])
    assert isinstance(again.exception, UserError)  # the rollbook command: a message, exit 2
    assert "is not locked out" in str(again.exception)
    assert len(entries(throttling.UNLOCKED)) == 1


# Unlock: the account page -------------------------------------------------------------------


def test_a_district_administrator_unlocks_from_the_account_page(client, world):
    lock_out(client, world.admin_a.email)
    other = sign_in(type(client)(), world.district_admin)
    url = f"/accounts/{world.admin_a.pk}/"
    page = other.get(url).text
    assert "Sign-in locked out" in page and "Unlock sign-in" in page
    assert "failed sign-ins from" in page  # the lockout is on the audit trail, in words

    response = other.post(url, {"action": "unlock-sign-in"}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "Sign-in unlocked: Lin" in response.text
    assert "Unlock sign-in" not in response.text
    [entry] = entries(throttling.UNLOCKED)
    assert entry.actor_id == world.district_admin.pk
    assert entry.district_id == world.district.pk and entry.object_id == world.admin_a.pk
    assert attempt(client, world.admin_a.email, PASSWORD).status_code == 302

    again = other.post(url, {"action": "unlock-sign-in"}, follow=True)
    assert "sign-in is not locked out" in again.text
    assert len(entries(throttling.UNLOCKED)) == 1


def test_a_school_administrator_cannot_unlock_a_district_administrator(client, world):
    # The district administrator is also Ana's guardian: school administrator A sees the
    # account (through Lincoln), but not everything it administers.
    GuardianLink.objects.create(account=world.district_admin, student=world.students_a[0])
    lock_out(client, world.district_admin.email)
    admin_a = sign_in(type(client)(), world.admin_a)
    url = f"/accounts/{world.district_admin.pk}/"
    page = admin_a.get(url).text
    assert "Sign-in locked out" in page and "Unlock sign-in" not in page
    assert admin_a.post(url, {"action": "unlock-sign-in"}).status_code == 404
    assert throttling.lockouts(world.district_admin.email)
    assert not entries(throttling.UNLOCKED)


def test_only_accounts_in_scope_can_be_unlocked(client, world):
    lock_out(client, world.admin_a.email)
    admin_b = sign_in(type(client)(), world.admin_b)
    url = f"/accounts/{world.admin_a.pk}/"
    assert admin_b.post(url, {"action": "unlock-sign-in"}).status_code == 404
    assert admin_b.get(url).status_code == 404
    district = sign_in(type(client)(), world.district_admin)
    assert district.post(url, {"action": "something-else"}).status_code == 404
    assert throttling.lockouts(world.admin_a.email) and not entries(throttling.UNLOCKED)


def test_the_unlock_button_needs_the_csrf_token(client, world):
    lock_out(client, world.admin_a.email)
    guarded = sign_in(type(client)(enforce_csrf_checks=True), world.district_admin)
    url = f"/accounts/{world.admin_a.pk}/"
    assert guarded.post(url, {"action": "unlock-sign-in"}).status_code == 403
    token = guarded.get(url).context["csrf_token"]
    response = guarded.post(url, {"action": "unlock-sign-in", "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and not throttling.lockouts()


# Settings ------------------------------------------------------------------------------------


def _settings_in_a_new_process(tmp_path, **env):
    code = (
        "from rollbook.project import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, int(s.AXES_COOLOFF_TIME.total_seconds()))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "ROLLBOOK_HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
    )


def test_the_limits_come_from_the_environment(tmp_path):
    assert (5, timedelta(minutes=15)) == (LIMIT, settings.AXES_COOLOFF_TIME)
    done = _settings_in_a_new_process(
        tmp_path, ROLLBOOK_SIGNIN_FAILURES="3", ROLLBOOK_SIGNIN_COOLOFF_MINUTES="7"
    )
    assert done.stdout.split() == ["3", "420"], done.stderr
    bad = _settings_in_a_new_process(tmp_path, ROLLBOOK_SIGNIN_FAILURES="0")
    assert "ROLLBOOK_SIGNIN_FAILURES must be a whole number of 1 or more" in bad.stderr


# In a browser --------------------------------------------------------------------------------


@pytest.mark.browser
def test_the_locked_out_page_in_a_browser(browser_world, page):
    email = browser_world.admin_a.email
    page.goto("/sign-in/")
    for password in [WRONG] * LIMIT + [PASSWORD]:
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
    assert answer.value.status == 429
    alert = page.get_by_role("alert")
    assert alert.inner_text() == (
        "Too many failed sign-ins with this email. For your safety, sign-in is paused: try "
        "again in 15 minutes, or ask your district administrator to unlock your sign-in."
    )
    assert page.url.endswith("/sign-in/")
    assert page.get_by_label("Email").input_value() == email
    corner = page.evaluate("getComputedStyle(document.querySelector('.card')).borderRadius")
    assert corner == "8px"  # the site's stylesheet, not a bare text answer
