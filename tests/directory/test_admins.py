"""Administrators and schools managed by hand (issue 17, item 1): the services' rules, their
audit, the set-password link, and the ``rollbook admins`` and ``rollbook schools`` commands."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory import admins
from rollbook.directory.audit import Actor
from rollbook.directory.models import Account, AdministratorRole, AuditEntry, School, Status
from rollbook.directory.services import add_school, create_administrator, rename_school
from rollbook.errors import UserError

from ..sync.bundles import Bundle

pytestmark = pytest.mark.django_db
runner = CliRunner()
PASSWORD = "a-long-passphrase"


@pytest.fixture
def boss(district, actor):
    return create_administrator(district, "boss@example.org", PASSWORD, actor, given_name="Dana")


def invite(district, email, given, family, school=None, actor=None):
    return admins.invite(
        district,
        email=email,
        given_name=given,
        family_name=family,
        school=school,
        actor=actor or Actor(label="test"),
    )


def role(account, district):
    return AdministratorRole.objects.get(account=account, district=district)


# Inviting ---------------------------------------------------------------------------------------


def test_an_invitation_creates_an_account_without_a_password_and_a_working_link(
    district, school, boss
):
    invitation = invite(district, " Lin@Example.org ", "Lin", "Lincoln", school, Actor(boss))
    account = invitation.role.account
    assert invitation.created_account
    assert account.email == "lin@example.org" and not account.has_usable_password()
    assert invitation.role.school == school and invitation.role.status == Status.ACTIVE
    assert invitation.link.startswith("http://127.0.0.1:8000/password/set/")
    token = invitation.link.rstrip("/").rsplit("/", 1)[1]
    assert default_token_generator.check_token(account, token)
    actions = list(
        AuditEntry.objects.filter(district=district, actor=boss).values_list(
            "action", "object_type"
        )
    )
    assert sorted(actions) == [("create", "account"), ("invite", "administratorrole")]


def test_the_invitation_email_names_the_place_and_the_link(district, school, boss):
    invitation = invite(district, "lin@example.org", "Lin", "Lincoln", school)
    subject, body = admins.invitation_email(invitation, "Dana Administrator")
    admins.send(invitation.role.account, subject, body)
    (sent,) = mail.outbox
    assert sent.to == ["lin@example.org"]
    assert "Lincoln Elementary" in sent.subject
    assert "school administrator of Lincoln Elementary" in sent.body
    assert invitation.link in sent.body and "for 3 days" in sent.body


def test_the_same_person_is_given_the_role_on_their_own_account(district, school, actor):
    teacher = Account.objects.create(
        given_name="Lin", family_name="Lincoln", email="lin@example.org", password="!"
    )
    invitation = invite(district, "LIN@example.org", "lin", "LINCOLN", school)
    assert invitation.role.account == teacher and not invitation.created_account
    assert Account.objects.filter(email="lin@example.org").count() == 1


def test_an_email_of_another_person_is_refused(district, school):
    other = Account.objects.create(
        given_name="Pat", family_name="Parent", email="pat@example.org", password="!"
    )
    with pytest.raises(UserError, match="another name"):
        invite(district, "pat@example.org", "Lin", "Lincoln", school)
    assert not AdministratorRole.objects.filter(account=other).exists()


def test_an_account_with_a_password_signs_in_with_it_and_gets_no_link(district, boss, school):
    invitation = invite(district, "boss@example.org", "Dana", "Administrator", school)
    assert invitation.link is None
    _, body = admins.invitation_email(invitation, "IT")
    assert "password you already use" in body


def test_inviting_twice_says_what_to_do(district, school, boss):
    first = invite(district, "lin@example.org", "Lin", "Lincoln", school)
    with pytest.raises(UserError, match="already school administrator of Lincoln"):
        invite(district, "lin@example.org", "Lin", "Lincoln", school)
    admins.deactivate(first.role, Actor(boss))
    with pytest.raises(UserError, match="reactivate them instead"):
        invite(district, "lin@example.org", "Lin", "Lincoln", school)


def test_a_school_of_another_district_is_refused(district, boss):
    from rollbook.directory.models import District

    elsewhere = District.objects.create(name="Elsewhere")
    far = School.objects.create(district=elsewhere, name="Far High")
    with pytest.raises(UserError, match="not a school of Test District"):
        invite(district, "lin@example.org", "Lin", "Lincoln", far)


@pytest.mark.parametrize(
    ("email", "given", "family", "message"),
    [
        ("not-an-email", "Lin", "Lincoln", "not a valid email"),
        ("", "Lin", "Lincoln", "needs an email"),
        ("lin@example.org", "", "Lincoln", "given name and a family name"),
        ("lin@example.org", "Li\u200bn", "Lincoln", "given name"),
    ],
)
def test_malformed_invitations_change_nothing(district, email, given, family, message):
    with pytest.raises(UserError, match=message):
        invite(district, email, given, family)
    assert not Account.objects.exists()


# Deactivating, reactivating --------------------------------------------------------------------


def test_deactivating_keeps_the_account_and_is_undone_by_reactivating(district, school, boss):
    lin = invite(district, "lin@example.org", "Lin", "Lincoln", school).role
    admins.deactivate(lin, Actor(boss))
    lin.refresh_from_db()
    assert lin.status == Status.ARCHIVED and lin.account.is_active
    admins.reactivate(lin, Actor(boss))
    lin.refresh_from_db()
    assert lin.status == Status.ACTIVE
    trail = AuditEntry.objects.filter(object_type="administratorrole", object_id=lin.pk)
    assert [(e.action, e.before["status"], e.after["status"]) for e in trail[:2]] == [
        ("reactivate", "archived", "active"),
        ("deactivate", "active", "archived"),
    ]


def test_nobody_deactivates_themselves(district, boss, actor):
    create_administrator(district, "second@example.org", PASSWORD, actor, given_name="Sam")
    with pytest.raises(UserError, match="cannot deactivate yourself"):
        admins.deactivate(role(boss, district), Actor(boss))
    assert role(boss, district).status == Status.ACTIVE


def test_the_last_active_district_administrator_stays(district, boss, actor):
    second = create_administrator(district, "second@example.org", PASSWORD, actor)
    admins.deactivate(role(second, district), Actor(label="IT"))
    with pytest.raises(UserError, match="last active district administrator"):
        admins.deactivate(role(boss, district), Actor(label="IT"))
    assert role(boss, district).status == Status.ACTIVE
    # A district administrator whose account is closed does not count.
    admins.reactivate(role(second, district), Actor(label="IT"))
    Account.objects.filter(pk=second.pk).update(is_active=False)
    with pytest.raises(UserError, match="last active district administrator"):
        admins.deactivate(role(boss, district), Actor(label="IT"))


def test_a_school_administrator_is_never_the_last_district_administrator(district, school, boss):
    lin = invite(district, "lin@example.org", "Lin", "Lincoln", school).role
    admins.deactivate(lin, Actor(boss))  # the district keeps Dana
    with pytest.raises(UserError, match="no longer school administrator"):
        admins.deactivate(lin, Actor(boss))


def test_a_closed_account_is_invited_again_not_reactivated(district, school, boss):
    lin = invite(district, "lin@example.org", "Lin", "Lincoln", school).role
    admins.deactivate(lin, Actor(boss))
    Account.objects.filter(pk=lin.account_id).update(is_active=False)
    with pytest.raises(UserError, match="invite them again"):
        admins.reactivate(lin, Actor(boss))


def test_a_password_link_is_audited_and_the_password_keeps_working(district, boss, school):
    lin = invite(district, "lin@example.org", "Lin", "Lincoln", school).role
    link = admins.password_reset(lin, Actor(boss))
    assert "/password/set/" in link
    entry = AuditEntry.objects.get(action=admins.SEND_LINK)
    assert (entry.object_type, entry.object_id, entry.actor) == ("account", lin.account_id, boss)
    assert link not in str(entry.note) + str(entry.after)
    admins.deactivate(lin, Actor(boss))
    with pytest.raises(UserError, match="reactivate first"):
        admins.password_reset(AdministratorRole.objects.get(pk=lin.pk), Actor(boss))


# Schools ---------------------------------------------------------------------------------------


def test_a_school_is_added_once_by_name_and_audited(district, actor):
    school = add_school(district, "  Lincoln   Elementary ", actor, identifier="NCES-1")
    assert (school.name, school.identifier, school.is_synced) == (
        "Lincoln Elementary",
        "NCES-1",
        False,
    )
    assert AuditEntry.objects.filter(action="create", object_type="school").count() == 1
    with pytest.raises(UserError, match="has a school named 'Lincoln Elementary' already"):
        add_school(district, "LINCOLN elementary", actor)
    other = add_school(district, "Jefferson Middle", actor)
    with pytest.raises(UserError, match="already"):
        rename_school(district, other.pk, "lincoln elementary", actor)
    with pytest.raises(UserError, match="needs a name"):
        add_school(district, "  ", actor)
    assert School.objects.filter(district=district).count() == 2


def test_a_school_added_before_the_first_sync_is_adopted_not_duplicated(
    district, tmp_path, settings, actor
):
    from rollbook.sync import services as sync

    settings.ROLLBOOK_HOME = tmp_path
    added = add_school(district, "School sch-1", actor)
    lin = invite(district, "lin@example.org", "Lin", "Lincoln", added).role
    bundle = Bundle()
    bundle.student("stu-1", "Mia", "Lopez")
    run = sync.sync_bundle(
        sync.get_source(district), bundle.write(tmp_path / "b"), actor, approve=True
    )
    assert run.status == "applied", run.stats
    (school,) = School.objects.filter(district=district)
    assert school.pk == added.pk and school.sourced_id == "sch-1"
    assert school.students.get().sourced_id == "stu-1"
    lin.refresh_from_db()
    assert lin.school_id == added.pk and lin.status == Status.ACTIVE


# The commands ----------------------------------------------------------------------------------


def cli(*args):
    result = runner.invoke(app, [*map(str, args)])
    return result


def test_admins_add_prints_a_link_and_list_shows_it(district, school, boss):
    done = cli(
        "admins", "add", "lin@example.org", "--given-name", "Lin", "--family-name", "Lincoln",
        "--school", school.pk, "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    record = json.loads(done.output)
    assert record["administers"] == "Lincoln Elementary" and record["emailed"] is False
    assert record["password_link"].startswith("http://127.0.0.1:8000/password/set/")
    assert not mail.outbox
    listed = json.loads(cli("admins", "list", "--json").output)
    assert [(r["email"], r["administers"], r["status"], r["password_chosen"]) for r in listed] == [
        ("boss@example.org", "whole district", "active", True),
        ("lin@example.org", "Lincoln Elementary", "active", False),
    ]
    entry = AuditEntry.objects.get(action="invite")
    assert entry.actor_label.startswith("command line")


def test_admins_add_can_email_the_invitation(district, boss):
    done = cli(
        "admins", "add", "sam@example.org", "--given-name", "Sam", "--family-name", "Smith",
        "--send-email",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "district administrator of Test District" in done.output
    (sent,) = mail.outbox
    assert sent.to == ["sam@example.org"] and "/password/set/" in sent.body
    assert "/password/set/" not in done.output


def test_admins_deactivate_and_reactivate(district, school, boss):
    invite(district, "lin@example.org", "Lin", "Lincoln", school)
    done = cli("admins", "deactivate", "lin@example.org")
    assert done.exit_code == 0, done.output
    assert "no longer school administrator of Lincoln Elementary" in done.output
    assert AdministratorRole.objects.get(school=school).status == Status.ARCHIVED
    assert cli("admins", "reactivate", "lin@example.org").exit_code == 0
    assert AdministratorRole.objects.get(school=school).status == Status.ACTIVE


def test_admins_commands_refuse_with_a_message(district, school, boss):
    last = cli("admins", "deactivate", "boss@example.org")
    assert isinstance(last.exception, UserError)
    assert "last active district administrator" in str(last.exception)
    nobody = cli("admins", "deactivate", "nobody@example.org")
    assert "not an administrator of Test District" in str(nobody.exception)
    far = cli(
        "admins", "add", "x@example.org", "--given-name", "X", "--family-name", "Y",
        "--school", 10**9,
    )  # fmt: skip
    assert "no school 1000000000 in Test District" in str(far.exception)


def test_several_school_roles_need_a_school(district, school, other_school, boss):
    invite(district, "lin@example.org", "Lin", "Lincoln", school)
    invite(district, "lin@example.org", "Lin", "Lincoln", other_school)
    both = cli("admins", "deactivate", "lin@example.org")
    assert "several schools" in str(both.exception)
    assert f"--school {other_school.pk}" in str(both.exception)
    one = cli("admins", "deactivate", "lin@example.org", "--school", other_school.pk)
    assert one.exit_code == 0, one.output
    statuses = dict(AdministratorRole.objects.filter(school__isnull=False).values_list(
        "school_id", "status"
    ))  # fmt: skip
    assert statuses == {school.pk: Status.ACTIVE, other_school.pk: Status.ARCHIVED}


def test_schools_add_and_list(district):
    added = cli("schools", "add", "Lincoln Elementary", "--identifier", "NCES-1", "--json")
    assert added.exit_code == 0, added.output
    school_id = json.loads(added.output)["id"]
    again = cli("schools", "add", "lincoln elementary")
    assert "already" in str(again.exception)
    listed = json.loads(cli("schools", "list", "--json").output)
    assert listed == [
        {
            "id": school_id,
            "name": "Lincoln Elementary",
            "identifier": "NCES-1",
            "origin": "manual",
            "sis_sourced_id": None,
            "status": "active",
            "active_students": 0,
        }
    ]
    table = cli("schools", "list")
    assert table.exit_code == 0 and "Schools of Test District" in table.output
    assert "Lincoln" in table.output and "entered" in table.output


def test_admins_password_link_prints_or_emails_a_new_link(district, school, boss):
    invite(district, "lin@example.org", "Lin", "Lincoln", school)
    printed = cli("admins", "password-link", "lin@example.org")
    assert printed.exit_code == 0, printed.output
    assert "/password/set/" in printed.output and not mail.outbox
    emailed = cli("admins", "password-link", "lin@example.org", "--send-email")
    assert emailed.exit_code == 0 and "/password/set/" not in emailed.output
    (sent,) = mail.outbox
    assert sent.to == ["lin@example.org"] and "/password/set/" in sent.body
    assert AuditEntry.objects.filter(action=admins.SEND_LINK).count() == 2


def test_an_email_that_cannot_be_sent_says_what_to_do(district, school, boss, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    invitation = invite(district, "lin@example.org", "Lin", "Lincoln", school)
    with pytest.raises(UserError, match="could not be sent .* admins password-link"):
        admins.send(invitation.role.account, "subject", "body")
    assert invitation.role.status == Status.ACTIVE  # the invitation stands
