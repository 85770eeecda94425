"""A run's report: what it read, planned and applied, how long each stage took, and why it
ended as it did — typed.

The report is stored as JSON on the run (``SyncRun.stats``, the shape every earlier run has
too) and read and written only through :class:`RunReport` (``run.report``): the pipeline fills
it stage by stage, and the command line, the web pages, alerts and the demo read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Counts = dict[str, dict[str, int]]  # entity → action (created, updated, …) → rows


@dataclass
class PlanSummary:
    """What the plan will do (saved before the safety stage)."""

    counts: Counts = field(default_factory=dict)
    identity: dict[str, int] = field(default_factory=dict)
    version: str = ""
    skipped_outside_schools: dict[str, int] = field(default_factory=dict)
    additions_only: dict[str, Any] | None = None  # {"archives_skipped": {entity: n}}

    @classmethod
    def from_json(cls, data: dict | None) -> PlanSummary | None:
        if not data:
            return None
        return cls(
            counts=data.get("counts") or {},
            identity=data.get("identity") or {},
            version=data.get("version") or "",
            skipped_outside_schools=data.get("skipped_outside_schools") or {},
            additions_only=data.get("additions_only"),
        )

    def to_json(self) -> dict:
        data = {
            "counts": self.counts,
            "identity": self.identity,
            "version": self.version,
            "skipped_outside_schools": self.skipped_outside_schools,
        }
        if self.additions_only is not None:
            data["additions_only"] = self.additions_only
        return data


@dataclass
class AppliedSummary:
    """What the apply stage did (it may differ from the plan: identifiers withheld at apply)."""

    counts: Counts = field(default_factory=dict)
    identity: dict[str, int] = field(default_factory=dict)
    issues: int = 0

    @classmethod
    def from_json(cls, data: dict | None) -> AppliedSummary | None:
        if not data:
            return None
        return cls(data.get("counts") or {}, data.get("identity") or {}, data.get("issues") or 0)

    def to_json(self) -> dict:
        return {"counts": self.counts, "identity": self.identity, "issues": self.issues}


#: What a source leaves out of a bundle (``left_out.left_out``, ``left_out.left_at_other_schools``,
#: ``PlanSummary.skipped_outside_schools``), in words and in the order they are told: {n}
#: and {s} (the plural's "s") are filled in.
LEFT_OUT = {
    "school": "{n} school{s} not among the source's chosen schools",
    "student_at_other_schools": "{n} student{s} at schools this source does not sync",
    "guardian_link": "{n} guardian link{s} of students this source does not sync",
    "guardian_at_other_schools": "{n} parent{s} or guardian{s} whose children are all at "
    "schools this source does not sync",
    "staff_role_at_other_schools": "{n} staff role{s} at schools this source does not sync",
    "staff_role_not_at_a_school": "{n} staff role{s} at the district or another organisation "
    "that is not a school (the directory keeps staff roles at schools)",
    "enrollment_at_other_schools": "{n} class enrollment{s} at schools this source does not sync",
    # Runs planned before students were counted one by one counted their roles.
    "student_role_at_other_schools": "{n} student{s} at schools this source does not sync",
}


#: The words people read for a run's entities, its people outcomes and the plan's columns.
ENTITY_WORDS = {
    "school": "Schools",
    "session": "Terms and school years",
    "course": "Courses",
    "class": "Classes",
    "student": "Students",
    "person": "People (SIS user records)",
    "staff_role": "Staff roles",
    "guardian_link": "Guardian links",
    "enrollment": "Class enrollments",
    "accounts": "Accounts to create",
    "matches": "Existing accounts reused",
    "conflicts": "Conflicts",
}
IDENTITY_WORDS = {
    "accounts_created": "accounts created",
    "accounts_matched": "existing accounts reused",
    "accounts_same": "accounts unchanged",
    "accounts_kept": "accounts kept and updated",
    "identifiers_withheld": "emails or phones withheld",
    "withheld_at_apply": "withheld at apply (taken meanwhile)",
    "people_moved": "people moved to another account",
    "people_rechecked": "people checked again",
}
COLUMN_WORDS = {
    "sourced_id": "SIS id",
    "local_id": "Directory id",
    "ref": "New account",
    "account": "Account",
    "person_sourced_id": "Person (SIS id)",
    "holder_account": "Held by account",
    "holder_sourced_id": "Held by (SIS id)",
    "sis_identifier": "Student number",
    "identifier": "SIS number",
}


def words(kind: str, key: str) -> str:
    """``kind``: entity, identity or column."""
    table = {"entity": ENTITY_WORDS, "identity": IDENTITY_WORDS, "column": COLUMN_WORDS}[kind]
    if key in table:
        return table[key]
    if kind == "column" and key.endswith("_sourced_id"):
        return key.removesuffix("_sourced_id").replace("_", " ").capitalize() + " (SIS id)"
    text = key.replace("_", " ")
    return text.capitalize() if kind != "identity" else text


def left_out(kind: str, n: int) -> str:
    words = LEFT_OUT.get(kind, "{n} " + kind.replace("_", " ") + " record{s} left out")
    return words.format(n=f"{n:,}", s="" if n == 1 else "s")


@dataclass
class RunReport:
    dry_run: bool = False
    can_sync: bool | None = None
    findings: dict[str, int] = field(default_factory=dict)  # reader finding code → count
    plan: PlanSummary | None = None
    outcome: AppliedSummary | None = None
    timings: dict[str, float] = field(default_factory=dict)  # stage → seconds
    apply_seconds: dict[str, float] = field(default_factory=dict)  # apply step → seconds
    note: str = ""  # a sentence for people: why it ended as it did
    error: str = ""  # what stopped it (never personal data)
    retry_of: int | None = None
    retried_as: int | None = None
    # How the CSV files were read: the encoding given ("" : UTF-8, a byte-order mark naming
    # its own) and whence — "run" (``--encoding``) or "source" (the source's setting).
    encoding: str = ""
    encoding_from: str = ""
    # The entities whose state the last apply kept and the directory agreed with: not read
    # back (kept_state.py).
    state_kept: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # keys of other versions, kept as is

    @classmethod
    def from_json(cls, data: dict | None) -> RunReport:
        data = dict(data or {})
        return cls(
            dry_run=bool(data.pop("dry_run", False)),
            can_sync=data.pop("can_sync", None),
            findings=data.pop("findings", None) or {},
            plan=PlanSummary.from_json(data.pop("plan", None)),
            outcome=AppliedSummary.from_json(data.pop("outcome", None)),
            timings=data.pop("timings", None) or {},
            apply_seconds=data.pop("apply_seconds", None) or {},
            note=data.pop("note", None) or "",
            error=data.pop("error", None) or "",
            retry_of=data.pop("retry_of", None),
            retried_as=data.pop("retried_as", None),
            encoding=data.pop("encoding", None) or "",
            encoding_from=data.pop("encoding_from", None) or "",
            state_kept=data.pop("state_kept", None) or [],
            extra=data,  # what is left: keys this version does not know
        )

    def to_json(self) -> dict:
        data: dict[str, Any] = dict(self.extra)
        if self.dry_run:
            data["dry_run"] = True
        if self.can_sync is not None:
            data["can_sync"] = self.can_sync
        if self.findings:
            data["findings"] = self.findings
        if self.plan is not None:
            data["plan"] = self.plan.to_json()
        if self.outcome is not None:
            data["outcome"] = self.outcome.to_json()
        if self.timings:
            data["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        if self.apply_seconds:
            data["apply_seconds"] = self.apply_seconds
        names = ("note", "error", "retry_of", "retried_as", "encoding", "encoding_from")
        for name in (*names, "state_kept"):
            if value := getattr(self, name):
                data[name] = value
        return data

    # --- what pages and commands show ---------------------------------------------------------

    @property
    def counts(self) -> Counts:
        """What the run did (applied), or else what its plan will do."""
        if self.outcome is not None and self.outcome.counts:
            return self.outcome.counts
        return self.plan.counts if self.plan is not None else {}

    @property
    def identity(self) -> dict[str, int]:
        if self.outcome is not None and self.outcome.identity:
            return self.outcome.identity
        return self.plan.identity if self.plan is not None else {}

    @property
    def left_out(self) -> list[str]:
        """What the bundle held that this source does not sync, in sentences."""
        found = self.plan.skipped_outside_schools if self.plan is not None else {}
        order = list(LEFT_OUT)
        told = sorted(
            found, key=lambda kind: (order.index(kind) if kind in order else len(order), kind)
        )
        return [left_out(kind, found[kind]) for kind in told if found[kind]]

    @property
    def read_as(self) -> str:
        """How the CSV files were read, in words ("" when as UTF-8, as always)."""
        if not self.encoding:
            return ""
        whence = "given for this run" if self.encoding_from == "run" else "the source's encoding"
        return f"{self.encoding} ({whence})"

    @property
    def encoding_given(self) -> str | None:
        """The encoding given for this run alone (``--encoding``), for a retry to read alike."""
        return self.encoding if self.encoding_from == "run" else None

    @property
    def additions_only(self) -> dict[str, Any] | None:
        return self.plan.additions_only if self.plan is not None else None


def amend(run, **changes: Any) -> RunReport:
    """Change fields of the run's report (on the object; saving the run is the caller's)."""
    report = run.report
    for name, value in changes.items():
        if not hasattr(report, name):
            raise AttributeError(f"a run's report has no {name!r}")
        setattr(report, name, value)
    run.report = report
    return report
