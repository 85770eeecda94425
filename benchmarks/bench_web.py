"""Benchmark the Directory's list pages: server time per request, median of N.

Usage:
    ROLLBOOK_HOME=/tmp/rbL/home-check python benchmarks/bench_web.py [--district 1] [--n 15]

Runs against an existing database (for the issue's figure: one holding the L benchmark's first
sync, e.g. the one bench_check.py leaves in DIR/home-check with --keep). Signs in as a district
administrator (created once, ``bench-admin@example.org``) and requests each page through
Django's test client, which measures the server's work without a network in between. Each
page's median wall time and median CPU time (user + system of this process, which is the
server's work plus the test client's) are reported, and on PostgreSQL the median CPU time of
the connection's backend process (read from ``/proc``: the server must run on this machine;
10 ms ticks; parallel query workers not included); ``--only TEXT`` requests only the pages
whose name holds TEXT (``--only search``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--district", type=int, default=1)
    ap.add_argument("--n", type=int, default=15)
    ap.add_argument("--only", default="", help="only the pages whose name holds this text")
    args = ap.parse_args()

    from rollbook.project import setup

    setup()
    from django.conf import settings
    from django.test import Client

    from rollbook.directory.audit import Actor
    from rollbook.directory.models import Account, District, School, Student
    from rollbook.directory.services import create_administrator

    settings.ALLOWED_HOSTS = ["*"]
    district = District.objects.get(pk=args.district)
    admin = Account.objects.filter(email="bench-admin@example.org").first()
    if admin is None:
        admin = create_administrator(
            district, "bench-admin@example.org", "a-long-bench-passphrase", Actor(label="bench")
        )
    school = School.objects.filter(district=district).order_by("pk").first()
    grade = (
        Student.objects.filter(district=district).exclude(grade="").values_list("grade", flat=True)
    ).first()
    client = Client()
    client.force_login(admin)
    base = f"/districts/{district.pk}/directory/"
    found = re.search(r"after=([A-Za-z0-9_-]+)", client.get(base).content.decode())
    after = found.group(1) if found else ""
    pages = {
        "district students, page 1": base,
        "district students, a later page": f"{base}?after={after}" if after else base,
        "district students, one grade": f"{base}?grade={grade}",
        "district students, sorted by grade": f"{base}?sort=grade",
        "district students, archived": f"{base}?status=archived",
        "school students, page 1": f"/schools/{school.pk}/directory/",
        "district guardians, page 1": f"/districts/{district.pk}/directory/guardians/",
        "district staff, page 1": f"/districts/{district.pk}/directory/staff/",
        "district students, find a school": f"{base}?find_school=lin",
        "home (a district administrator's first page)": "/",
        "district overview": f"/districts/{district.pk}/",
        "school overview": f"/schools/{school.pk}/",
        "district schools tab, page 1": f"/districts/{district.pk}/schools/",
        "district schools tab, find": f"/districts/{district.pk}/schools/?find=lin",
        **searches(district, base),
    }
    pages = {name: url for name, url in pages.items() if args.only in name}
    results = {}
    for name, url in pages.items():
        times, cpu, db_cpu = [], [], []
        for _ in range(args.n):
            started, cpu_started = time.perf_counter(), time.process_time()
            db_started = backend_cpu()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            db_cpu.append((backend_cpu() - db_started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        results[name] = {
            "url": url,
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "median_cpu_ms": round(statistics.median(cpu), 1),
            # PostgreSQL: its backend's CPU for the request (another process); SQLite: 0.
            "median_db_cpu_ms": round(statistics.median(db_cpu), 1),
            "html_kb": round(len(response.content) / 1024, 1),
        }
        print(json.dumps({name: results[name]}), flush=True)
    students = Student.objects.filter(district=district).count()
    print(json.dumps({"students": students, "results": results}, indent=2))


def backend_cpu() -> float:
    """CPU seconds (user + system) of this connection's PostgreSQL backend so far, read from
    /proc (the server on this machine); 0 on SQLite, whose work is this process's."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def searches(district, base: str) -> dict[str, str]:
    """Issue 18's searches, with values taken from the database: a student by name, number
    and sourcedId, by a guardian's email and phone; a guardian by name, email, phone and
    sourcedId; a staff member by name, email and sourcedId; the same at a school; and a page
    deep in the list (the cursor of the 900,000th student in name order)."""
    from urllib.parse import quote

    from rollbook.directory.models import Account, GuardianLink, StaffRole, Student
    from rollbook.web.listing import encode_cursor

    students = Student.objects.filter(district=district).order_by("pk")
    one = students[min(499, students.count() - 1)]
    link = GuardianLink.objects.filter(student__district=district, status="active").exclude(
        account__email=""
    )
    guardian = Account.objects.get(pk=link.order_by("pk")[500].account_id)
    guardian_sid = link.order_by("pk")[500].person_sourced_id
    phoned = link.exclude(account__phone="").order_by("pk")[700]
    phone = phoned.account.phone
    role = StaffRole.objects.filter(school__district=district, status="active").order_by("pk")
    role = role[min(300, role.count() - 1)]
    staff = role.account
    g = f"/districts/{district.pk}/directory/guardians/"
    st = f"/districts/{district.pk}/directory/staff/"
    school = f"/schools/{one.school_id}/directory/"
    out = {
        "students: search by family name": f"{base}?q={quote(one.family_name)}",
        "students: search by given and family name": (
            f"{base}?q={quote(one.given_name + ' ' + one.family_name)}"
        ),
        "students: search by student number": f"{base}?q={quote(one.sis_identifier)}",
        "students: search by sourcedId": f"{base}?q={quote(one.sourced_id)}",
        "students: search by a guardian's email": f"{base}?q={quote(guardian.email)}",
        "students: search by a guardian's phone": f"{base}?q={quote(phone)}",
        "students: search by a 2-letter word": f"{base}?q={quote(one.family_name[:2])}",
        "students: search by a common 3-letter word": f"{base}?q={quote(one.given_name[:3])}",
        "guardians: search by a common 3-letter word": f"{g}?q={quote(one.given_name[:3])}",
        "school students: search by family name": f"{school}?q={quote(one.family_name)}",
        "school students: search by sourcedId": f"{school}?q={quote(one.sourced_id)}",
        "guardians: search by name": f"{g}?q={quote(guardian.family_name)}",
        "guardians: search by given and family name": (
            f"{g}?q={quote(guardian.given_name + ' ' + guardian.family_name)}"
        ),
        "guardians: search by email": f"{g}?q={quote(guardian.email)}",
        "guardians: search by phone": f"{g}?q={quote(phone)}",
        "guardians: search by sourcedId": f"{g}?q={quote(guardian_sid or '')}",
        "school guardians: search by name": (
            f"/schools/{phoned.student.school_id}/directory/guardians/"
            f"?q={quote(phoned.account.family_name)}"
        ),
        "staff: search by name": f"{st}?q={quote(staff.family_name)}",
        "staff: search by email": f"{st}?q={quote(staff.email or '')}",
        "staff: search by sourcedId": f"{st}?q={quote(role.person_sourced_id or '')}",
    }
    order = ("family_name", "given_name", "pk")
    n = students.count()
    if n > 1000:
        row = list(students.order_by(*order).values_list(*order)[int(n * 0.9) : int(n * 0.9) + 1])
        if row:
            out["students: a page 90 % down the list"] = f"{base}?after={encode_cursor(row[0])}"
    return out


if __name__ == "__main__":
    main()
