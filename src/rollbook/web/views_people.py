"""A student's page and an account's page, both seen through the request's scope."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from rollbook.directory.models import AuditEntry
from rollbook.merge.guardians import kept_by_hand
from rollbook.sync.models import SyncRun, SyncSource

from .scope import scope_of

SHOWN = 200  # history records and audit entries shown on a page, newest first


def _sources(*objects) -> dict[int, SyncSource]:
    ids = {o.source_id for o in objects if o.source_id}
    return SyncSource.objects.in_bulk(ids)


def _runs(*objects) -> dict[int, SyncRun]:
    ids = {o.last_run_id for o in objects if o.last_run_id}
    return SyncRun.objects.in_bulk(ids)


def _provenance(objects, sources, runs) -> None:
    for obj in objects:
        obj.source_obj = sources.get(obj.source_id)
        obj.run_obj = runs.get(obj.last_run_id)


@login_required
def student(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_of(request)
    student = scope.get_student(pk)
    links = list(
        student.guardian_links.select_related("account").order_by(
            "status", "account__family_name", "account__given_name", "pk"
        )
    )
    memberships = list(
        student.memberships.select_related("school_class").order_by(
            "status", "school_class__title", "pk"
        )
    )
    everything = [student, *links, *memberships]
    sources, runs = _sources(*everything), _runs(*everything)
    _provenance(everything, sources, runs)
    kept = kept_by_hand(student, links)  # links the SIS does not list, kept by an administrator
    for link in links:
        link.kept = kept.get(link.pk)
    history = student.history.select_related("author").order_by("-occurred_at", "-pk")
    trail = AuditEntry.objects.filter(
        Q(object_type="student", object_id=student.pk)
        | Q(object_type="guardianlink", object_id__in=[link.pk for link in links])
        | Q(object_type="classmembership", object_id__in=[m.pk for m in memberships])
    ).select_related("actor", "run")
    return render(
        request,
        "web/student.html",
        {
            "student": student,
            "links": links,
            "memberships": memberships,
            "history": history[:SHOWN],
            "history_total": history.count(),
            "trail": trail[:SHOWN],
        },
    )


@login_required
def account(request: HttpRequest, pk: int) -> HttpResponse:
    """Every role of the account that lies inside the scope, and where each came from."""
    scope = scope_of(request)
    account = scope.get_account(pk)
    staff = list(
        scope.staff_roles().filter(account=account).select_related("school").order_by("status")
    )
    links = list(
        scope.guardian_links()
        .filter(account=account)
        .select_related("student", "student__school")
        .order_by("status", "student__family_name", "student__given_name")
    )
    memberships = list(
        scope.memberships()
        .filter(account=account)
        .select_related("school_class", "school_class__school")
        .order_by("status", "school_class__title")
    )
    admin_roles = scope.administrator_roles().filter(account=account)
    everything = [*staff, *links, *memberships]
    _provenance(everything, _sources(*everything), _runs(*everything))
    trail = AuditEntry.objects.filter(
        object_type="account", object_id=account.pk, district__in=scope.district_ids
    ).select_related("actor", "run")
    return render(
        request,
        "web/account.html",
        {
            "account": account,
            "staff": staff,
            "links": links,
            "memberships": memberships,
            "admin_roles": admin_roles.select_related("district", "school"),
            "trail": trail[:SHOWN],
        },
    )
