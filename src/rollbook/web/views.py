"""Sign-in, sign-out, password change and the home page. Every page but sign-in needs a
signed-in account, and shows only what its administrator roles cover (see scope.py)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from rollbook.directory.models import Status

from .scope import scope_of


class SignInView(auth_views.LoginView):
    """Django's sign-in, which passes the request to ``authenticate``: django-axes needs it to
    count failures by email and client address, and refuses a locked-out try before any
    password is hashed (web/throttling.py shows the locked-out page)."""

    template_name = "web/sign_in.html"
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "web/password_change.html"
    success_url = "/"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    districts = scope.districts().annotate(
        students_active=Count("students", filter=Q(students__status=Status.ACTIVE)),
        students_archived=Count("students", filter=Q(students__status=Status.ARCHIVED)),
    )
    # Schools given one by one (a school administrator's), outside the districts held whole.
    schools = (
        scope.schools()
        .exclude(district__in=scope.full_districts)
        .select_related("district")
        .order_by("district__name", "name")
    )
    return render(request, "web/home.html", {"districts": districts, "schools": schools})
