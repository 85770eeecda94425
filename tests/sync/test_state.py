"""The source's state read on a second thread (sync/state.py), on committed data: these tests
commit (transactional database), as a sync from the command line does."""

from pathlib import Path

import pytest

from rollbook.directory.audit import Actor
from rollbook.sync import kept_state, services
from rollbook.sync.models import SyncRun
from rollbook.sync.state import StatePrefetch, load_states

from .conftest import family_bundle, state_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_state_read_on_a_thread_equals_the_state_read_here(committed_source, settings):
    prefetch = StatePrefetch(committed_source)
    assert prefetch.thread is not None  # committed data: the thread does the reading
    states = prefetch.result()
    assert state_rows(states) == state_rows(load_states(committed_source))
    assert states["student"].num_rows == 5 and states["person"].num_rows == 5
    assert not list(Path(settings.ROLLBOOK_HOME).glob("state-*"))  # its files are gone


def test_a_discarded_read_leaves_nothing_behind(committed_source, settings):
    prefetch = StatePrefetch(committed_source)
    prefetch.discard()
    assert not prefetch.thread.is_alive()
    assert not list(Path(settings.ROLLBOOK_HOME).glob("state-*"))


def test_a_failed_read_is_raised_to_the_caller(committed_source, monkeypatch):
    from rollbook.sync import bulk

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(bulk, "select_rows", broken)
    kept_state.forget(committed_source.pk)  # else the state kept by the sync is taken, nothing read
    prefetch = StatePrefetch(committed_source)
    with pytest.raises(RuntimeError, match="went away"):
        prefetch.result()


def test_a_resync_from_committed_data_plans_from_the_thread_s_state(committed_source, tmp_path):
    """The second sync reads its state on the thread; a changed family is one update."""
    b = family_bundle()
    b.students[0]["givenName"] = "Kiddo"
    run = services.sync_bundle(committed_source, b.write(tmp_path / "day2"), Actor(label="test"))
    assert run.status == SyncRun.Status.APPLIED
    counts = run.stats["plan"]["counts"]
    assert counts["student"]["updated"] == 1 and counts["student"]["unchanged"] == 4
    assert counts["person"]["unchanged"] == 5


def test_inside_a_transaction_the_state_is_read_on_the_caller_s_connection(committed_source):
    from django.db import transaction

    from rollbook.directory.models import Student

    with transaction.atomic():
        Student.objects.filter(sourced_id="s-0").update(status="archived")
        prefetch = StatePrefetch(committed_source)
        assert prefetch.thread is None
        states = prefetch.result()  # sees this transaction's own change
        active = dict(
            zip(
                states["student"]["sourced_id"].to_pylist(),
                states["student"]["active"].to_pylist(),
                strict=True,
            )
        )
        assert active["s-0"] is False and active["s-1"] is True
        transaction.set_rollback(True)


def test_the_files_of_a_killed_process_are_removed_by_the_next_read(committed_source, settings):
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no longer runs
    left = Path(settings.ROLLBOOK_HOME) / f"state-{gone.pid}-abc"
    left.mkdir()
    (left / "student.arrow").write_bytes(b"x")
    StatePrefetch(committed_source).result()
    assert not left.exists()
