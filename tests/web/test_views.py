import re

import pytest

from rollbook.directory.audit import Actor
from rollbook.directory.services import create_administrator

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(district):
    return create_administrator(
        district, "admin@example.org", "a-long-passphrase", Actor(label="test")
    )


def test_pages_need_a_signed_in_administrator(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_sign_in_and_see_the_district(client, admin, district):
    page = client.get("/sign-in/")
    assert b'name="csrfmiddlewaretoken"' in page.content
    response = client.post(
        "/sign-in/", {"username": "ADMIN@example.org", "password": "a-long-passphrase"}, follow=True
    )
    assert response.status_code == 200
    assert district.name in response.content.decode()


def test_a_wrong_password_is_refused(client, admin):
    response = client.post("/sign-in/", {"username": "admin@example.org", "password": "nope"})
    assert response.status_code == 200
    assert b"don't match" in response.content


def test_a_guardian_account_cannot_sign_in(client, district):
    from rollbook.directory.models import Account

    Account.objects.create(given_name="P", family_name="Q", email="p@example.org", password="!")
    response = client.post("/sign-in/", {"username": "p@example.org", "password": "!"})
    assert b"don't match" in response.content


def test_passwords_are_hashed_with_argon2(admin):
    assert admin.password.startswith("argon2")


# The directory ------------------------------------------------------------------------------


def test_district_overview_counts_schools_and_runs(client, world):
    client.force_login(world.district_admin)
    page = client.get(f"/districts/{world.district.pk}/").text
    for text in (
        "Lincoln Elementary",
        "Jefferson Middle",
        "Held for approval",
        "would archive 40%",
    ):
        assert text in page
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", page))
    assert counts == {
        "Active students": "8",
        "Archived students": "0",
        "Guardians": "4",
        "Staff": "1",
        "Classes": "1",
    }


def test_school_overview_lists_its_classes_and_counts_only_its_people(client, world):
    client.force_login(world.admin_b)
    page = client.get(f"/schools/{world.school_b.pk}/").text
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", page))
    assert counts["Active students"] == "2" and counts["Guardians"] == "2"
    assert "Lincoln" not in page


def test_home_lists_a_school_administrators_schools_only(client, world):
    client.force_login(world.admin_a)
    page = client.get("/").text
    assert "Lincoln Elementary" in page and "Jefferson Middle" not in page
    assert f"/districts/{world.district.pk}/" not in page


def test_home_shows_a_districts_kept_counts_and_its_first_schools(client, world):
    """The first page after signing in: the district's counts as the overview keeps them
    (never counted per request) and its first schools by name, the rest a link away."""
    from rollbook.directory.models import School, Student
    from rollbook.web.views_places import SCHOOLS_SHOWN

    School.objects.bulk_create(
        School(district=world.district, name=f"Academy {i:03d}") for i in range(SCHOOLS_SHOWN)
    )
    client.force_login(world.district_admin)
    page = client.get("/").text
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([\d,]+)</dd>", page))
    active = Student.objects.filter(district=world.district, status="active").count()
    assert counts["Active students"] == str(active) and active > 0
    assert counts["Schools"] == str(SCHOOLS_SHOWN + 2)
    assert f"Academy {SCHOOLS_SHOWN - 1:03d}" in page and "Lincoln Elementary" not in page
    assert f"all {SCHOOLS_SHOWN + 2} schools</a> are on the Schools tab" in page
    assert f'href="/districts/{world.district.pk}/schools/"' in page
    assert "Elsewhere High" not in page  # another district's


def test_student_page(client, world):
    client.force_login(world.admin_a)
    ana = world.students_a[0]
    page = client.get(f"/students/{ana.pk}/").text
    for text in ("Ana Able", "Lincoln Elementary", "Pat Parent", "Room 1", "Likes drawing."):
        assert text in page
    assert "Entered by hand" in page


def test_an_account_page_shows_only_the_roles_in_scope(client, world):
    pat = world.guardians["pat"]
    client.force_login(world.admin_a)
    page = client.get(f"/accounts/{pat.pk}/").text
    assert "Ana Able" in page and "Ben Baker" in page and "Carl Cole" not in page
    client.force_login(world.district_admin)
    assert "Carl Cole" in client.get(f"/accounts/{pat.pk}/").text
    gil = client.get(f"/accounts/{world.guardians['gil'].pk}/").text
    assert "Teacher" in gil and "Parent of" in gil and "in class Room 1" in gil


def test_remove_guardians_confirms_with_counts_then_runs_and_reports(client, world):
    from rollbook.directory.models import Account, AuditEntry

    client.force_login(world.admin_a)
    url = f"/schools/{world.school_a.pk}/directory/actions/"
    form = {"action": "remove_guardians", "selection": "all", "grade": "02"}  # Ben, Eve, Gia
    confirm = client.post(url, form).text
    assert (
        "Remove 3 guardian links from 3 students; 1 account will be left with no role and "
        "deactivated." in confirm
    )
    assert 'name="confirm" value="yes"' in confirm and 'name="grade" value="02"' in confirm
    done = client.post(url, {**form, "confirm": "yes"}, follow=True)
    assert "Removed 3 guardian links from 3 students; 1 account" in done.text
    assert done.redirect_chain[-1][0].endswith("?grade=02")
    assert not Account.objects.get(pk=world.guardians["hal"].pk).is_active
    assert AuditEntry.objects.filter(actor=world.admin_a, action="archive").count() == 3


def test_archive_checked_rows(client, world):
    from rollbook.directory.models import Student

    client.force_login(world.admin_a)
    url = f"/schools/{world.school_a.pk}/directory/actions/"
    ids = [s.pk for s in world.students_a[:2]]
    confirm = client.post(url, {"action": "archive", "ids": ids}).text
    assert "Archive 2 students" in confirm
    client.post(url, {"action": "archive", "ids": ids, "confirm": "yes"})
    assert Student.objects.filter(status="archived").count() == 2
    again = client.post(url, {"action": "archive", "ids": ids}).text
    assert "Nothing to do" in again


def test_merge_goes_to_the_merge_tab_with_the_chosen_ids(client, world):
    client.force_login(world.admin_a)
    ids = [world.students_a[0].pk, world.students_b[0].pk]  # the second is not in scope
    response = client.post(
        f"/schools/{world.school_a.pk}/directory/actions/", {"action": "merge", "ids": ids}
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"/merge/?students={ids[0]}")


def test_every_form_and_htmx_request_needs_the_csrf_token(world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin_a)
    url = f"/schools/{world.school_a.pk}/directory/actions/"
    form = {"action": "archive", "selection": "all", "confirm": "yes"}
    assert client.post(url, form).status_code == 403
    assert client.post(url, form, headers={"HX-Request": "true"}).status_code == 403
    page = client.get(f"/schools/{world.school_a.pk}/directory/").text
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    assert 'hx-headers=\'{"X-CSRFToken"' in page
    assert client.post(url, form, headers={"X-CSRFToken": token}).status_code == 302
    forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", page, re.S)
    assert forms and all("csrfmiddlewaretoken" in f for f in forms)


def test_no_personal_data_in_the_logs(client, world, caplog):
    client.force_login(world.admin_b)
    ana = world.students_a[0]
    with caplog.at_level("DEBUG"):
        client.get(f"/students/{ana.pk}/")
        client.get(f"/schools/{world.school_b.pk}/directory/", {"q": "pat@example.org"})
        client.post(
            f"/schools/{world.school_b.pk}/directory/actions/",
            {"action": "remove_guardians", "selection": "all", "confirm": "yes"},
        )
    logged = caplog.text
    for secret in ("Ana", "Able", "pat@example.org", "Pat", "Parent"):
        assert secret not in logged
