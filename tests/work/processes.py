"""Processes for the worker tests (``test_workers.py``): a site — one fresh database and the
processes working on it — read with plain SQL, and a Django process that runs this module's
functions as the web app would (``Site.django``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADMIN = "admin@example.org"
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
from tests.work import processes as t
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
            # Ctrl+C reaches it even when this test runs in the background (a shell without job
            # control starts background commands with SIGINT ignored, and children inherit it).
            preexec_fn=_interruptible,
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


# --- set-up -----------------------------------------------------------------------------------


def base_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {
        "ROLLBOOK_HOME": str(home),
        "ROLLBOOK_HEARTBEAT_SECONDS": "0.5",
        "ROLLBOOK_HEARTBEAT_EXPIRY": "3",
        # testserver: the host name of Django's test client (web_page).
        "ROLLBOOK_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    }
    return env


def init_site(env: dict) -> None:
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


def pg_url(dbname: str) -> str:
    """DATABASE_URL with another database name (on the same server)."""
    return urllib.parse.urlsplit(PG_URL)._replace(path=f"/{dbname}").geturl()


def pg_admin():
    import psycopg

    return psycopg.connect(PG_URL, autocommit=True)


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


def districts_on_schedules(folders: list[str]) -> list[int]:
    """One district a folder (the site's district 1 first, then new ones), each with a daily
    schedule due now and its first sync approved once by the set-up, as the demo does.
    Returns the districts' ids."""
    from django.utils import timezone

    from rollbook.directory.audit import Actor
    from rollbook.directory.models import District
    from rollbook.sync import schedules, services
    from rollbook.work.scheduler import latest_slot

    actor = Actor(label="test set-up")
    zone = schedules.time_zone("America/Chicago")
    made = []
    for i, folder in enumerate(folders):
        if i == 0:
            district = District.objects.get(pk=1)
        else:
            district = District.objects.create(name=f"District {i + 1}")
        source = services.get_source(district, "SIS", folder)
        now = timezone.now()
        at = now.astimezone(zone).replace(second=0, microsecond=0).time()
        change = schedules.Change(
            daily=at,
            time_zone="America/Chicago",
            location=folder,
            approve_first_run_as="test set-up",
        )
        schedules.change(source, change, actor, now=latest_slot([at], zone, now))
        made.append(district.pk)
    return made


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
