"""Benchmark many districts syncing themselves: worker processes run 20 districts' scheduled
first syncs (500 to 200,000 students, ~1M in total) on PostgreSQL.

Usage:
    python benchmarks/bench_fleet.py [--workers 2] [--dir /tmp/fleet] [--skip-alone]

1. Generates the 20 bundles (``rollbook generate``, seeds 101–120) unless they exist.
2. Alone: each district's first sync on its own (``rollbook sync --approve``, one after another,
   into one fresh database) — the sum is the work the fleet has to do.
3. Fleet: a fresh database; 20 districts whose daily schedules are due now (their first sync
   approved once, as the demo does: ``approve_first_run_as``), plus a 21st district whose first
   sync is held for approval as usual; ``rollbook worker --concurrency W --heavy W`` starts, and
   the clock runs until every approved district has an applied scheduled run.
Prints and writes JSON: the wall time to a fully synced fleet, the target (1.3 × the alone sum
/ W), the workers' peak RSS (sum over the worker processes, sampled, and each one's own peak),
and whether any district waited behind the held one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROLLBOOK = [sys.executable, "-m", "rollbook"]
PG_ADMIN = "postgres://root@127.0.0.1:5432/test"
SIZES = [500, 1000, 2000, 3000, 5000, 8000, 12000, 15000, 20000, 25000]
SIZES += [30000, 40000, 50000, 60000, 70000, 80000, 100000, 120000, 157500, 200000]


def fresh(name: str, home: Path) -> dict[str, str]:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ROLLBOOK_HOME=str(home))
    env["DATABASE_URL"] = f"postgres://root@127.0.0.1:5432/{name}"
    subprocess.run(ROLLBOOK + ["migrate"], env=env, check=True, capture_output=True)
    return env


def django(env: dict[str, str], code: str) -> str:
    prefix = "from rollbook.project import setup; setup()\n"
    done = subprocess.run(
        [sys.executable, "-c", prefix + code], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


SETUP = """
import json
from django.utils import timezone
from rollbook.directory.audit import Actor
from rollbook.directory.models import District
from rollbook.sync import schedules, services
from rollbook.work.scheduler import latest_slot
plan = json.loads({plan!r})
actor = Actor(label="fleet benchmark")
for name, folder, approve in plan:
    district = District.objects.create(name=name)
    source = services.get_source(district, "SIS", folder)
    zone = schedules.time_zone("America/Chicago")
    at = timezone.now().astimezone(zone).replace(second=0, microsecond=0).time()
    schedules.change(
        source,
        schedules.Change(
            daily=at,
            time_zone="America/Chicago",
            location=folder,
            approve_first_run_as="fleet benchmark set-up" if approve else None,
        ),
        actor,
        now=latest_slot([at], zone, timezone.now()),
    )
"""

STATE = """
import json
from rollbook.sync.models import SyncRun
runs = SyncRun.objects.filter(started_by_label="schedule").select_related("source__district")
print(json.dumps([
    [r.source.district.name, r.status, r.created_at.isoformat(),
     r.finished_at.isoformat() if r.finished_at else None, r.stats.get("timings", {})]
    for r in runs
]))
"""


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            found.append(c)
            todo.append(c)
    return found


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/fleet"))
    ap.add_argument("--skip-alone", action="store_true", help="reuse the last alone figures")
    ap.add_argument("--scale", type=float, default=1.0, help="shrink the districts (a smoke test)")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    sizes = [max(50, round(n * args.scale)) for n in SIZES]
    folders = []
    for i, n in enumerate(sizes, start=1):
        folder = args.dir / f"d{i}"
        if not folder.exists():
            cmd = ["generate", str(folder), "--students", str(n), "--seed", str(100 + i)]
            subprocess.run(ROLLBOOK + cmd, check=True, capture_output=True)
        folders.append(str(folder))
    held = args.dir / "held"
    if not held.exists():
        cmd = ["generate", str(held), "--students", "500", "--seed", "99"]
        subprocess.run(ROLLBOOK + cmd, check=True, capture_output=True)

    alone_file = args.dir / "alone.json"
    if args.skip_alone and alone_file.exists():
        alone = json.loads(alone_file.read_text())
    else:
        env = fresh("rollbook_fleet_alone", args.dir / "home-alone")
        django(env, SETUP.format(plan=json.dumps([[f"Alone {i}", "", False] for i in range(20)])))
        alone = []
        for i, folder in enumerate(folders, start=1):
            started = time.perf_counter()
            cmd = ["sync", folder, "--district", str(i), "--approve", "--json"]
            done = subprocess.run(ROLLBOOK + cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"district {i}: the sync failed ({done.returncode})\n{done.stderr}")
            alone.append(round(time.perf_counter() - started, 1))
            print(f"alone: district {i} ({sizes[i - 1]} students) {alone[-1]} s", flush=True)
        alone_file.write_text(json.dumps(alone))

    env = fresh("rollbook_fleet", args.dir / "home-fleet")
    plan = [[f"Fleet {i:02d}", f, True] for i, f in enumerate(folders, start=1)]
    plan.append(["Fleet held", str(held), False])
    django(env, SETUP.format(plan=json.dumps(plan)))
    env |= {"ROLLBOOK_HEARTBEAT_SECONDS": "5"}
    started = time.perf_counter()
    worker = subprocess.Popen(
        ROLLBOOK
        + ["worker", "--concurrency", str(args.workers), "--heavy", str(args.workers)]
        + ["--interval", "0.5"],
        env=env,
        start_new_session=True,
    )
    peak_total, peaks = 0, {}
    state: list = []
    try:
        while True:
            time.sleep(1.0)
            pids = descendants(worker.pid)
            peak_total = max(peak_total, sum(rss_kib(p) for p in pids))
            for p in pids:
                peaks[p] = max(peaks.get(p, 0), rss_kib(p, "VmHWM"))
            state = json.loads(django(env, STATE))
            applied = {name for name, status, *_ in state if status == "applied"}
            failed = [name for name, status, *_ in state if status == "failed"]
            if failed:
                sys.exit(f"failed: {failed}")
            if len(applied) >= len(folders):
                break
            if time.perf_counter() - started > 3600:
                sys.exit("the fleet did not finish within an hour")
        wall = round(time.perf_counter() - started, 1)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=120)
    held_runs = [s for s in state if s[0] == "Fleet held"]
    finish = {name: end for name, status, _, end, _ in state if status == "applied"}
    result = {
        "workers": args.workers,
        "districts": len(folders),
        "students": sum(sizes),
        "alone_sum_s": round(sum(alone), 1),
        "target_s": round(1.3 * sum(alone) / args.workers, 1),
        "fleet_wall_s": wall,
        "workers_peak_rss_total_mib": round(peak_total / 1024),
        "worker_process_peak_rss_mib": sorted(round(v / 1024) for v in peaks.values())[-4:],
        "held_district": [s[1] for s in held_runs],
        "last_applied_at": max(finish.values()) if finish else None,
    }
    print(json.dumps(result, indent=2))
    (args.dir / "fleet.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
