"""REST sources on the Sync tab (district administrators only): add or change one, and start
its work — test the connection, make a plan, sync now, run the self-check — each a queued job
(``jobs.py``) through the same services as the command line (``sync/rest.py``).

The secret is write-only: its field is always rendered empty (an empty field keeps the secret
there is), never echoed back after an error, and never part of a page, a job or the audit.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from rollbook.errors import UserError
from rollbook.sync import credentials
from rollbook.sync.models import SyncSource

from . import jobs
from .models import Job
from .views_sync import actor_of, district_place, tracking

VERSIONS = [("1.2", "OneRoster 1.2"), ("1.1", "OneRoster 1.1")]


class RestSourceForm(forms.Form):
    name = forms.CharField(max_length=200, initial="SIS", label="Name of the source")
    url = forms.URLField(
        max_length=1000,
        label="Base URL (with the vendor's path, e.g. https://sis.example/ims/oneroster/v1p1)",
        assume_scheme="https",
    )
    version = forms.ChoiceField(choices=VERSIONS, label="OneRoster version")
    auth = forms.ChoiceField(choices=SyncSource.Auth.choices, label="Sign-in")
    token_url = forms.URLField(
        required=False, max_length=1000, label="Token URL (OAuth 2)", assume_scheme="https"
    )
    client_id = forms.CharField(
        required=False, max_length=500, label="Client id (OAuth 2) or consumer key (OAuth 1.0a)"
    )
    scopes = forms.CharField(
        required=False,
        max_length=2000,
        label="Scopes (OAuth 2, space-separated; empty: the version's rostering scopes)",
    )
    secret = forms.CharField(
        required=False,
        max_length=5000,
        label="Secret (client secret, consumer secret or token)",
        # Never rendered back: not the stored secret, not what was typed before an error.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    reconcile_days = forms.IntegerField(
        min_value=1,
        max_value=365,
        initial=7,
        label="Fetch everything, and archive what disappeared, every (days)",
    )

    def settings(self) -> credentials.RestSettings:
        data = self.cleaned_data
        return credentials.RestSettings(
            data["url"],
            data["version"],
            data["auth"],
            data.get("token_url") or "",
            data.get("client_id") or "",
            (data.get("scopes") or "").split(),
            data["reconcile_days"],
        )


def _initial(source: SyncSource) -> dict:
    return {
        "name": source.name,
        "url": source.rest_url,
        "version": source.rest_version,
        "auth": source.auth,
        "token_url": source.token_url,
        "client_id": source.client_id,
        "scopes": " ".join(source.scopes),
        "reconcile_days": source.reconcile_days,
    }


def _source_of(place, source_id: int) -> SyncSource:
    return get_object_or_404(SyncSource, pk=source_id, district=place.district)


@login_required
def rest_source_new(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """Add a REST source."""
    place = district_place(request, kind, pk)
    form = RestSourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            source = credentials.save_rest_source(
                place.district,
                form.cleaned_data["name"],
                form.settings(),
                form.cleaned_data.get("secret") or None,
                actor_of(request),
            )
        except UserError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, f"Source {source.name} added; its secret is kept encrypted. Test it."
            )
            return redirect(reverse("web:district-source-rest", args=[pk, source.pk]))
    return render(
        request,
        "web/sync/rest_source.html",
        {"place": place, "tab": "sync", "form": form, "source": None},
    )


@login_required
def rest_source(request: HttpRequest, pk: int, kind: str, source_id: int) -> HttpResponse:
    """A REST source: its settings (the secret write-only), its last connection test, and the
    buttons that start its work. For a CSV source, the form turns it into a REST source (it
    keeps what it synced: the SIS's sourcedIds are the same over REST)."""
    place = district_place(request, kind, pk)
    source = _source_of(place, source_id)
    initial = _initial(source) if source.is_rest else {"name": source.name, "reconcile_days": 7}
    form = RestSourceForm(request.POST or None, initial=initial)
    form.fields["name"].disabled = True
    form.fields["secret"].label += " — leave empty to keep the one there is"
    if request.method == "POST" and form.is_valid():
        try:
            credentials.save_rest_source(
                place.district,
                source.name,
                form.settings(),
                form.cleaned_data.get("secret") or None,
                actor_of(request),
                replace=True,
            )
        except UserError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved the sign-in of source {source.name}.")
            return redirect(reverse("web:district-source-rest", args=[pk, source.pk]))
    tests = Job.objects.filter(
        district=place.district, kind=Job.Kind.CONNECTION, params__source=source.pk
    )
    return render(
        request,
        "web/sync/rest_source.html",
        {
            "place": place,
            "tab": "sync",
            "form": form,
            "source": source,
            "connection": tests.first(),
        },
    )


WORK = {
    "test": Job.Kind.CONNECTION,
    "plan": Job.Kind.PLAN,
    "sync": Job.Kind.SYNC,
    "check": Job.Kind.CHECK,
}


@login_required
def rest_source_start(request: HttpRequest, pk: int, kind: str, source_id: int) -> HttpResponse:
    """Queue a REST source's work: ``do`` = test, plan, sync or check (a GET shows the
    source's page)."""
    place = district_place(request, kind, pk)
    source = _source_of(place, source_id)
    if request.method != "POST":
        return rest_source(request, pk, kind, source_id)
    what = request.POST.get("do", "")
    if what not in WORK:
        raise Http404
    if not source.is_rest:
        messages.error(request, f"Source {source.name} reads CSV bundles; give it a REST sign-in.")
        return redirect(reverse("web:district-source-rest", args=[pk, source.pk]))
    job = Job(
        district=place.district,
        kind=WORK[what],
        bundle=f"REST source {source.name}",
        params={"source": source.pk},
        created_by=request.user,
    )
    work = {
        "test": connection_work,
        "plan": plan_work,
        "sync": sync_work,
        "check": check_work,
    }[what]
    jobs.start(job, work)
    return redirect(reverse(place.url_name("job"), args=[place.obj.pk, job.pk]))


# --- the work, in a worker ----------------------------------------------------------------------


def _source(job: Job) -> SyncSource:
    return SyncSource.objects.get(pk=job.params["source"], district=job.district)


def connection_work(job: Job, progress) -> dict:
    from rollbook.sync import rest

    progress("Signing in and reading one page of each collection")
    report = rest.check_connection(_source(job))
    return {"ok": report.ok, "lines": rest.connection_lines(report)}


def plan_work(job: Job, progress) -> dict:
    from rollbook.directory.audit import Actor
    from rollbook.sync import services

    run = services.sync_source(
        _source(job), Actor(account=job.created_by), dry_run=True, progress=tracking(job, progress)
    )
    return {"run": run.pk, "status": run.status}


def sync_work(job: Job, progress) -> dict:
    from rollbook.directory.audit import Actor
    from rollbook.sync import services

    run = services.sync_source(
        _source(job), Actor(account=job.created_by), progress=tracking(job, progress)
    )
    return {"run": run.pk, "status": run.status}


def check_work(job: Job, progress) -> dict:
    """The self-check on a REST source: a full fetch, rehearsed (``readiness.run_check`` with
    a ``RestExtract``); the fetch is kept, so the check's fixes read what it read."""
    from rollbook.readiness.services import run_check
    from rollbook.sync import rest

    from .views_check import save_report

    source = _source(job)
    extract = rest.extract_for(source, full=True)
    job.bundle = extract.location  # where the fixes (guardian contacts) read from
    Job.objects.filter(pk=job.pk).update(bundle=job.bundle)
    report = run_check(
        job.district,
        extract.location,
        source_name=source.name,
        extract=extract,
        progress=tracking(job, progress),
    )
    return save_report(job, report)
