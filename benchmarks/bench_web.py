"""Benchmark the Directory's list pages: server time per request, median of N.

Usage:
    ROLLBOOK_HOME=/tmp/rbL/home-check python benchmarks/bench_web.py [--district 1] [--n 15]

Runs against an existing database (for the issue's figure: one holding the L benchmark's first
sync, e.g. the one bench_check.py leaves in DIR/home-check with --keep). Signs in as a district
administrator (created once, ``bench-admin@example.org``) and requests each page through
Django's test client, which measures the server's work without a network in between.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--district", type=int, default=1)
    ap.add_argument("--n", type=int, default=15)
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
    }
    results = {}
    for name, url in pages.items():
        times = []
        for _ in range(args.n):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        results[name] = {
            "url": url,
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
        }
        print(json.dumps({name: results[name]}), flush=True)
    students = Student.objects.filter(district=district).count()
    print(json.dumps({"students": students, "results": results}, indent=2))


if __name__ == "__main__":
    main()
