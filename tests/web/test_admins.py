"""The district's Administrators and Schools tabs, the page where an invited administrator
chooses a password, and the styled error pages — 400, 403 (and a form refused by the CSRF
check), 404 and 500 (issue 17, items 1 and 2) — through Django's test client on a real
database; the browser walk-through is in test_browser_admins.py."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.exceptions import BadRequest, PermissionDenied
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import include, path, reverse

from rollbook.directory import admins
from rollbook.directory.audit import Actor
from rollbook.directory.models import Account, AdministratorRole, AuditEntry, School, Status

pytestmark = pytest.mark.django_db
INTERNAL = re.compile(
    r"administratorrole|AdministratorRole|school_id|account_id|sourced_id|None\b|\{'", re.I
)


def url(name, *args):
    return reverse(f"web:district-{name}", args=args)


def visible(response) -> str:
    """The page's text a person reads (tags, scripts and attributes left out)."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def link_in(message) -> str:
    return re.search(r"http://\S+/password/set/\S+/", message.body).group(0)


def invite_lin(client, world, **extra):
    form = {
        "given_name": "Lina",
        "family_name": "Lopez",
        "email": "lina@example.org",
        "where": str(world.school_a.pk),
    }
    return client.post(url("administrators", world.district.pk), form | extra)


# The Administrators tab ------------------------------------------------------------------------


def test_the_tab_lists_administrators_in_words(client, world):
    client.force_login(world.district_admin)
    Account.objects.filter(pk=world.admin_a.pk).update(last_login="2025-03-04T15:06:00Z")
    page = client.get(url("administrators", world.district.pk))
    assert page.status_code == 200
    text = visible(page)
    assert "3 active administrators." in text
    assert "District Administrator (you)" in text and "The whole district" in text
    assert "Lin Administrator lincoln@example.org Lincoln Elementary Active 4 Mar 2025, 15:06" in (
        text
    )
    assert "Jeff Administrator jefferson@example.org Jefferson Middle Active Never" in text
    assert not INTERNAL.search(text), INTERNAL.search(text)
    # Each one's actions; nobody is offered to deactivate themselves.
    html = page.content.decode()
    own = AdministratorRole.objects.get(account=world.district_admin)
    assert url("administrator-change", world.district.pk, own.pk, "deactivate") not in html
    lin = AdministratorRole.objects.get(account=world.admin_a)
    assert url("administrator-change", world.district.pk, lin.pk, "deactivate") in html


def test_the_district_page_has_the_tabs_and_a_school_page_does_not(client, world):
    client.force_login(world.district_admin)
    district = client.get(reverse("web:district-overview", args=[world.district.pk])).text
    assert f'href="/districts/{world.district.pk}/administrators/"' in district
    assert f'href="/districts/{world.district.pk}/schools/"' in district
    school = client.get(reverse("web:school-overview", args=[world.school_a.pk])).text
    assert "/administrators/" not in school


def test_school_administrators_manage_nobody(client, world):
    client.force_login(world.admin_a)
    lin = AdministratorRole.objects.get(account=world.admin_a)
    for target in (
        url("administrators", world.district.pk),
        url("schools", world.district.pk),
        url("administrator-change", world.district.pk, lin.pk, "deactivate"),
        url("school-rename", world.district.pk, world.school_a.pk),
    ):
        assert client.get(target).status_code == 404, target
    answer = invite_lin(client, world)
    assert answer.status_code == 404 and "Page not found" in answer.text
    assert not Account.objects.filter(email="lina@example.org").exists()


def test_inviting_a_school_administrator_sends_the_link(client, world):
    client.force_login(world.district_admin)
    answer = invite_lin(client, world)
    assert answer.status_code == 302
    role = AdministratorRole.objects.get(account__email="lina@example.org")
    assert (role.school, role.status) == (world.school_a, Status.ACTIVE)
    (sent,) = mail.outbox
    assert sent.to == ["lina@example.org"]
    assert "District Administrator made you school administrator of Lincoln Elementary" in (
        sent.body.replace("\n", " ")
    )
    page = client.get(answer["Location"])
    text = visible(page)
    assert "Lina Lopez is now school administrator of Lincoln Elementary" in text
    assert "Lina Lopez lina@example.org Lincoln Elementary Invited no password chosen yet" in text
    assert "District Administrator invited Lina Lopez as school administrator of Lincoln" in text


def test_an_invitation_that_cannot_be_done_says_why_and_keeps_the_form(client, world):
    client.force_login(world.district_admin)
    answer = invite_lin(client, world, email="pat@example.org")  # Pat Parent's sign-in
    assert answer.status_code == 400
    text = visible(answer)
    assert "already signs in to the account of a person with another name" in text
    assert 'value="Lina"' in answer.text  # what was typed is kept
    missing = invite_lin(client, world, email="", where="999999")
    assert missing.status_code == 400
    assert "This field is required." in visible(missing)
    assert "Select a valid choice" in visible(missing)
    assert not AdministratorRole.objects.filter(account__given_name="Lina").exists()
    assert not mail.outbox


def test_the_whole_district_and_the_schools_are_offered_and_only_this_district_s(client, world):
    client.force_login(world.district_admin)
    page = client.get(url("administrators", world.district.pk)).text
    options = re.findall(r"<option value=\"[^\"]*\"[^>]*>([^<]*)</option>", page)
    assert options == [
        "The whole district",
        "Jefferson Middle (school administrator)",
        "Lincoln Elementary (school administrator)",
    ]
    elsewhere = School.objects.get(name="Elsewhere High")
    answer = invite_lin(client, world, where=str(elsewhere.pk))
    assert answer.status_code == 400


def test_deactivate_confirm_then_reactivate(client, world):
    client.force_login(world.district_admin)
    lin = AdministratorRole.objects.get(account=world.admin_a)
    target = url("administrator-change", world.district.pk, lin.pk, "deactivate")
    confirm = client.get(target)
    assert "Lin Administrator (lincoln@example.org) will no longer be school administrator" in (
        visible(confirm)
    )
    lin.refresh_from_db()
    assert lin.status == Status.ACTIVE  # a GET changes nothing
    done = client.post(target, {"confirm": "yes"}, follow=True)
    assert "is no longer school administrator of Lincoln Elementary" in visible(done)
    lin.refresh_from_db()
    assert lin.status == Status.ARCHIVED
    # Lin sees nothing any more, from the next page on.
    client.force_login(world.admin_a)
    assert client.get(reverse("web:school-overview", args=[world.school_a.pk])).status_code == 404
    client.force_login(world.district_admin)
    back = url("administrator-change", world.district.pk, lin.pk, "reactivate")
    client.post(back, {"confirm": "yes"})
    lin.refresh_from_db()
    assert lin.status == Status.ACTIVE
    assert list(
        AuditEntry.objects.filter(object_type="administratorrole", object_id=lin.pk)
        .order_by("pk")
        .values_list("action", "actor")
    )[-2:] == [("deactivate", world.district_admin.pk), ("reactivate", world.district_admin.pk)]


def test_nobody_deactivates_themselves_or_the_last_district_administrator(client, world):
    client.force_login(world.district_admin)
    own = AdministratorRole.objects.get(account=world.district_admin)
    target = url("administrator-change", world.district.pk, own.pk, "deactivate")
    page = client.get(target)
    assert "You cannot deactivate yourself" in visible(page)
    assert 'name="confirm"' not in page.text
    done = client.post(target, {"confirm": "yes"}, follow=True)
    assert "You cannot deactivate yourself" in visible(done)
    own.refresh_from_db()
    assert own.status == Status.ACTIVE


def test_a_new_password_link_is_emailed(client, world):
    client.force_login(world.district_admin)
    jeff = AdministratorRole.objects.get(account=world.admin_b)
    target = url("administrator-change", world.district.pk, jeff.pk, "password")
    assert "Email Jeff Administrator a link" in visible(client.get(target))
    done = client.post(target, {"confirm": "yes"}, follow=True)
    assert "A link to choose a new password went to jefferson@example.org" in visible(done)
    (sent,) = mail.outbox
    assert sent.to == ["jefferson@example.org"] and "/password/set/" in sent.body
    assert AuditEntry.objects.filter(action=admins.SEND_LINK, object_id=world.admin_b.pk).exists()


def test_an_unknown_change_or_another_district_s_role_is_a_404(client, world):
    client.force_login(world.district_admin)
    lin = AdministratorRole.objects.get(account=world.admin_a)
    assert client.get(url("administrator-change", world.district.pk, lin.pk, "delete")).status_code
    other = world.other_district
    stranger = Account.objects.create(given_name="O", family_name="T", email="o@example.org")
    theirs = AdministratorRole.objects.create(account=stranger, district=other)
    target = url("administrator-change", world.district.pk, theirs.pk, "deactivate")
    assert client.get(target).status_code == 404
    assert client.post(target, {"confirm": "yes"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.ACTIVE


# Choosing a password ---------------------------------------------------------------------------


def test_the_emailed_link_sets_the_password_once(client, world):
    client.force_login(world.district_admin)
    invite_lin(client, world)
    client.logout()
    link = link_in(mail.outbox[0])
    form = client.get(link, follow=True)
    assert form.status_code == 200 and "Choose your password" in form.text
    assert 'name="new_password1"' in form.text
    short = client.post(form.redirect_chain[-1][0], {"new_password1": "x", "new_password2": "x"})
    assert "too short" in visible(short)
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "correct horse battery", "new_password2": "correct horse battery"},
        follow=True,
    )
    assert "Your password is set" in visible(done)
    lina = Account.objects.get(email="lina@example.org")
    assert lina.check_password("correct horse battery")
    assert AuditEntry.objects.filter(action=admins.SET_PASSWORD, actor=lina).count() == 1
    again = client.get(link, follow=True)
    assert "This link does not work any more" in visible(again)
    signed = client.post(
        "/sign-in/", {"username": "lina@example.org", "password": "correct horse battery"}
    )
    assert signed.status_code == 302
    # The sign-in shows on the Administrators tab as Lina's last.
    lina.refresh_from_db()
    assert lina.last_login is not None
    client.force_login(world.district_admin)
    listed = visible(client.get(url("administrators", world.district.pk)))
    when = f"{lina.last_login:%-d %b %Y, %H:%M}"
    assert f"Lina Lopez lina@example.org Lincoln Elementary Active {when}" in listed


def test_a_link_of_a_deactivated_administrator_does_not_work(client, world):
    client.force_login(world.district_admin)
    invite_lin(client, world)
    role = AdministratorRole.objects.get(account__email="lina@example.org")
    admins.deactivate(role, Actor(account=world.district_admin))
    client.logout()
    page = client.get(link_in(mail.outbox[0]), follow=True)
    assert "This link does not work any more" in visible(page)
    assert 'name="new_password1"' not in page.text


def test_a_forged_link_does_not_work(client, world):
    page = client.get(reverse("web:password-set", args=["MQ", "nothing-1234"]))
    assert page.status_code == 200 and "This link does not work any more" in visible(page)


# Schools ---------------------------------------------------------------------------------------


def test_the_schools_tab_adds_and_renames(client, world):
    from rollbook.sync.models import SyncRun

    SyncRun.objects.update(status=SyncRun.Status.FAILED)  # before the first sync
    client.force_login(world.district_admin)
    page = client.get(url("schools", world.district.pk))
    text = visible(page)
    assert "2 schools in Test District." in text
    assert "Jefferson Middle — 2 1 Entered by hand Rename" in text
    assert "Elsewhere High" not in text
    assert "the first sync then adopts the school" in text
    added = client.post(
        url("schools", world.district.pk), {"name": "School sch-1", "identifier": "NCES-9"}
    )
    assert added.status_code == 302
    school = School.objects.get(name="School sch-1")
    assert (school.district, school.identifier) == (world.district, "NCES-9")
    twice = client.post(url("schools", world.district.pk), {"name": "school SCH-1"})
    assert twice.status_code == 400 and "already" in visible(twice)
    rename = url("school-rename", world.district.pk, school.pk)
    assert 'value="School sch-1"' in client.get(rename).text
    done = client.post(rename, {"name": "Washington High"}, follow=True)
    assert "School sch-1 is now named Washington High." in visible(done)
    school.refresh_from_db()
    assert school.name == "Washington High"
    assert list(
        AuditEntry.objects.filter(object_type="school", object_id=school.pk)
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["create", "rename"]


def test_a_school_from_the_sis_is_not_renamed_here(client, world):
    from rollbook.sync.models import SyncSource

    client.force_login(world.district_admin)
    source = SyncSource.objects.get(district=world.district)
    School.objects.filter(pk=world.school_b.pk).update(source=source, sourced_id="sch-b")
    rename = url("school-rename", world.district.pk, world.school_b.pk)
    page = client.get(rename)
    assert "comes from the SIS, which owns its name" in visible(page)
    client.post(rename, {"name": "Other"})
    world.school_b.refresh_from_db()
    assert world.school_b.name == "Jefferson Middle"
    listed = visible(client.get(url("schools", world.district.pk)))
    assert "Schools come from the SIS now" in listed  # the world has an applied run
    other = School.objects.get(name="Elsewhere High")
    assert client.get(url("school-rename", world.district.pk, other.pk)).status_code == 404


def test_a_district_of_many_schools_is_listed_a_page_at_a_time_and_found(client, world):
    """1,500 schools were one page (880 ms, 363 KB at L): 50 a page by name, a finder by
    name or identifier, and each school's counts as before."""
    from rollbook.web.views_admins import SCHOOLS_PAGE

    School.objects.bulk_create(
        School(district=world.district, name=f"Academy {i:03d}", identifier=f"NCES-{i:03d}")
        for i in range(SCHOOLS_PAGE + 10)
    )
    School.objects.create(
        district=School.objects.get(name="Elsewhere High").district, name="Academy 999"
    )  # another district's: never listed
    client.force_login(world.district_admin)
    first = visible(client.get(url("schools", world.district.pk)))
    total = SCHOOLS_PAGE + 12  # and the world's two
    assert f"{total} schools in Test District, {SCHOOLS_PAGE} a page by name." in first
    assert "Academy 000" in first and f"Academy {SCHOOLS_PAGE - 1:03d}" in first
    assert f"Academy {SCHOOLS_PAGE:03d}" not in first and "Next →" in first
    page = client.get(url("schools", world.district.pk))
    after = re.search(r'href="\?after=([^"]+)" rel="next"', page.content.decode()).group(1)
    second = visible(client.get(url("schools", world.district.pk), {"after": after}))
    assert f"Academy {SCHOOLS_PAGE:03d}" in second and "Academy 000 " not in second
    # The world's schools keep their counts on the page that shows them.
    assert "Jefferson Middle — 2 1 Entered by hand Rename" in second
    assert "Academy 999" not in first + second
    found = visible(client.get(url("schools", world.district.pk), {"find": "nces-00"}))
    assert "10 schools in Test District have “nces-00” in their name or identifier." in found
    assert "Academy 009" in found and "Academy 010" not in found
    none = visible(client.get(url("schools", world.district.pk), {"find": "Academy 999"}))
    assert "No school's name or identifier holds “Academy 999”." in none


# Error pages: 400, 403, 404 and 500 ------------------------------------------------------------


def _refused(request):
    raise PermissionDenied("internal reason: role check 42")


def _garbled(request):
    raise BadRequest("internal reason: unparsable field 42")


# The site's own URLs, and two that raise what a view may raise (tests marked urls(__name__)).
urlpatterns = [
    path("refused/", _refused),
    path("garbled/", _garbled),
    path("", include("rollbook.project.urls")),
]


@pytest.mark.urls(__name__)
def test_the_403_page_is_styled_and_tells_nothing_technical(client, world):
    anonymous = client.get("/refused/")
    assert anonymous.status_code == 403
    assert "rollbook.css" in anonymous.text
    text = visible(anonymous)
    assert "Not allowed" in text and "Your account is not allowed" in text
    assert "the sign-in page" in text
    client.force_login(world.admin_a)
    signed_in = client.get("/refused/")
    assert signed_in.status_code == 403
    text = visible(signed_in)
    assert "ask an administrator of your district" in text
    assert "your districts and schools" in text and "Sign out" in text  # the site's layout
    assert "internal reason" not in text and "Forbidden" not in text and "403" not in text


@pytest.mark.urls(__name__)
def test_the_400_page_is_styled_and_tells_nothing_technical(client, world):
    client.force_login(world.admin_a)
    answer = client.get("/garbled/")
    assert answer.status_code == 400
    assert "rollbook.css" in answer.text
    text = visible(answer)
    assert "Request not understood" in text and "reload the page and try again" in text
    assert "internal reason" not in text and "Bad Request" not in text and "400" not in text
    # An address Rollbook does not answer to (a host not in ROLLBOOK_ALLOWED_HOSTS).
    elsewhere = Client().get("/", HTTP_HOST="rollbook.evil.example")
    assert elsewhere.status_code == 400
    text = visible(elsewhere)
    assert "Request not understood" in text and "the sign-in page" in text
    assert "evil" not in text and "ALLOWED_HOSTS" not in text


def test_a_form_refused_by_the_csrf_check_says_what_to_do(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.district_admin)
    rename = url("school-rename", world.district.pk, world.school_b.pk)
    assert client.get(rename).status_code == 200  # the form, and its cookie
    refused = client.post(rename, {"name": "Renamed"})  # without the form's token
    assert refused.status_code == 403
    assert "rollbook.css" in refused.text
    text = visible(refused)
    assert "The form could not be sent" in text and "nothing was changed" in text
    assert "The form was open too long" in text and "blocks cookies" in text
    assert "Reload the page and try again" in text
    assert "CSRF" not in text and "Forbidden" not in text and "Referer" not in text
    world.school_b.refresh_from_db()
    assert world.school_b.name == "Jefferson Middle"
    anonymous = Client(enforce_csrf_checks=True)
    anonymous.get("/sign-in/")
    signing_in = anonymous.post("/sign-in/", {"username": "x@example.org", "password": "y"})
    assert signing_in.status_code == 403 and "Reload the page" in visible(signing_in)


def test_the_404_page_is_styled_and_names_nothing(client, world):
    anonymous = client.get("/no/such/page/")
    assert anonymous.status_code == 404
    assert "Page not found" in anonymous.text and "rollbook.css" in anonymous.text
    assert "the sign-in page" in visible(anonymous)
    client.force_login(world.admin_a)
    hidden = client.get(reverse("web:school-overview", args=[world.school_b.pk]))
    assert hidden.status_code == 404
    text = visible(hidden)
    assert "Page not found" in text and "your districts and schools" in text
    assert "Jefferson" not in text and "Not Found" not in text


def test_the_500_page_needs_no_database(settings):
    from django.views.defaults import server_error

    def refuse(*args, **kwargs):
        raise AssertionError("the error page touched the database")

    request = RequestFactory().get("/districts/1/")
    with connection.execute_wrapper(refuse):
        response = server_error(request)
    assert response.status_code == 500
    text = response.content.decode()
    assert "Something went wrong" in text and "rollbook.css" in text
    assert "Server Error" not in text
