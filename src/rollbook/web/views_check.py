"""The Self-check tab: run the check on a bundle, read its report, and apply its fixes
(archive the students entered before the sync; give existing guardians the SIS's contact
details), each after a confirmation with exact counts. District administrators only: the check
looks at the whole district."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from rollbook.directory import actions
from rollbook.directory.models import Status, Student
from rollbook.errors import UserError
from rollbook.readiness.report import CODES, SECTIONS, Report
from rollbook.readiness.services import guardian_near_matches, update_guardian_contacts

from .models import Job
from .views_places import place_of
from .views_sync import BundleForm, _csv_response, actor_of, district_place

ROWS_SHOWN = 20
PAGE = 100


def report_path(job: Job) -> Path:
    return Path(settings.ROLLBOOK_HOME) / "checks" / f"job-{job.pk}.json"


def save_report(job: Job, report: Report) -> dict:
    path = report_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json(), encoding="utf-8")
    return {
        "can_sync": report.can_sync,
        "counts": {f.code: f.count for f in report.findings},
        "prediction": report.prediction,
    }


def _load(job: Job) -> dict:
    path = report_path(job)
    if job.status != Job.Status.DONE or not path.exists():
        raise Http404
    return json.loads(path.read_text(encoding="utf-8"))


def _check_job(place, job_id: int) -> Job:
    return get_object_or_404(Job, pk=job_id, district=place.district, kind=Job.Kind.CHECK)


@login_required
def self_check_tab(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    place = place_of(request, kind, pk)
    manages = kind == "district" and place.scope.administers_district(place.district.pk)
    return render(
        request,
        "web/check/tab.html",
        {
            "place": place,
            "tab": "self-check",
            "manages": manages,
            "form": BundleForm(district_id=place.district.pk),
            "checks": Job.objects.filter(district=place.district, kind=Job.Kind.CHECK)[:10]
            if manages
            else [],
        },
    )


@login_required
def check_report(request: HttpRequest, pk: int, kind: str, job_id: int) -> HttpResponse:
    place = district_place(request, kind, pk)
    job = _check_job(place, job_id)
    data = _load(job)
    code = request.GET.get("code")
    sections = []
    for key, title in SECTIONS.items():
        findings = []
        for f in data["sections"][key]["findings"]:
            rows = f["rows"]
            if code == f["code"]:
                page = max(1, int(request.GET.get("page", "1") or 1))
                shown = rows[(page - 1) * PAGE : page * PAGE]
                f["page"], f["more"] = page, len(rows) > page * PAGE
            else:
                shown = rows[:ROWS_SHOWN]
            f["shown"] = shown
            f["columns"] = list(shown[0]) if shown else []
            f["hidden"] = len(rows) - len(shown)
            findings.append(f)
        sections.append({"key": key, "title": title, "findings": findings})
    counts = {f["code"]: f for s in data["sections"].values() for f in s["findings"]}
    existing = counts.get("CHECK-EXISTING-STUDENTS")
    near = counts.get("CHECK-GUARDIAN-NEAR-MATCH")
    return render(
        request,
        "web/check/report.html",
        {
            "place": place,
            "tab": "self-check",
            "job": job,
            "report": data,
            "sections": sections,
            "prediction": [(k.replace("_", " "), v) for k, v in data["prediction"].items()],
            "to_archive": existing["count"] if existing else 0,
            "fixable": sum(1 for r in near["rows"] if r["fixable"]) if near else 0,
            "code": code,
        },
    )


@login_required
def check_csv(request: HttpRequest, pk: int, kind: str, job_id: int, code: str) -> HttpResponse:
    place = district_place(request, kind, pk)
    data = _load(_check_job(place, job_id))
    for section in data["sections"].values():
        for f in section["findings"]:
            if f["code"] == code:
                rows = f["rows"]
                columns = list(dict.fromkeys(k for row in rows for k in row)) or ["count"]
                return _csv_response(f"{code.lower()}.csv", columns, rows or [{"count": 0}])
    if code in CODES:  # a finding the report did not need: nothing to list
        return _csv_response(f"{code.lower()}.csv", ["count"], [{"count": 0}])
    raise Http404


def _existing_students(place, data: dict):
    """The students the report listed, still active and entered by hand (the fix re-checks)."""
    ids = [
        r["student_id"]
        for s in data["sections"].values()
        for f in s["findings"]
        if f["code"] == "CHECK-EXISTING-STUDENTS"
        for r in f["rows"]
    ]
    return place.students().filter(pk__in=ids, origin="manual", status=Status.ACTIVE)


@login_required
def check_fix(request: HttpRequest, pk: int, kind: str, job_id: int, fix: str) -> HttpResponse:
    """A fix offered by the report: a confirmation with exact counts, then the change."""
    place = district_place(request, kind, pk)
    job = _check_job(place, job_id)
    data = _load(job)
    back = reverse("web:district-check-report", args=[pk, job.pk])
    confirmed = request.method == "POST" and request.POST.get("confirm") == "yes"
    if fix == "archive":
        chosen = _existing_students(place, data)
        if confirmed:
            done = actions.archive_students(
                Student.objects.filter(pk__in=list(chosen.values_list("pk", flat=True))),
                actor_of(request),
                note="archived before the first sync (self-check)",
            )
            messages.success(
                request,
                f"Archived {done.changed} student{'s' * (done.changed != 1)} entered before the "
                "sync. Run the self-check again to see the new prediction.",
            )
            return redirect(back)
        counts = actions.preview_archive(chosen)
        return render(
            request,
            "web/check/confirm.html",
            {
                "place": place,
                "tab": "self-check",
                "job": job,
                "fix": fix,
                "count": counts.changed,
                "back": back,
            },
        )
    if fix == "contacts":
        account = request.POST.get("account") or request.GET.get("account")
        accounts = [int(account)] if account and account.isdigit() else None
        try:
            rows = [
                r
                for r in guardian_near_matches(place.district, job.bundle)
                if (r["account_id"] in accounts if accounts else r["fixable"])
            ]
            if confirmed:
                done = update_guardian_contacts(
                    place.district, job.bundle, actor_of(request), accounts=accounts
                )
                messages.success(
                    request,
                    f"Updated the contact details of {len(done)} guardian account"
                    f"{'s' * (len(done) != 1)} to the SIS values. Run the self-check again to "
                    "see the new prediction.",
                )
                return redirect(back)
        except UserError as exc:
            messages.error(request, str(exc))
            return redirect(back)
        changes = [
            (r["account_id"], name.replace("_", " "), r[f"{name}_current"], r[f"{name}_sis"])
            for r in rows
            for name in ("given_name", "family_name", "email", "phone")
            if r[f"{name}_current"] != r[f"{name}_sis"]
        ]
        return render(
            request,
            "web/check/confirm.html",
            {
                "place": place,
                "tab": "self-check",
                "job": job,
                "fix": fix,
                "count": len(rows),
                "changes": changes,
                "account": accounts[0] if accounts else "",
                "back": back,
            },
        )
    raise Http404
