"""The demo district: built the real way, and synced from its schedule by a worker."""

import signal

import pytest
from typer.testing import CliRunner

from rollbook.directory.demo import DEMO_APPROVER, build_demo, run_queue, summarize
from rollbook.directory.models import Account, District, GuardianLink, HistoryRecord, Student
from rollbook.sync.models import ScheduledSlot, SyncRun, SyncSchedule

pytestmark = pytest.mark.django_db(transaction=True)  # the worker's threads see the data


@pytest.fixture
def demo_home(settings, tmp_path):
    settings.ROLLBOOK_HOME = tmp_path
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield tmp_path
    for number, handler in handlers.items():  # the worker loop sets its own
        signal.signal(number, handler)


def test_the_demo_district_is_synced_from_its_schedule(demo_home):
    summary = build_demo(students=2000)
    # Built and scheduled: nothing synced yet, the first slot due now.
    assert summary.run_id is None and summary.synced_students == 0
    schedule = SyncSchedule.objects.get(source__district_id=summary.district_id)
    assert schedule.source.location == str(summary.bundle)
    assert schedule.approve_first_run_as == DEMO_APPROVER
    run_queue()  # the worker loop, in this process, until the queue is empty
    district = District.objects.get(pk=summary.district_id)
    summary = summarize(district, summary.bundle)
    run = SyncRun.objects.get(pk=summary.run_id)
    assert run.status == "applied"
    # Held like every first sync, approved by the demo set-up: both on the run's record.
    assert run.started_by_label == "schedule" and run.approved_by_label == DEMO_APPROVER
    assert "first sync" in run.hold_reasons[0]
    assert ScheduledSlot.objects.get().run == run
    assert SyncSchedule.objects.get().approve_first_run_as == ""  # once
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


def test_rollbook_demo_without_a_server_runs_the_worker_itself(demo_home):
    from rollbook.cli import app

    result = CliRunner().invoke(app, ["demo", "--students", "200", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "its scheduled first sync, run" in result.output
    assert f"approved by {DEMO_APPROVER}" in " ".join(result.output.split())
    assert SyncRun.objects.get().status == "applied"
    assert Student.objects.filter(origin="synced").count() == 200
