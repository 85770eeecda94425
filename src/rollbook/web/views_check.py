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
from rollbook.readiness.wording import (
    SEVERITY,
    SUBSETS,
    counted,
    plural,
    severity_of,
    to_fix,
    verdict,
)
from rollbook.readiness.wording import prediction as prediction_words

from .check_tables import Links, csv_rows, page_number, subset_of, table
from .models import Job
from .views_places import place_of
from .views_sync import BundleForm, _csv_response, actor_of, district_place

#: The contact details the fix changes, in words.
FIELDS = {
    "given_name": "given name",
    "family_name": "family name",
    "email": "email",
    "phone": "phone",
}


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
            "checks": [
                (job, _outcome(job))
                for job in Job.objects.filter(district=place.district, kind=Job.Kind.CHECK)[:10]
            ]
            if manages
            else [],
        },
    )


def _outcome(job: Job) -> str:
    """A finished self-check in a few words: ready, or how many things to fix first."""
    result = job.result or {}
    if job.status != Job.Status.DONE or "counts" not in result:
        return ""
    if result.get("can_sync") is False:
        return "the bundle has errors: the sync cannot run"
    n = sum(1 for code in result["counts"] if severity_of(code) in ("warning", "error"))
    return f"{plural(n, 'thing')} to fix first" if n else "ready for the first sync"


def _things_to_fix(data: dict, findings: dict[str, dict]) -> list[dict]:
    """The summary's list: what to act on before the first sync, each linking to its finding."""
    things = [
        {"code": f["code"], "title": f["title"], "counted": counted(f["code"], f["count"])}
        for f in to_fix(list(findings.values()))
    ]
    if not data["can_sync"]:
        reader = findings.get("CHECK-READER-FINDINGS")
        things.insert(
            0,
            {
                "code": "CHECK-READER-FINDINGS",
                "title": "The bundle has errors: the sync cannot run",
                "counted": counted("CHECK-READER-FINDINGS", reader["count"]) if reader else "",
            },
        )
    return things


@login_required
def check_report(request: HttpRequest, pk: int, kind: str, job_id: int) -> HttpResponse:
    """The report: a summary of what to fix first, the prediction, then the sections, each
    collapsible, their tables a page at a time (htmx swaps one table; without script the
    link reloads the page with that table's page and its section open)."""
    place = district_place(request, kind, pk)
    job = _check_job(place, job_id)
    data = _load(job)
    links = Links(place.obj.pk, job.pk)
    findings = {f["code"]: f for s in data["sections"].values() for f in s["findings"]}
    wanted = request.GET.get("code", "")
    only = request.GET.get("only", "")
    if only not in findings or SUBSETS.get(only) != wanted:
        only = ""
    sections = []
    for key, title in SECTIONS.items():
        items = []
        for f in data["sections"][key]["findings"]:
            code = f["code"]
            f["counted"] = counted(code, f["count"])
            f["severity_words"] = SEVERITY.get(f["severity"], f["severity"])
            n = len(f["rows"])
            f["download"] = "Download the row (CSV)" if n == 1 else f"Download all {n:,} rows (CSV)"
            parent = subset_of(code, set(findings))
            if parent:
                f["within"] = findings[parent]
            elif f["rows"]:
                shown = findings[only]["rows"] if code == wanted and only else f["rows"]
                f["table"] = table(
                    code,
                    f["title"],
                    shown,
                    page_number(request.GET.get("page")) if code == wanted else 1,
                    links,
                    only=only if code == wanted else "",
                    only_title=findings[only]["title"] if code == wanted and only else "",
                )
                if request.htmx and code == wanted:
                    return render(request, "web/check/_rows.html", {"t": f["table"]})
            items.append(f)
        sections.append(
            {
                "key": key,
                "title": title,
                "findings": items,
                "open": any(f["code"] == wanted for f in items),
                "to_fix": sum(1 for f in items if f["severity"] in ("warning", "error")),
            }
        )
    existing = findings.get("CHECK-EXISTING-STUDENTS")
    near = findings.get("CHECK-GUARDIAN-NEAR-MATCH")
    return render(
        request,
        "web/check/report.html",
        {
            "place": place,
            "tab": "self-check",
            "job": job,
            "report": data,
            "verdict": verdict(data),
            "things": _things_to_fix(data, findings),
            "sections": sections,
            "prediction": prediction_words(data["prediction"]),
            "to_archive": existing["count"] if existing else 0,
            "fixable": sum(1 for r in near["rows"] if r["fixable"]) if near else 0,
        },
    )


@login_required
def check_csv(request: HttpRequest, pk: int, kind: str, job_id: int, code: str) -> HttpResponse:
    """Every row of one finding, headed in words, cells safe for a spreadsheet. (``rollbook
    check --csv`` keeps the report's keys as headings: scripts read those.)"""
    place = district_place(request, kind, pk)
    job = _check_job(place, job_id)
    data = _load(job)
    for section in data["sections"].values():
        for f in section["findings"]:
            if f["code"] == code:
                columns, rows = csv_rows(f["rows"])
                if not rows:
                    columns, rows = ["How many"], [{"How many": f["count"]}]
                return _csv_response(_csv_name(job, code), columns, rows)
    if code in CODES:  # a finding the report did not need: nothing to list
        return _csv_response(_csv_name(job, code), ["How many"], [{"How many": 0}])
    raise Http404


def _csv_name(job: Job, code: str) -> str:
    return f"self-check-{job.pk}-{code.lower().removeprefix('check-')}.csv"


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
            (
                f"{r['given_name_current']} {r['family_name_current']}",
                reverse("web:account", args=[r["account_id"]]),
                FIELDS[name],
                r[f"{name}_current"],
                r[f"{name}_sis"],
            )
            for r in rows
            for name in FIELDS
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
