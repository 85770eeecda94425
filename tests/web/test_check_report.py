"""The self-check report as a document an administrator acts on (issue 17): a summary first
(ready, or the things to fix, each a link to its finding), collapsible sections, tables a page
at a time and downloadable, no table shown twice, printable, in words — on a realistic
district (a generated export of 300 students and families entered by hand before it)."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest
from django.utils.html import escape

from rollbook.readiness.report import CODES
from rollbook.readiness.wording import SUBSETS
from rollbook.web.check_tables import PAGE_ROWS
from rollbook.web.models import Job
from rollbook.web.views_check import report_path

from .check_district import build_checked_district, run_self_check
from .conftest import sign_in

# What a person must never read on the page: the report's keys and Python's words.
INTERNAL = re.compile(
    r"staff_role|guardian_link|accounts_created|sourced_id|_current\b|_sis\b|\bNone\b"
    r"|\{'|\{\"|\bTrue\b|\bFalse\b|\w\(s\)|\b1 (students|guardians|accounts|people|rows)\b"
)


def _checked(settings, tmp_path):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    district = build_checked_district(tmp_path / "imports")
    run_self_check(district)
    return district


@pytest.fixture
def checked(db, settings, tmp_path):
    return _checked(settings, tmp_path)


class _Text(HTMLParser):
    """The text a browser would render, and each table's rows (scripts and styles aside)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.tables: list[int] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "table":
            self.tables.append(0)
        elif tag == "tr" and self.tables:
            self.tables[-1] += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _read(response) -> _Text:
    parsed = _Text()
    parsed.feed(response.content.decode())
    return parsed


def _report(client, checked, **query):
    sign_in(client, checked.admin)
    url = f"/districts/{checked.district.pk}/self-check/{checked.job.pk}/"
    response = client.get(url, query)
    assert response.status_code == 200
    return response


def _data(checked) -> dict:
    return json.loads(report_path(checked.job).read_text(encoding="utf-8"))


def _findings(data) -> dict[str, dict]:
    return {f["code"]: f for s in data["sections"].values() for f in s["findings"]}


def test_the_summary_comes_first_and_links_each_thing_to_fix(client, checked):
    findings = _findings(_data(checked))
    to_fix = [c for c, f in findings.items() if f["severity"] in ("warning", "error")]
    assert len(to_fix) >= 5, "the district was meant to have several things to fix"
    html = _report(client, checked).content.decode()
    summary = html[html.index('id="summary"') : html.index('id="prediction-title"')]
    assert f"Fix these {len(to_fix)} things before the first sync" in summary
    for code in to_fix:
        assert f'<a href="#{code}">{escape(CODES[code].title)}</a>' in summary
        assert f'<article class="finding" id="{code}"' in html
    assert "The sync can run. It will create 300 students and " in summary
    assert html.index('id="summary"') < html.index("<details")


def test_every_section_is_collapsible_and_no_table_is_shown_twice(client, checked):
    response = _report(client, checked)
    html = response.content.decode()
    assert html.count('<details class="card section"') == 6
    assert '<details class="card section" id="s-existing_families">' in html  # closed
    findings = _findings(_data(checked))
    with_rows = [c for c, f in findings.items() if f["rows"] and c not in SUBSETS]
    parsed = _read(response)
    assert len(parsed.tables) == len(with_rows)
    assert all(rows <= PAGE_ROWS + 1 for rows in parsed.tables)  # the heading row and 25
    # The twins are the existing students' rows: said in words, listed once.
    twins = html[html.index('id="CHECK-EXISTING-STUDENT-TWINS"') :]
    twins = twins[: twins.index("</article>")]
    assert "<table" not in twins and "Show only these there" in twins


def test_no_internal_word_and_every_count_in_the_right_number(client, checked):
    text = " ".join(_read(_report(client, checked)).parts)
    assert not INTERNAL.findall(text), INTERNAL.findall(text)[:5]
    for words in ("SIS id", "Guardian now", "In the SIS", "Roles in the SIS", "Guardian links"):
        assert words in text, words
    # The page's own counts: "1 school", "52 students".
    assert re.search(
        r"Schools entered by hand whose name is nearly an SIS school's:\s+1 school\b", text
    )
    assert not re.search(r"\b1 schools\b", text)


def test_a_table_is_read_a_page_at_a_time(client, checked):
    code = "CHECK-EXISTING-STUDENTS"
    rows = _findings(_data(checked))[code]["rows"]
    assert len(rows) > 2 * PAGE_ROWS
    second = _report(client, checked, code=code, page=2)
    html = second.content.decode()
    assert '<details class="card section" id="s-existing_families" open>' in html  # no script
    assert f"Rows 26–50 of {len(rows)} students · page 2 of " in html
    assert rows[PAGE_ROWS]["given_name"] in html.split(f'id="rows-{code}"')[1]
    # htmx asks for the table alone.
    fragment = client.get(
        second.request["PATH_INFO"], {"code": code, "page": 3}, HTTP_HX_REQUEST="true"
    )
    body = fragment.content.decode()
    assert body.lstrip().startswith(f'<div id="rows-{code}"') and "<details" not in body
    assert f"Rows 51–{min(75, len(rows))} " in body and f'id="{code}-previous"' in body
    last = -(-len(rows) // PAGE_ROWS)
    end = client.get(
        second.request["PATH_INFO"], {"code": code, "page": 999}, HTTP_HX_REQUEST="true"
    )
    assert f"page {last} of {last}" in end.content.decode()
    assert f'id="{code}-next"' not in end.content.decode()


def test_the_twins_are_shown_within_the_existing_students_table(client, checked):
    findings = _findings(_data(checked))
    twins = findings["CHECK-EXISTING-STUDENT-TWINS"]["count"]
    html = _report(
        client, checked, code="CHECK-EXISTING-STUDENTS", only="CHECK-EXISTING-STUDENT-TWINS"
    ).content.decode()
    assert "Only “Existing students who look like an incoming SIS student”" in html
    assert f"of {twins} students" in html or f">{twins} students<" in html


def test_each_finding_downloads_as_csv_in_words_and_spreadsheet_safe(client, checked):
    findings = _findings(_data(checked))
    sign_in(client, checked.admin)
    base = f"/districts/{checked.district.pk}/self-check/{checked.job.pk}"
    near = client.get(f"{base}/CHECK-GUARDIAN-NEAR-MATCH.csv")
    assert near["Content-Disposition"].endswith(
        f'self-check-{checked.job.pk}-guardian-near-match.csv"'
    )
    table = list(csv.reader(io.StringIO(b"".join(near.streaming_content).decode())))
    header, rows = table[0], table[1:]
    assert len(rows) == findings["CHECK-GUARDIAN-NEAR-MATCH"]["count"]
    assert "Phone in the SIS" in header and "Can take the SIS values now" in header
    assert not [h for h in header if "_" in h]
    phones = [
        r[header.index("Phone in the SIS")] for r in rows if r[header.index("Phone in the SIS")]
    ]
    assert phones and all(p.startswith("'+") for p in phones)  # never run as a formula
    assert {r[header.index("Can take the SIS values now")] for r in rows} <= {"yes", "no"}


def test_the_report_s_json_keeps_its_keys(checked):
    """Scripts read ``rollbook check --json``: the words are the page's, the keys stay."""
    from rollbook.readiness.wording import LABELS, PREDICTION

    data = _data(checked)
    assert {"accounts_created", "roles_added", "students_left_untouched"} <= set(data["prediction"])
    # Every key has its words (none left to the fallback).
    named = {key for items in PREDICTION.values() for key, _ in items}
    assert set(data["prediction"]) <= named
    keys = {k for f in _findings(data).values() for row in f["rows"] for k in row}
    assert keys <= set(LABELS), keys - set(LABELS)
    near = _findings(data)["CHECK-GUARDIAN-NEAR-MATCH"]["rows"][0]
    assert {"account_id", "sis_sourced_id", "given_name_current", "fixable"} <= set(near)


def test_the_contact_fix_names_the_guardians(client, checked):
    sign_in(client, checked.admin)
    base = f"/districts/{checked.district.pk}/self-check/{checked.job.pk}"
    near = [
        r for r in _findings(_data(checked))["CHECK-GUARDIAN-NEAR-MATCH"]["rows"] if r["fixable"]
    ]
    html = client.get(f"{base}/fix/contacts/").content.decode()
    first = near[0]
    assert f">{first['given_name_current']} {first['family_name_current']}</a>" in html
    assert f"<td>{first['account_id']}</td>" not in html


def test_the_tab_says_the_upload_limit_and_the_import_folder(client, checked, settings):
    settings.ROLLBOOK_MAX_UPLOAD_MB = 64
    sign_in(client, checked.admin)
    html = client.get(f"/districts/{checked.district.pk}/self-check/").content.decode()
    assert "Upload a bundle (.zip, up to 64 MB)" in html
    assert f"the folder named {checked.district.pk} in Rollbook&#x27;s import folder" in html
    assert f"Self-check {checked.job.pk}</a> — " in html
    findings = _findings(_data(checked))
    n = sum(1 for f in findings.values() if f["severity"] in ("warning", "error"))
    assert f": {n} things to fix first</li>" in html
    assert "up to MB" not in html and Job.objects.filter(kind="check").count() == 1


# In a browser --------------------------------------------------------------------------------

EMAIL = re.compile(r"\S+@\S+")


@pytest.fixture
def browser_checked(transactional_db, settings, tmp_path):
    """The district, committed, for the live server's threads."""
    return _checked(settings, tmp_path)


def _height(page) -> int:
    return page.evaluate("() => document.documentElement.scrollHeight")


def _tab_to(page, locator, limit: int = 200) -> None:
    """Press Tab until ``locator`` has the focus, as a keyboard user would."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(limit):
        page.keyboard.press("Tab")
        if locator.evaluate("(el) => el === document.activeElement"):
            return
    raise AssertionError(f"{locator} was not reached with Tab")


@pytest.mark.browser
def test_the_report_in_a_browser(browser_checked, signed_in, tmp_path):
    from . import looks

    shots = looks.screenshot_folder(tmp_path / "shots")
    checked = browser_checked
    page = signed_in(checked.admin)
    page.goto(f"/districts/{checked.district.pk}/self-check/{checked.job.pk}/")
    page.screenshot(path=str(shots / "check-report-collapsed.png"), full_page=True)
    assert _height(page) < 6000, "the report with its sections closed is too long"
    assert page.locator("#verdict-title").inner_text().startswith("Fix these ")

    # A section opens with the keyboard (Enter), another with Space.
    families = page.locator("#s-existing_families > summary")
    _tab_to(page, families)
    page.keyboard.press("Enter")
    assert page.locator("#s-existing_families").evaluate("(d) => d.open")
    guardians = page.locator("#s-existing_guardians > summary")
    guardians.focus()
    page.keyboard.press("Space")
    assert page.locator("#s-existing_guardians").evaluate("(d) => d.open")

    # A table a page at a time, with the keyboard.
    code = "CHECK-EXISTING-STUDENTS"
    table = page.locator(f"#rows-{code}")
    first_row = table.locator("tbody tr").first.inner_text()
    assert table.locator("tbody tr").count() == 25
    _tab_to(page, page.locator(f"#{code}-next"))
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#rows-{code} .range:has-text('Rows 26–50')")
    assert table.locator("tbody tr").first.inner_text() != first_row
    assert page.locator(f"#{code}-next").evaluate("(el) => el === document.activeElement")
    page.locator(f"#{code}-previous").click()
    page.wait_for_selector(f"#rows-{code} .range:has-text('Rows 1–25')")
    assert table.locator("tbody tr").first.inner_text() == first_row

    # The CSV downloads.
    with page.expect_download() as download:
        page.locator(f"#{code} .download a").click()
    path = download.value.path()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("Rollbook student number,Given name,Family name,School,Grade")
    assert len(lines) == 1 + int(re.sub(r"\D", "", page.locator(f"#{code} .count").inner_text()))

    # A link of the summary opens its section and shows the finding.
    page.locator("#summary .things a[href='#CHECK-SIGN-IN-CONFLICT']").click()
    assert page.locator("#s-sign_in_conflicts").evaluate("(d) => d.open")
    assert page.locator("#CHECK-SIGN-IN-CONFLICT h4").is_visible()

    # Everything open: nothing drawn over anything, none of the program's words.
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    page.screenshot(path=str(shots / "check-report-open.png"), full_page=True, timeout=60_000)
    measured, overlaps = looks.text_overlaps(page)
    assert measured > 200 and not overlaps, overlaps[:5]
    text = EMAIL.sub("(email)", page.locator("body").inner_text())
    assert not looks.internal_words(text), looks.internal_words(text)[:5]
    assert not INTERNAL.findall(text), INTERNAL.findall(text)[:5]

    # Printed: no navigation, every section open, no buttons.
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = false; })")
    page.emulate_media(media="print")
    page.screenshot(path=str(shots / "check-report-print.png"), full_page=True, timeout=60_000)
    assert not page.locator("nav.tabs").is_visible()
    assert not page.locator("header.top").is_visible()
    assert page.locator("#CHECK-EXISTING-STUDENTS h4").is_visible()
    assert not page.locator(".pager a").first.is_visible()
    page.emulate_media(media="screen")


@pytest.mark.browser
def test_the_self_check_tab_in_a_browser(browser_checked, signed_in, tmp_path, settings):
    from . import looks

    shots = looks.screenshot_folder(tmp_path / "shots")
    checked = browser_checked
    page = signed_in(checked.admin)
    page.goto(f"/districts/{checked.district.pk}/self-check/")
    page.screenshot(path=str(shots / "check-tab.png"), full_page=True)
    label = page.locator("label[for=id_upload]").inner_text()
    assert label == f"Upload a bundle (.zip, up to {settings.ROLLBOOK_MAX_UPLOAD_MB} MB)"
    help_text = page.locator("#folder-help").inner_text()
    assert f"the folder named {checked.district.pk} in Rollbook's import folder" in help_text
    measured, overlaps = looks.text_overlaps(page)
    assert measured > 20 and not overlaps, overlaps[:5]
