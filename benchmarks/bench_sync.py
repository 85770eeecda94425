"""Benchmark the sync: first sync, byte-identical, no-change and 1 %-change re-syncs.

Usage:
    python benchmarks/bench_sync.py --students 100000 [--backend sqlite|postgresql]
        [--dir /tmp/rb-bench-sync] [--keep] [--database NAME]

Generates the bundle (and its next-day bundle) with ``rollbook generate`` unless they exist,
then runs each step as its own ``rollbook`` process against a fresh database (SQLite in the
ROLLBOOK_HOME ``DIR/home``, or a fresh PostgreSQL database ``rollbook_bench`` on 127.0.0.1), and
prints wall time, CPU time, rows per second and peak RSS (``os.wait4`` of the child).
``--database NAME`` names another database (dropped and created afresh), and the home
``DIR/home-NAME``, so that runs sharing a DIR (and its bundles) do not collide. The database is
left as the last step made it (nothing here drops it at the end).

The no-change re-syncs read the same records with every file's rows in another order (a
seeded shuffle), as a real SIS's next export is: never the same bytes, which the
byte-identical step covers. Twice: the lines as they were written, only in another order (the
SIS's own export job run again: ``reordered_lines``; a sync knows it by its records digest,
sync/digests.py, and skips it unread), and the records written anew by pyarrow (other
quoting: ``reordered``), which a sync can only tell from the last bundle by reading it all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROLLBOOK = [sys.executable, "-m", "rollbook"]
PG_ADMIN = "postgres://root@127.0.0.1:5432/test"
PG_SERVER = "postgres://root@127.0.0.1:5432/"
DATABASE = "rollbook_bench"  # the default database (and the default home, DIR/home)
LAST_CPU = [0.0]


def _data_files(bundle: Path, out: Path) -> list[Path]:
    """The CSV files of ``bundle`` but its manifest, which is copied to ``out`` (made here);
    none when ``out`` exists (written before)."""
    if out.exists():
        return []
    out.mkdir(parents=True)
    shutil.copy(bundle / "manifest.csv", out / "manifest.csv")
    return [p for p in sorted(bundle.glob("*.csv")) if p.name != "manifest.csv"]


def reordered(bundle: Path, out: Path, seed: int = 7) -> Path:
    """``bundle`` with the rows of every CSV file shuffled (header first, values as text)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = __import__("random").Random(seed)
    for path in _data_files(bundle, out):
        names = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names.names}, strings_can_be_null=False
            ),
        )
        order = list(range(table.num_rows))
        rng.shuffle(order)
        pacsv.write_csv(
            table.take(pa.array(order, pa.int64())),
            out / path.name,
            pacsv.WriteOptions(quoting_style="needed"),
        )
    return out


def reordered_lines(bundle: Path, out: Path, seed: int = 7) -> Path:
    """``bundle`` with every CSV file's data lines shuffled, each line's bytes as they were
    (the header first; the manifest as it is)."""
    rng = __import__("random").Random(seed)
    for path in _data_files(bundle, out):
        header, *lines = path.read_bytes().splitlines(keepends=True)
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            lines[-1] += b"\n"
        rng.shuffle(lines)
        with (out / path.name).open("wb") as handle:
            handle.write(header)
            handle.writelines(lines)
    return out


def run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a rollbook command; wall seconds, peak RSS in MiB of that child, stdout. The
    child's CPU seconds (user + system) are in ``LAST_CPU[0]``."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(ROLLBOOK + args, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        LAST_CPU[0] = usage.ru_utime + usage.ru_stime
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed:\n{stdout}\n{stderr}")
    return wall, usage.ru_maxrss / 1024, stdout


def home_of(folder: Path, name: str, database: str) -> Path:
    """``folder/name`` for the default database, ``folder/name-DATABASE`` for another."""
    return folder / (name if database == DATABASE else f"{name}-{database}")


def add_database_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--database",
        default=DATABASE,
        type=database_name,
        help=f"the PostgreSQL database, dropped and created afresh (default {DATABASE}); "
        "another name also gives the run a home of its own",
    )


def database_name(text: str) -> str:
    if not text.replace("_", "").isalnum() or not text.isascii() or text[0].isdigit():
        raise argparse.ArgumentTypeError("letters, digits and _ only, not starting with a digit")
    return text.lower()


def fresh_database(backend: str, home: Path, database: str = DATABASE) -> dict[str, str]:
    """The environment of a fresh directory: the home ``home`` emptied and, on PostgreSQL,
    the database ``database`` dropped and created."""
    env = dict(os.environ, ROLLBOOK_HOME=str(home))
    env.pop("DATABASE_URL", None)
    # As installed, Python keeps its compiled modules: starting a command does not compile
    # Rollbook's ~140 modules again each time (0.35 s, and more of a 1.5 s byte-identical run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    shutil.rmtree(home, ignore_errors=True)
    if backend == "postgresql":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
            conn.execute(f'CREATE DATABASE "{database}"')
        env["DATABASE_URL"] = PG_SERVER + database
    return env


def init_district(env: dict[str, str]) -> None:
    """A district (id 1) and its administrator in the fresh database."""
    run(
        [
            "init",
            "--no-input",
            "--district-name",
            "Bench",
            "--admin-email",
            "admin@bench.example.org",
            "--admin-password",
            "a-long-bench-passphrase",
        ],
        env,
    )


def rows_of(bundle: Path) -> int:
    return sum(
        max(0, sum(1 for _ in p.open("rb")) - 1)
        for p in bundle.glob("*.csv")
        if p.name != "manifest.csv"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=100_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/rb-bench-sync"))
    ap.add_argument("--keep", action="store_true", help="keep the bundles")
    add_database_option(ap)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    day1 = args.dir / f"day1-{args.students}"
    day2 = args.dir / f"day2-{args.students}"
    env = dict(os.environ)
    if not day1.exists():
        subprocess.run(
            ROLLBOOK + ["generate", str(day1), "--students", str(args.students)],
            check=True,
            env=env,
            capture_output=True,
        )
    if not day2.exists():
        subprocess.run(
            ROLLBOOK + ["generate", str(day2), "--next-day-of", str(day1), "--changes", "0.01"],
            check=True,
            env=env,
            capture_output=True,
        )
    rows = rows_of(day1)
    env = fresh_database(args.backend, home_of(args.dir, "home", args.database), args.database)
    init_district(env)
    results = []

    def step(name: str, bundle: Path, extra: list[str] = ()) -> dict:
        wall, peak, out = run(
            ["sync", str(bundle), "--district", "1", "--approve", "--json", *extra], env
        )
        record = json.loads(out)
        results.append(
            {
                "step": name,
                "status": record["status"],
                "wall_s": round(wall, 1),
                "cpu_s": round(LAST_CPU[0], 1),
                "rows_per_s": round(rows / wall),
                "peak_rss_mib": round(peak),
                "stages_s": record["stats"].get("timings"),
            }
        )
        print(json.dumps(results[-1]))
        return record

    step("first sync", day1)
    step("byte-identical re-sync", day1)
    shuffled = reordered_lines(day1, args.dir / f"day1-{args.students}-reordered-lines")
    step("no-change re-sync (rows reordered)", shuffled)
    rewritten = reordered(day1, args.dir / f"day1-{args.students}-reordered")
    step("no-change re-sync (rows reordered, written anew)", rewritten)
    step("1%-change re-sync", day2)
    print(
        json.dumps(
            {
                "students": args.students,
                "backend": args.backend,
                "database": args.database,
                "rows": rows,
                "results": results,
            },
            indent=2,
        )
    )
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
