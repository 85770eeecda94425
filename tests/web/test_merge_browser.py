"""The Merge tab in a real browser, as a district and as a school administrator: why each pair
is in its bucket, the confirmation's pairs to look at and guardian choice (with the keyboard),
and the merging done by the queue's worker, followed on the job page."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

from rollbook.directory.models import Student
from rollbook.merge.models import StudentMerge
from rollbook.web.models import Job

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("ROLLBOOK_SCREENSHOTS", "/tmp"))
BORN = dt.date(2016, 4, 2)

# Boxes of text that must not overlap one another (one inside another is fine).
OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll(
    'main h2, main h3, main p, main th, main td, main label, main button, main a.button, main li'
  )].filter(e => e.offsetParent !== null && e.innerText.trim());
  const out = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.contains(b) || b.contains(a)) continue;
    const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
    const x = Math.min(r.right, s.right) - Math.max(r.left, s.left);
    const y = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
    if (x > 1 && y > 1) out.push(a.innerText.slice(0, 40) + ' / ' + b.innerText.slice(0, 40));
  }
  return out;
}"""


def plant(w) -> dict:
    """Synced twins of Ana Able, Dana Dunn (Lincoln) and Carl Cole (Jefferson): ready. Gia Gray's
    twin has a birth date only the SIS knows: ready, worth a look. 'Mya Davies' and her synced
    'Mia Davis' (names 67% alike), and Finn Fox with a twin at Jefferson: they need a look."""
    from rollbook.sync.models import SyncSource

    source = SyncSource.objects.get(district=w.district)
    ana, _, dana, _, finn, gia = w.students_a
    Student.objects.filter(pk=finn.pk).update(birth_date=BORN)
    mya = Student.objects.create(
        district=w.district,
        school=w.school_a,
        given_name="Mya",
        family_name="Davies",
        grade="03",
        birth_date=BORN,
    )
    n = iter(range(1, 100))

    def synced(school, old, given=None, family=None, birth=None):
        return Student.objects.create(
            district=w.district,
            school=school,
            given_name=given or old.given_name,
            family_name=family or old.family_name,
            grade=old.grade,
            birth_date=birth,
            origin="synced",
            source=source,
            sourced_id=f"stu-{next(n)}",
        )

    for old in (ana, dana):
        synced(w.school_a, old)
    synced(w.school_b, w.students_b[0])
    return {
        "gia": (gia, synced(w.school_a, gia, birth=BORN)),
        "mya": (mya, synced(w.school_a, mya, "Mia", "Davis", birth=BORN)),
        "finn": (finn, synced(w.school_b, finn, birth=BORN)),
    }


def looks_right(page) -> str:
    """The page's visible text, after checking it shows no internal word and no overlap."""
    text = page.locator("main").inner_text()
    for word in ("None", "needs_look", "no_match", "{'", "Traceback"):
        assert word not in text, word
    assert page.evaluate(OVERLAPS) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    return text


def test_a_district_administrator_merges_the_ready_pairs_through_the_worker(
    browser_world, signed_in, settings, tmp_path
):
    settings.ROLLBOOK_HOME = tmp_path
    w = browser_world
    planted = plant(w)
    page = signed_in(w.district_admin)
    page.goto(f"/districts/{w.district.pk}/merge/")
    page.get_by_role("button", name="Find candidates").click()
    page.wait_for_selector("text=Merge all 4 ready pairs", timeout=60_000)
    text = looks_right(page)
    assert "Ready: one strong candidate, same school, names alike: 4" in text
    assert "Needs a look: a strong candidate, with something to check: 2" in text
    look = page.locator("section[aria-labelledby='b-needs_look']").inner_text()
    assert "names 67% alike (spelling differs), under the 85% a merge at once needs." in look
    assert "different schools (Lincoln Elementary → Jefferson Middle)." in look
    page.screenshot(path=str(SHOTS / "rollbook-merge-tab-district.png"), full_page=True)

    page.get_by_role("link", name="Merge all 4 ready pairs…").click()
    text = looks_right(page)
    assert text.count("Merge 4 pairs: 1 history record") == 1
    exceptional = page.locator("table[aria-labelledby='exceptional-title']").inner_text()
    assert "Gia Gray" in exceptional and "birth date known on one side only" in exceptional
    assert "Mya" not in text and "Finn" not in text
    # The guardian choice: Pat Parent (Ana) and Gil Guard (Dana), unticked (dropped).
    ana, pat = w.students_a[0], w.guardians["pat"]
    keep = page.locator(f"input[name='keep_guardian'][value='{ana.pk}:{pat.pk}']")
    assert not keep.is_checked()
    page.screenshot(path=str(SHOTS / "rollbook-merge-confirm-district.png"), full_page=True)
    # With the keyboard: keep Pat for Ana, leave Gia's pair out.
    keep.focus()
    page.keyboard.press("Space")
    gia, gia_twin = planted["gia"]
    leave = page.get_by_role("checkbox", name=re.compile(r"Leave out Gia Gray"))
    leave.focus()
    page.keyboard.press("Space")
    assert keep.is_checked() and leave.is_checked()
    page.get_by_role("button", name="Merge 4 pairs now").focus()
    page.keyboard.press("Enter")
    # The job page follows the worker, then goes back to the Merge tab with the report.
    page.wait_for_url(re.compile(r"/merge/$"), timeout=60_000)
    assert "Merged 3 of 3 pairs" in page.locator(".messages").inner_text()
    job = Job.objects.get(kind=Job.Kind.MERGE)
    assert (job.status, job.done, job.total, job.worker != "") == ("done", 3, 3, True)
    assert not StudentMerge.objects.filter(old_student=gia).exists()
    survivor = StudentMerge.objects.get(old_student=ana).survivor
    assert list(
        survivor.guardian_links.filter(status="active").values_list("account", flat=True)
    ) == [pat.pk]
    looks_right(page)
    page.screenshot(path=str(SHOTS / "rollbook-merge-done-district.png"), full_page=True)
    page.goto(f"/districts/{w.district.pk}/jobs/{job.pk}/")
    report = page.locator("#job").inner_text()
    assert f"Merge of the ready pairs {job.pk}" in report and "Took" in report


def test_a_school_administrator_sees_their_school_only(
    browser_world, signed_in, settings, tmp_path
):
    settings.ROLLBOOK_HOME = tmp_path
    w = browser_world
    plant(w)
    page = signed_in(w.admin_a)
    page.goto(f"/schools/{w.school_a.pk}/merge/")
    page.get_by_role("button", name="Find candidates").click()
    page.wait_for_selector("text=Merge all 3 ready pairs", timeout=60_000)
    text = looks_right(page)
    # Finn's twin is at Jefferson, outside this administrator's school: no candidate at all.
    assert "Needs a look: a strong candidate, with something to check: 1" in text
    assert "Jefferson" not in text and "Carl" not in text
    page.screenshot(path=str(SHOTS / "rollbook-merge-tab-school.png"), full_page=True)
    # A pair that needs a look is decided from its preview, which says why.
    page.get_by_role("link", name="Preview the merge of Mya Davies into Mia Davis").click()
    text = looks_right(page)
    assert "Not merged with the ready pairs: names 67% alike (spelling differs)" in text
    page.screenshot(path=str(SHOTS / "rollbook-merge-preview-school.png"), full_page=True)
    page.go_back()
    page.get_by_role("link", name="Merge all 3 ready pairs…").click()
    text = looks_right(page)
    assert "Merge 3 pairs" in text and "Pairs to look at before merging (1)" in text
    page.screenshot(path=str(SHOTS / "rollbook-merge-confirm-school.png"), full_page=True)
