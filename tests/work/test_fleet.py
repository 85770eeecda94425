"""Many districts on schedules, two worker processes (issue 14): every district's scheduled
first sync runs exactly once, each on one worker, and each district ends as a sync of its own
bundle alone leaves it — on SQLite and on PostgreSQL (real ``rollbook worker`` processes)."""

from __future__ import annotations

import pytest

from .processes import Site, wait_for

SIZES = (300, 500, 800, 400, 600, 700)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> list[str]:
    from rollbook.oneroster.generator import generate_bundle

    made = []
    for i, students in enumerate(SIZES):
        path = tmp_path_factory.mktemp("fleet") / f"district-{i + 1}"
        generate_bundle(path, students, seed=300 + i)
        made.append(str(path))
    return made


def _scheduled(site: Site) -> list[tuple]:
    return site.db.rows(
        "SELECT s.district_id, r.status FROM sync_syncrun r "
        "JOIN sync_syncsource s ON s.id = r.source_id WHERE r.started_by_label = 'schedule' "
        "ORDER BY s.district_id"
    )


def _why_failed(site: Site) -> list[tuple]:
    """The failed runs' own words and their slots' notes (for an assertion's message)."""
    return site.db.rows(
        "SELECT r.id, r.stats, s.note FROM sync_syncrun r "
        "LEFT JOIN sync_scheduledslot s ON s.run_id = r.id WHERE r.status = 'failed'"
    )


@pytest.mark.slow
def test_two_workers_sync_six_districts_from_their_schedules(site, folders):
    districts = site.django("districts_on_schedules", folders)
    assert len(districts) == 6
    first = site.worker("--concurrency", "1", "--heavy", "1")
    second = site.worker("--concurrency", "1", "--heavy", "1")

    def all_applied():
        runs = _scheduled(site)
        assert not [r for r in runs if r[1] == "failed"], (runs, _why_failed(site), _logs())
        # The slot says "done" just after its run says "applied": wait for both.
        slots_done = site.db.value("SELECT count(*) FROM sync_scheduledslot WHERE status = 'done'")
        return len([r for r in runs if r[1] == "applied"]) == len(districts) == slots_done

    def _logs():
        return [w.log.read_text()[-3000:] for w in (first, second)]

    wait_for("six scheduled syncs applied", all_applied, timeout=600, every=0.5)
    # Each slot was queued and run exactly once: one slot, one run per district.
    slots = site.db.rows(
        "SELECT source_id, count(*), max(status) FROM sync_scheduledslot GROUP BY source_id"
    )
    assert sorted(n for _, n, _ in slots) == [1] * 6
    assert {status for *_, status in slots} == {"done"}, slots
    assert [d for d, _ in _scheduled(site)] == sorted(districts)
    # Both worker processes took work (tasks are claimed, never shared).
    workers = site.db.rows(
        "SELECT worker FROM sync_scheduledslot WHERE worker <> '' GROUP BY worker"
    )
    assert len(workers) == 2, workers
    # Every district holds its own bundle's students, and only those.
    for district, students in zip(districts, SIZES, strict=True):
        held = site.db.value(
            "SELECT count(*) FROM directory_student WHERE district_id = ? AND status = 'active'",
            district,
        )
        assert held == students, (district, held)
    assert site.db.value("SELECT count(*) FROM work_sourcelock") == 0
    for worker in (first, second):
        assert "Traceback" not in worker.log.read_text()
