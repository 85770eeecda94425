"""Benchmark the self-check (``rollbook check``).

Usage:
    python benchmarks/bench_check.py --students 1000000 [--backend sqlite|postgresql]
        [--dir /tmp/rb-bench-sync] [--keep]

Uses the same bundles as bench_sync.py (generated unless they exist). Steps, each its own
``rollbook`` process:

1. the check before the first sync, on an empty directory (its rehearsal applies the whole
   first sync and rolls it back);
2. the first sync (approved), to fill the directory;
3. the check of the next day's bundle (1 % changed) against the directory holding that
   sync: the issue's target (60 s at L).

Prints wall time and peak RSS (``resource.getrusage`` of the child).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from bench_sync import LAST_CPU, ROLLBOOK, fresh_database, init_district, rows_of, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=100_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/rb-bench-sync"))
    ap.add_argument("--keep", action="store_true", help="keep the bundles")
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
    env = fresh_database(args.backend, args.dir / "home-check")
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

    first = step("check before the first sync", ["check", str(day1), "--district", "1", "--json"])
    synced = step("first sync", ["sync", str(day1), "--district", "1", "--approve", "--json"])
    assert synced["stats"]["outcome"] == first["sync_outcome"], "prediction != first sync"
    step(
        "check of the next day against the synced directory",
        ["check", str(day2), "--district", "1", "--json"],
    )
    print(
        json.dumps(
            {
                "students": args.students,
                "backend": args.backend,
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
