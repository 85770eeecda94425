"""A student's page and an account's page, both seen through the request's scope."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from rollbook.directory.audit import Actor
from rollbook.directory.models import (
    Account,
    AdministratorRole,
    AuditEntry,
    District,
    Status,
    Student,
    StudentStatus,
)
from rollbook.errors import UserError
from rollbook.merge.guardians import kept_by_hand
from rollbook.sync.models import SyncRun, SyncSource

from . import lineage, throttling
from .scope import Scope, scope_of

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
    merged_into = _merged_into(scope, student)
    with timezone.override(student.district.time_zone):
        said, created = lineage.student_lineage(
            scope, student, merged_into[0].display_name if merged_into else ""
        )
        entries = AuditEntry.objects.filter(
            Q(object_type="student", object_id=student.pk)
            | Q(object_type="guardianlink", object_id__in=[link.pk for link in links])
            | Q(object_type="classmembership", object_id__in=[m.pk for m in memberships])
            | _entry(created)
        )
        objects = {
            ("student", student.pk): "",
            **{("guardianlink", k.pk): f"Guardian link to {k.account.name}" for k in links},
            **{("classmembership", m.pk): f"Class {m.school_class.title}" for m in memberships},
        }
        trail = lineage.trail(scope, entries, objects, SHOWN)
    return render(
        request,
        "web/student.html",
        {
            "student": student,
            "links": links,
            "memberships": memberships,
            "history": history[:SHOWN],
            "history_total": history.count(),
            "lineage": said,
            "merged_into": merged_into,
            "trail": trail,
            "time_zone": student.district.time_zone,
        },
    )


def _merged_into(scope: Scope, student: Student) -> tuple[Student, object] | None:
    """The student a merged record was merged into, and the merge — when the reader may see
    that student (a merge across schools names no one outside a school administrator's)."""
    if student.status != StudentStatus.MERGED:
        return None
    merge = student.merges_as_old.filter(status="applied").order_by("-pk").first()
    if merge is None:
        return None
    survivor = scope.students().filter(pk=merge.survivor_id).first()
    return (survivor, merge) if survivor is not None else None


@login_required
def account(request: HttpRequest, pk: int) -> HttpResponse:
    """Every role of the account that lies inside the scope, and where each came from; a POST
    unlocks its sign-in (see :func:`_unlock_sign_in`)."""
    scope = scope_of(request)
    account = scope.get_account(pk)
    if request.method == "POST":
        return _unlock_sign_in(request, scope, account)
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
    roles = list(admin_roles.select_related("district", "school"))
    zone = _time_zone(scope, account)
    with timezone.override(zone):
        said, created = lineage.account_lineage(scope, account)
        # Sign-in lockouts and unlocks from the command line belong to no district: shown to
        # whoever may see the account.
        entries = AuditEntry.objects.filter(
            Q(
                Q(district__in=scope.district_ids)
                | Q(district__isnull=True, action__in=throttling.ACTIONS),
                object_type="account",
                object_id=account.pk,
            )
            | Q(object_type="administratorrole", object_id__in=[r.pk for r in roles])
            | _entry(created)
        )
        objects = {("account", account.pk): "", ("account", None): ""}
        trail = lineage.trail(scope, entries, objects, SHOWN)
    return render(
        request,
        "web/account.html",
        {
            "account": account,
            "staff": staff,
            "links": links,
            "memberships": memberships,
            "admin_roles": roles,
            "lineage": said,
            "trail": trail,
            "time_zone": zone,
            "lockouts": throttling.lockouts(account.email) if account.email else [],
            "may_unlock": _may_unlock(scope, account),
        },
    )


def _entry(e: AuditEntry | None) -> Q:
    """That entry too (the run's creation of the record), or nothing more."""
    return Q(pk=e.pk) if e is not None else Q(pk__in=[])


def _time_zone(scope: Scope, account: Account) -> str:
    """The time zone the account's page is read in: its district's when the reader sees it
    through one district, else UTC."""
    zones = set(
        District.objects.filter(pk__in=scope.district_ids).values_list("time_zone", flat=True)
    )
    return zones.pop() if len(zones) == 1 else "UTC"


def _may_unlock(scope: Scope, account: Account) -> bool:
    """Whether the scope covers every active administrator role of the account: a school
    administrator never unlocks a district administrator, nor one of another school."""
    roles = AdministratorRole.objects.filter(account=account, status=Status.ACTIVE)
    return all(
        scope.administers_district(district) if school is None else school in scope.school_ids
        for district, school in roles.values_list("district_id", "school_id")
    )


def _unlock_sign_in(request: HttpRequest, scope: Scope, account: Account) -> HttpResponse:
    """Lift the account's sign-in lockout (audited, in the district the account is seen
    through); anyone the scope does not allow gets the same 404 as for a stranger."""
    if request.POST.get("action") != "unlock-sign-in" or not _may_unlock(scope, account):
        raise Http404
    if not account.email or not throttling.lockouts(account.email):
        messages.info(request, f"{account.name}'s sign-in is not locked out.")
        return redirect("web:account", pk=account.pk)
    districts = sorted(
        {
            *scope.administrator_roles().filter(account=account).values_list("district", flat=True),
            *scope.staff_roles().filter(account=account).values_list("school__district", flat=True),
            *scope.guardian_links()
            .filter(account=account)
            .values_list("student__district", flat=True),
            *scope.memberships()
            .filter(account=account)
            .values_list("school_class__school__district", flat=True),
        }
    )
    try:
        throttling.unlock(
            account.email,
            Actor(account=request.user),
            district=districts[0] if districts else None,
        )
    except UserError:  # the lockout ended in the meantime
        messages.info(request, f"{account.name}'s sign-in is not locked out.")
    else:
        messages.success(request, f"Sign-in unlocked: {account.name} can sign in again now.")
    return redirect("web:account", pk=account.pk)
