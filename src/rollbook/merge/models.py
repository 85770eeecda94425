"""Merges of pre-sync students into their synced twins, kept so that each can be undone."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class StudentMerge(models.Model):
    """One old student (entered by hand) merged into the synced student it is.

    The old student stays in the database as a tombstone (status ``merged``) pointing at the
    survivor through this record; ``moved`` lists every row the merge changed and how it was
    before, so that an undo restores them exactly.
    """

    class Status(models.TextChoices):
        APPLIED = "applied", "Merged"
        UNDONE = "undone", "Undone"

    district = models.ForeignKey(
        "directory.District", on_delete=models.PROTECT, related_name="student_merges"
    )
    old_student = models.ForeignKey(
        "directory.Student", on_delete=models.PROTECT, related_name="merges_as_old"
    )
    survivor = models.ForeignKey(
        "directory.Student", on_delete=models.PROTECT, related_name="merges_as_survivor"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.APPLIED)
    keep_guardians = models.BooleanField(
        help_text="Guardian links found only on the old student moved to the survivor (true) "
        "or were archived (false)."
    )
    evidence = models.JSONField(default=dict, blank=True, help_text="Score and reasons shown.")
    moved = models.JSONField(
        default=dict, help_text="Rows changed by the merge, with their values before and after."
    )
    merged_by = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    merged_by_label = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    undone_by = models.ForeignKey(
        "directory.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    undone_by_label = models.CharField(max_length=255, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["old_student"],
                condition=Q(status="applied"),
                name="merge_studentmerge_one_applied_per_old_student",
            ),
            models.CheckConstraint(
                condition=~Q(old_student=models.F("survivor")),
                name="merge_studentmerge_not_into_itself",
            ),
        ]

    def __str__(self) -> str:
        return f"merge {self.pk}: student {self.old_student_id} → {self.survivor_id}"
