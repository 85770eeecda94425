"""A run's page in a browser (issue 17 item 3, issue 14 retry): the conflicts a plan will
record are shown before approval, a failed plan is tried again from its page, and a school
administrator cannot open a run."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from rollbook.directory.models import Account
from rollbook.sync.models import SyncRun

from .test_sync_pages import sis_bundle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("ROLLBOOK_SCREENSHOTS", "/tmp"))


def test_a_plan_shows_its_conflicts_and_a_failed_one_is_tried_again(
    browser_world, signed_in, settings, tmp_path
):
    w = browser_world
    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    Account.objects.create(
        given_name="Zed", family_name="Holder", email="ana@example.com", origin="manual"
    )
    folder = sis_bundle(tmp_path / "imports" / str(w.district.pk) / "tuesday")
    users = folder / "users.csv"
    good = users.read_text()
    users.write_text(good + "\n,,,,\n")  # the export is broken: the plan fails
    page = signed_in(w.district_admin)
    page.goto(f"/districts/{w.district.pk}/sync/")
    page.get_by_label(re.compile("or a folder")).fill("tuesday")
    page.get_by_role("button", name="Make a plan (dry run)").click()
    page.wait_for_url(re.compile(r"/sync/runs/\d+/$"), timeout=60_000)  # the job ends there
    failed = SyncRun.objects.filter(status="failed").latest("pk")
    page.goto(f"/districts/{w.district.pk}/sync/runs/{failed.pk}/")
    assert "Failed" in page.locator("#run-title").inner_text()
    page.get_by_role("link", name="Try again…").click()
    assert "as a plan only" in page.locator("#confirm-summary").inner_text()
    page.screenshot(path=str(SHOTS / "rollbook-run-retry-confirm.png"), full_page=True)
    users.write_text(good)  # fixed in the SIS
    page.keyboard.press("Enter")  # the confirm button has the focus
    page.wait_for_url(re.compile(r"/sync/runs/\d+/$"), timeout=60_000)
    again = SyncRun.objects.filter(pk__gt=failed.pk).get()
    assert again.status == "planned"
    page.goto(f"/districts/{w.district.pk}/sync/runs/{again.pk}/")
    pending = page.locator("section[aria-labelledby=pending-title]").inner_text()
    assert "Conflicts this run will record (2)" in pending
    assert "belongs to another person, Zed Holder" in pending
    assert f"tries failed run {failed.pk} again" in page.locator("main").inner_text()
    page.screenshot(path=str(SHOTS / "rollbook-run-conflicts.png"), full_page=True)
    page.context.clear_cookies()  # signed out
    signed_in(w.admin_a)  # a school administrator
    answer = page.goto(f"/districts/{w.district.pk}/sync/runs/{again.pk}/")
    assert answer.status == 404


def test_a_skipped_run_reads_as_one_short_badge_in_the_sync_tab(
    browser_world, signed_in, settings, tmp_path
):
    from rollbook.directory.audit import Actor
    from rollbook.sync import services

    w = browser_world
    settings.ROLLBOOK_HOME = tmp_path / "home"
    folder = sis_bundle(tmp_path / "monday")
    source = services.get_source(w.district)
    first = services.sync_bundle(source, folder, Actor(label="t"), approve=True)
    again = services.sync_bundle(source, folder, Actor(label="t"), approve=True)
    assert (first.status, again.status) == ("applied", "skipped")
    page = signed_in(w.district_admin)
    page.goto(f"/districts/{w.district.pk}/sync/")
    skipped = page.locator("tr", has=page.get_by_role("link", name=f"Run {again.pk}"))
    applied = page.locator("tr", has=page.get_by_role("link", name=f"Run {first.pk}"))
    badge, other = skipped.locator(".badge"), applied.locator(".badge")
    assert badge.inner_text() == "Skipped: nothing new"
    assert other.inner_text() == "Applied"
    # One line, as high as the other run's badge: the reason is on the run's page.
    assert abs(badge.bounding_box()["height"] - other.bounding_box()["height"]) < 2
    page.screenshot(path=str(SHOTS / "rollbook-sync-tab-skipped.png"), full_page=True)
    skipped.get_by_role("link", name=f"Run {again.pk}").click()
    title = page.locator("#run-title").inner_text()
    assert "Skipped: nothing new" in title
    assert f"run {first.pk} applied it" in page.locator("main").inner_text()
    page.screenshot(path=str(SHOTS / "rollbook-run-skipped.png"), full_page=True)
    page.context.clear_cookies()  # signed out
    page = signed_in(w.admin_a)  # a school administrator: the school's last runs
    page.goto(f"/schools/{w.school_a.pk}/")
    runs = page.locator("section[aria-labelledby=runs-title]")
    row = runs.locator("tr", has=page.get_by_role("cell", name=str(again.pk), exact=True))
    assert row.locator(".badge").inner_text() == "Skipped: nothing new"
    assert row.locator(".badge").bounding_box()["height"] < 2 * 16 * 1.2  # one line
    page.screenshot(path=str(SHOTS / "rollbook-school-runs-skipped.png"), full_page=True)
