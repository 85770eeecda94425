"""A district administrator of many schools, in a real browser: the Directory's school finder
by keyboard only, with JavaScript (htmx: the finder takes the filter's current values) and
without it (a plain form and links); and the district overview's first schools. What is
checked is what a person sees: the values shown, no text drawn over text, the focus where the
keyboard is. Screenshots go to ROLLBOOK_SCREENSHOTS (default: pytest's temporary folder)."""

from __future__ import annotations

import re

import pytest

from rollbook.directory.models import School

from . import looks
from .conftest import PASSWORD

pytestmark = [pytest.mark.browser]


@pytest.fixture
def many(browser_world):
    School.objects.bulk_create(
        School(district=browser_world.district, name=f"School {n:02d} of the North")
        for n in range(1, 61)
    )
    return browser_world


def sign_in(context, account) -> object:
    page = context.new_page()
    page.goto("/sign-in/")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    return page


def chosen_school(page) -> str:
    return page.locator("#id_school option:checked").inner_text()


def no_overlap(page) -> None:
    measured, overlaps = looks.text_overlaps(page)
    assert measured > 5 and not overlaps, overlaps


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-javascript"])
def test_finding_and_choosing_a_school_by_keyboard(
    chromium, live_server, many, tmp_path_factory, javascript
):
    shots = looks.screenshot_folder(tmp_path_factory.mktemp("finder-shots"))
    context = chromium.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 900},
        java_script_enabled=javascript,
    )
    context.set_default_timeout(10_000)
    page = sign_in(context, many.district_admin)
    base = f"/districts/{many.district.pk}/directory/"
    page.goto(base)
    assert chosen_school(page) == "All schools"
    assert page.locator("#id_school option").count() == 1  # no menu of 62 schools
    # A grade chosen first (with htmx: in place, the URL pushed).
    page.locator("#id_grade").focus()
    page.keyboard.press("ArrowDown")  # "IT"…: then the grade by its value
    page.locator("#id_grade").select_option("01")
    if not javascript:
        page.get_by_role("button", name="Search").press("Enter")
    page.wait_for_url(re.compile(r"grade=01"))
    # The finder, by keyboard: type, Enter; the matches are links.
    page.get_by_role("searchbox", name="Find a school").focus()
    page.keyboard.type("north 05")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"find_school=north(\+|%20)05"))
    assert "grade=01" in page.url  # the filter's current value went with the words
    match = page.get_by_role("link", name="School 05 of the North")
    assert match.is_visible()
    assert page.get_by_text("1 school matches “north 05”").is_visible()
    assert page.locator("#id_grade").input_value() == "01"
    no_overlap(page)
    page.screenshot(path=shots / f"finder-{'htmx' if javascript else 'no-js'}.png", full_page=True)
    # Focus is in the finder (autofocus); Tab reaches the button, then the school's link.
    assert page.evaluate("document.activeElement.id") == "id_find_school"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "School 05 of the North"
    page.keyboard.press("Enter")
    school = School.objects.get(name="School 05 of the North")
    page.wait_for_url(re.compile(rf"school={school.pk}"))
    assert "grade=01" in page.url
    assert chosen_school(page) == "School 05 of the North"
    assert page.get_by_text("0 students match").is_visible()  # a school with no students
    # Back to every school from the menu (htmx: in place; without: the Search button).
    page.locator("#id_school").select_option("")
    if not javascript:
        page.get_by_role("button", name="Search").press("Enter")
    page.wait_for_url(re.compile(r"[?&]school=(&|$)"))
    assert page.get_by_text("3 students match").is_visible()  # grade 01: Ana, Dana, Finn
    context.close()


def test_the_overview_shows_the_first_schools_and_the_way_to_the_others(
    chromium, live_server, many, tmp_path_factory
):
    shots = looks.screenshot_folder(tmp_path_factory.mktemp("finder-shots"))
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    page = sign_in(context, many.district_admin)
    page.goto(f"/districts/{many.district.pk}/")
    rows = page.locator("#schools-title ~ div table tbody tr")
    assert rows.count() == 20
    assert rows.first.inner_text().split("\t")[0] == "Jefferson Middle"
    assert page.get_by_text("The first 20 of 62 schools, by name.").is_visible()
    counts = page.locator(".counts dd").all_inner_texts()
    assert counts == ["8", "0", "4", "1", "1"]
    no_overlap(page)
    page.screenshot(path=shots / "overview-first-schools.png", full_page=True)
    page.get_by_role("link", name="All 62 schools").click()
    page.wait_for_url(f"**/districts/{many.district.pk}/schools/")
    context.close()
