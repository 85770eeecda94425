"""The state an apply keeps for the next run (sync/kept_state.py): used only while the
directory agrees with it. Committed data (transactional database), as a sync from the command
line commits; every sync in the suite also checks the kept state against the directory
(tests/conftest.py)."""

from pathlib import Path

import pyarrow as pa
import pytest

from rollbook.directory.audit import Actor
from rollbook.directory.models import Student
from rollbook.sync import kept_state, services
from rollbook.sync.models import SyncRun
from rollbook.sync.plan import STATE_SCHEMA
from rollbook.sync.state import StatePrefetch, _state_queries, load_states

from .conftest import family_bundle, state_rows

pytestmark = pytest.mark.django_db(transaction=True)


def _hits(source) -> list[str]:
    prefetch = StatePrefetch(source)
    prefetch.result()
    return sorted(prefetch.kept)


ALL = sorted(entity for entity, *_ in _state_queries(0))


def test_the_next_run_takes_the_kept_state_instead_of_reading_it(committed_source):
    assert (kept_state.folder(committed_source.pk) / "student.arrow").exists()
    assert _hits(committed_source) == ALL
    assert state_rows(load_states(committed_source, kept=True)) == state_rows(
        load_states(committed_source)
    )


def test_a_hand_archive_makes_the_directory_disagree_and_the_state_is_read(committed_source):
    student = Student.objects.get(sourced_id="s-2")
    student.status = "archived"
    student.save()
    hits = _hits(committed_source)
    assert "student" not in hits and "person" in hits  # only what changed is read again
    state = load_states(committed_source, kept=True)["student"].to_pylist()
    assert {r["sourced_id"]: r["active"] for r in state}["s-2"] is False


def test_a_changed_fingerprint_or_id_is_noticed(committed_source):
    Student.objects.filter(sourced_id="s-1").update(sis_fingerprint=12345)
    assert "student" not in _hits(committed_source)
    ids = list(Student.objects.filter(source=committed_source).values_list("pk", flat=True))
    # Two rows exchange their sourcedIds and fingerprints, each keeping its id: the sums of
    # ids, fingerprints and lengths stay; the sum tying each id to its fingerprint does not.
    a, b = Student.objects.filter(pk__in=ids[2:4])
    Student.objects.filter(pk=a.pk).update(sourced_id="tmp")
    Student.objects.filter(pk=b.pk).update(
        sourced_id=a.sourced_id, sis_fingerprint=a.sis_fingerprint
    )
    Student.objects.filter(pk=a.pk).update(
        sourced_id=b.sourced_id, sis_fingerprint=b.sis_fingerprint
    )
    assert "student" not in _hits(committed_source)


def test_a_broken_or_missing_file_is_read_from_the_directory(committed_source):
    (kept_state.folder(committed_source.pk) / "student.arrow").write_bytes(b"not arrow")
    (kept_state.folder(committed_source.pk) / "enrollment.arrow").unlink(missing_ok=True)
    hits = _hits(committed_source)
    assert "student" not in hits and "enrollment" not in hits and "person" in hits
    assert state_rows(load_states(committed_source, kept=True)) == state_rows(
        load_states(committed_source)
    )
    kept_state.forget(committed_source.pk)
    assert _hits(committed_source) == []


def test_re_syncs_keep_what_they_changed(committed_source, tmp_path):
    b = family_bundle()
    b.students[0]["givenName"] = "Kiddo"  # an update
    del b.students[4]  # an archive
    b.guardian("g-9", "Sam", "New", email="sam@example.org")
    b.student("s-9", "New", "Kid", guardians=("g-9",))  # a creation
    run = services.sync_bundle(
        committed_source, b.write(tmp_path / "day2"), Actor(label="t"), approve=True
    )
    assert run.status == SyncRun.Status.APPLIED
    assert "state kept" in run.stats["timings"]
    assert sorted(run.stats["state_kept"]) == ALL  # the run said it read none of its state
    assert _hits(committed_source) == ALL
    back = family_bundle()  # s-4 comes back: a reactivation
    run = services.sync_bundle(
        committed_source, back.write(tmp_path / "day3"), Actor(label="t"), approve=True
    )
    assert run.status == SyncRun.Status.APPLIED
    assert run.stats["plan"]["counts"]["student"]["reactivated"] == 1
    assert _hits(committed_source) == ALL


def test_a_failed_apply_leaves_the_kept_state_valid(committed_source, tmp_path, monkeypatch):
    from rollbook.sync import apply as apply_module

    def broken(writer):
        raise RuntimeError("disk full")

    monkeypatch.setattr(apply_module.Writer, "finish", broken)
    b = family_bundle()
    b.students[0]["givenName"] = "Kiddo"
    with pytest.raises(RuntimeError):
        services.sync_bundle(
            committed_source, b.write(tmp_path / "day2"), Actor(label="t"), approve=True
        )
    assert _hits(committed_source) == ALL  # the directory is as before, and so is its kept state


def test_the_summary_is_the_same_in_arrow_and_in_the_database(committed_source):
    for entity, *query in _state_queries(committed_source.pk):
        table = load_states(committed_source)[entity]
        assert kept_state.summary(table) == kept_state.database_summary(*query), entity


def test_the_summary_of_nothing_and_of_nulls():
    empty = STATE_SCHEMA.empty_table()
    assert kept_state.summary(empty) == [0] * 10
    nulls = pa.table(
        {
            "sourced_id": ["a"],
            "state_fingerprint": pa.array([None], pa.int64()),
            "local_id": [7],
            "active": [True],
            "withheld": [False],
        },
        schema=STATE_SCHEMA,
    )
    assert kept_state.summary(nulls) == [1, 1, 7, 7, 0, 0, 0, 1, 7, 0]


def test_keeping_never_fails_the_run(committed_source, settings, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder would be")
    settings.ROLLBOOK_HOME = blocked
    kept_state.keep(committed_source.pk, load_states(committed_source))  # logged, nothing raised
    assert not Path(blocked).is_dir()


def test_housekeeping_removes_the_kept_state_of_sources_that_do_not_exist(committed_source):
    from rollbook.sync.retention import prune_kept_states

    stray = kept_state.folder(committed_source.pk + 1000)
    stray.mkdir(parents=True)
    (stray / "student.arrow").write_bytes(b"")
    assert prune_kept_states() == 1
    assert not stray.exists() and kept_state.folder(committed_source.pk).is_dir()
