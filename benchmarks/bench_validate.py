"""Benchmark `read_bundle` on an L-scale OneRoster 1.1 bundle (1M students).

Usage: python benchmarks/bench_validate.py [--students 1000000] [--dir /tmp/rb-bench] [--keep]
       [--shuffled OUT]

Writes a throwaway bundle with pyarrow (vectorised: ~2.65M users, 7M enrollments) unless the
folder already holds one, validates it in a child process, and prints wall time, CPU time
(user + system) and peak RSS (resource.getrusage of the child). The bundle is deleted
afterwards unless --keep. ``--shuffled OUT``: validate instead the same records with every
file's rows shuffled, written to OUT once (``bench_sync.reordered``; real SIS exports are not
in sourcedId order, issue 18).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv


def seq(n: int, start: int = 0) -> pa.Array:
    """start..start+n-1 as int64."""
    return pc.add(
        pc.subtract(pc.cumulative_sum(pc.fill_null(pa.nulls(n, pa.int64()), 1)), 1), start
    )


def ids(prefix: str, nums: pa.Array) -> pa.Array:
    """`prefix` + number as strings."""
    return pc.binary_join_element_wise(prefix, pc.cast(nums, pa.string()), "")


def const(n: int, value: str | None) -> pa.Array:
    """A column of one value."""
    return (
        pc.fill_null(pa.nulls(n, pa.string()), value)
        if value is not None
        else pa.nulls(n, pa.string())
    )


def write(path: Path, cols: dict[str, pa.Array]) -> None:
    """Write a CSV with minimal quoting."""
    pacsv.write_csv(
        pa.table(cols), path, pacsv.WriteOptions(quoting_style="needed", batch_size=100_000)
    )


def make_bundle(d: Path, students: int) -> None:
    """A consistent 1.1 bulk bundle: schools, terms, courses, classes, users, enrollments."""
    d.mkdir(parents=True, exist_ok=True)
    schools = max(students // 1000, 1)
    guardians = int(students * 1.5)
    staff = students // 7
    classes = students // 4
    n_enr = 7 * students
    school_of = lambda nums, k: ids("sch-", pc.divide(nums, k))  # noqa: E731
    write(
        d / "orgs.csv",
        {
            "sourcedId": pa.concat_arrays([pa.array(["dist-1"]), ids("sch-", seq(schools))]),
            "status": const(schools + 1, None),
            "dateLastModified": const(schools + 1, None),
            "name": pa.concat_arrays([pa.array(["District"]), ids("School ", seq(schools))]),
            "type": pa.concat_arrays([pa.array(["district"]), const(schools, "school")]),
            "identifier": const(schools + 1, None),
            "parentSourcedId": pa.concat_arrays(
                [pa.nulls(1, pa.string()), const(schools, "dist-1")]
            ),
        },
    )
    write(
        d / "academicSessions.csv",
        {
            "sourcedId": pa.array(["term-1"]),
            "status": const(1, None),
            "dateLastModified": const(1, None),
            "title": pa.array(["2025-2026"]),
            "type": pa.array(["term"]),
            "startDate": pa.array(["2025-08-20"]),
            "endDate": pa.array(["2026-06-15"]),
            "parentSourcedId": const(1, None),
            "schoolYear": pa.array(["2026"]),
        },
    )
    n_courses = schools * 20
    c_nums = seq(n_courses)
    write(
        d / "courses.csv",
        {
            "sourcedId": ids("crs-", c_nums),
            "status": const(n_courses, None),
            "dateLastModified": const(n_courses, None),
            "schoolYearSourcedId": const(n_courses, None),
            "title": ids("Course ", c_nums),
            "courseCode": ids("C", c_nums),
            "grades": const(n_courses, "09,10"),
            "orgSourcedId": school_of(c_nums, 20),
            "subjects": const(n_courses, None),
            "subjectCodes": const(n_courses, None),
        },
    )
    k_nums = seq(classes)
    per_school = max(classes // schools, 1)
    write(
        d / "classes.csv",
        {
            "sourcedId": ids("cls-", k_nums),
            "status": const(classes, None),
            "dateLastModified": const(classes, None),
            "title": ids("Class ", k_nums),
            "grades": const(classes, "09"),
            "courseSourcedId": ids(
                "crs-",
                pc.add(pc.multiply(pc.divide(k_nums, per_school), 20), pc.remainder(k_nums, 20)),
            ),
            "classCode": ids("K", k_nums),
            "classType": const(classes, "scheduled"),
            "location": const(classes, None),
            "schoolSourcedId": school_of(k_nums, per_school),
            "termSourcedIds": const(classes, "term-1"),
            "subjects": const(classes, None),
            "subjectCodes": const(classes, None),
            "periods": const(classes, "1"),
        },
    )
    n_users = students + guardians + staff
    u_nums = seq(n_users)
    is_student = pc.less(u_nums, students)
    is_guardian = pc.and_(pc.greater_equal(u_nums, students), pc.less(u_nums, students + guardians))
    role = pc.if_else(is_student, "student", pc.if_else(is_guardian, "parent", "teacher"))
    # each student lists one or two guardians: guardian g -> student (g - students) // 1.5
    g1 = ids("usr-", pc.add(pc.divide(pc.multiply(u_nums, 3), 2), students))
    g2 = ids("usr-", pc.add(pc.add(pc.divide(pc.multiply(u_nums, 3), 2), students), 1))
    agents = pc.if_else(
        is_student,
        pc.if_else(
            pc.equal(pc.remainder(u_nums, 2), 0), pc.binary_join_element_wise(g1, g2, ","), g1
        ),
        None,
    )
    local = pc.remainder(u_nums, students)
    write(
        d / "users.csv",
        {
            "sourcedId": ids("usr-", u_nums),
            "status": const(n_users, None),
            "dateLastModified": const(n_users, None),
            "enabledUser": const(n_users, "true"),
            "orgSourcedIds": school_of(local, 1000),
            "role": role,
            "username": ids("user", u_nums),
            "userIds": const(n_users, None),
            "givenName": ids("Given", pc.remainder(u_nums, 5000)),
            "familyName": ids("Family", pc.remainder(u_nums, 20000)),
            "middleName": const(n_users, None),
            "identifier": ids("ID", u_nums),
            "email": pc.binary_join_element_wise(ids("u", u_nums), "example.org", "@"),
            "sms": const(n_users, None),
            "phone": const(n_users, None),
            "agentSourcedIds": agents,
            "grades": pc.if_else(is_student, "09", None),
            "password": const(n_users, None),
        },
    )
    e_nums = seq(n_enr)
    student = pc.divide(e_nums, 7)
    write(
        d / "enrollments.csv",
        {
            "sourcedId": ids("enr-", e_nums),
            "status": const(n_enr, None),
            "dateLastModified": const(n_enr, None),
            "classSourcedId": ids(
                "cls-",
                pc.remainder(pc.add(pc.multiply(student, 7), pc.remainder(e_nums, 7)), classes),
            ),
            "schoolSourcedId": school_of(student, 1000),
            "userSourcedId": ids("usr-", student),
            "role": const(n_enr, "student"),
            "primary": const(n_enr, None),
            "beginDate": const(n_enr, None),
            "endDate": const(n_enr, None),
        },
    )
    rows = [("manifest.version", "1.0"), ("oneroster.version", "1.1")]
    rows += [
        (f"file.{n}", "bulk")
        for n in ("academicSessions", "classes", "courses", "enrollments", "orgs", "users")
    ]
    rows += [
        (f"file.{n}", "absent")
        for n in (
            "categories",
            "classResources",
            "courseResources",
            "demographics",
            "lineItems",
            "resources",
            "results",
        )
    ]
    (d / "manifest.csv").write_text("propertyName,value\n" + "".join(f"{k},{v}\n" for k, v in rows))


CHILD = """
import sys, time
from rollbook.oneroster.validate import read_bundle
t = time.perf_counter()
r = read_bundle(sys.argv[1])
dt = time.perf_counter() - t
m = r.model
print(f"wall {dt:.1f} s; users {m.users.num_rows:,}; enrollments {m.enrollments.num_rows:,}; "
      f"user_roles {m.user_roles.num_rows:,}; guardian_links {m.guardian_links.num_rows:,}; "
      f"findings {r.findings.counts()}; can sync {r.can_sync}")
"""


def main() -> None:
    """Build (if needed) and validate the bundle; print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/rb-bench"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--shuffled", type=Path, default=None)
    args = ap.parse_args()
    if not (args.dir / "manifest.csv").exists():
        t = time.perf_counter()
        make_bundle(args.dir, args.students)
        print(f"bundle written in {time.perf_counter() - t:.1f} s")
    bundle = args.dir
    if args.shuffled is not None:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_sync import reordered

        bundle = reordered(args.dir, args.shuffled)
    size = sum(p.stat().st_size for p in bundle.iterdir())
    print(f"bundle {bundle}: {size / 1e9:.2f} GB")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", CHILD, str(bundle)], check=True)
    wall = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    peak = usage.ru_maxrss / 1024
    print(
        f"total wall (incl. interpreter start) {wall:.1f} s; CPU {cpu:.1f} s; "
        f"peak RSS {peak:,.0f} MiB"
    )
    if not args.keep:
        shutil.rmtree(args.dir)


if __name__ == "__main__":
    main()
