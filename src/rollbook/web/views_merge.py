"""The Merge tab: old students (entered before the first sync) and the synced students they
may be — buckets with their evidence, a preview of each merge, the ready bucket confirmed at
once, and undo. Everything is within the administrator's scope (``place.students()``)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from rollbook.directory.audit import Actor
from rollbook.errors import UserError
from rollbook.merge import matching, ready, services
from rollbook.merge.models import StudentMerge

from . import jobs
from .models import Job
from .views_places import place_of
from .views_sync import actor_of

BUCKETS = [
    ("ready", "Ready: one strong candidate, same school, names alike"),
    ("needs_look", "Needs a look: a strong candidate, with something to check"),
    ("ambiguous", "Ambiguous: several close candidates"),
    ("weak", "Weak: only weak evidence"),
    ("no_match", "No match"),
]
SHOWN = 100
ROWS = 500  # rows of each list on the ready bucket's confirmation
RULES = {"strong": matching.STRONG, "close": matching.CLOSE, "names": matching.NAMES_ALIKE}


def _url(place, name: str, *args) -> str:
    return reverse(f"web:{place.kind}-{name}", args=[place.obj.pk, *args])


def _urls(place) -> dict[str, str]:
    return {
        "merge": _url(place, "merge"),
        "ready": _url(place, "merge-ready"),
        "preview": _url(place, "merge-preview"),
    }


def _suggestions_path(job: Job) -> Path:
    return Path(settings.ROLLBOOK_HOME) / "merge" / f"job-{job.pk}.json"


def _jobs_of(place, kind=Job.Kind.SUGGEST):
    school = place.obj if place.kind == "school" else None
    return Job.objects.filter(district=place.district, kind=kind, school=school)


def _latest(place, request) -> tuple[Job | None, list[dict]]:
    job = _jobs_of(place).filter(created_by=request.user).first()
    if job is not None:
        # The job as it is now, once: its status and its suggestions must be of the same
        # moment, or a search that ends in between shows "done" with empty buckets for good.
        job = jobs.refresh(job)
    if job is None or job.status != Job.Status.DONE or not _suggestions_path(job).exists():
        return job, []
    found = json.loads(_suggestions_path(job).read_text(encoding="utf-8"))
    # Only students still in scope and not merged since.
    allowed = set(
        place.students()
        .exclude(status=services.MERGED)
        .filter(pk__in=[s["old_student"]["id"] for s in found])
        .values_list("pk", flat=True)
    )
    return job, [s for s in found if s["old_student"]["id"] in allowed]


def suggest_work(job: Job, progress) -> dict:
    """Merge suggestions for the place named in the job (run by a worker)."""
    from rollbook.directory.models import Student

    place_kind, place_id = job.params["place_kind"], job.params["place_id"]
    progress("Finding candidates…")
    students = Student.objects.filter(
        **({"district_id": place_id} if place_kind == "district" else {"school_id": place_id})
    )
    found = [services.suggestion_record(s) for s in services.suggest(students)]
    path = _suggestions_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found, ensure_ascii=False), encoding="utf-8")
    counts: dict[str, int] = {}
    for s in found:
        counts[s["bucket"]] = counts.get(s["bucket"], 0) + 1
    return {"counts": counts}


@login_required
def merge_tab(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    place = place_of(request, kind, pk)
    chosen = [int(p) for p in request.GET.get("students", "").split(",") if p.strip().isdigit()]
    if chosen:
        pair = list(place.students().filter(pk__in=chosen[:3]).values_list("pk", "origin"))
        olds = [p for p, origin in pair if origin == "manual"]
        news = [p for p, origin in pair if origin == "synced"]
        if len(chosen) == 2 and len(olds) == 1 and len(news) == 1:
            return redirect(f"{_url(place, 'merge-preview')}?old={olds[0]}&new={news[0]}")
        messages.error(
            request,
            "To merge by hand, select exactly two students in the Directory: the one entered "
            "before the sync and the synced one it is.",
        )
    if request.method == "POST":
        job = Job(
            district=place.district,
            school=place.obj if kind == "school" else None,
            kind=Job.Kind.SUGGEST,
            params={"place_kind": kind, "place_id": place.obj.pk},
            created_by=request.user,
        )
        jobs.start(job, suggest_work)
        return redirect(_url(place, "merge"))
    job, found = _latest(place, request)
    buckets = []
    for key, label in BUCKETS:
        items = [s for s in found if s["bucket"] == key]
        buckets.append({"key": key, "label": label, "count": len(items), "items": items[:SHOWN]})
    merges = StudentMerge.objects.filter(
        old_student__in=place.students().values("pk")
    ).select_related("old_student", "survivor")[:50]
    merging = _jobs_of(place, Job.Kind.MERGE).filter(created_by=request.user).first()
    if merging is not None and merging.finished:
        merging = None
    return render(
        request,
        "web/merge/tab.html",
        {
            "place": place,
            "tab": "merge",
            "urls": _urls(place),
            "job": job,
            "buckets": buckets,
            "ready": sum(1 for s in found if s["bucket"] == "ready"),
            "merges": merges,
            "merging": merging,
            "merging_url": merging and reverse(place.url_name("job"), args=[pk, merging.pk]),
            "rules": RULES,
        },
    )


def _ints(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.strip().isdigit()]


def _kept_per_pair(values: list[str]) -> dict[int, set[int]]:
    """Ticked boxes of the ready bucket's confirmation: "old student id:account id"."""
    kept: dict[int, set[int]] = {}
    for value in values:
        old, _, account = value.partition(":")
        if old.isdigit() and account.isdigit():
            kept.setdefault(int(old), set()).add(int(account))
    return kept


def _pair(request) -> tuple[int, int]:
    source = request.POST if request.method == "POST" else request.GET
    try:
        return int(source.get("old", "")), int(source.get("new", ""))
    except ValueError:
        raise Http404 from None


@login_required
def merge_preview(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """What one merge moves and what it leaves; merging after the administrator confirms."""
    place = place_of(request, kind, pk)
    old_id, new_id = _pair(request)
    students = place.students()
    try:
        preview = services.preview(students, old_id, new_id)
    except services.MergeRefused as exc:
        messages.error(request, str(exc))
        return redirect(_url(place, "merge"))
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        # Guardians the SIS does not list are kept only when ticked (the default: dropped).
        keep = _ints(request.POST.getlist("keep_guardian"))
        try:
            record = services.merge(
                students, old_id, new_id, actor_of(request), keep_guardians=keep
            )
        except UserError as exc:
            messages.error(request, str(exc))
            return redirect(_url(place, "merge"))
        counts = {k: len(v) for k, v in record.moved.items() if isinstance(v, list)}
        dropped = counts["links_archived"] - counts.get("links_folded", 0)
        messages.success(
            request,
            f"Merged {preview.old.given_name} {preview.old.family_name} into the synced "
            f"student (merge {record.pk}): {counts['history']} history records and "
            f"{counts['memberships_moved']} class memberships moved; "
            f"{counts['links_moved']} guardian links kept by hand, {dropped} dropped. It can be "
            "undone from the Merge tab.",
        )
        return redirect(reverse("web:student", args=[new_id]))
    return render(
        request,
        "web/merge/preview.html",
        {
            "place": place,
            "tab": "merge",
            "urls": _urls(place),
            "p": preview,
            "counts": preview.counts(),
            "evidence": services.evidence(students, [(old_id, new_id)]).get((old_id, new_id)),
        },
    )


def _ready_pairs(found: list[dict]) -> list[tuple[int, int]]:
    return [
        (s["old_student"]["id"], s["candidates"][0]["student"]["id"])
        for s in found
        if s["bucket"] == "ready"
    ]


@login_required
def merge_ready(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """Merge every pair of the ready bucket at once, after a confirmation with the counts, the
    pairs worth a look and the guardian choice; the merging is done by a worker and followed
    on the job page."""
    place = place_of(request, kind, pk)
    search, found = _latest(place, request)
    pairs = _ready_pairs(found)
    students = place.students()
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        if search is None or request.POST.get("search") != str(search.pk):
            messages.error(
                request,
                "The candidates were found again since that confirmation: check the pairs "
                "and confirm again.",
            )
            return redirect(_url(place, "merge-ready"))
        left_out = set(_ints(request.POST.getlist("leave_out")))
        ok, _, _ = ready.mergeable(students, [p for p in pairs if p[0] not in left_out])
        kept = _kept_per_pair(request.POST.getlist("keep_guardian"))
        job = Job(
            district=place.district,
            school=place.obj if kind == "school" else None,
            kind=Job.Kind.MERGE,
            params={
                "place_kind": kind,
                "place_id": place.obj.pk,
                "pairs": ok,
                "keep": {str(old): sorted(accounts) for old, accounts in kept.items()},
                "search": search.pk,
            },
            created_by=request.user,
        )
        jobs.start(job, merge_work)
        return redirect(reverse(place.url_name("job"), args=[place.obj.pk, job.pk]))
    check = ready.check_ready(students, pairs)
    return render(
        request,
        "web/merge/confirm_ready.html",
        {
            "place": place,
            "tab": "merge",
            "urls": _urls(place),
            "search": search,
            "check": check,
            "pairs": len(check.pairs),
            "totals": check.totals,
            "rules": RULES,
            # A page of a few hundred rows; the rest are counted (and merged as said).
            "exceptional": check.exceptional[:ROWS],
            "exceptional_more": max(0, len(check.exceptional) - ROWS),
            "unlisted": check.unlisted[:ROWS],
            "unlisted_more": sum(
                p.counts["guardian_links_only_on_old"] for p in check.unlisted[ROWS:]
            ),
            "held": check.held[:ROWS],
            "held_more": max(0, len(check.held) - ROWS),
        },
    )


def merge_work(job: Job, progress) -> dict:
    """The ready pairs an administrator confirmed, merged by a worker, one transaction per
    pair; the students are those of the job's place, seen through its author's scope now."""
    from rollbook.sync.progress import Progress, job_listener

    from .listing import Place
    from .scope import Scope

    p = job.params
    try:
        place = Place.get(Scope.for_account(job.created_by), p["place_kind"], p["place_id"])
    except Http404:
        raise UserError(
            "You no longer administer the place of these merges: nothing was merged."
        ) from None
    students = place.students()
    pairs = [(old, new) for old, new in p["pairs"]]
    keep = {int(old): set(accounts) for old, accounts in p["keep"].items()}
    progress("Merging…", 0, len(pairs))
    results = services.merge_many(
        students,
        pairs,
        Actor(account=job.created_by),
        keep_guardians=keep,
        progress=Progress(job_listener(progress)),
    )
    progress("Merged", len(results), len(pairs))  # a new stage: written, however soon
    failed = [r for r in results if r.error]
    merged = len(results) - len(failed)
    names = ready.names_of(students, {pk for r in failed[:20] for pk in (r.old_id, r.survivor_id)})
    errors = [
        f"{names.get(r.old_id, r.old_id)} → {names.get(r.survivor_id, r.survivor_id)}: "
        f"not merged, {r.error}"
        for r in failed[:20]
    ]
    if len(failed) > 20:
        errors.append(f"… and {len(failed) - 20} more pairs not merged.")
    return {
        "message": f"Merged {merged} of {len(pairs)} pair{'' if len(pairs) == 1 else 's'}; "
        "every merge can be undone from the Merge tab.",
        "errors": errors,
        "merged": merged,
        "failed": len(failed),
        "back": _url(place, "merge"),
    }


@login_required
def merge_undo(request: HttpRequest, pk: int, kind: str, merge_id: int) -> HttpResponse:
    place = place_of(request, kind, pk)
    students = place.students()
    record = (
        StudentMerge.objects.filter(pk=merge_id, old_student__in=students.values("pk"))
        .select_related("old_student", "survivor")
        .first()
    )
    if record is None or not students.filter(pk=record.survivor_id).exists():
        raise Http404
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            services.undo(students, merge_id, actor_of(request))
        except UserError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Merge {merge_id} undone: both students are as before.")
        return redirect(_url(place, "merge"))
    return render(
        request,
        "web/merge/confirm_undo.html",
        {
            "place": place,
            "tab": "merge",
            "urls": _urls(place),
            "record": record,
            "blockers": services.undo_blockers(record),
            "counts": {k: len(v) for k, v in record.moved.items() if isinstance(v, list)},
        },
    )
