"""Benchmark the self-check (``rollbook check``).

Usage:
    python benchmarks/bench_check.py --students 1000000 [--backend sqlite|postgresql]
        [--dir /tmp/rb-bench-sync] [--synced-home HOME] [--full] [--keep] [--database NAME]

Uses the same bundles as bench_sync.py (``DIR/day1-N`` and ``DIR/day2-N``, generated unless
they exist: symlinks to bundles made elsewhere do). Steps, each its own ``rollbook`` process:

1. the check before the first sync, on a fresh directory holding only the district (its real
   use);
2. the first sync (approved), to fill the directory — or, with ``--synced-home`` (SQLite), a
   copy of that ROLLBOOK_HOME, which must hold day 1's first sync into district 1, migrated;
3. the check of the next day's bundle (1 % changed) against the directory holding that sync.

``--full``: each check is also run as the full rehearsal (``--full-rehearsal``: the sync's own
apply, rolled back — the reference), and the two reports must be equal but for their seconds.
With step 2 a sync, the first check's predicted outcome must equal the sync's.

Prints wall time, CPU time (user + system of the child) and peak RSS of each step. The
directory is ``DIR/home-check`` and on PostgreSQL the database ``rollbook_bench``, made afresh
and left as the last step made it; ``--database NAME`` another database (and the home
``DIR/home-check-NAME``), so that it collides with no other run's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from bench_sync import (
    LAST_CPU,
    ROLLBOOK,
    add_database_option,
    fresh_database,
    home_of,
    init_district,
    rows_of,
    run,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=100_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/rb-bench-sync"))
    ap.add_argument("--synced-home", type=Path, help="a ROLLBOOK_HOME holding day 1's sync")
    ap.add_argument("--full", action="store_true", help="also the full rehearsal, compared")
    ap.add_argument("--keep", action="store_true", help="keep the bundles")
    add_database_option(ap)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    day1 = args.dir / f"day1-{args.students}"
    day2 = args.dir / f"day2-{args.students}"
    if not day1.exists():
        subprocess.run(
            [*ROLLBOOK, "generate", str(day1), "--students", str(args.students)],
            check=True,
            capture_output=True,
        )
    if not day2.exists():
        subprocess.run(
            [*ROLLBOOK, "generate", str(day2), "--next-day-of", str(day1), "--changes", "0.01"],
            check=True,
            capture_output=True,
        )
    home = home_of(args.dir, "home-check", args.database)
    env = fresh_database(args.backend, home, args.database)
    init_district(env)
    results = []

    def step(name: str, command: list[str]) -> dict:
        wall, peak, out = run(command, env)
        record = json.loads(out)
        results.append(
            {
                "step": name,
                "wall_s": round(wall, 1),
                "cpu_s": round(LAST_CPU[0], 1),
                "peak_rss_mib": round(peak),
            }
        )
        print(json.dumps(results[-1]), flush=True)
        return record

    def check(name: str, bundle: Path) -> dict:
        command = ["check", str(bundle), "--district", "1", "--json"]
        report = step(name, command)
        if args.full:
            full = step(f"{name} (full rehearsal, the reference)", [*command, "--full-rehearsal"])
            report.pop("seconds"), full.pop("seconds")
            assert report == full, "the foreseen apply's report != the full rehearsal's"
        return report

    first = check("check before the first sync", day1)
    if args.synced_home is not None:
        home = home_of(args.dir, "home-synced", args.database)
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(args.synced_home, home, symlinks=True)
        env = dict(env, ROLLBOOK_HOME=str(home))
        run(["migrate"], env)
    else:
        synced = step("first sync", ["sync", str(day1), "--district", "1", "--approve", "--json"])
        assert synced["stats"]["outcome"] == first["sync_outcome"], "prediction != first sync"
    check("check of the next day against the synced directory", day2)
    print(
        json.dumps(
            {
                "students": args.students,
                "backend": args.backend,
                "database": args.database,
                "rows": rows_of(day1),
                "results": results,
            },
            indent=2,
        )
    )
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
