"""A withheld email or phone is attached as soon as its holder leaves — even when the next
bundle is byte-identical to the last one (issue 13, "predictions that hold in the corners")."""

from __future__ import annotations

import pytest

from rollbook.directory import actions
from rollbook.directory.models import Account, GuardianLink, School, Student
from rollbook.sync.models import RunIssue

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(district):
    """A parent entered by hand who holds the email the SIS gives someone else."""
    school = School.objects.create(district=district, name="Hand School")
    kid = Student.objects.create(district=district, school=school, given_name="K", family_name="Z")
    account = Account.objects.create(
        given_name="Zed", family_name="Holder", email="ana@example.com", origin="manual"
    )
    GuardianLink.objects.create(account=account, student=kid)
    return account


def sis(bundle):
    bundle.guardian("gdn-1", "Ana", "Lopez", "ana@example.com", "(212) 555-0101")
    bundle.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    return bundle


def test_a_byte_identical_bundle_attaches_an_identifier_freed_since(
    run_sync, bundle, holder, actor
):
    first = run_sync(sis(bundle))
    issue = RunIssue.objects.get(run=first, code="SYNC-EMAIL-TAKEN")
    assert issue.detail["value"] == "ana@example.com"
    ana = GuardianLink.objects.get(person_sourced_id="gdn-1").account
    assert ana.email is None
    # Still held: the same bytes are skipped.
    assert run_sync(sis(type(bundle)())).status == "skipped"
    # The holder leaves (Remove Guardians deactivates the account: no role left).
    actions.remove_guardians(Student.objects.filter(guardian_links__account=holder), actor)
    holder.refresh_from_db()
    assert not holder.is_active
    # A dry run predicts the attach, and the sync of the same bytes does it.
    dry = run_sync(sis(type(bundle)()), dry_run=True)
    assert dry.stats["plan"]["identity"]["people_rechecked"] == 1
    run = run_sync(sis(type(bundle)()))
    assert run.status == "applied"
    ana.refresh_from_db()
    assert ana.email == "ana@example.com"
    assert not RunIssue.objects.filter(run=run, code__endswith="-TAKEN").exists()
    # Nothing withheld any more: the same bytes are skipped again.
    assert run_sync(sis(type(bundle)())).status == "skipped"
