"""The internal, version-independent model of a OneRoster bundle (what the sync consumes).

See docs/oneroster-reader.md for every table and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from .findings import Findings

ENTITIES = (
    "orgs",
    "academic_sessions",
    "courses",
    "classes",
    "users",
    "enrollments",
    "demographics",
    "roles",
    "user_profiles",
)
#: users.csv columns that move to ``user_roles`` (not kept in the users table).
USER_COLUMNS_MOVED = ("role", "org_sourced_ids")


@dataclass
class FileInfo:
    """What happened to one file of the bundle."""

    filename: str  # OneRoster name, e.g. "users.csv"
    found_as: str | None = None  # name in the bundle (may differ in case)
    declared: str | None = None  # manifest value as written (None: not declared)
    mode: str = "absent"  # bulk | delta | absent (as used by the reader)
    state: str = "absent"  # read | rejected | absent | empty | ignored
    rows_read: int = 0
    rows_rejected: int = 0
    metadata_columns: list[str] = field(default_factory=list)
    # Each line of the file is one whole record (quoting.QuoteScan.lines_are_records): the
    # same lines in another order are the same records (sync/digests.py).
    lines_are_records: bool = True

    @property
    def rows_accepted(self) -> int:
        """Rows in the model."""
        return self.rows_read - self.rows_rejected

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "filename": self.filename,
            "found_as": self.found_as,
            "declared": self.declared,
            "mode": self.mode,
            "state": self.state,
            "rows_read": self.rows_read,
            "rows_rejected": self.rows_rejected,
            "rows_accepted": self.rows_accepted,
            "metadata_columns": self.metadata_columns,
        }


@dataclass
class RosterModel:
    """Accepted rows per entity (pyarrow tables, canonical columns) plus derived tables."""

    version: str
    tables: dict[str, pa.Table]
    modes: dict[str, str]
    user_roles: pa.Table
    guardian_links: pa.Table

    def table(self, entity: str) -> pa.Table:
        """The table of ``entity`` (empty, with its schema, when the file was absent)."""
        return self.tables[entity]

    @property
    def orgs(self) -> pa.Table:
        """orgs.csv rows."""
        return self.tables["orgs"]

    @property
    def academic_sessions(self) -> pa.Table:
        """academicSessions.csv rows."""
        return self.tables["academic_sessions"]

    @property
    def courses(self) -> pa.Table:
        """courses.csv rows."""
        return self.tables["courses"]

    @property
    def classes(self) -> pa.Table:
        """classes.csv rows."""
        return self.tables["classes"]

    @property
    def users(self) -> pa.Table:
        """users.csv rows (roles and orgs are in ``user_roles``)."""
        return self.tables["users"]

    @property
    def enrollments(self) -> pa.Table:
        """enrollments.csv rows."""
        return self.tables["enrollments"]

    @property
    def demographics(self) -> pa.Table:
        """demographics.csv rows."""
        return self.tables["demographics"]

    @property
    def roles(self) -> pa.Table:
        """roles.csv rows (1.2 only; empty otherwise)."""
        return self.tables["roles"]

    @property
    def user_profiles(self) -> pa.Table:
        """userProfiles.csv rows (1.2 only; empty otherwise)."""
        return self.tables["user_profiles"]

    def metadata_columns(self, entity: str) -> list[str]:
        """The `metadata.*` extension columns kept for ``entity``."""
        return [c for c in self.tables[entity].column_names if c.startswith("metadata.")]


@dataclass
class ReadResult:
    """Everything the reader found out about one bundle."""

    source: str
    version: str  # "1.0" | "1.1" | "1.2" as used by the reader
    version_declared: str | None
    strict: bool
    files: dict[str, FileInfo]  # OneRoster file name -> info
    model: RosterModel
    findings: Findings
    extra_files: list[str] = field(default_factory=list)  # in the bundle, not read

    @property
    def lines_are_records(self) -> bool:
        """Every file read has one record per line (``FileInfo.lines_are_records``)."""
        return all(info.lines_are_records for info in self.files.values())

    @property
    def can_sync(self) -> bool:
        """True when there is no error finding (in the mode of this read)."""
        return self.findings.error_count() == 0

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly summary with stable keys (the `--json` output)."""
        return {
            "source": self.source,
            "mode": "strict" if self.strict else "lenient",
            "version": self.version,
            "version_declared": self.version_declared,
            "can_sync": self.can_sync,
            "errors": self.findings.error_count(),
            "warnings": self.findings.warning_count(),
            "files": [f.to_dict() for f in self.files.values()],
            "extra_files": self.extra_files,
            "rows": {e: self.model.tables[e].num_rows for e in ENTITIES}
            | {
                "user_roles": self.model.user_roles.num_rows,
                "guardian_links": self.model.guardian_links.num_rows,
            },
            "finding_counts": self.findings.counts(),
            "findings": [f.to_dict() for f in self.findings.all()],
        }
