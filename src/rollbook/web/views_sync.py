"""The Sync tab: a district's sources, bundles, plans (dry runs), approvals and run history.

Syncing is district-wide, so starting, approving and discarding are for the district's
administrators; a school page shows the district's runs read only. Long work (planning,
applying) runs outside the request (``jobs.py``); the page follows its progress.
"""

from __future__ import annotations

import csv

import pyarrow as pa
import pyarrow.compute as pc
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from rollbook.csvsafe import safe_row
from rollbook.directory.audit import Actor
from rollbook.errors import UserError
from rollbook.sync import plan as plans
from rollbook.sync import retention
from rollbook.sync import services as sync
from rollbook.sync.models import RunIssue, SyncRun
from rollbook.sync.progress import Progress, Snapshot, duration, job_listener

from . import bundles, jobs
from .listing import Place
from .models import Job
from .views_places import place_of, runs

ENTITIES = (
    "student",
    "person",
    "staff_role",
    "guardian_link",
    "enrollment",
    "school",
    "class",
    "course",
    "session",
)
ROWS_SHOWN = 100


class BundleForm(forms.Form):
    upload = forms.FileField(
        required=False,
        label="Upload a bundle (.zip)",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )
    folder = forms.CharField(
        required=False,
        max_length=500,
        label="or a folder in this district's import folder",
        widget=forms.TextInput(attrs={"aria-describedby": "folder-help"}),
    )
    previous = forms.ChoiceField(required=False, label="or a bundle uploaded before")

    def __init__(self, *args, district_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.district_id = district_id
        limit = bundles.max_upload_bytes() // (1024 * 1024)
        self.fields["upload"].label = f"Upload a bundle (.zip, up to {limit} MB)"
        self.fields["previous"].choices = [("", "—")] + [
            (p.name, p.name) for p in bundles.previous_uploads(district_id)
        ]

    def folder_help(self) -> str:
        """Where the folders come from, in words: never a server path (web/bundles.py)."""
        where = (
            f"IT puts each SIS export in a folder of this district's import folder (the folder "
            f"named {self.district_id} in Rollbook's import folder, ROLLBOOK_IMPORT_ROOT)"
        )
        if not bundles.district_import_folder(self.district_id).is_dir():
            return where + "; it does not exist yet: ask IT to create it."
        return where + ". Give the export folder's name; ask IT if you do not know it."

    def bundle(self):
        """The bundle chosen, saved or resolved (UserError with the reason otherwise)."""
        data = self.cleaned_data
        chosen = [n for n in ("upload", "folder", "previous") if data.get(n)]
        if len(chosen) != 1:
            raise UserError("choose one bundle: upload a zip, name a folder, or pick an upload")
        if data.get("upload"):
            return bundles.save_upload(self.district_id, data["upload"])
        if data.get("folder"):
            return bundles.resolve_folder(self.district_id, data["folder"])
        return bundles.known_bundle(self.district_id, data["previous"])


def district_place(request: HttpRequest, kind: str, pk: int) -> Place:
    """The place, which must be a district its administrator runs (404 otherwise)."""
    place = place_of(request, kind, pk)
    if kind != "district" or not place.scope.administers_district(place.district.pk):
        raise Http404
    return place


def actor_of(request: HttpRequest) -> Actor:
    return Actor(account=request.user)


def _job_url(place: Place, job: Job) -> str:
    return reverse(place.url_name("job"), args=[place.obj.pk, job.pk])


# --- the tab ----------------------------------------------------------------------------------


@login_required
def sync_tab(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    place = place_of(request, kind, pk)
    manages = kind == "district" and place.scope.administers_district(place.district.pk)
    form = BundleForm(district_id=place.district.pk)
    if request.method == "POST":
        if not manages:
            raise Http404
        form = BundleForm(request.POST, request.FILES, district_id=place.district.pk)
        if form.is_valid():
            try:
                bundle = form.bundle()
            except UserError as exc:
                form.add_error(None, str(exc))
            else:
                kind_ = Job.Kind.CHECK if request.POST.get("do") == "check" else Job.Kind.PLAN
                job = Job(
                    district=place.district,
                    kind=kind_,
                    bundle=str(bundle),
                    created_by=request.user,
                )
                jobs.start(job, check_work if kind_ == Job.Kind.CHECK else plan_work)
                return redirect(_job_url(place, job))
    last_runs, held = runs(place)
    return render(
        request,
        "web/sync/tab.html",
        {
            "place": place,
            "tab": "sync",
            "manages": manages,
            "form": form,
            "runs": last_runs,
            "held": held,
            "sources": place.district.sync_sources.order_by("name") if manages else [],
            "jobs": Job.objects.filter(district=place.district)[:5] if manages else [],
        },
    )


def tracking(job: Job, progress) -> Progress:
    """A ``Progress`` reporting to the job's record (``jobs.execute``'s ``progress``), which
    also notes the job's sync run as soon as there is one: the job page shows its progress."""
    forward = job_listener(progress)
    tracked = Progress()

    def listen(snapshot: Snapshot) -> None:
        if tracked.run is not None and job.params.get("run") != tracked.run.pk:
            job.params = {**job.params, "run": tracked.run.pk}
            Job.objects.filter(pk=job.pk).update(params=job.params)
        forward(snapshot)

    tracked.listener = listen
    return tracked


def plan_work(job: Job, progress) -> dict:
    with bundles.named_in_errors(job.district_id, job.bundle):
        source = sync.get_source(job.district, "SIS", job.bundle)
        run = sync.sync_bundle(
            source,
            job.bundle,
            Actor(account=job.created_by),
            dry_run=True,
            progress=tracking(job, progress),
        )
    return {"run": run.pk, "status": run.status}


def approve_work(job: Job, progress) -> dict:
    run = SyncRun.objects.get(pk=job.params["run"])
    with bundles.named_in_errors(job.district_id, run.bundle):
        run = sync.approve_run(run, Actor(account=job.created_by), tracking(job, progress))
    return {"run": run.pk, "status": run.status}


def check_work(job: Job, progress) -> dict:
    from rollbook.readiness.services import run_check

    from .views_check import save_report

    with bundles.named_in_errors(job.district_id, job.bundle):
        report = run_check(job.district, job.bundle, progress=tracking(job, progress))
    return save_report(job, report)


# --- jobs -------------------------------------------------------------------------------------


@login_required
def job_status(request: HttpRequest, pk: int, kind: str, job_id: int) -> HttpResponse:
    """A job's progress. A district's administrators see its jobs; anyone else, only the
    jobs they started themselves, from a page of their scope."""
    place = place_of(request, kind, pk)
    jobs_here = Job.objects.filter(district=place.district)
    if not place.scope.administers_district(place.district.pk):
        jobs_here = jobs_here.filter(created_by=request.user)
    job = jobs.refresh(get_object_or_404(jobs_here, pk=job_id))
    done_url = None
    if job.status == Job.Status.DONE and job.kind in (Job.Kind.ACTION, Job.Kind.MERGE):
        done_url = job.result.get("back")
        if not request.session.get(f"job-{job.pk}-reported"):
            messages.success(request, job.result.get("message", "Done."))
            for error in job.result.get("errors", []):  # a merge's pairs not merged
                messages.error(request, error)
            request.session[f"job-{job.pk}-reported"] = True
    elif job.status == Job.Status.DONE:
        if job.kind == Job.Kind.CHECK:
            done_url = reverse("web:district-check-report", args=[pk, job.pk])
        elif job.kind == Job.Kind.CONNECTION:  # its report is on the source's page
            done_url = reverse("web:district-source-rest", args=[pk, job.params["source"]])
        elif "run" in job.result:
            done_url = reverse("web:district-run", args=[pk, job.result["run"]])
    if done_url and request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = done_url
        return response
    template = "web/sync/_job.html" if request.htmx else "web/sync/job.html"
    return render(
        request,
        template,
        {
            "place": place,
            "tab": {Job.Kind.ACTION: "directory", Job.Kind.MERGE: "merge"}.get(job.kind, "sync"),
            "job": job,
            "job_url": _job_url(place, job),
            "done_url": done_url,
            **job_progress(place, job),
        },
    )


def job_progress(place: Place, job: Job) -> dict:
    """What the job page shows of the work's progress, from the database (a reload or a
    restart of the server loses nothing): the share done when a total is known, the time it
    has waited or run, and for a sync its run's own progress."""
    now = timezone.now()
    shown: dict = {"percent": None, "since": "", "run": None}
    if job.total > 0 and not job.finished:
        shown["percent"] = min(100, job.done * 100 // job.total)
    if job.status == Job.Status.QUEUED:
        shown["since"] = (
            f"Waiting for a worker for {duration((now - job.created_at).total_seconds())}"
        )
    elif job.started_at and not job.finished:
        shown["since"] = f"Running for {duration((now - job.started_at).total_seconds())}"
    elif job.started_at and job.finished_at:
        shown["since"] = f"Took {duration((job.finished_at - job.started_at).total_seconds())}"
    run_id = job.params.get("run") or job.result.get("run")
    run = run_id and SyncRun.objects.filter(pk=run_id, source__district=place.district).first()
    if run:
        busy = run.status in (SyncRun.Status.PLANNING, SyncRun.Status.APPLYING)
        now_at = Snapshot.of_run(run)
        sealed = busy and now_at.kind.sealed  # its row says when the transaction began
        shown["run"] = {
            "run": run,
            "url": reverse(place.url_name("run"), args=[place.obj.pk, run.pk]),
            "text": now_at.text() if busy and run.stage and not sealed else "",
            "at": run.progress_at if busy else None,
            "when": "since" if sealed else "as written at",
        }
    return shown


# --- one run ----------------------------------------------------------------------------------


def _run(place: Place, run_id: int) -> SyncRun:
    run = get_object_or_404(
        SyncRun.objects.select_related("source"), pk=run_id, source__district=place.district
    )
    if run.status in (SyncRun.Status.PLANNING, SyncRun.Status.APPLYING):
        # Failed first if its process is gone: the page never shows work nobody does.
        from rollbook.work.heartbeat import reap

        reap()
        run.refresh_from_db()
    return run


def _saved_plan(run: SyncRun):
    folder = sync.plan_folder(run)
    return plans.load(folder) if (folder / "plan.json").exists() else None


def _search(table: pa.Table, q: str) -> pa.Table:
    if not q:
        return table
    mask = None
    for name in table.column_names:
        if pa.types.is_string(table.schema.field(name).type):
            hit = pc.fill_null(pc.match_substring(table[name], q, ignore_case=True), False)
            mask = hit if mask is None else pc.or_(mask, hit)
    return table.filter(mask) if mask is not None else table.slice(0, 0)


@login_required
def run_detail(request: HttpRequest, pk: int, kind: str, run_id: int) -> HttpResponse:
    place = district_place(request, kind, pk)
    run = _run(place, run_id)
    saved = _saved_plan(run)
    entity = request.GET.get("entity", "student")
    action = request.GET.get("action", "create")
    q = request.GET.get("q", "").strip()[:200]
    listing = None
    if saved is not None:
        try:
            table = _search(plans.listing(saved, entity, action), q)
            listing = {
                "columns": table.column_names,
                "rows": table.slice(0, ROWS_SHOWN).to_pylist(),
                "total": table.num_rows,
            }
        except KeyError:
            listing = None
    issues = RunIssue.objects.filter(run=run).order_by("id")
    iq = request.GET.get("iq", "").strip()[:200]
    if iq:
        issues = issues.filter(message__icontains=iq) | issues.filter(sourced_id=iq)
    report = run.report
    pending = None  # a plan not applied yet: the conflicts it will record, before approval
    if saved is not None and run.status in (SyncRun.Status.PLANNED, SyncRun.Status.HELD):
        conflicts = saved.identity["conflicts"]
        pending = {
            "rows": conflicts.select(["code", "person_sourced_id", "message"])
            .slice(0, ROWS_SHOWN)
            .to_pylist(),
            "total": conflicts.num_rows,
        }
    # A skipped run's delivery is that of the last run applied before it, whose counts stand.
    same_as = None
    if run.status == SyncRun.Status.SKIPPED:
        same_as = (
            run.source.runs.filter(status=SyncRun.Status.APPLIED, pk__lt=run.pk)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
    return render(
        request,
        "web/sync/run.html",
        {
            "place": place,
            "tab": "sync",
            "run": run,
            "same_as": same_as,
            "counts": report.counts,
            "identity": sorted(report.identity.items()),
            "timings": sorted(report.timings.items()),
            "findings": sorted(report.findings.items()),
            "issues": issues[:ROWS_SHOWN],
            "issue_total": issues.count(),
            "iq": iq,
            "listing": listing,
            "entities": ENTITIES + ("accounts", "matches", "conflicts"),
            "actions": plans.ACTIONS,
            "entity": entity,
            "action": action,
            "q": q,
            "can_decide": run.status in (SyncRun.Status.PLANNED, SyncRun.Status.HELD),
            "plan_removed": saved is None and run.finished_at is not None,
            "pending": pending,
            "plan_days": retention.plan_days(),
        },
    )


@login_required
def run_decide(request: HttpRequest, pk: int, kind: str, run_id: int) -> HttpResponse:
    """Approve or discard a planned or held run: a confirmation with its counts, then the
    work (approval runs outside the request)."""
    place = district_place(request, kind, pk)
    run = _run(place, run_id)
    decision = request.POST.get("decision") or request.GET.get("decision")
    if decision not in ("approve", "discard", "retry"):
        raise Http404
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        if decision == "retry":
            return _retry(request, place, run)
        try:
            if decision == "discard":
                sync.discard_run(run, actor_of(request))
                messages.success(request, f"Run {run.pk} discarded; nothing was applied.")
                return redirect(reverse("web:district-run", args=[pk, run.pk]))
            if sync.directory_token(run.source) != run.plan_token:
                raise UserError(
                    f"the directory changed since run {run.pk} was planned; its plan no longer "
                    "says what would happen. Discard it and make a new plan."
                )
        except UserError as exc:
            messages.error(request, str(exc))
            return redirect(reverse("web:district-run", args=[pk, run.pk]))
        return _run_job(request, place, run, Job.Kind.APPROVE, {"run": run.pk}, approve_work)
    plan = run.report.plan
    return render(
        request,
        "web/sync/confirm.html",
        {
            "place": place,
            "tab": "sync",
            "run": run,
            "decision": decision,
            "counts": plan.counts if plan else {},
            "identity": plan.identity if plan else {},
        },
    )


def _retry(request: HttpRequest, place: Place, run: SyncRun) -> HttpResponse:
    if run.status != SyncRun.Status.FAILED or run.report.retried_as:
        messages.error(request, f"Run {run.pk} is not a failed run waiting to be tried again.")
        return redirect(reverse("web:district-run", args=[place.obj.pk, run.pk]))
    return _run_job(request, place, run, Job.Kind.PLAN, {"retry": run.pk}, retry_work)


def _run_job(request, place: Place, run: SyncRun, kind: str, params: dict, work) -> HttpResponse:
    """Queue work on a run (its approval, or a retry) and show its job page."""
    job = Job(
        district=place.district,
        kind=kind,
        bundle=run.bundle,
        params=params,
        created_by=request.user,
    )
    jobs.start(job, work)
    return redirect(_job_url(place, job))


def retry_work(job: Job, progress) -> dict:
    run = SyncRun.objects.get(pk=job.params["retry"])
    with bundles.named_in_errors(job.district_id, run.bundle):
        again = sync.retry_run(run, Actor(account=job.created_by), tracking(job, progress))
    return {"run": again.pk, "status": again.status}


def _csv_response(filename: str, columns: list[str], rows) -> StreamingHttpResponse:
    class Echo:
        def write(self, value):
            return value

    writer = csv.DictWriter(Echo(), fieldnames=columns, extrasaction="ignore")

    def stream():
        yield writer.writeheader()
        for row in rows:
            yield writer.writerow(safe_row(row))

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def run_csv(request: HttpRequest, pk: int, kind: str, run_id: int, what: str) -> HttpResponse:
    """A run's issues, or one list of its plan, as CSV (cells neutralised for spreadsheets)."""
    place = district_place(request, kind, pk)
    run = _run(place, run_id)
    if what == "issues":
        columns = ["code", "severity", "entity", "sourced_id", "account_id", "message"]
        rows = RunIssue.objects.filter(run=run).order_by("id").values(*columns).iterator()
        return _csv_response(f"run-{run.pk}-issues.csv", columns, rows)
    saved = _saved_plan(run)
    entity, _, action = what.partition("-")
    if saved is None:
        raise Http404
    try:
        table = plans.listing(saved, entity, action or "create")
    except KeyError:
        raise Http404 from None
    return _csv_response(f"run-{run.pk}-{what}.csv", table.column_names, plans.rows(table))


class SourceForm(forms.Form):
    archive_percent = forms.FloatField(
        min_value=0,
        max_value=100,
        label="Hold a run that would archive more than (% of students, accounts, links or "
        "enrollments)",
    )
    update_percent = forms.FloatField(
        min_value=0, max_value=100, label="Hold a run that would update more than (%)"
    )
    schools = forms.CharField(
        required=False,
        max_length=5000,
        label="Only these schools (SIS sourcedIds, comma-separated; empty: every school)",
    )
    encoding = forms.CharField(
        required=False,
        max_length=40,
        label="Encoding of the CSV files",
        help_text="Leave blank unless the self-check says the files are not UTF-8; "
        "e.g. cp1252, cp932.",
    )

    def clean_encoding(self) -> str:
        try:
            return sync.check_encoding(self.cleaned_data.get("encoding"), option="")
        except UserError as exc:
            raise forms.ValidationError(str(exc)[:1].upper() + str(exc)[1:] + ".") from None


@login_required
def source_settings(request: HttpRequest, pk: int, kind: str, source_id: int) -> HttpResponse:
    """A source's safety thresholds, chosen schools, the encoding of its CSV files (a CSV
    source's) and schedule (``schedule_form.py``), audited with before and after."""
    from django.db import transaction

    from rollbook.directory import audit
    from rollbook.sync import schedules
    from rollbook.sync.models import SyncSource

    from .schedule_form import ScheduleForm

    place = district_place(request, kind, pk)
    source = get_object_or_404(SyncSource, pk=source_id, district=place.district)
    fields = ["archive_threshold", "update_threshold", "school_sourced_ids"]
    initial = {
        "archive_percent": round(source.archive_threshold * 100, 2),
        "update_percent": round(source.update_threshold * 100, 2),
        "schools": ", ".join(source.school_sourced_ids),
        "encoding": source.encoding,
    }
    form = SourceForm(request.POST or None, initial=initial)
    # A REST source's fetch writes UTF-8: the encoding is a CSV bundle's. A post without the
    # field (an older page) keeps the encoding there is.
    encoding_shown = not source.is_rest
    if not encoding_shown:
        del form.fields["encoding"]
    elif request.method == "POST" and "encoding" in request.POST:
        fields.append("encoding")
    # A post without the schedule's part (an older page) changes the thresholds only.
    timing = request.POST if "kind" in request.POST else None
    schedule_form = ScheduleForm(timing, source=source)
    if (
        request.method == "POST"
        and form.is_valid()
        and (timing is None or schedule_form.is_valid())
    ):
        with transaction.atomic():
            before = audit.snapshot(source, fields)
            source.archive_threshold = form.cleaned_data["archive_percent"] / 100
            source.update_threshold = form.cleaned_data["update_percent"] / 100
            source.school_sourced_ids = [
                s.strip() for s in form.cleaned_data["schools"].split(",") if s.strip()
            ]
            if "encoding" in fields:
                source.encoding = form.cleaned_data["encoding"]
            if audit.snapshot(source, fields) != before:
                source.save(update_fields=fields)
                audit.record(
                    [
                        audit.entry(
                            actor_of(request),
                            "update_source",
                            source,
                            district=place.district,
                            before=before,
                            after=audit.snapshot(source, fields),
                        )
                    ]
                )
            if timing is not None:
                schedules.change(source, schedule_form.change(), actor_of(request))
        messages.success(request, f"Saved the settings of source {source.name}.")
        return redirect(place.urls["sync"])
    return render(
        request,
        "web/sync/source.html",
        {
            "place": place,
            "tab": "sync",
            "source": source,
            "form": form,
            "schedule_form": schedule_form,
            "schedule": schedule_form.shown(),
        },
    )
