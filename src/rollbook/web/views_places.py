"""A district's or a school's overview (the other tabs: views_directory, views_sync,
views_check, views_merge)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from rollbook.directory import counts as district_counts
from rollbook.directory.models import GuardianLink, StaffRole, Status, Student
from rollbook.sync.models import SyncRun
from rollbook.work import alerts

from .listing import Place
from .scope import scope_of

RUNS_SHOWN = 10
SCHOOLS_SHOWN = 20  # the district overview's first schools; all of them: the Schools tab


def place_of(request: HttpRequest, kind: str, pk: int) -> Place:
    """The district or school of the URL, inside the request's scope (or a 404)."""
    return Place.get(scope_of(request), kind, pk)


def counts(place: Place) -> dict[str, int]:
    """The place's counts: a district's maintained (directory/counts.py: exact, without
    counting a million rows per request), a school's counted now (a school's rows only)."""
    if place.kind == "district":
        return district_counts.current(place.district.pk)
    schools = place.schools()
    students = place.students().aggregate(
        active=Count("pk", filter=Q(status=Status.ACTIVE)),
        archived=Count("pk", filter=Q(status=Status.ARCHIVED)),
    )
    return {
        "students_active": students["active"],
        "students_archived": students["archived"],
        "guardians": GuardianLink.objects.filter(
            status=Status.ACTIVE, student__in=place.students().values("pk")
        )
        .values("account")
        .distinct()
        .count(),
        "staff": StaffRole.objects.filter(status=Status.ACTIVE, school__in=schools)
        .values("account")
        .distinct()
        .count(),
        "classes": place.classes().filter(status=Status.ACTIVE).count(),
    }


def runs(place: Place):
    """The district's sync runs (read only): the last ones, and those held for approval."""
    all_runs = SyncRun.objects.filter(source__district=place.district).select_related(
        "source", "started_by"
    )
    shown = list(all_runs[:RUNS_SHOWN])
    if any(run.status in WORKING for run in shown):
        # One whose process is gone is failed first: a page never shows work nobody does.
        from rollbook.work.heartbeat import reap

        reap()
        shown = list(all_runs[:RUNS_SHOWN])
    return shown, list(all_runs.filter(status=SyncRun.Status.HELD))


WORKING = (SyncRun.Status.PLANNING, SyncRun.Status.APPLYING)


@login_required
def overview(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    place = place_of(request, kind, pk)
    last_runs, held = runs(place)
    schools, school_total = None, 0
    if kind == "district":
        # The first schools by name, each counted through the (school, status, …) index; the
        # others are on the Schools tab (1,519 rows inline made the page 178 KB).
        school_total = place.schools().count()
        schools = list(place.schools().order_by("name", "pk")[:SCHOOLS_SHOWN])
        active = dict(
            Student.objects.filter(school__in=[s.pk for s in schools], status=Status.ACTIVE)
            .values("school")
            .annotate(n=Count("pk"))
            .values_list("school", "n")
        )
        for school in schools:
            school.students_active = active.get(school.pk, 0)
    classes = None
    if kind == "school":
        classes = (
            place.classes()
            .filter(status=Status.ACTIVE)
            .annotate(
                students=Count(
                    "memberships",
                    filter=Q(
                        memberships__student__isnull=False,
                        memberships__status=Status.ACTIVE,
                    ),
                )
            )
            .order_by("title", "pk")
        )
    return render(
        request,
        "web/place/overview.html",
        {
            "place": place,
            "tab": "overview",
            "counts": counts(place),
            "schools": schools,
            "school_total": school_total,
            "schools_url": reverse("web:district-schools", args=[place.obj.pk])
            if kind == "district"
            else "",
            "classes": classes,
            "runs": last_runs,
            "held": held,
            # The district's page only: its administrators can deal with them.
            "alerts": alerts.current(place.district) if kind == "district" else [],
        },
    )
