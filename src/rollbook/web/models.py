"""Work the web app does outside the request: a self-check, a plan, an approval, merge
suggestions. A job row says what runs, how far it got and what came out of it."""

from __future__ import annotations

from django.db import models


class Job(models.Model):
    class Kind(models.TextChoices):
        CHECK = "check", "Self-check"
        PLAN = "plan", "Sync plan (dry run)"
        APPROVE = "approve", "Approve a run"
        SUGGEST = "suggest", "Merge suggestions"
        ACTION = "action", "Directory action"
        MERGE = "merge", "Merge of the ready pairs"
        SYNC = "sync", "Sync now"
        CONNECTION = "connection", "Connection test"

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    district = models.ForeignKey(
        "directory.District", on_delete=models.PROTECT, related_name="web_jobs"
    )
    school = models.ForeignKey(
        "directory.School", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=200, blank=True, help_text="What it is doing now.")
    bundle = models.CharField(max_length=1000, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey("directory.Account", on_delete=models.PROTECT, related_name="+")
    # The queue (decision 0009): the task that runs it, the worker process running it, and how
    # far it got (rows done of total, when known).
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=64, blank=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["district", "kind", "id"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class Alert(models.Model):
    """Something a district's administrators must deal with about its scheduled syncs: a
    scheduled run held for approval, a scheduled run that failed, or a scheduled source with
    no successful run for too long (``rollbook.work.alerts``, docs/sync.md "Alerts").

    Emailed once to the district's active district administrators; shown on the district's
    page until a later run settles it (``resolved_at``) or an administrator dismisses it
    (``dismissed_at``, audited). ``key`` makes it once: one per run and kind, one per source
    and stale period — enforced by the database, so two workers looking at once raise it once.
    """

    class Kind(models.TextChoices):
        HELD = "held", "Scheduled run held for approval"
        FAILED = "failed", "Scheduled run failed"
        STALE = "stale", "No successful sync for too long"

    key = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    district = models.ForeignKey(
        "directory.District", on_delete=models.PROTECT, related_name="alerts"
    )
    source = models.ForeignKey("sync.SyncSource", on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(
        "sync.SyncRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The run held or failed; for a stale source, its last successful run.",
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The email: when it was sent (or is being sent), to which accounts, and why it was not.
    mailed_at = models.DateTimeField(null=True, blank=True)
    mailed_to = models.JSONField(default=list, blank=True, help_text="Account ids.")
    mail_tries = models.PositiveSmallIntegerField(default=0)
    mail_error = models.CharField(max_length=500, blank=True)
    # Dealt with: settled by a later run, or dismissed by a district administrator.
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by_run = models.ForeignKey(
        "sync.SyncRun", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["district", "resolved_at", "dismissed_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(dismissed_at__isnull=True)
                | models.Q(dismissed_by__isnull=False),
                name="web_alert_dismissed_by_someone",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.key})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None and self.dismissed_at is None
