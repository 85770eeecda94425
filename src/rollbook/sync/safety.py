"""Stage 3, safety: a run that would change too much stops before applying, and waits.

A run is *held* — its plan kept for an administrator to approve or discard — when:

- it is the first sync of its source (always: the founding rule is to look first);
- it would archive more than the source's ``archive_threshold`` (default 10 %) of the
  students, accounts (SIS people), guardian links or enrollments the source has active;
- it would update more than the source's ``update_threshold`` (default 75 %) of them.
"""

from __future__ import annotations

from .models import SyncSource
from .plan import Plan

WATCHED = {
    "student": "students",
    "person": "people (accounts)",
    "guardian_link": "guardian links",
    "enrollment": "enrollments",
}


def hold_reasons(plan: Plan, source: SyncSource, first_sync: bool) -> list[str]:
    """Why this plan must wait for approval (empty: it may be applied)."""
    reasons = []
    if first_sync:
        reasons.append("this is the first sync of the source: review the plan and approve it")
    for entity, label in WATCHED.items():
        entity_plan = plan.entities[entity]
        before = entity_plan.active_before
        if not before:
            continue
        archived = entity_plan.archive.num_rows / before
        updated = entity_plan.update.num_rows / before
        if archived > source.archive_threshold:
            reasons.append(
                f"it would archive {entity_plan.archive.num_rows} of {before} {label} "
                f"({archived:.1%}, more than the {source.archive_threshold:.0%} allowed)"
            )
        if updated > source.update_threshold:
            reasons.append(
                f"it would update {entity_plan.update.num_rows} of {before} {label} "
                f"({updated:.1%}, more than the {source.update_threshold:.0%} allowed)"
            )
    return reasons
