"""Sign-in, sign-out, password change and the home page. Every page but sign-in needs a
signed-in account, and shows only what its administrator roles cover (see scope.py)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from rollbook.directory import counts as district_counts

from .scope import scope_of
from .views_places import SCHOOLS_SHOWN


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
    # A district's counts are maintained (directory/counts.py): counting a million students
    # here made the first page after signing in take 404 ms at L, and listing its 1,519
    # schools 96 KB. The first schools by name; all of them on the Schools tab.
    districts = list(scope.districts().annotate(school_total=Count("schools")))
    for district in districts:
        counted = district_counts.current(district.pk)
        district.students_active = counted["students_active"]
        district.students_archived = counted["students_archived"]
        district.first_schools = list(district.schools.order_by("name", "pk")[:SCHOOLS_SHOWN])
    # Schools given one by one (a school administrator's), outside the districts held whole.
    schools = (
        scope.schools()
        .exclude(district__in=scope.full_districts)
        .select_related("district")
        .order_by("district__name", "name")
    )
    return render(request, "web/home.html", {"districts": districts, "schools": schools})
