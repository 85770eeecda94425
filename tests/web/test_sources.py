"""REST sources on the Sync tab: added with a write-only secret, tested, planned, synced and
self-checked through queued jobs (run inline here), for district administrators only."""

from __future__ import annotations

import pytest

from rollbook.directory.models import AuditEntry, Student
from rollbook.sync.models import SyncRun, SyncSource
from rollbook.web.models import Job
from tests.oneroster.rest.server import CLIENT_ID, CLIENT_SECRET, OneRosterServer

from ..sync.bundles import Bundle
from ..sync.test_rest_sources import served
from .conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def sis(settings, tmp_path, monkeypatch):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_JOBS_INLINE = True
    monkeypatch.delenv("ROLLBOOK_SECRET_KEYS", raising=False)
    b = Bundle(schools=["sch-1"])
    b.guardian("gdn-1", "Ana", "Lopez", "ana@example.com", "+15555550101")
    b.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    b.student("stu-2", "Leo", "Lopez", guardians=("gdn-1",))
    b.klass("cls-1").enroll("enr-1", "cls-1", "stu-1")
    folder = b.write(tmp_path / "bundle")
    with OneRosterServer(served(folder), version="1.1") as server:
        yield server


def form(sis, **changes) -> dict:
    return {
        "name": "Hub",
        "url": sis.base_url,
        "version": "1.1",
        "auth": "oauth2",
        "token_url": sis.token_url,
        "client_id": CLIENT_ID,
        "scopes": "",
        "secret": CLIENT_SECRET,
        "reconcile_days": "7",
    } | changes


def test_add_test_plan_and_sync_a_rest_source_in_the_pages(client, world, sis):
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    tab = client.get(f"{base}/sync/").content.decode()
    assert "Add a REST source" in tab
    added = client.post(f"{base}/sync/sources/rest/", form(sis))
    assert added.status_code == 302, added.content.decode()
    source = SyncSource.objects.get(district=world.district, name="Hub")
    assert source.is_rest and CLIENT_SECRET not in source.secret_encrypted
    page = client.get(added["Location"]).content.decode()
    assert CLIENT_SECRET not in page and source.secret_encrypted not in page
    assert 'type="password"' in page and "Test connection" in page

    started = client.post(f"{base}/sync/sources/{source.pk}/start/", {"do": "test"})
    job = Job.objects.get(kind="connection")
    assert job.status == "done" and job.result["ok"], (job.error, job.result)
    job_page = client.get(started["Location"]).content.decode()
    assert f"/sync/sources/{source.pk}/rest/" in job_page  # "See the result"
    shown = client.get(f"{base}/sync/sources/{source.pk}/rest/").content.decode()
    assert "users: readable (3 in all)" in shown and CLIENT_SECRET not in shown

    client.post(f"{base}/sync/sources/{source.pk}/start/", {"do": "plan"})
    plan = Job.objects.get(kind="plan")
    assert plan.status == "done", plan.error
    run = SyncRun.objects.get(pk=plan.result["run"])
    assert run.status == "planned" and run.stats["fetch"]["mode"] == "bulk"
    assert Student.objects.filter(origin="synced").count() == 0
    client.post(f"{base}/sync/sources/{source.pk}/start/", {"do": "sync"})
    synced = Job.objects.get(kind="sync")
    assert synced.status == "done", synced.error
    assert SyncRun.objects.get(pk=synced.result["run"]).status == "held"  # a first sync
    shown = client.get(f"{base}/sync/runs/{synced.result['run']}/").content.decode()
    assert CLIENT_SECRET not in shown


def test_the_secret_is_write_only_and_its_change_audited(client, world, sis):
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    # An error keeps nothing typed in the secret field.
    refused = client.post(f"{base}/sync/sources/rest/", form(sis, token_url="", secret="typed-1"))
    text = refused.content.decode()
    assert refused.status_code == 200 and "token URL" in text and "typed-1" not in text
    client.post(f"{base}/sync/sources/rest/", form(sis))
    source = SyncSource.objects.get(district=world.district, name="Hub")
    before = source.secret_encrypted
    # Saving without a secret keeps the one there is.
    client.post(f"{base}/sync/sources/{source.pk}/rest/", form(sis, secret="", reconcile_days="3"))
    source.refresh_from_db()
    assert source.reconcile_days == 3 and source.secret_encrypted == before
    client.post(f"{base}/sync/sources/{source.pk}/rest/", form(sis, secret="new-s3cret"))
    source.refresh_from_db()
    assert source.secret_encrypted != before
    actions = list(
        AuditEntry.objects.filter(object_type="syncsource").values_list("action", flat=True)
    )
    assert actions.count("change_secret") == 1 and "set_secret" in actions
    for entry in AuditEntry.objects.filter(object_type="syncsource"):
        text = f"{entry.before} {entry.after} {entry.note}"
        assert "new-s3cret" not in text and CLIENT_SECRET not in text


def test_the_self_check_runs_on_a_rest_source(client, world, sis):
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    client.post(f"{base}/sync/sources/rest/", form(sis))
    source = SyncSource.objects.get(district=world.district, name="Hub")
    runs = SyncRun.objects.count()
    client.post(f"{base}/sync/sources/{source.pk}/start/", {"do": "check"})
    job = Job.objects.get(kind="check")
    assert job.status == "done", job.error
    assert "fetches" in job.bundle  # the fetch it rehearsed, kept for its fixes
    report = client.get(f"{base}/self-check/{job.pk}/").content.decode()
    assert "Prediction" in report
    assert SyncRun.objects.count() == runs  # a rehearsal keeps no run


def test_school_administrators_and_other_districts_get_nothing(client, world, sis):
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    client.post(f"{base}/sync/sources/rest/", form(sis))
    source = SyncSource.objects.get(district=world.district, name="Hub")
    client.logout()
    sign_in(client, world.admin_a)
    assert client.get(f"{base}/sync/sources/rest/").status_code == 404
    assert client.get(f"{base}/sync/sources/{source.pk}/rest/").status_code == 404
    started = client.post(f"{base}/sync/sources/{source.pk}/start/", {"do": "test"})
    assert started.status_code == 404 and not Job.objects.exists()
