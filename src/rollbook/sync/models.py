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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["district", "name"], name="sync_source_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class SyncRun(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", "Planned (dry run)"
        HELD = "held", "Held for approval"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"
        DISCARDED = "discarded", "Discarded"

    source = models.ForeignKey(SyncSource, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLANNED)
    started_by = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_by_label = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    stats = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.source}"
