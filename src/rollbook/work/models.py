"""The processes doing background work, and which of them holds each sync source.

A process that works — a ``rollbook worker`` process, or a command such as ``rollbook sync``
run by hand — has a :class:`WorkerProcess` row whose ``heartbeat_at`` it renews every few
seconds while it lives. One that stops renewing it is dead (killed, or its machine gone): the
next process that looks (``heartbeat.reap``) fails its work and frees its sources. Nothing here
depends on process ids or host names being unique across machines.
"""

from __future__ import annotations

from django.db import models


class WorkerProcess(models.Model):
    class Kind(models.TextChoices):
        WORKER = "worker", "Worker"
        COMMAND = "command", "Command"

    worker_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WORKER)
    host = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    queues = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(db_index=True)
    doing = models.CharField(max_length=200, blank=True, help_text="What it works on now.")
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-heartbeat_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.worker_id}"


class SourceLock(models.Model):
    """At most one run of a source at a time: the row for a source exists while a process
    reads, plans or applies one of its runs (a unique source, taken in one transaction)."""

    source = models.OneToOneField(
        "sync.SyncSource", on_delete=models.PROTECT, related_name="lock", primary_key=True
    )
    run = models.ForeignKey(
        "sync.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    holder = models.CharField(max_length=64, help_text="The WorkerProcess.worker_id holding it.")
    acquired_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"source {self.source_id} held by {self.holder}"
