import pytest

from rollbook.directory.demo import build_demo
from rollbook.directory.models import Account, GuardianLink, HistoryRecord, Student
from rollbook.sync.models import SyncRun

pytestmark = pytest.mark.django_db


def test_the_demo_district_goes_through_the_real_sync(settings, tmp_path):
    settings.ROLLBOOK_HOME = tmp_path
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    summary = build_demo(students=2000)
    run = SyncRun.objects.get(pk=summary.run_id)
    assert run.status == "applied"
    assert summary.synced_students == Student.objects.filter(origin="synced").count() == 2000
    # Existing families stay as they were, beside the synced students, with their history.
    manual = Student.objects.filter(origin="manual")
    assert manual.count() == summary.manual_students > 0
    assert not manual.filter(last_run__isnull=False).exists()
    assert HistoryRecord.objects.filter(student__in=manual).count() == summary.history_records
    # Some guardians matched the SIS exactly and kept their accounts; others got new ones.
    assert summary.guardians_kept_their_account > 0
    kept = Account.objects.filter(origin="manual", guardian_links__source__isnull=False)
    assert kept.exists()
    assert summary.staff_also_guardians > 0
    assert GuardianLink.objects.filter(source__isnull=False).count() > 0
