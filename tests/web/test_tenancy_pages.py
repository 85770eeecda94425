"""Issue 13's cases 1 and 3 replayed through the web app, as a district administrator would:
a hostile bundle synced twice from the Sync tab never rewrites another district's parent, and
the Self-check tab never offers or applies a contact fix to another person's account."""

from __future__ import annotations

import pytest

from rollbook.directory.audit import Actor
from rollbook.directory.models import Account, District, GuardianLink
from rollbook.sync import services
from rollbook.sync.models import SyncRun
from rollbook.web.models import Job

from ..sync.bundles import Bundle
from .conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def inline(settings, tmp_path):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    settings.ROLLBOOK_JOBS_INLINE = True
    return tmp_path


def _fields(account: Account) -> dict:
    return Account.objects.filter(pk=account.pk).values(
        "given_name", "family_name", "email", "phone", "is_active"
    )[0]


def _plan_and_approve(client, base: str, folder: str) -> SyncRun:
    client.post(f"{base}/sync/", {"folder": folder, "do": "plan"})
    job = Job.objects.filter(kind="plan").order_by("-pk").first()
    assert job.status == "done", job.error
    run = SyncRun.objects.get(pk=job.result["run"])
    client.post(f"{base}/sync/runs/{run.pk}/decide/", {"decision": "approve", "confirm": "yes"})
    run.refresh_from_db()
    return run


def test_a_hostile_bundle_from_the_sync_tab_never_rewrites_another_district_s_parent(
    client, world, inline
):
    two = District.objects.create(name="Elsewhere District")
    b = Bundle(schools=["far"])
    b.guardian("far-p", "Pat", "Faraway", "pat@far.example", "(212) 555-0170", school="far")
    for i in range(4):
        b.student(f"far-{i}", f"Kid{i}", "Faraway", school="far", guardians=("far-p",))
    services.sync_bundle(
        services.get_source(two), b.write(inline / "far"), Actor(label="d2"), approve=True
    )
    pat = Account.objects.get(email="pat@far.example")
    before = _fields(pat)
    imports = inline / "imports" / str(world.district.pk)
    for folder, (given, family, email, phone) in {
        "monday": ("Pat", "Faraway", "pat@far.example", "(212) 555-0170"),
        "tuesday": ("Eve", "Takeover", "eve@evil.example", "(212) 555-0199"),
    }.items():
        h = Bundle(schools=["sch-1"])
        h.guardian("evil-1", given, family, email, phone)
        h.student("stu-1", "Decoy", "Kid", guardians=("evil-1",))
        h.write(imports / folder)
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    assert _plan_and_approve(client, base, "monday").status == "applied"
    assert _plan_and_approve(client, base, "tuesday").status == "applied"
    assert _fields(pat) == before
    assert (
        GuardianLink.objects.filter(account=pat, status="active", student__district=two).count()
        == 4
    )
    # District 1's administrator never sees district 2's parent (while seeing its own).
    assert client.get(f"/accounts/{world.guardians['pat'].pk}/").status_code == 200
    assert client.get(f"/accounts/{pat.pk}/").status_code == 404


def test_the_self_check_tab_never_fixes_another_person_s_account(client, world, inline):
    """Dee Fox shares an email with the SIS's Ray Fox: not the same person, no fix."""
    kid = world.students_a[0]
    dee = Account.objects.create(given_name="Dee", family_name="Fox", email="fox@example.com")
    GuardianLink.objects.create(account=dee, student=kid)
    before = _fields(dee)
    b = Bundle(schools=["sch-1"])
    b.guardian("gdn-9", "Ray", "Fox", "fox@example.com", "(212) 555-0188")
    b.student("stu-9", "Rex", "Fox", guardians=("gdn-9",))
    b.write(inline / "imports" / str(world.district.pk) / "thursday")
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    client.post(f"{base}/sync/", {"folder": "thursday", "do": "check"})
    job = Job.objects.get(kind="check")
    assert job.status == "done", job.error
    report = client.get(f"{base}/self-check/{job.pk}/").content.decode()
    assert "named Ray Fox" in report
    refused = client.post(
        f"{base}/self-check/{job.pk}/fix/contacts/",
        {"confirm": "yes", "account": dee.pk},
        follow=True,
    )
    assert "cannot take the SIS values" in refused.content.decode()
    assert _fields(dee) == before
