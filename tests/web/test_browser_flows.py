"""The founding guideline in a real browser: a district administrator uploads the SIS bundle,
runs the self-check and applies its fix, plans the first sync, reviews and approves it; then
merges the ready pairs at once and undoes a merge. Work runs in the web process's worker
threads, as in production; the pages follow it."""

from __future__ import annotations

import re
import zipfile

import pytest

from rollbook.directory.models import Status, Student
from rollbook.merge.models import StudentMerge
from rollbook.sync.models import SyncRun

from ..sync.bundles import Bundle

pytestmark = pytest.mark.browser


@pytest.fixture
def bundle_zip(tmp_path, settings):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    folder = Bundle(schools=["sch-1"])
    folder.guardian("gdn-1", "Pat", "Parent", "pat@example.org", "(202) 555-0101")
    folder.student("stu-1", "Ana", "Able", grade="01", guardians=("gdn-1",))
    folder.student("stu-2", "Ben", "Baker", grade="02", guardians=("gdn-1",))
    folder.student("stu-3", "Zoe", "Zed", grade="01")
    written = folder.write(tmp_path / "bundle")
    path = tmp_path / "tuesday-export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for item in written.iterdir():
            archive.write(item, item.name)
    return path


def test_self_check_archive_plan_review_and_approve(browser_world, signed_in, bundle_zip):
    w = browser_world
    w.school_a.name = "School sch-1"  # the SIS's school: the first sync adopts it
    w.school_a.save()
    page = signed_in(w.district_admin)
    page.goto(f"/districts/{w.district.pk}/self-check/")
    page.get_by_label(re.compile("Upload a bundle")).set_input_files(str(bundle_zip))
    page.get_by_role("button", name="Run the self-check").click()
    page.wait_for_url(re.compile(r"/self-check/\d+/$"), timeout=60_000)
    assert "The sync can run" in page.locator("#verdict-title + p").inner_text()
    page.get_by_role("link", name=re.compile("Archive the 6 students")).click()
    assert page.locator("#confirm-summary").inner_text() == (
        "Archive 6 students entered before the sync."
    )
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_selector(".messages")
    assert "Archived 6 students" in page.locator(".messages").inner_text()
    assert not Student.objects.filter(school=w.school_a, status=Status.ACTIVE).exists()

    page.goto(f"/districts/{w.district.pk}/sync/")
    page.get_by_label("or a bundle uploaded before").select_option(index=1)
    page.get_by_role("button", name="Make a plan (dry run)").click()
    page.wait_for_url(re.compile(r"/sync/runs/\d+/$"), timeout=60_000)
    assert "What this run will do" in page.content()
    page.get_by_label("Search").first.fill("zoe")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("#plan-rows:has-text('stu-3')")
    page.get_by_role("link", name="Approve…").click()
    assert "create 3 students" in page.locator("#confirm-summary").inner_text()
    page.get_by_role("button", name="Approve now").click()
    page.wait_for_url(re.compile(r"/sync/runs/\d+/$"), timeout=60_000)
    assert "What this run did" in page.content()
    run = SyncRun.objects.filter(status=SyncRun.Status.APPLIED).latest("id")
    assert run.stats["outcome"]["counts"]["student"]["created"] == 3
    assert Student.objects.filter(origin="synced").count() == 3


def test_merge_the_ready_bucket_and_undo_one(browser_world, signed_in, settings, tmp_path):
    from rollbook.sync.models import SyncSource

    settings.ROLLBOOK_HOME = tmp_path
    w = browser_world
    source = SyncSource.objects.get(district=w.district)
    for n, old in enumerate(w.students_a[:2]):
        Student.objects.create(
            district=w.district,
            school=w.school_a,
            given_name=old.given_name,
            family_name=old.family_name,
            grade=old.grade,
            origin="synced",
            source=source,
            sourced_id=f"stu-{n}",
        )
    page = signed_in(w.admin_a)
    page.goto(f"/schools/{w.school_a.pk}/merge/")
    page.get_by_role("button", name="Find candidates").click()
    page.wait_for_selector("text=Merge all 2 ready pairs", timeout=60_000)
    page.get_by_role("link", name="Merge all 2 ready pairs…").click()
    assert page.locator("#confirm-summary").inner_text().startswith("Merge 2 pairs: 1 history")
    # Pat Parent, whom the SIS does not list for the synced twins: unticked, kept for Ana only.
    ana, ben, pat = w.students_a[0], w.students_a[1], w.guardians["pat"]
    keep = page.locator(f"input[name='keep_guardian'][value='{ana.pk}:{pat.pk}']")
    assert not keep.is_checked()
    assert not page.locator(f"input[value='{ben.pk}:{pat.pk}']").is_checked()
    keep.check()
    page.get_by_role("button", name="Merge 2 pairs now").click()
    page.wait_for_selector(".messages")
    assert "Merged 2 of 2 pairs" in page.locator(".messages").inner_text()
    assert StudentMerge.objects.filter(status="applied").count() == 2
    kept = StudentMerge.objects.get(old_student=ana).survivor.guardian_links.get(status="active")
    assert kept.account_id == pat.pk
    assert (
        not StudentMerge.objects.get(old_student=ben)
        .survivor.guardian_links.filter(status="active")
        .exists()
    )
    merge = StudentMerge.objects.get(old_student=ana)
    page.locator(f"a[href$='/merge/{merge.pk}/undo/']").click()
    page.get_by_role("button", name="Undo now").click()
    page.wait_for_selector(".messages")
    assert f"Merge {merge.pk} undone" in page.locator(".messages").inner_text()
    ana.refresh_from_db()
    assert ana.status == "active" and ana.history.count() == 1
