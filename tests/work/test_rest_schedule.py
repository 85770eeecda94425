"""A REST source synced from its schedule by a real ``rollbook worker`` process, on SQLite and
PostgreSQL: added and scheduled by command, fetched by the worker from the fixture SIS, held
as every first sync, approved; the secret in no output and no log."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from rollbook.oneroster.generator import generate_bundle
from rollbook.oneroster.rest import mapping, render
from tests.oneroster.rest.server import CLIENT_ID, CLIENT_SECRET, OneRosterServer

from .processes import wait_for

STUDENTS = 60


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> dict[str, list[dict]]:
    folder = tmp_path_factory.mktemp("rest-schedule") / "bundle"
    generate_bundle(folder, STUDENTS, version="1.2", seed=15)
    return {
        c.path: list(render.records(folder, "1.2", c))
        for c in mapping.COLLECTIONS
        if (folder / f"{c.file}.csv").exists()
    }


def _scheduled_run(site):
    return site.db.one(
        "SELECT id, status, stats FROM sync_syncrun WHERE started_by_label = 'schedule' "
        "ORDER BY id DESC LIMIT 1"
    )


def test_a_rest_source_syncs_from_its_schedule_in_a_worker(site, records):
    with OneRosterServer(records, version="1.2") as sis:
        site.env["ROLLBOOK_REST_SECRET"] = CLIENT_SECRET
        try:
            added = site.rollbook(
                "source", "add", "SIS", "--district", "1", "--rest", sis.base_url,
                "--version", "1.2", "--oauth2", "--token-url", sis.token_url,
                "--client-id", CLIENT_ID, "--json",
            )  # fmt: skip
        finally:
            del site.env["ROLLBOOK_REST_SECRET"]
        assert added.returncode == 0, added.stderr
        now = dt.datetime.now(dt.UTC)
        scheduled = site.rollbook(
            "source", "schedule", "SIS", "--district", "1", "--daily", f"{now:%H:%M}",
            "--time-zone", "UTC",
        )  # fmt: skip
        assert scheduled.returncode == 0, scheduled.stderr
        # Due now: the slot of this minute counts from a day ago (as after a change long ago).
        site.db.rows(
            "UPDATE sync_syncschedule SET active_from = ?",
            (now - dt.timedelta(days=1)).replace(tzinfo=None)
            if site.backend == "sqlite"
            else now - dt.timedelta(days=1),
        )
        worker = site.worker("--concurrency", "1", "--heavy", "1")

        def held():
            found = _scheduled_run(site)
            assert found is None or found[1] != "failed", found
            return found if found and found[1] == "held" else None

        run_id, _, stats = wait_for("the scheduled REST sync held", held, timeout=180, every=0.2)
        stats = stats if isinstance(stats, dict) else json.loads(stats)
        assert stats["fetch"]["mode"] == "bulk" and stats["fetch"]["version"] == "1.2"
        assert sis.requests_to("users") >= 1 and sis.tokens_issued >= 1

        # The worker records the slot's outcome just after the run is held: wait for it.
        def slot_finished():
            row = site.db.one("SELECT status, run_id FROM sync_scheduledslot")
            return row if row and row[0] != "running" else None

        slot = wait_for("the slot finished", slot_finished)
        assert tuple(slot) == ("done", run_id)
        approved = site.rollbook("run", "approve", str(run_id), "--json")
        assert approved.returncode == 0, approved.stderr
        assert json.loads(approved.stdout)["status"] == "applied"
        students = site.db.value(
            "SELECT count(*) FROM directory_student WHERE district_id = 1 AND status = 'active'"
        )
        assert students == STUDENTS
        listed = site.rollbook("source", "list", "--district", "1", "--json")
        for output in (added.stdout, added.stderr, listed.stdout, approved.stdout):
            assert CLIENT_SECRET not in output
        log = worker.log.read_text()
        assert CLIENT_SECRET not in log and "Traceback" not in log
        stored = site.db.value("SELECT secret_encrypted FROM sync_syncsource")
        assert stored and CLIENT_SECRET not in stored
