"""Benchmark the OneRoster bundle generator (standalone script).

Usage: ``python benchmarks/bench_generate.py [STUDENTS] [--version 1.1|1.2] [--next-day 0.01]
[--keep]``. Generates into a temporary folder under /tmp, prints wall time, peak RSS
(``resource.getrusage``) and row counts, optionally derives a next-day bundle, then deletes
everything unless ``--keep``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from rollbook.oneroster.generator import generate_bundle
from rollbook.oneroster.generator.nextday import derive_next_day


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Run the benchmark."""
    p = argparse.ArgumentParser()
    p.add_argument("students", type=int, nargs="?", default=100_000)
    p.add_argument("--version", default="1.2")
    p.add_argument("--next-day", type=float, default=None)
    p.add_argument("--zip", action="store_true")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rollbook-bench-gen-", dir="/tmp"))
    try:
        t0 = time.perf_counter()
        s = generate_bundle(tmp / "bundle", args.students, version=args.version, zip=args.zip)
        wall = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in (tmp / "bundle").iterdir())
        print(
            f"generate {args.students:,} students (OneRoster {args.version}): {wall:.1f} s, "
            f"peak RSS {_rss_mb():,.0f} MB, {size / 1e6:,.0f} MB of CSV"
        )
        for name, rows in s.rows.items():
            print(f"  {name:<18}{rows:>12,}")
        print(f"  {'total rows':<18}{sum(s.rows.values()):>12,}")
        if args.next_day is not None:
            t0 = time.perf_counter()
            nd = derive_next_day(tmp / "bundle", tmp / "next", args.next_day)
            wall = time.perf_counter() - t0
            print(
                f"next day ({args.next_day:.2%} changes): {wall:.1f} s, "
                f"peak RSS {_rss_mb():,.0f} MB, changed share {nd.change_share:.4f}"
            )
            for name, d in nd.changed_rows.items():
                print(f"  {name:<18}{d}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
