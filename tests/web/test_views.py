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
