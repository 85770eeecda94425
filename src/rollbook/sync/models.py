"""Sync sources and runs: where SIS data comes from, and each time it was applied.

The sync engine (read → plan → safety → apply → report) records every run here; every change
it makes to the directory points back to its run, through the directory's provenance fields
and the audit log.
"""

from __future__ import annotations

from django.db import models


class SyncSource(models.Model):
    class Kind(models.TextChoices):
        CSV_BUNDLE = "csv", "OneRoster CSV bundle"
        ONEROSTER_REST = "rest", "OneRoster REST"

    class Auth(models.TextChoices):
        """How a REST source signs in (``rollbook.oneroster.rest.credentials``)."""

        OAUTH2 = "oauth2", "OAuth 2 client credentials"
        OAUTH1_SHA256 = "oauth1-sha256", "OAuth 1.0a, HMAC-SHA256"
        OAUTH1_SHA1 = "oauth1-sha1", "OAuth 1.0a, HMAC-SHA1"
        BEARER = "bearer", "Bearer token"

    district = models.ForeignKey(
        "directory.District", on_delete=models.PROTECT, related_name="sync_sources"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CSV_BUNDLE)
    location = models.CharField(
        max_length=1000, blank=True, help_text="Folder or zip file the bundle is read from."
    )
    school_sourced_ids = models.JSONField(
        default=list, blank=True, help_text="Limit the sync to these schools (SIS sourcedIds)."
    )
    archive_threshold = models.FloatField(
        default=0.10, help_text="Hold a run that would archive more than this share."
    )
    update_threshold = models.FloatField(
        default=0.75, help_text="Hold a run that would update more than this share."
    )
    is_active = models.BooleanField(default=True)
    additions_only = models.BooleanField(
        default=False,
        help_text="Create and update, never archive (rollover weeks): the plan archives "
        "nothing and the run's report says how many archives it skipped.",
    )
    encoding = models.CharField(
        max_length=40,
        blank=True,
        help_text="Encoding of the bundle's CSV files when they are not UTF-8 (e.g. cp1252); "
        "blank: UTF-8, a byte-order mark naming its own.",
    )
    last_bundle_digest = models.CharField(
        max_length=32, blank=True, help_text="xxh3-128 of the last applied bundle's bytes."
    )
    last_records_digest = models.CharField(
        max_length=32,
        blank=True,
        help_text="The last applied bundle's lines in any order (sync/digests.py).",
    )
    last_applied_mark = models.CharField(
        max_length=100,
        blank=True,
        help_text="The district's directory as the last applied run left it (its audit trail; "
        "services.directory_mark): a bundle is skipped as the same only while it is unchanged.",
    )
    # A REST source (kind "rest", sync/rest.py, docs/rest.md "In Rollbook"): where and how it
    # signs in. The secret (client secret, consumer secret or token) is kept encrypted
    # (sync/credentials.py) and never shown back, logged, exported or audited.
    rest_url = models.CharField(
        "base URL", max_length=1000, blank=True, help_text="The OneRoster service's base URL."
    )
    rest_version = models.CharField(
        "OneRoster version", max_length=3, blank=True, choices=[("1.1", "1.1"), ("1.2", "1.2")]
    )
    auth = models.CharField(max_length=20, blank=True, choices=Auth.choices)
    token_url = models.CharField(max_length=1000, blank=True, help_text="OAuth 2 only.")
    client_id = models.CharField(
        "client id or consumer key", max_length=500, blank=True, help_text="Not for a bearer token."
    )
    scopes = models.JSONField(
        default=list, blank=True, help_text="OAuth 2 scopes; empty: the version's defaults."
    )
    secret_encrypted = models.TextField(blank=True, help_text="Fernet token; never shown.")
    secret_changed_at = models.DateTimeField(null=True, blank=True)
    reconcile_days = models.PositiveSmallIntegerField(
        default=7,
        help_text="A REST source fetches only changes, except every this many days: then it "
        "fetches everything, and what disappeared is archived.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["district", "name"], name="sync_source_unique_name"),
            models.CheckConstraint(
                condition=models.Q(kind="csv") | models.Q(rest_url__gt="", auth__gt=""),
                name="sync_source_rest_has_url_and_auth",
            ),
            models.CheckConstraint(
                condition=models.Q(reconcile_days__gte=1), name="sync_source_reconcile_days"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_rest(self) -> bool:
        return self.kind == self.Kind.ONEROSTER_REST


class SyncRun(models.Model):
    class Status(models.TextChoices):
        PLANNING = "planning", "Reading and planning"
        PLANNED = "planned", "Planned (dry run)"
        HELD = "held", "Held for approval"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        SKIPPED = "skipped", "Skipped: nothing new"
        FAILED = "failed", "Failed"
        DISCARDED = "discarded", "Discarded"

    source = models.ForeignKey(SyncSource, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLANNED)
    started_by = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_by_label = models.CharField(max_length=255, blank=True)
    approved_by = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by_label = models.CharField(max_length=255, blank=True)
    bundle = models.CharField(max_length=1000, blank=True, help_text="What was read.")
    bundle_digest = models.CharField(max_length=32, blank=True)
    # Its lines in any order; kept only when every line of it is one record (digests.py).
    records_digest = models.CharField(max_length=32, blank=True)
    plan_token = models.CharField(
        max_length=100, blank=True, help_text="The directory's state the plan was made against."
    )
    hold_reasons = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    # Progress, written as the run goes (at most once a second): docs/sync.md, "Progress".
    stage = models.CharField(max_length=40, blank=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.source}"

    @property
    def report(self):
        """The run's report, typed (``report.RunReport``; stored as JSON in ``stats``)."""
        from .report import RunReport

        return RunReport.from_json(self.stats)

    @report.setter
    def report(self, value) -> None:
        self.stats = value.to_json()


class SyncRecord(models.Model):
    """What a source last delivered for one SIS person record (staff or guardian), and the
    account it went to.

    Every other entity keeps this on its own directory row (source, sourced_id,
    sis_fingerprint); a person record has no row of its own, since several records may be one
    account. The plan stage compares incoming records with these: equal fingerprints cost
    nothing.
    """

    class Entity(models.TextChoices):
        SCHOOL = "school"
        SESSION = "session"
        COURSE = "course"
        CLASS = "class"
        STUDENT = "student"
        PERSON = "person", "Staff or guardian record"
        STAFF_ROLE = "staff_role"
        GUARDIAN_LINK = "guardian_link"
        ENROLLMENT = "enrollment"

    source = models.ForeignKey(
        SyncSource, on_delete=models.PROTECT, related_name="records", db_index=False
    )
    entity = models.CharField(max_length=20, choices=Entity.choices)
    sourced_id = models.CharField(max_length=255)
    fingerprint = models.BigIntegerField()
    local_id = models.BigIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    withheld = models.BooleanField(
        default=False, help_text="A person whose email or phone was withheld: checked again."
    )
    last_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "entity", "sourced_id"], name="sync_record_one_per_sourced_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity} {self.sourced_id}"


class RunIssue(models.Model):
    """Something an administrator should see about a run: a withheld identifier, a skipped row."""

    run = models.ForeignKey(SyncRun, on_delete=models.PROTECT, related_name="issues")
    code = models.CharField(max_length=60)
    severity = models.CharField(max_length=10, default="warning")
    # Text, not bounded: a finding's file may be any name a bundle holds, its sourcedId any
    # length (the reader shortens both, findings.py); a bounded column made saving the run's
    # findings fail on PostgreSQL (issue 16).
    entity = models.TextField(blank=True)
    sourced_id = models.TextField(blank=True)
    account = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    message = models.TextField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "code"])]

    def __str__(self) -> str:
        return f"{self.code} {self.sourced_id}"


class StudentAdoption(models.Model):
    """An administrator's confirmation, before the first sync, that a student entered by hand
    *is* an SIS student: the sync then adopts that record (it becomes synced, keeps its history
    and guardians, and takes the SIS's fields) instead of creating a second one. Off unless
    confirmed, pair by pair (``rollbook merge adopt``); the founding guideline's flow (archive,
    sync, merge) stays the default."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the sync"
        ADOPTED = "adopted", "Adopted by a sync"
        CANCELLED = "cancelled", "Cancelled"

    source = models.ForeignKey(SyncSource, on_delete=models.PROTECT, related_name="adoptions")
    student = models.ForeignKey(
        "directory.Student", on_delete=models.PROTECT, related_name="adoptions"
    )
    sourced_id = models.CharField("SIS sourcedId of the student", max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    evidence = models.JSONField(default=dict, blank=True)
    kept_guardians = models.JSONField(
        default=list,
        blank=True,
        help_text="Accounts whose guardian links entered by hand the administrator chose to "
        "keep though the SIS does not list them for the student; the sync archives the others.",
    )
    confirmed_by = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_by_label = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.PROTECT, related_name="adoptions"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "sourced_id"],
                condition=models.Q(status="pending"),
                name="sync_adoption_one_pending_per_sourced_id",
            ),
            models.UniqueConstraint(
                fields=["student"],
                condition=models.Q(status="pending"),
                name="sync_adoption_one_pending_per_student",
            ),
        ]

    def __str__(self) -> str:
        return f"adoption of student {self.student_id} as {self.sourced_id} ({self.status})"


class SyncSchedule(models.Model):
    """When a source syncs by itself (``rollbook.work.scheduler``): every day at a time, or
    every few hours at the same times each day, in the district's time zone; from the folder
    in the source's ``location``. No run starts while paused, on a blackout date or during
    the rollover pause. Slots before ``active_from`` are never run: it is moved to the moment
    of each change of timing and of each resume, so a change never runs a slot of the past."""

    class Kind(models.TextChoices):
        DAILY = "daily", "Every day"
        EVERY = "every", "Every few hours"

    source = models.OneToOneField(SyncSource, on_delete=models.PROTECT, related_name="schedule")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DAILY)
    time_of_day = models.TimeField(
        help_text="Daily: the time of the run; every few hours: the first of the day's runs "
        "(in the district's time zone)."
    )
    every_hours = models.PositiveSmallIntegerField(
        default=24, help_text="Every few hours: the hours between runs (a divisor of 24)."
    )
    paused = models.BooleanField(default=False)
    blackouts = models.JSONField(
        default=list,
        blank=True,
        help_text='Dates when no run starts: a list of ["first day", "last day"] (ISO dates, '
        "both included).",
    )
    rollover_start = models.DateField(null=True, blank=True)
    rollover_end = models.DateField(
        null=True, blank=True, help_text="The rollover pause: no run starts from start to end."
    )
    alert_after_hours = models.PositiveIntegerField(
        default=36,
        help_text="Alert the district's administrators when the source has had no successful "
        "run for this long.",
    )
    approve_first_run_as = models.CharField(
        max_length=200,
        blank=True,
        help_text="Set by the demo only: the first sync of the source, held for approval like "
        "every first sync, is approved by this (recorded as the run's approver), once.",
    )
    active_from = models.DateTimeField(
        help_text="Slots before this moment are never run (the last change of timing or resume)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(every_hours__in=[1, 2, 3, 4, 6, 8, 12, 24]),
                name="sync_schedule_hours_divide_the_day",
            ),
        ]

    def __str__(self) -> str:
        return f"schedule of {self.source}"


class ScheduledSlot(models.Model):
    """One moment a schedule said a source should sync, recorded before its run is queued: the
    unique (source, slot time) makes every slot queued once, however many schedulers look."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        WAITING = "waiting", "Waiting for the source (another run of it is in progress)"
        RUNNING = "running", "Running"
        DONE = "done", "Run made"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(SyncSource, on_delete=models.PROTECT, related_name="slots")
    slot_at = models.DateTimeField(help_text="The moment the schedule named (UTC).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    note = models.CharField(max_length=500, blank=True)
    task_id = models.CharField(max_length=64, blank=True, help_text="The queue's task.")
    worker = models.CharField(max_length=64, blank=True, help_text="Who runs it.")
    attempts = models.PositiveIntegerField(default=0)
    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.PROTECT, related_name="slots"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-slot_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "slot_at"], name="sync_slot_once_per_source_and_time"
            )
        ]

    def __str__(self) -> str:
        return f"slot {self.slot_at:%Y-%m-%d %H:%M} of {self.source}"
