"""Workers survive what real machines do (issue 14): real ``rollbook worker`` processes on a
real database, killed (SIGKILL) in each stage of a run, racing for one source, restarted, and
the embedded worker of ``rollbook serve``.

Each test gets a fresh database: SQLite in its own ``ROLLBOOK_HOME``, and PostgreSQL (when
DATABASE_URL points at a PostgreSQL server) in a database this module creates and drops. Both
are copies of a template made once per module with ``rollbook init``. The test process reads
the database with plain SQL; what needs Django (queueing a web job, opening the web job page)
runs in a Django process of its own (``Site.django``), as the web app would — a new one stands
for a web server started after a crash.

Nothing sleeps waiting for an event: the tests poll the database for the state they wait for,
with a deadline. Heartbeats are short (0.5 s, dead after 3 s).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .processes import (
    LAST_RUN,
    LIVE_WORKERS,
    REPO,
    Db,
    Site,
    alive,
    base_env,
    descendants,
    directory,
    kill_worker,
    pg_admin,
    pg_url,
    wait_for,
)

STUDENTS = 6_000
# What a person would see, from rollbook.work.locks.SourceBusy and rollbook.work.heartbeat.
BUSY = "is being read, planned or applied right now"
STOPPED = "the worker running it stopped"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    from rollbook.oneroster.generator import generate_bundle

    path = tmp_path_factory.mktemp("bundle") / "district"
    generate_bundle(path, STUDENTS)
    return path


@pytest.fixture(scope="module")
def clean(template, bundle, tmp_path_factory) -> dict[str, int]:
    """The directory as one clean first sync of the bundle leaves it (the reference)."""
    backend, template_home, template_db = template
    home = tmp_path_factory.mktemp(f"clean-{backend}")
    shutil.copytree(template_home, home, dirs_exist_ok=True)
    env = base_env(home)
    name = None
    if backend == "postgres":
        name = f"{template_db}_clean"
        with pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
        env["DATABASE_URL"] = pg_url(name)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rollbook", "sync", str(bundle), "--district", "1"]
            + ["--approve", "--json"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        run = json.loads(done.stdout)
        assert run["status"] == "applied"
        db = Db(url=pg_url(name)) if name else Db(sqlite_path=home / "rollbook.sqlite3")
        try:
            counts = db.counts()
        finally:
            db.close()
        return counts | {"apply seconds": run["stats"]["timings"]["apply"]}
    finally:
        if name:
            with pg_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- 1. kill -9 of a worker in each stage of a run --------------------------------------------


def _catch(
    site: Site, job_id: int, status: str, run_id: int | None = None, stage: str | None = None
) -> tuple[int, int]:
    """Wait until the job's run is in ``status`` (and ``stage``, the run's progress: read,
    plan, apply); returns (run id, the worker's pid)."""
    which = "WHERE id = ?" if run_id else "ORDER BY id DESC"
    query = f"SELECT id, status, stage FROM sync_syncrun {which}"

    def caught():
        row = site.db.one(query, *([run_id] if run_id else []))
        return row if row and row[1] == status and stage in (None, row[2]) else None

    found, *_ = wait_for(f"a run {status} {stage or ''}", caught, timeout=120, every=0.005)
    pid = site.worker_pid(job_id)
    assert pid, "the job's worker is not named"
    return found, pid


def _settled(site: Site, run_id: int, job_id: int, before: dict) -> None:
    """A run interrupted by a worker's death: failed, the directory as before, the source
    free, the web job failed with a message saying why."""
    wait_for("the run failed", lambda: site.db.run(run_id)["status"] == "failed", timeout=30)
    run = site.db.run(run_id)
    assert "interrupted" in run["stats"]["note"], run["stats"]
    assert directory(site.db.counts()) == directory(before)
    wait_for("the source freed", lambda: site.db.value("SELECT count(*) FROM work_sourcelock") == 0)
    wait_for("the job failed", lambda: site.db.job(job_id)["status"] == "failed", timeout=30)
    assert STOPPED in site.db.job(job_id)["error"]
    # The queue's own record of the task says so too (never "running" for good).
    task = site.db.value("SELECT task_id FROM web_job WHERE id = ?", job_id)
    key = task if site.backend == "postgres" else task.replace("-", "")
    status = "SELECT status, traceback FROM django_tasks_database_dbtaskresult WHERE id = ?"
    wait_for("the task failed", lambda: site.db.one(status, key)[0] == "FAILED", timeout=30)
    assert "worker running this task stopped" in site.db.one(status, key)[1]


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["read", "plan"])
def test_a_worker_killed_while_planning(site, bundle, clean, stage):
    """A plan (dry run) whose worker dies while reading the bundle (and the directory's state,
    on a second thread), or while planning and saving the plan: the run fails once the
    worker's replacement looks, nothing changed, nothing is left behind, and a new plan and
    its approval converge."""
    worker = site.worker()
    before = site.db.counts()
    (job,) = site.django("start_jobs", ["plan", str(bundle)])
    run, pid = _catch(site, job, "planning", stage=stage)
    os.kill(pid, signal.SIGKILL)  # the worker's child; its supervisor starts another
    caught = site.db.one("SELECT status, stage FROM sync_syncrun WHERE id = ?", run)
    assert caught == ("planning", stage), f"the kill came too late: {caught}"
    killed = time.monotonic()
    _settled(site, run, job, before)
    assert time.monotonic() - killed < 30
    (plan,) = site.django("start_jobs", ["plan", str(bundle)])
    wait_for("the new plan", lambda: site.db.job(plan)["status"] in ("done", "failed"))
    assert site.db.job(plan)["result"]["status"] == "planned", site.db.job(plan)
    again = site.db.job(plan)["result"]["run"]
    (approval,) = site.django("start_jobs", ["approve", again])
    wait_for("the approval", lambda: site.db.job(approval)["status"] in ("done", "failed"))
    assert site.db.job(approval)["result"] == {"run": again, "status": "applied"}
    assert directory(site.db.counts()) == directory(clean)
    assert not list(site.home.glob("state-*")), "the killed run's state folder was left"
    assert "Traceback" not in kill_worker(worker)


@pytest.mark.slow
def test_a_worker_killed_while_applying(site, bundle, clean):
    """An approval whose worker dies in the middle of the apply: the database rolls it all
    back, the run fails, and the next sync applies as a clean one would."""
    worker = site.worker()  # starting while the held run is made
    held = site.held_run(bundle)
    before = site.db.counts()
    (job,) = site.django("start_jobs", ["approve", held])
    _, pid = _catch(site, job, "applying", held)
    time.sleep(clean["apply seconds"] / 3)  # the moment to kill: a third into the apply
    os.kill(pid, signal.SIGKILL)
    assert site.db.run(held)["status"] == "applying", "the kill came after the commit"
    _settled(site, held, job, before)
    assert "rolled the whole run back" in site.db.run(held)["stats"]["note"]
    again = site.rollbook("sync", str(bundle), "--district", "1", "--approve", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "applied"
    assert directory(site.db.counts()) == directory(clean)
    assert "Traceback" not in kill_worker(worker)


@pytest.mark.slow
def test_a_machine_lost_while_applying(site, bundle, clean):
    """A worker on another machine that vanished (its process id means nothing here): its run
    is failed once its heartbeat is older than the expiry, and not before."""
    worker = site.worker()  # starting while the held run is made
    held = site.held_run(bundle)
    before = site.db.counts()
    (job,) = site.django("start_jobs", ["approve", held])
    _, pid = _catch(site, job, "applying", held)
    kill_worker(worker)
    killed = time.monotonic()
    site.db.rows("UPDATE work_workerprocess SET host = 'another-machine' WHERE pid = ?", pid)
    assert site.db.run(held)["status"] == "applying", site.db.run(held)
    waited = site.django("reap_until_failed", held, 30)
    since_kill = time.monotonic() - killed
    # Beats every 0.5 s, dead after 3 s without one: found dead between 2.5 s and a few more.
    assert since_kill > 2.0 and waited < 3 + 2, (since_kill, waited)
    _settled(site, held, job, before)


@pytest.mark.slow
def test_the_run_page_says_a_killed_workers_run_failed(site, bundle):
    """With no worker left to look, the run's own page finds its process gone: "Failed",
    never "Applying" for work nobody does."""
    worker = site.worker()
    held = site.held_run(bundle)
    (job,) = site.django("start_jobs", ["approve", held])
    _catch(site, job, "applying", held)
    kill_worker(worker)  # the supervisor and its child: nobody else looks
    page = site.django("web_page", "run", held, fresh=True)
    assert page["code"] == 200
    text = page["text"]
    assert "Failed" in text and "Interrupted: the process stopped" in text, text[:2000]
    assert site.db.run(held)["status"] == "failed"


@pytest.mark.slow
def test_a_worker_stopped_as_a_service_while_applying(site, bundle, clean):
    """systemd stops a service with SIGTERM to each of its processes (docker and Ctrl+C in a
    terminal alike): a worker's child gets it from there and from its supervisor. It either
    finishes its task (the two signals arrived as one) or gives it up at once; either way the
    run ends applied or failed when the worker exits — never left "applying" until the
    source's next run — and the job page says which."""
    worker = site.worker()
    held = site.held_run(bundle)
    before = site.db.counts()
    (job,) = site.django("start_jobs", ["approve", held])
    _catch(site, job, "applying", held)
    for pid in [worker.pid, *descendants(worker.pid)]:
        os.kill(pid, signal.SIGTERM)  # what systemd's default KillMode=control-group does
    worker.wait(timeout=90)
    run = site.db.run(held)
    assert site.db.value("SELECT count(*) FROM work_sourcelock") == 0
    page = site.django("web_page", "job", job, fresh=True)
    if run["status"] == "applied":
        assert directory(site.db.counts()) == directory(clean)
        assert site.db.job(job)["status"] == "done", site.db.job(job)
    else:
        assert run["status"] == "failed", run
        assert "rolled the whole run back" in run["stats"]["note"], run
        assert directory(site.db.counts()) == directory(before)
        assert "Failed" in page["text"] and STOPPED in page["text"], page


@pytest.mark.slow
def test_ctrl_c_while_applying(site, bundle):
    """Ctrl+C on ``rollbook sync``: the apply is rolled back and the run failed at once."""
    sync = site.popen(
        sys.executable, "-m", "rollbook", "sync", str(bundle), "--district", "1", "--approve"
    )
    wait_for("the apply", lambda: site.db.value(LAST_RUN) == "applying", every=0.005)
    sync.send_signal(signal.SIGINT)
    code = sync.wait(timeout=60)
    run = site.db.run(site.db.value("SELECT max(id) FROM sync_syncrun"))
    assert site.db.value("SELECT count(*) FROM work_sourcelock") == 0
    if code == 0:  # the signal came after the commit: the run says so, all of it is there
        assert run["status"] == "applied", run
        assert site.db.value("SELECT count(*) FROM directory_student") > 0
    else:
        assert run["status"] == "failed" and "rolled the whole run back" in run["stats"]["note"]
        assert site.db.value("SELECT count(*) FROM directory_student") == 0
    assert "Traceback" not in sync.log.read_text()


@pytest.mark.slow
def test_a_long_write_on_sqlite_leaves_a_live_worker_alive(site):
    """On SQLite an apply holds the only write lock for minutes, so a worker cannot renew its
    heartbeat row meanwhile: its file must keep it alive, or the others would reap its run."""
    if site.backend != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    worker = site.worker()
    worker_id = wait_for(
        "the worker's heartbeat",
        lambda: site.db.value("SELECT worker_id FROM work_workerprocess WHERE kind = 'worker'"),
    )
    site.db.rows("BEGIN IMMEDIATE")  # a long write, as an apply's
    try:
        assert site.django("alive_once_its_row_is_stale", worker_id)
    finally:
        site.db.rows("ROLLBACK")
    assert "Traceback" not in kill_worker(worker)


# --- 2. a worker killed right after the commit ------------------------------------------------


@pytest.mark.slow
def test_a_worker_killed_right_after_the_commit(site, bundle, clean):
    """The run's "applied" is written inside the apply's transaction: a worker killed the
    moment it committed leaves an applied run, the directory holding its rows, and a job page saying
    so, never a rolled-back run."""
    worker = site.worker()  # starting while the held run is made
    held = site.held_run(bundle)
    (job,) = site.django("start_jobs", ["approve", held])
    _, pid = _catch(site, job, "applied", held)
    os.kill(pid, signal.SIGKILL)
    wait_for("the source freed", lambda: site.db.value("SELECT count(*) FROM work_sourcelock") == 0)
    assert site.db.run(held)["status"] == "applied"
    assert directory(site.db.counts()) == directory(clean)
    wait_for("the job finished", lambda: site.db.job(job)["status"] != "running", timeout=30)
    assert site.db.job(job)["status"] == "done", site.db.job(job)
    assert site.db.job(job)["result"] == {"run": held, "status": "applied"}
    # Nothing left to do: the same bundle again is skipped as byte-identical.
    again = site.rollbook("sync", str(bundle), "--district", "1", "--approve", "--json")
    assert json.loads(again.stdout)["status"] == "skipped", again.stderr
    assert directory(site.db.counts()) == directory(clean)
    assert "Traceback" not in kill_worker(worker)


# --- 3. two workers, one source ---------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_one_source(site, bundle, clean):
    """Two approvals of one source queued at once, two workers: one applies, the other is
    refused with a message (busy, or out of date once the first applied), never a traceback,
    never two applies."""
    workers = [site.worker(), site.worker()]
    first, second = site.held_run(bundle), site.held_run(bundle)
    wait_for(
        "two workers",
        lambda: site.db.value(LIVE_WORKERS) == 2,
    )
    jobs = site.django("start_jobs", ["approve", first], ["approve", second], ["approve", first])
    finished = ("done", "failed")
    wait_for(
        "the approvals",
        lambda: all(site.db.job(j)["status"] in finished for j in jobs),
        timeout=120,
    )
    outcome = [site.db.job(j) for j in jobs]
    done = [j for j in outcome if j["status"] == "done"]
    assert len(done) == 1 and done[0]["result"]["status"] == "applied", outcome
    refusals = [j["error"] for j in outcome if j["status"] == "failed"]
    allowed = (
        BUSY,
        "only a planned or held run can be approved",
        "the directory changed since run",
        "a later run of this source was applied",
    )
    assert all(any(a in e for a in allowed) for e in refusals), refusals
    if site.backend == "postgres":  # the two really ran at the same time
        assert any(BUSY in e for e in refusals), refusals
    # (On SQLite the second worker's claim waits for the first one's apply to commit: one
    # writer at a time. It is then refused as busy or as out of date, depending on timing.)
    statuses = sorted(site.db.run(r)["status"] for r in (first, second))
    assert statuses in (["applied", "discarded"], ["applied", "held"]), statuses
    assert site.db.value("SELECT count(*) FROM sync_syncrun WHERE status = 'applied'") == 1
    assert directory(site.db.counts()) == directory(clean)
    for worker in workers:
        assert "Traceback" not in kill_worker(worker)


# --- 4. restarts ------------------------------------------------------------------------------


@pytest.mark.slow
def test_work_waits_for_a_worker_and_a_dead_one_is_reported(site, bundle, clean):
    """A job queued while no worker runs waits (the page says so) and is done by a worker
    started later; a job whose worker was killed shows failed on the job page of a web server
    started afterwards, and its run is failed, not "applying" forever."""
    (plan,) = site.django("start_jobs", ["plan", str(bundle)])
    page = site.django("web_page", "job", plan)
    assert page["code"] == 200 and "Waiting" in page["text"], page
    worker = site.worker()
    wait_for("the plan", lambda: site.db.job(plan)["status"] in ("done", "failed"))
    run = site.db.job(plan)["result"]["run"]
    assert site.db.run(run)["status"] == "planned"
    (job,) = site.django("start_jobs", ["approve", run])
    _catch(site, job, "applying", run)
    kill_worker(worker)  # the worker, its supervisor, all gone: nobody looks
    page = site.django("web_page", "job", job, fresh=True)
    assert page["code"] == 200 and "Failed" in page["text"] and STOPPED in page["text"], page
    page = site.django("web_page", "run", run)
    assert site.db.run(run)["status"] == "failed", page["text"][:2000]
    assert site.db.value("SELECT count(*) FROM work_sourcelock") == 0
    assert site.db.value("SELECT count(*) FROM directory_student") == 0
    # A failed run is retried by a new plan, approved.
    worker = site.worker()
    (plan,) = site.django("start_jobs", ["plan", str(bundle)])
    wait_for("the new plan", lambda: site.db.job(plan)["status"] in ("done", "failed"))
    (job,) = site.django("start_jobs", ["approve", site.db.job(plan)["result"]["run"]])
    wait_for("the approval", lambda: site.db.job(job)["status"] in ("done", "failed"))
    assert site.db.job(job)["result"]["status"] == "applied", site.db.job(job)
    assert directory(site.db.counts()) == directory(clean)
    assert "Traceback" not in kill_worker(worker)


# --- 5. the embedded worker of rollbook serve -------------------------------------------------


def only_sqlite(site: Site) -> None:
    if site.backend != "sqlite":
        pytest.skip("the embedded worker does the same on every database: tested on SQLite")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sign-in/", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl+C"])
def test_serve_starts_a_worker_and_stops_it(site, bundle, stop):
    """``rollbook serve`` starts one worker beside the web server, which does the web app's
    work, and stops with it: on Ctrl+C, and on SIGTERM (systemd, docker), which runs none of
    the server's cleanup."""
    only_sqlite(site)
    port = _free_port()
    server = site.popen(sys.executable, "-m", "rollbook", "serve", "--port", str(port))
    wait_for("the web server", lambda: _serving(port), timeout=60, every=0.1)
    (plan,) = site.django("start_jobs", ["plan", str(bundle)])
    wait_for("the plan", lambda: site.db.job(plan)["status"] in ("done", "failed"), timeout=90)
    assert site.db.job(plan)["result"]["status"] == "planned", site.db.job(plan)
    workers = descendants(server.pid)
    assert len(workers) == 2, workers  # the worker's supervisor and its child
    server.send_signal(stop)
    server.wait(timeout=60)
    wait_for("the worker stopped", lambda: not any(alive(p) for p in workers), timeout=60)
    assert site.db.value("SELECT count(*) FROM work_workerprocess WHERE stopped_at IS NULL") == 0


@pytest.mark.slow
def test_serve_no_worker_starts_none(site, bundle):
    """``--no-worker``: the web server only; its work waits for a ``rollbook worker``."""
    only_sqlite(site)
    port = _free_port()
    server = site.popen(
        sys.executable, "-m", "rollbook", "serve", "--port", str(port), "--no-worker"
    )
    wait_for("the web server", lambda: _serving(port), timeout=60, every=0.1)
    (plan,) = site.django("start_jobs", ["plan", str(bundle)])
    assert descendants(server.pid) == []
    assert site.db.value("SELECT count(*) FROM work_workerprocess") == 0
    assert site.db.job(plan)["status"] == "queued"
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
