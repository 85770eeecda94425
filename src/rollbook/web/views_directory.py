"""The Directory tab: students, guardians and staff lists, and actions on students."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rollbook.directory import actions
from rollbook.directory.audit import Actor, plural
from rollbook.directory.models import GuardianLink, Status, Student

from . import jobs
from .listing import (
    ACCOUNT_ORDER,
    AccountFilter,
    FilterError,
    Page,
    Place,
    StudentFilter,
    keyset_page,
)
from .models import Job
from .views_places import place_of

COUNT_CAP = 10_000
SEARCH_COUNT_CAP = 1_000
INLINE_LIMIT = 20_000  # larger selections are changed by a worker thread (web/jobs.py)
MAX_IDS = 1000  # rows checked one by one (a page is 50); more is "all matching the filter"

ACTIONS = {
    "archive": "Archive",
    "unarchive": "Unarchive",
    "remove_guardians": "Remove guardians",
    "merge": "Merge",
}


def _template(request: HttpRequest, name: str) -> str:
    """An htmx request (filter, page) gets the results only; a normal one the whole page."""
    if request.htmx and not request.htmx.boosted:
        return f"web/directory/_{name}_results.html"
    return f"web/directory/{name}.html"


def _unusable_filter(request: HttpRequest, place: Place, form, which: str, problem: str):
    """A list whose filter cannot be applied: empty, with the problem and how to clear it.
    A whole page is a 400; an htmx fragment is a 200, since htmx does not show a 400."""
    name = "students" if which == "students" else "accounts"
    return render(
        request,
        _template(request, name),
        {
            "place": place,
            "tab": "directory",
            "list": which,
            "form": form,
            "page": Page([]),
            "total": 0,
            "problem": problem,
            "clear_url": place.urls[which],
        },
        status=200 if request.htmx and not request.htmx.boosted else 400,
    )


@login_required
def students(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    place = place_of(request, kind, pk)
    form = StudentFilter(request.GET, place)
    problem = form.problem()
    if problem:
        return _unusable_filter(request, place, form, "students", problem)
    matching = form.apply(place.students())
    page = keyset_page(matching, form.order(), request.GET)
    ids = [s.pk for s in page.rows]
    guardian_counts = dict(
        GuardianLink.objects.filter(student__in=ids, status=Status.ACTIVE)
        .values("student")
        .annotate(n=Count("pk"))
        .values_list("student", "n")
    )
    schools = dict(place.schools().values_list("pk", "name"))
    for student in page.rows:
        student.guardian_count = guardian_counts.get(student.pk, 0)
        student.school_name = schools.get(student.school_id, "")
    return render(
        request,
        _template(request, "students"),
        {
            "place": place,
            "tab": "directory",
            "list": "students",
            "form": form,
            "page": page,
            "total": matching.count(),
            "filter_qs": form.querystring(),
            "hidden": form.hidden(),
            "actions": ACTIONS,
        },
    )


def _accounts(request: HttpRequest, pk: int, kind: str, which: str) -> HttpResponse:
    place = place_of(request, kind, pk)
    form = AccountFilter(request.GET, place)
    problem = form.problem()
    if problem:
        return _unusable_filter(request, place, form, which, problem)
    matching = form.apply(which)
    page = keyset_page(matching, ACCOUNT_ORDER, request.GET)
    # Counting every guardian of a large district means probing millions of accounts: the
    # count stops at COUNT_CAP ("more than 10,000"), which a page of 50 never needs to pass;
    # for a search by name words that the index found in many names, at SEARCH_COUNT_CAP
    # ("more than 1,000": each account found is tested for the list, 0.7 s for 10,000 on
    # PostgreSQL at a million students). The few accounts a search found are counted
    # already (AccountFilter.members).
    cap = COUNT_CAP
    if form.members is not None:
        total = len(form.members)
    else:
        if form.cleaned_data.get("q"):
            cap = SEARCH_COUNT_CAP
        total = matching.order_by()[: cap + 1].count()
    return render(
        request,
        _template(request, "accounts"),
        {
            "place": place,
            "tab": "directory",
            "list": which,
            "form": form,
            "page": page,
            "total": min(total, cap),
            "more": total > cap,
            "filter_qs": form.querystring(),
        },
    )


@login_required
def guardians(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    return _accounts(request, pk, kind, "guardians")


@login_required
def staff(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    return _accounts(request, pk, kind, "staff")


def selection(request: HttpRequest, place: Place) -> tuple[QuerySet[Student], StudentFilter, list]:
    """The students an action applies to, always inside the place and the scope: the checked
    rows, or every student matching the filter (re-evaluated here, on the server). A filter
    that cannot be applied raises FilterError: it is never dropped, so never widened."""
    form = StudentFilter(request.POST, place)
    form.check()
    if request.POST.get("selection") == "all":
        return form.apply(place.students()), form, []
    ids = sorted({int(v) for v in request.POST.getlist("ids") if v.isdigit()})
    if len(ids) > MAX_IDS:
        raise ValueError
    return place.students().filter(pk__in=ids), form, ids


def _refuse(request: HttpRequest, place: Place, name: str, problem: str) -> HttpResponse:
    """An action whose filter cannot be applied: refused, nothing changed."""
    return render(
        request,
        "web/directory/confirm.html",
        {
            "place": place,
            "tab": "directory",
            "action": name,
            "label": ACTIONS[name],
            "problem": problem,
            "back": place.urls["students"],
        },
        status=400,
    )


def _applies_to(form: StudentFilter, every: bool, selected: int) -> str:
    """What the confirmation says it acts on: the filter in words, or the ticked rows."""
    if every:
        return f"{form.describe()}, {plural(selected, 'student')}"
    return f"the {plural(selected, 'student')} you ticked"


@login_required
@require_POST
def action(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    place = place_of(request, kind, pk)
    name = request.POST.get("action", "")
    if name not in ACTIONS:
        return HttpResponseBadRequest("Unknown action.")
    try:
        chosen, form, ids = selection(request, place)
    except FilterError:
        return _refuse(request, place, name, StudentFilter(request.POST, place).problem())
    except ValueError:
        return HttpResponseBadRequest(f"Select at most {MAX_IDS} rows, or all matching.")
    back = reverse(place.url_name("students"), args=[place.obj.pk])
    if form.querystring():
        back += "?" + form.querystring()
    if request.POST.get("selection") != "all" and not ids:
        messages.warning(request, "Select at least one student first.")
        return redirect(back)
    if name == "merge":
        if request.POST.get("selection") == "all":
            messages.warning(request, "Choose the students to merge one by one.")
            return redirect(back)
        chosen_ids = ",".join(str(i) for i in chosen.values_list("pk", flat=True))
        merge = reverse(place.url_name("merge"), args=[place.obj.pk])
        return redirect(f"{merge}?{urlencode({'students': chosen_ids})}")
    if request.POST.get("confirm") != "yes":
        preview = {
            "archive": actions.preview_archive,
            "unarchive": actions.preview_unarchive,
            "remove_guardians": actions.preview_remove_guardians,
        }[name](chosen)
        return render(
            request,
            "web/directory/confirm.html",
            {
                "place": place,
                "tab": "directory",
                "action": name,
                "label": ACTIONS[name],
                "counts": preview,
                "applies_to": _applies_to(
                    form, request.POST.get("selection") == "all", preview.selected
                ),
                "hidden": form.hidden(),
                "ids": ids,
                "all": request.POST.get("selection") == "all",
                "back": back,
            },
        )
    actor = Actor(account=request.user)
    if chosen.count() > INLINE_LIMIT:
        # A large selection (a district of a million) is done by a worker thread; the page
        # follows it, then comes back here with the same report.
        job = Job(
            district=place.district,
            school=place.obj if kind == "school" else None,
            kind=Job.Kind.ACTION,
            params={
                "action": name,
                "place_kind": kind,
                "place_id": place.obj.pk,
                "filter": {k: request.POST.get(k, "") for k in StudentFilter.FIELDS},
                "all": request.POST.get("selection") == "all",
                "ids": ids,
                "back": back,
            },
            created_by=request.user,
        )
        jobs.start(job, action_work)
        return redirect(reverse(place.url_name("job"), args=[place.obj.pk, job.pk]))
    messages.success(request, _run_action(name, chosen, actor))
    return redirect(back)


def action_work(job: Job, progress) -> dict:
    """A Directory action over a large selection (run by a worker): the selection is made
    again from the job's place, filter and ids, through its author's scope."""
    from django.http import QueryDict

    from .listing import Place
    from .scope import Scope

    p = job.params
    place = Place.get(Scope.for_account(job.created_by), p["place_kind"], p["place_id"])
    data = QueryDict(mutable=True)
    data.update({k: v for k, v in p["filter"].items() if v})
    if p["all"]:
        chosen = StudentFilter(data, place).apply(place.students())
    else:
        chosen = place.students().filter(pk__in=p["ids"])
    from rollbook.sync.progress import Progress, job_listener

    progress("Working…")
    tracked = Progress(job_listener(progress))
    message = _run_action(p["action"], chosen, Actor(account=job.created_by), tracked)
    return {"message": message, "back": p["back"]}


def _run_action(name: str, chosen, actor: Actor, progress=None) -> str:
    """Do the action, all or nothing; the report for the administrator."""
    if name == "remove_guardians":
        done = actions.remove_guardians(chosen, actor, progress=progress)
        left = plural(done.deactivated, "account")
        return (
            f"Removed {plural(done.links, 'guardian link')} from "
            f"{plural(done.students, 'student')}; {left} left with no role "
            f"{'was' if done.deactivated == 1 else 'were'} deactivated."
        )
    run = actions.archive_students if name == "archive" else actions.unarchive_students
    done = run(chosen, actor, progress=progress)
    verb = "Archived" if name == "archive" else "Unarchived"
    already = f"; {done.unchanged:,} already {'was' if done.unchanged == 1 else 'were'}."
    return f"{verb} {plural(done.changed, 'student')}" + (already if done.unchanged else ".")
