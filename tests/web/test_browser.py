"""The directory in a real browser (Debian's Chromium through Playwright) against a live server.

Run with ``pytest -m browser``; skipped when /usr/bin/chromium is missing, unless CI is set.
"""

import re

import pytest

from rollbook.directory.models import Account, GuardianLink, Status, Student

pytestmark = pytest.mark.browser


def test_filter_select_all_matching_and_remove_guardians(browser_world, signed_in):
    w = browser_world
    page = signed_in(w.admin_a)
    page.get_by_role("link", name="Lincoln Elementary").click()
    page.get_by_role("navigation", name="School sections").get_by_role(
        "link", name="Directory"
    ).click()
    assert page.locator("#total").inner_text() == "6"

    page.get_by_label("Grade").select_option("02")  # htmx: the results follow the filter
    page.wait_for_url(re.compile(r"grade=02"))
    page.wait_for_function("document.querySelector('#total').textContent === '3'")
    page.get_by_label("Select all 3 matching this filter").check()
    assert page.locator('input[name="ids"]:checked').count() == 3
    page.get_by_text("Actions", exact=True).click()
    page.get_by_role("button", name="Remove guardians…").click()

    summary = page.locator("#confirm-summary")
    assert summary.inner_text() == (
        "Remove 3 guardian links from 3 students; 1 account will be left with no role and "
        "deactivated."
    )
    page.get_by_role("button", name="Remove guardians now").click()
    page.wait_for_selector(".messages")
    assert "/directory/?grade=02" in page.url
    assert "Removed 3 guardian links from 3 students" in page.locator(".messages").inner_text()
    assert not Account.objects.get(pk=w.guardians["hal"].pk).is_active

    page.get_by_label("Guardians", exact=True).select_option("with")
    page.wait_for_function("document.querySelector('#total').textContent === '0'")
    page.get_by_label("Guardians", exact=True).select_option("without")
    page.wait_for_function("document.querySelector('#total').textContent === '3'")
    assert not GuardianLink.objects.filter(
        student__school=w.school_a, student__grade="02", status=Status.ACTIVE
    ).exists()


def test_archive_the_selected_students(browser_world, signed_in):
    w = browser_world
    page = signed_in(w.admin_a)
    page.goto(f"/schools/{w.school_a.pk}/directory/")
    ana, ben = w.students_a[:2]
    page.get_by_label("Select Ana Able").check()
    page.get_by_label("Select Ben Baker").check()
    page.get_by_text("Actions", exact=True).click()
    page.get_by_role("button", name="Archive…", exact=True).click()
    assert page.locator("#confirm-summary").inner_text() == "Archive 2 students."
    page.get_by_role("button", name="Archive now").click()
    page.wait_for_selector(".messages")
    assert "Archived 2 students." in page.locator(".messages").inner_text()
    assert page.locator("#total").inner_text() == "4"
    assert set(Student.objects.filter(status=Status.ARCHIVED)) == {ana, ben}


def test_select_all_on_this_page_checks_every_row(browser_world, signed_in):
    w = browser_world
    page = signed_in(w.district_admin)
    page.goto(f"/districts/{w.district.pk}/directory/")
    page.get_by_label("Select all on this page").check()
    assert page.locator('input[name="ids"]:checked').count() == 8


def test_another_schools_student_by_url_is_not_found(browser_world, signed_in):
    w = browser_world
    page = signed_in(w.admin_b)
    response = page.goto(f"/students/{w.students_a[0].pk}/")
    assert response.status == 404
    assert "Ana" not in page.content()
    response = page.goto(f"/students/{w.students_b[0].pk}/")
    assert response.status == 200
    assert "Carl Cole" in page.content()


def test_keyboard_only_sign_in_and_visible_focus(browser_world, page):
    w = browser_world
    page.goto("/sign-in/")
    assert page.evaluate("document.activeElement.id") == "id_username"  # autofocus
    page.keyboard.type(w.admin_a.email)
    page.keyboard.press("Tab")
    page.keyboard.type("a-long-passphrase")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Your districts and schools")
    page.keyboard.press("Tab")  # the skip link comes first, and shows where focus is
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


@pytest.mark.parametrize("width", [1280, 820])
def test_the_directory_fits_laptop_and_tablet_widths(browser_world, signed_in, width):
    w = browser_world
    page = signed_in(w.district_admin)
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(f"/districts/{w.district.pk}/directory/")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.screenshot(path=f"/tmp/rbweb-directory-{width}.png", full_page=True)
