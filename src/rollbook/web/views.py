"""Pages of the web app. Every page but sign-in needs a signed-in administrator."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from rollbook.directory.models import AdministratorRole, District, Status


class SignInView(auth_views.LoginView):
    template_name = "web/sign_in.html"
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "web/password_change.html"
    success_url = "/"


def _districts_for(account) -> list[District]:
    """Districts where the account holds an active administrator role."""
    ids = AdministratorRole.objects.filter(account=account, status=Status.ACTIVE).values("district")
    return list(
        District.objects.filter(pk__in=ids).annotate(
            students_active=Count("students", filter=Q(students__status=Status.ACTIVE)),
            students_archived=Count("students", filter=Q(students__status=Status.ARCHIVED)),
        )
    )


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html", {"districts": _districts_for(request.user)})
