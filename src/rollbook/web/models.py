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
