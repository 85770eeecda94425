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

import contextlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STUDENTS = 6_000
ADMIN = "admin@example.org"
# What a person would see, from rollbook.work.locks.SourceBusy and rollbook.work.heartbeat.
BUSY = "is being read, planned or applied right now"
STOPPED = "the worker running it stopped"
# Every table of the directory, and the sync's own records of what it put there.
DIRECTORY = (
    "directory_academicsession",
    "directory_account",
    "directory_administratorrole",
    "directory_auditentry",
    "directory_classmembership",
    "directory_course",
    "directory_district",
    "directory_guardianlink",
    "directory_historyrecord",
    "directory_school",
    "directory_schoolclass",
    "directory_schoolclass_terms",
    "directory_staffrole",
    "directory_student",
    "sync_studentadoption",
    "sync_syncrecord",
)
LIVE_WORKERS = (
    "SELECT count(*) FROM work_workerprocess WHERE kind = 'worker' AND stopped_at IS NULL"
)
LAST_RUN = "SELECT status FROM sync_syncrun ORDER BY id DESC LIMIT 1"
PG_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith(("postgres://", "postgresql://"))


# --- the database, read by the test with plain SQL --------------------------------------------


class Db:
    """Autocommit reads (and a few writes) on the site's database, without Django."""

    def __init__(self, sqlite_path: Path | None = None, url: str | None = None):
        if sqlite_path is not None:
            self.conn = sqlite3.connect(sqlite_path, timeout=30, isolation_level=None)
            self.mark = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)
            self.mark = "%s"

    def rows(self, sql: str, *params) -> list[tuple]:
        cursor = self.conn.execute(sql.replace("?", self.mark), params)
        return list(cursor.fetchall()) if cursor.description else []

    def one(self, sql: str, *params):
        found = self.rows(sql, *params)
        return found[0] if found else None

    def value(self, sql: str, *params):
        row = self.one(sql, *params)
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        return {t: self.value(f"SELECT count(*) FROM {t}") for t in DIRECTORY}

    def run(self, run_id: int) -> dict:
        status, stats = self.one("SELECT status, stats FROM sync_syncrun WHERE id = ?", run_id)
        return {"status": status, "stats": stats if isinstance(stats, dict) else json.loads(stats)}

    def job(self, job_id: int) -> dict:
        status, error, result, worker = self.one(
            "SELECT status, error, result, worker FROM web_job WHERE id = ?", job_id
        )
        if not isinstance(result, dict):
            result = json.loads(result)
        return {"status": status, "error": error, "result": result, "worker": worker}

    def close(self) -> None:
        self.conn.close()


def wait_for(what: str, check, timeout: float = 60.0, every: float = 0.01):
    """Poll ``check`` until it returns something true; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)


# What the Django process of Site.django runs: calls of this module's functions, one a line.
ANSWER = "@answer "
DRIVER = f"""
import json, sys, traceback
from rollbook.project import setup
setup()
from tests.work import test_workers as t
for line in sys.stdin:
    name, args = json.loads(line)
    try:
        answer = {{"ok": getattr(t, name)(*args)}}
    except BaseException:
        answer = {{"error": traceback.format_exc()}}
    sys.stdout.write({ANSWER!r} + json.dumps(answer) + "\\n")
    sys.stdout.flush()
"""


# --- a site: one database, the processes working on it ----------------------------------------


@dataclass
class Site:
    backend: str
    home: Path
    env: dict
    db: Db
    processes: list[subprocess.Popen] = field(default_factory=list)
    driver: subprocess.Popen | None = None

    def popen(self, *args: str, stdin=None) -> subprocess.Popen:
        """A process in a session of its own, so it and all its children can be stopped; what
        it writes goes to a file (``log``), never to a pipe nobody reads."""
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        out = (logs / f"{len(self.processes)}.log").open("w")
        process = subprocess.Popen(
            list(args),
            env=self.env,
            cwd=REPO,
            stdin=stdin,
            stdout=subprocess.PIPE if stdin else out,
            stderr=out if stdin else subprocess.STDOUT,
            start_new_session=True,
            text=True,
        )
        out.close()
        process.log = logs / f"{len(self.processes)}.log"
        self.processes.append(process)
        return process

    def rollbook(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "rollbook", *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return result

    def worker(self, *args: str) -> subprocess.Popen:
        return self.popen(sys.executable, "-m", "rollbook", "worker", "--interval", "0.1", *args)

    def django(self, name: str, *args, fresh: bool = False):
        """Call this module's function ``name`` in a Django process on the site's database (as
        the web app would) and return what it returns (JSON). One such process serves the
        test's calls (Django starts once); ``fresh`` starts a new one for this call, as a web
        server started afterwards."""
        if fresh or self.driver is None or self.driver.poll() is not None:
            driver = self.start_driver(keep=not fresh)
        else:
            driver = self.driver
        driver.stdin.write(json.dumps([name, args]) + "\n")
        driver.stdin.flush()
        deadline = time.monotonic() + 120
        while True:
            ready, _, _ = select.select([driver.stdout], [], [], deadline - time.monotonic())
            line = driver.stdout.readline() if ready else ""
            if not line:
                pytest.fail(f"{name}: no answer\n{driver.log.read_text()}")
            if line.startswith(ANSWER):
                answer = json.loads(line[len(ANSWER) :])
                break
        if fresh:
            driver.stdin.close()
            driver.wait(timeout=30)
        assert "error" not in answer, answer["error"]
        return answer["ok"]

    def start_driver(self, keep: bool = True) -> subprocess.Popen:
        driver = self.popen(sys.executable, "-c", DRIVER, stdin=subprocess.PIPE)
        if keep:
            self.driver = driver
        return driver

    def held_run(self, bundle: Path) -> int:
        """A first sync of the bundle, held for approval (every first sync is)."""
        made = self.rollbook("sync", str(bundle), "--district", "1", "--json")
        assert made.returncode in (0, 3), made.stderr  # 3: held (issue 14)
        run = json.loads(made.stdout)
        assert run["status"] == "held", run
        return run["id"]

    def worker_pid(self, job_id: int) -> int | None:
        return self.db.value(
            "SELECT w.pid FROM web_job j JOIN work_workerprocess w ON w.worker_id = j.worker "
            "WHERE j.id = ?",
            job_id,
        )

    def stop_all(self) -> None:
        """Kill every process this test started, and the workers they started (each worker's
        child runs in a session of its own: found by its parent, or by its heartbeat row)."""
        pids = set()
        for process in self.processes:
            pids |= {process.pid, *descendants(process.pid)}
        with contextlib.suppress(Exception):
            pids |= {p for (p,) in self.db.rows("SELECT pid FROM work_workerprocess") if p}
        for pid in pids:
            if ours(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(Exception):
                process.wait(timeout=30)


def kill_worker(process: subprocess.Popen) -> str:
    """SIGKILL a worker and its children (a machine switched off); returns what they wrote."""
    for pid in [process.pid, *descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)
    return process.log.read_text()


def ours(pid: int) -> bool:
    """A process of this test run: a rollbook process, still running."""
    try:
        return b"rollbook" in Path(f"/proc/{pid}/cmdline").read_bytes() and alive(pid)
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet waited for by its parent) is not running either.
    with contextlib.suppress(FileNotFoundError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return False


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs, as long as they run."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found + [d for child in found for d in descendants(child)]


# --- fixtures ---------------------------------------------------------------------------------


def _base_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {
        "ROLLBOOK_HOME": str(home),
        "ROLLBOOK_HEARTBEAT_SECONDS": "0.5",
        "ROLLBOOK_HEARTBEAT_EXPIRY": "3",
        # testserver: the host name of Django's test client (web_page).
        "ROLLBOOK_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    }
    return env


def _init(env: dict) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "rollbook", "init", "--no-input", "--district-name", "D"]
        + ["--admin-email", ADMIN, "--admin-password", "a-long-passphrase"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert made.returncode == 0, made.stderr


def _pg_url(dbname: str) -> str:
    """DATABASE_URL with another database name (on the same server)."""
    return urllib.parse.urlsplit(PG_URL)._replace(path=f"/{dbname}").geturl()


def _pg_admin():
    import psycopg

    return psycopg.connect(PG_URL, autocommit=True)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    from rollbook.oneroster.generator import generate_bundle

    path = tmp_path_factory.mktemp("bundle") / "district"
    generate_bundle(path, STUDENTS)
    return path


BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not ON_POSTGRES, reason="DATABASE_URL is not a PostgreSQL URL"),
        ],
    ),
]


@pytest.fixture(scope="module", params=BACKENDS)
def template(request, tmp_path_factory):
    """A migrated database with a district and its administrator, copied for each test."""
    home = tmp_path_factory.mktemp(f"template-{request.param}")
    env = _base_env(home)
    if request.param == "postgres":
        name = f"rollbook_workers_{secrets.token_hex(4)}"
        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = _pg_url(name)
        try:
            _init(env)
            yield request.param, home, name
        finally:
            with _pg_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    _init(env)
    yield request.param, home, None


@pytest.fixture
def site(template, tmp_path):
    backend, template_home, template_db = template
    home = tmp_path / "home"
    shutil.copytree(template_home, home)
    shutil.rmtree(home / "workers", ignore_errors=True)
    env = _base_env(home)
    name = None
    if backend == "postgres":
        name = f"{template_db}_{secrets.token_hex(3)}"
        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
        env["DATABASE_URL"] = _pg_url(name)
        db = Db(url=_pg_url(name))
    else:
        db = Db(sqlite_path=home / "rollbook.sqlite3")
    here = Site(backend, home, env, db)
    here.start_driver()  # Django starts while the test begins
    try:
        yield here
    finally:
        here.stop_all()
        db.close()
        if name:
            with _pg_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def clean(template, bundle, tmp_path_factory) -> dict[str, int]:
    """The directory as one clean first sync of the bundle leaves it (the reference)."""
    backend, template_home, template_db = template
    home = tmp_path_factory.mktemp(f"clean-{backend}")
    shutil.copytree(template_home, home, dirs_exist_ok=True)
    env = _base_env(home)
    name = None
    if backend == "postgres":
        name = f"{template_db}_clean"
        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
        env["DATABASE_URL"] = _pg_url(name)
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
        db = Db(url=_pg_url(name)) if name else Db(sqlite_path=home / "rollbook.sqlite3")
        try:
            counts = db.counts()
        finally:
            db.close()
        return counts | {"apply seconds": run["stats"]["timings"]["apply"]}
    finally:
        if name:
            with _pg_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def directory(counts: dict) -> dict:
    return {k: v for k, v in counts.items() if k in DIRECTORY}


# --- what the web app does, run in a process of its own (Site.django) -------------------------


def start_jobs(*wanted: list) -> list[int]:
    """Queue web jobs as the Sync tab does: ["plan", bundle] or ["approve", run id]."""
    from rollbook.directory.models import Account, District
    from rollbook.sync.models import SyncRun
    from rollbook.web import jobs, views_sync
    from rollbook.web.models import Job

    district = District.objects.get(pk=1)
    admin = Account.objects.get(email=ADMIN)
    made = []
    for kind, target in wanted:
        if kind == "plan":
            job = Job(district=district, kind=Job.Kind.PLAN, bundle=target, created_by=admin)
            jobs.start(job, views_sync.plan_work)
        else:
            run = SyncRun.objects.get(pk=target)
            job = Job(
                district=district,
                kind=Job.Kind.APPROVE,
                bundle=run.bundle,
                params={"run": run.pk},
                created_by=admin,
            )
            jobs.start(job, views_sync.approve_work)
        made.append(job.pk)
    return made


def web_page(kind: str, pk: int) -> dict:
    """A district page as its administrator sees it, from a web process just started."""
    from django.test import Client
    from django.urls import reverse

    from rollbook.directory.models import Account

    client = Client()
    client.force_login(Account.objects.get(email=ADMIN))
    response = client.get(reverse(f"web:district-{kind}", args=[1, pk]))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))
    return {"code": response.status_code, "text": text}


def reap_until_failed(run_id: int, timeout: float) -> float:
    """Another process looks, again and again, until the run is failed; the seconds taken."""
    from rollbook.sync.models import SyncRun
    from rollbook.work import heartbeat
    from rollbook.work.models import SourceLock, WorkerProcess

    started = time.monotonic()
    while SyncRun.objects.get(pk=run_id).status != SyncRun.Status.FAILED:
        assert time.monotonic() - started < timeout, (
            "the run was never found interrupted",
            SyncRun.objects.get(pk=run_id).status,
            list(SourceLock.objects.values()),
            list(WorkerProcess.objects.values()),
        )
        heartbeat.reap()
        time.sleep(0.1)
    return time.monotonic() - started


# --- 1. kill -9 of a worker in each stage of a run --------------------------------------------


def _catch(site: Site, job_id: int, status: str, run_id: int | None = None) -> tuple[int, int]:
    """Wait until the job's run is in ``status``; returns (run id, the worker's pid)."""

    def caught():
        if run_id is None:
            row = site.db.one("SELECT id, status FROM sync_syncrun ORDER BY id DESC")
        else:
            row = site.db.one("SELECT id, status FROM sync_syncrun WHERE id = ?", run_id)
        return row if row and row[1] == status else None

    found, _ = wait_for(f"a run {status}", caught, timeout=120, every=0.005)
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


@pytest.mark.slow
def test_a_worker_killed_while_planning(site, bundle, clean):
    """A plan (dry run) whose worker dies while reading and planning: the run fails once the
    worker's replacement looks, nothing changed, and a new plan and its approval converge."""
    worker = site.worker()
    before = site.db.counts()
    (job,) = site.django("start_jobs", ["plan", str(bundle)])
    run, pid = _catch(site, job, "planning")
    os.kill(pid, signal.SIGKILL)  # the worker's child; its supervisor starts another
    assert site.db.run(run)["status"] == "planning", "the kill came after the planning"
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
    assert sync.wait(timeout=60) != 0
    run = site.db.run(site.db.value("SELECT max(id) FROM sync_syncrun"))
    assert run["status"] == "failed" and "rolled the whole run back" in run["stats"]["note"]
    assert site.db.value("SELECT count(*) FROM work_sourcelock") == 0
    assert site.db.value("SELECT count(*) FROM directory_student") == 0
    assert "Traceback" not in sync.log.read_text()


def alive_once_its_row_is_stale(worker_id: str) -> bool:
    """Is the worker alive, seen from another process, once its heartbeat row is older than
    the expiry (a long write holding SQLite's lock keeps it from renewing the row)?"""
    import datetime as dt

    from django.utils import timezone

    from rollbook.work import heartbeat
    from rollbook.work.models import WorkerProcess

    stale = heartbeat.expiry() + dt.timedelta(seconds=1)
    while timezone.now() - WorkerProcess.objects.get(worker_id=worker_id).heartbeat_at < stale:
        time.sleep(0.1)
    return heartbeat.is_alive(worker_id)


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
