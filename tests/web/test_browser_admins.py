"""Issue 17, item 1 in a real browser: a district administrator invites a school
administrator with the keyboard only, the emailed link sets a password, and the new school
administrator signs in and sees only their school. Every page of the Administrators and
Schools tabs is looked at as a person reads it — no internal names, no raw ids, no "None", no
two pieces of text on top of each other — and photographed (``SHOTS``) for docs/web.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.urls import include, path

from rollbook.directory.models import AdministratorRole, School

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/rollbook-shots")
INTERNAL = re.compile(
    r"administratorrole|AdministratorRole|staff_role|school_id|account_id|sourced_id|"
    r"\bNone\b|\{'|\bpk\b",
)
# Text-bearing boxes that must not overlap one another.
OVERLAP_JS = """() => {
  const sel = 'h1,h2,p,li,th,td,label,a,button,input,select,small,.badge,dt,dd';
  const boxes = [...document.querySelectorAll(sel)]
    .filter(e => e.offsetParent !== null && !e.closest('.skip'))
    .map(e => ({e, r: e.getBoundingClientRect()}))
    .filter(b => b.r.width > 0 && b.r.height > 0);
  const clashes = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.e.contains(b.e) || b.e.contains(a.e)) continue;
    const x = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
    const y = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
    if (x > 2 && y > 2) clashes.push(a.e.textContent.trim().slice(0, 40) + ' / ' +
                                     b.e.textContent.trim().slice(0, 40));
  }
  return clashes;
}"""


def look(page, name: str) -> str:
    """The page's visible text, checked for internal words and overlapping text, and a
    screenshot of it."""
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    text = page.locator("body").inner_text()
    found = INTERNAL.search(text)
    assert found is None, f"{name} shows {found.group(0)!r}"
    assert page.evaluate(OVERLAP_JS) == [], name
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, name
    return text


def focused(page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.textContent")


def test_invite_a_school_administrator_who_sets_a_password_and_sees_their_school(
    browser_world, signed_in
):
    w = browser_world
    page = signed_in(w.district_admin)
    page.goto(f"/districts/{w.district.pk}/")
    page.get_by_role("link", name="Administrators", exact=True).click()
    text = look(page, "administrators-district-admin")
    assert "3 active administrators." in text
    assert re.search(r"Lin Administrator\s+lincoln@example.org\s+Lincoln Elementary", text)

    # The invitation, with the keyboard only: Tab from field to field, Enter to send.
    page.get_by_label("Given name").focus()
    page.keyboard.type("Mara")
    page.keyboard.press("Tab")
    assert focused(page) == "id_family_name"
    page.keyboard.type("Lopez")
    page.keyboard.press("Tab")
    assert focused(page) == "id_email"
    page.keyboard.type("mara.lopez@example.org")
    page.keyboard.press("Tab")
    assert focused(page) == "id_where"
    select = page.get_by_label("Administrator of")
    page.keyboard.type("Jef")  # a closed list jumps to what is typed
    assert select.evaluate("s => s.options[s.selectedIndex].text").startswith("Jefferson")
    page.keyboard.press("Tab")
    assert focused(page).strip() == "Send the invitation"
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages")
    assert "Mara Lopez is now school administrator of Jefferson Middle" in (
        page.locator(".messages").inner_text()
    )
    text = look(page, "administrators-after-invite")
    assert "Invited" in text and "no password chosen yet" in text
    assert "District Administrator invited Mara Lopez as school administrator" in text

    # The confirmations and the Schools tab, photographed as the district administrator.
    lin = AdministratorRole.objects.get(account=w.admin_a)
    page.get_by_role("link", name="Deactivate Lin Administrator at Lincoln Elementary").click()
    text = look(page, "administrator-deactivate-confirm")
    assert "Lin Administrator (lincoln@example.org) will no longer be school administrator" in text
    assert page.evaluate("document.activeElement.textContent") == "Deactivate now"
    page.get_by_role("link", name="Cancel").click()
    page.goto(f"/districts/{w.district.pk}/administrators/{lin.pk}/password/")
    look(page, "administrator-password-link-confirm")
    page.get_by_role("link", name="Schools", exact=True).click()
    text = look(page, "schools-district-admin")
    assert re.search(r"Lincoln Elementary\s+—\s+6\s+1\s+Entered by hand\s+Rename", text)
    page.get_by_label("School name").fill("Washington High")
    page.get_by_label("School name").press("Enter")
    page.wait_for_selector(".messages")
    assert "Washington High is added to Test District." in page.locator(".messages").inner_text()
    page.get_by_role("link", name="Rename Washington High").click()
    look(page, "school-rename")
    assert School.objects.filter(district=w.district, name="Washington High").exists()

    # The email's link, followed by the invited person (signed out).
    (sent,) = mail.outbox
    link = re.search(r"http://\S+/password/set/\S+/", sent.body).group(0)
    page.get_by_role("button", name="Sign out").click()
    page.goto(link.replace("http://127.0.0.1:8000", ""))
    look(page, "password-set")
    assert page.evaluate("document.activeElement.id") == "id_new_password1"
    page.keyboard.type("mara's long passphrase")
    page.keyboard.press("Tab")
    assert focused(page) == "id_new_password2"
    page.keyboard.type("mara's long passphrase")
    page.keyboard.press("Enter")
    page.wait_for_url("**/sign-in/")
    assert "Your password is set" in page.locator(".messages").inner_text()
    page.get_by_label("Email").fill("mara.lopez@example.org")
    page.get_by_label("Password").fill("mara's long passphrase")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    text = look(page, "home-school-admin")
    assert "Jefferson Middle" in text and "Lincoln Elementary" not in text
    page.get_by_role("link", name="Jefferson Middle").click()
    text = look(page, "school-overview-school-admin")
    assert "Administrators" not in page.locator("nav.tabs").inner_text()
    # Another school, or the district's tabs: the styled 404, naming nothing.
    response = page.goto(f"/schools/{w.school_a.pk}/")
    assert response.status == 404
    text = look(page, "not-found-school-admin")
    assert "Page not found" in text and "Lincoln" not in text
    response = page.goto(f"/districts/{w.district.pk}/administrators/")
    assert response.status == 404
    page.goto(link.replace("http://127.0.0.1:8000", ""))
    assert "This link does not work any more" in look(page, "password-set-used")


def _refused(request):
    raise PermissionDenied("internal reason: role check 42")


# The site's own URLs, and one that refuses, as a view may (tests marked urls(__name__)).
urlpatterns = [path("refused/", _refused), path("", include("rollbook.project.urls"))]


@pytest.mark.urls(__name__)
def test_a_refused_page_and_a_refused_form_are_styled_in_plain_words(browser_world, signed_in):
    w = browser_world
    page = signed_in(w.district_admin)
    response = page.goto("/refused/")
    assert response.status == 403
    text = look(page, "not-allowed-district-admin")
    assert "Not allowed" in text and "ask an administrator of your district" in text
    assert "internal reason" not in text and "Forbidden" not in text
    # A form sent without the cookie that protects it (blocked, or expired): the CSRF check
    # refuses it before any view runs.
    page.goto(f"/districts/{w.district.pk}/schools/")
    page.get_by_label("School name").fill("Washington High")
    page.context.clear_cookies(name="csrftoken")
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        page.get_by_role("button", name="Add the school").click()
    assert sent.value.status == 403
    page.wait_for_load_state()
    text = look(page, "form-refused-district-admin")
    assert "The form could not be sent" in text and "Reload the page and try again" in text
    assert "CSRF" not in text and "Forbidden" not in text
    assert not School.objects.filter(name="Washington High").exists()
    page.get_by_role("link", name="Rollbook").click()  # the site's layout, still signed in
    assert "Test District" in look(page, "home-after-refused-form")


def test_a_district_of_many_schools_pages_them_and_finds_one_by_keyboard(browser_world, signed_in):
    from rollbook.web.views_admins import SCHOOLS_PAGE

    w = browser_world
    School.objects.bulk_create(
        School(district=w.district, name=f"Academy {i:03d}", identifier=f"NCES-{i:03d}")
        for i in range(SCHOOLS_PAGE + 5)
    )
    page = signed_in(w.district_admin)
    page.goto(f"/districts/{w.district.pk}/schools/")
    text = look(page, "schools-many")
    assert "a page by name" in text and "Next →" in text
    assert page.locator("tbody tr").count() == SCHOOLS_PAGE
    page.get_by_role("link", name="Next →").click()
    text = look(page, "schools-many-page-2")
    assert "Lincoln Elementary" in text and "← Previous" in text
    # Find one with the keyboard: the box, a part of its identifier, Enter.
    page.get_by_label("Find a school").focus()
    page.keyboard.type("nces-042")
    page.keyboard.press("Enter")
    page.wait_for_url("**find=nces-042**")
    text = look(page, "schools-found")
    assert "1 school in Test District has “nces-042” in its name or identifier." in text
    assert page.locator("tbody tr").count() == 1 and "Academy 042" in text
    page.get_by_role("link", name="Show every school").click()
    assert page.locator("tbody tr").count() == SCHOOLS_PAGE
