"""People and places of a district, for its district administrators: the administrators
(invite, deactivate, reactivate, a new password link) and the schools (add, rename); and the
page where an invited or reset administrator chooses a password from the emailed link.

School administrators get a 404 on all of it but the password page: they never manage
administrators (``directory/admins.py`` has the rules, the audit and the emails).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy

from rollbook.directory import admins
from rollbook.directory.models import (
    Account,
    AdministratorRole,
    AuditEntry,
    School,
    Status,
    Student,
)
from rollbook.directory.services import add_school, rename_school
from rollbook.errors import UserError
from rollbook.sync.models import SyncRun

from .listing import MAX_SEARCH, Page, keyset_page
from .views_sync import actor_of, district_place

CHANGES = {
    "deactivate": "Deactivate",
    "reactivate": "Reactivate",
    "password": "Send a new password link",
}
CHANGES_SHOWN = 20


class InviteForm(forms.Form):
    given_name = forms.CharField(max_length=255, label="Given name")
    family_name = forms.CharField(max_length=255, label="Family name")
    email = forms.EmailField(
        max_length=320, label="Email", help_text="The invitation goes here; they sign in with it."
    )
    where = forms.ChoiceField(label="Administrator of")

    def __init__(self, *args, schools, **kwargs):
        super().__init__(*args, **kwargs)
        self.schools = {str(s.pk): s for s in schools}
        self.fields["where"].choices = [("district", "The whole district")] + [
            (pk, f"{school.name} (school administrator)") for pk, school in self.schools.items()
        ]
        self.fields["email"].widget.attrs["autocomplete"] = "off"

    def school(self) -> School | None:
        return self.schools.get(self.cleaned_data["where"])


class SchoolForm(forms.Form):
    name = forms.CharField(max_length=255, label="School name")
    identifier = forms.CharField(
        max_length=255,
        required=False,
        label="Identifier (optional)",
        help_text="For instance the school's NCES id or its code in the SIS.",
    )


class RenameForm(forms.Form):
    name = forms.CharField(max_length=255, label="New name")


# --- administrators ---------------------------------------------------------------------------


@login_required
def administrators(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """The district's administrators and the invitation form (a POST invites)."""
    place = district_place(request, kind, pk)
    district = place.district
    schools = School.objects.filter(district=district, status=Status.ACTIVE).order_by("name")
    form = InviteForm(request.POST or None, schools=schools)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = admins.invite(
                district,
                email=form.cleaned_data["email"],
                given_name=form.cleaned_data["given_name"],
                family_name=form.cleaned_data["family_name"],
                school=form.school(),
                actor=actor_of(request),
            )
        except UserError as exc:
            form.add_error(None, _sentence(exc))
        else:
            _send_invitation(request, invitation)
            return redirect(place.url_name("administrators"), pk=district.pk)
    roles = list(admins.administrators(district))
    return render(
        request,
        "web/admins/administrators.html",
        {
            "place": place,
            "tab": "administrators",
            "roles": roles,
            "active_count": sum(r.status == Status.ACTIVE for r in roles),
            "form": form,
            "link_days": admins.link_days(),
            "changes": changes(district),
        },
        status=400 if form.errors else 200,
    )


def _send_invitation(request: HttpRequest, invitation: admins.Invitation) -> None:
    role = invitation.role
    subject, body = admins.invitation_email(invitation, request.user.name)
    who = f"{role.account.name} is now {admins.title(role)}"
    try:
        admins.send(role.account, subject, body)
    except UserError as exc:
        messages.warning(request, f"{who}, but {exc}.")
    else:
        if invitation.link:
            messages.success(
                request,
                f"{who}. The invitation went to {role.account.email}, with a link to choose "
                "a password.",
            )
        else:
            messages.success(
                request,
                f"{who}. An email told {role.account.email}; they sign in with the password "
                "they already have.",
            )


@login_required
def administrator_change(
    request: HttpRequest, pk: int, kind: str, role_id: int, change: str
) -> HttpResponse:
    """A confirmation (GET), then the change (POST, confirmed): deactivate, reactivate, or
    email a new password link."""
    place = district_place(request, kind, pk)
    if change not in CHANGES:
        raise Http404
    role = admins.role_of(place.district, role_id)
    if role is None:
        raise Http404
    back = reverse(place.url_name("administrators"), args=[place.district.pk])
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            _change(request, role, change)
        except UserError as exc:
            messages.warning(request, _sentence(exc))
        return redirect(back)
    return render(
        request,
        "web/admins/confirm.html",
        {
            "place": place,
            "tab": "administrators",
            "role": role,
            "change": change,
            "label": CHANGES[change],
            "heading": (
                f"Send {role.account.name} a new password link"
                if change == "password"
                else f"{CHANGES[change]} {role.account.name}"
            ),
            "title": admins.title(role),
            "is_self": role.account_id == request.user.pk,
            "link_days": admins.link_days(),
            "back": back,
        },
    )


def _change(request: HttpRequest, role: AdministratorRole, change: str) -> None:
    actor, name = actor_of(request), role.account.name
    if change == "deactivate":
        admins.deactivate(role, actor)
        messages.success(
            request,
            f"{name} is no longer {admins.title(role)}; their account and any other role "
            "they have are kept. You can reactivate them at any time.",
        )
    elif change == "reactivate":
        admins.reactivate(role, actor)
        messages.success(request, f"{name} is {admins.title(role)} again.")
    else:
        link = admins.password_reset(role, actor)
        admins.send(role.account, *admins.reset_email(role.account, link))
        messages.success(request, f"A link to choose a new password went to {role.account.email}.")


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# --- the history of administrators and schools -----------------------------------------------

ROLE_WORDS = {
    "grant": "made {who} {title}",
    admins.INVITE: "invited {who} as {title}",
    admins.DEACTIVATE: "deactivated {who} as {title}",
    admins.REACTIVATE: "reactivated {who} as {title}",
}
ACCOUNT_WORDS = {
    admins.SEND_LINK: "sent {who} a link to choose a new password",
    admins.SET_PASSWORD: "chose a password",
}


def changes(district) -> list[dict]:
    """The district's last changes to its administrators, in sentences."""
    entries = list(
        AuditEntry.objects.filter(district=district)
        .filter(
            Q(object_type="administratorrole", action__in=list(ROLE_WORDS))
            | Q(object_type="account", action__in=list(ACCOUNT_WORDS))
        )
        .select_related("actor")[:CHANGES_SHOWN]
    )
    roles = AdministratorRole.objects.select_related("account", "school", "district").in_bulk(
        [e.object_id for e in entries if e.object_type == "administratorrole"]
    )
    accounts = {r.account_id: r.account for r in roles.values()}
    missing = {e.object_id for e in entries if e.object_type == "account"} - set(accounts)
    accounts |= Account.objects.in_bulk(missing)
    rows = []
    for e in entries:
        by = e.actor.name if e.actor_id else (f"Sync run {e.run_id}" if e.run_id else e.actor_label)
        if e.object_type == "administratorrole":
            role = roles.get(e.object_id)
            if role is None:
                continue
            what = ROLE_WORDS[e.action].format(who=role.account.name, title=admins.title(role))
        else:
            account = accounts.get(e.object_id)
            if account is None:
                continue
            what = ACCOUNT_WORDS[e.action].format(who=account.name)
        rows.append({"at": e.at, "by": by or "Someone", "what": what})
    return rows


# --- schools ---------------------------------------------------------------------------------


def _first_synced(district) -> bool:
    return SyncRun.objects.filter(source__district=district, status=SyncRun.Status.APPLIED).exists()


SCHOOLS_PAGE = 50


def _schools_page(request: HttpRequest, district) -> tuple[Page, str, int]:
    """A page of the district's schools by name (keyset), those whose name or identifier
    holds ``?find=`` when given, each with its active students and administrators — counted
    for the page's schools only, through the (school, status, …) indexes: a district of
    1,500 schools was one 880 ms, 363 KB page."""
    find = " ".join(request.GET.get("find", "").split())[:MAX_SEARCH]
    schools = School.objects.filter(district=district)
    if find:
        schools = schools.filter(Q(name__icontains=find) | Q(identifier__icontains=find))
    page = keyset_page(schools, ("name", "pk"), request.GET, size=SCHOOLS_PAGE)
    ids = [school.pk for school in page.rows]
    students = dict(
        Student.objects.filter(school__in=ids, status=Status.ACTIVE)
        .values_list("school")
        .annotate(n=Count("pk"))
    )
    admins_of = dict(
        AdministratorRole.objects.filter(school__in=ids, status=Status.ACTIVE)
        .values_list("school")
        .annotate(n=Count("account", distinct=True))
    )
    for school in page.rows:
        school.students_active = students.get(school.pk, 0)
        school.admins_active = admins_of.get(school.pk, 0)
    return page, find, schools.count()


@login_required
def schools(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """The district's schools and the form to add one (a POST adds it)."""
    place = district_place(request, kind, pk)
    district = place.district
    form = SchoolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            school = add_school(
                district,
                form.cleaned_data["name"],
                actor_of(request),
                identifier=form.cleaned_data["identifier"],
            )
        except UserError as exc:
            form.add_error("name", _sentence(exc))
        else:
            messages.success(request, f"{school.name} is added to {district.name}.")
            return redirect(place.url_name("schools"), pk=district.pk)
    listed, find, total = _schools_page(request, district)
    return render(
        request,
        "web/admins/schools.html",
        {
            "place": place,
            "tab": "schools",
            "page": listed,
            "schools": listed.rows,
            "find": find,
            "total": total,
            "page_size": SCHOOLS_PAGE,
            "form": form,
            "synced": _first_synced(district),
        },
        status=400 if form.errors else 200,
    )


@login_required
def school_rename(request: HttpRequest, pk: int, kind: str, school_id: int) -> HttpResponse:
    """Rename a school entered by hand (a school from the SIS: the page says why not)."""
    place = district_place(request, kind, pk)
    school = get_object_or_404(School, pk=school_id, district=place.district)
    form = RenameForm(request.POST or None, initial={"name": school.name})
    if request.method == "POST" and not school.is_synced and form.is_valid():
        old = school.name
        try:
            rename_school(place.district, school.pk, form.cleaned_data["name"], actor_of(request))
        except UserError as exc:
            form.add_error("name", _sentence(exc))
        else:
            school.refresh_from_db()
            messages.success(request, f"{old} is now named {school.name}.")
            return redirect(place.url_name("schools"), pk=place.district.pk)
    return render(
        request,
        "web/admins/rename.html",
        {
            "place": place,
            "tab": "schools",
            "school": school,
            "form": form,
            "synced": _first_synced(place.district),
        },
        status=400 if form.errors else 200,
    )


# --- choosing a password from an emailed link ------------------------------------------------


class PasswordSetView(auth_views.PasswordResetConfirmView):
    """Django's password-reset confirmation, for active administrators only: a link sent
    before the person was deactivated no longer works. The password chosen is audited."""

    template_name = "web/admins/password_set.html"
    success_url = reverse_lazy("web:sign-in")
    post_reset_login = False

    def get_user(self, uidb64):
        account = super().get_user(uidb64)
        if account is None or not account.is_active:
            return None
        if not AdministratorRole.objects.filter(account=account, status=Status.ACTIVE).exists():
            return None
        return account

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            admins.password_chosen(form.user)
        messages.success(
            self.request,
            "Your password is set. Sign in with your email address and your new password.",
        )
        return response
