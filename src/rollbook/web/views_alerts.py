"""Alerts about a district's scheduled syncs (``rollbook.work.alerts``): the banner on the
district's page, and dismissing one (district administrators only, audited)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from rollbook.errors import UserError
from rollbook.work import alerts

from .models import Alert
from .views_sync import actor_of, district_place


@login_required
def dismiss(request: HttpRequest, pk: int, kind: str, alert_id: int) -> HttpResponse:
    """A confirmation (GET), then the alert leaves the district's page (POST, confirmed)."""
    place = district_place(request, kind, pk)
    alert = get_object_or_404(
        Alert.objects.select_related("source", "run"), pk=alert_id, district=place.district
    )
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            alerts.dismiss(alert, actor_of(request))
        except UserError as exc:
            messages.info(request, str(exc).capitalize() + ".")
        else:
            messages.success(request, "Alert dismissed.")
        return redirect(place.urls["overview"])
    return render(
        request,
        "web/place/alert_dismiss.html",
        {"place": place, "tab": "overview", "alert": alert},
    )
