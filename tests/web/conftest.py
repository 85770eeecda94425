"""Fixtures of the web app's tests: a small district with two schools and their three kinds of
administrator, and (for browser tests) Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rollbook.directory.audit import Actor

PASSWORD = "a-long-passphrase"
CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class World:
    district: object
    school_a: object
    school_b: object
    district_admin: object
    admin_a: object
    admin_b: object
    students_a: list = field(default_factory=list)
    students_b: list = field(default_factory=list)
    guardians: dict = field(default_factory=dict)
    other_district: object = None
    held_run: object = None
    klass_a: object = None


def build_world() -> World:
    """District "Test District" with Lincoln (A) and Jefferson (B).

    Lincoln: 6 students, grade 01 and 02; Ana Able (grade 01) and Ben Baker (grade 02) have
    the guardian Pat Parent, who also has Carl Cole at Jefferson; Dana Dunn has Gil Guard,
    who is a teacher at Lincoln too; Eve Evans has Hal Home only; Finn Fox has none.
    Jefferson: Carl Cole and Gus Green (guardian Ida Inn).
    """
    from rollbook.directory.models import (
        Account,
        ClassMembership,
        District,
        GuardianLink,
        HistoryRecord,
        School,
        SchoolClass,
        StaffRole,
        Student,
    )
    from rollbook.directory.services import create_administrator
    from rollbook.sync.models import SyncRun, SyncSource

    actor = Actor(label="test")
    district = District.objects.create(name="Test District", default_region="US")
    other = District.objects.create(name="Other District", default_region="US")
    a = School.objects.create(district=district, name="Lincoln Elementary")
    b = School.objects.create(district=district, name="Jefferson Middle")
    School.objects.create(district=other, name="Elsewhere High")
    world = World(
        district=district,
        school_a=a,
        school_b=b,
        other_district=other,
        district_admin=create_administrator(district, "district@example.org", PASSWORD, actor),
        admin_a=create_administrator(
            district, "lincoln@example.org", PASSWORD, actor, given_name="Lin", school=a
        ),
        admin_b=create_administrator(
            district, "jefferson@example.org", PASSWORD, actor, given_name="Jeff", school=b
        ),
    )

    def student(school, given, family, grade):
        return Student.objects.create(
            district=district, school=school, given_name=given, family_name=family, grade=grade
        )

    world.students_a = [
        student(a, "Ana", "Able", "01"),
        student(a, "Ben", "Baker", "02"),
        student(a, "Dana", "Dunn", "01"),
        student(a, "Eve", "Evans", "02"),
        student(a, "Finn", "Fox", "01"),
        student(a, "Gia", "Gray", "02"),
    ]
    world.students_b = [student(b, "Carl", "Cole", "06"), student(b, "Gus", "Green", "07")]

    def guardian(given, family, email, phone):
        return Account.objects.create(
            given_name=given, family_name=family, email=email, phone=phone, password="!"
        )

    g = world.guardians
    g["pat"] = guardian("Pat", "Parent", "pat@example.org", "+12025550101")
    g["gil"] = guardian("Gil", "Guard", "gil@example.org", "+12025550102")
    g["hal"] = guardian("Hal", "Home", "hal@example.org", None)
    g["ida"] = guardian("Ida", "Inn", "ida@example.org", None)
    ana, ben, dana, eve, _, gia = world.students_a
    carl, gus = world.students_b
    for account, kid in [
        (g["pat"], ana),
        (g["pat"], ben),
        (g["pat"], carl),
        (g["gil"], dana),
        (g["hal"], eve),
        (g["hal"], gia),
        (g["ida"], gus),
    ]:
        GuardianLink.objects.create(account=account, student=kid)
    StaffRole.objects.create(account=g["gil"], school=a, role="teacher")
    world.klass_a = SchoolClass.objects.create(school=a, title="Room 1")
    for kid in (ana, dana):
        ClassMembership.objects.create(school_class=world.klass_a, student=kid)
    ClassMembership.objects.create(school_class=world.klass_a, account=g["gil"], role="teacher")
    HistoryRecord.objects.create(
        student=ana, kind="note", occurred_at="2025-01-02T10:00:00Z", text="Likes drawing."
    )
    source = SyncSource.objects.create(district=district, name="SIS")
    SyncRun.objects.create(source=source, status=SyncRun.Status.APPLIED)
    world.held_run = SyncRun.objects.create(
        source=source, status=SyncRun.Status.HELD, hold_reasons=["would archive 40%"]
    )
    return world


@pytest.fixture
def world(db) -> World:
    return build_world()


def sign_in(client, account):
    client.force_login(account)
    return client


# Browser tests --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless. Missing: skipped — unless CI is set, then a failure."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need Chromium at {CHROMIUM}")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own
    # database work (fixtures, assertions) is synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_world(transactional_db) -> World:
    """The world, committed, so that the live server's threads see it."""
    return build_world()


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def signed_in(page):
    """Sign in through the real form, as a person would."""

    def as_(account) -> object:
        page.goto("/sign-in/")
        page.get_by_label("Email").fill(account.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        return page

    return as_
