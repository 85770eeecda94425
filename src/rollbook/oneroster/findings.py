"""Findings: what the validator reports about a bundle (codes are registered in codes.py).

Every finding has a stable code, a severity that depends on the mode, the file, line, column
and sourcedId it is about, and a message that says what to fix in the SIS export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .codes import CODES, MAX_INSTANCES_PER_CODE, CodeSpec, Effect, Severity
from .readercodes import READER_SPECS

# The reader's robustness codes (readercodes.py) join the registry here: every user of the
# registry imports it through this module (or the package, which imports this module).
CODES.update((s.code, s) for s in READER_SPECS)

__all__ = [
    "CODES",
    "CodeSpec",
    "Effect",
    "Finding",
    "Findings",
    "Severity",
    "MAX_INSTANCES_PER_CODE",
]


#: The longest message, sourcedId and file name a finding keeps (a 16 MB cell, or a sourcedId
#: of a million characters, is quoted in part: the run's records keep every finding).
MAX_MESSAGE = 2000
MAX_SOURCED_ID = 512
MAX_FILE = 512


def shorten(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if text is None or len(text) <= limit:
        return text
    tail = f"… ({len(text):,} characters)"
    return text[: max(limit - len(tail), 0)] + tail


def _finding(
    code: str,
    severity: Severity,
    file: str | None,
    line: int | None,
    column: str | None,
    sid: str | None,
    message: str,
) -> Finding:
    return Finding(
        code,
        severity,
        shorten(file, MAX_FILE),
        line,
        shorten(column, MAX_FILE),
        shorten(sid, MAX_SOURCED_ID),
        shorten(message, MAX_MESSAGE) or "",
    )


@dataclass(frozen=True)
class Finding:
    """One reported problem, located as precisely as possible."""

    code: str
    severity: Severity
    file: str | None
    line: int | None
    column: str | None
    sourced_id: str | None
    message: str

    def location(self) -> str:
        """`file:line:column` as far as known."""
        parts = [p for p in (self.file, self.line, self.column) if p not in (None, "")]
        return ":".join(str(p) for p in parts) or "bundle"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form with stable keys."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "sourced_id": self.sourced_id,
            "message": self.message,
        }


@dataclass
class CodeSummary:
    """All findings of one code: the total and the first instances."""

    spec: CodeSpec
    severity: Severity
    count: int = 0
    instances: list[Finding] = field(default_factory=list)


class Findings:
    """Collects findings, keeping the first instances per code and a total per code."""

    def __init__(self, strict: bool = False, max_instances: int = MAX_INSTANCES_PER_CODE):
        self.strict = strict
        self.max_instances = max_instances
        self.by_code: dict[str, CodeSummary] = {}

    def severity(self, code: str) -> Severity:
        """Severity of ``code`` in this collector's mode."""
        return CODES[code].severity(self.strict)

    def add(
        self,
        code: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        sourced_id: str | None = None,
    ) -> None:
        """Record one finding."""
        summary = self._summary(code)
        summary.count += 1
        if len(summary.instances) < self.max_instances:
            summary.instances.append(
                _finding(code, summary.severity, file, line, column, sourced_id, message)
            )

    def add_rows(
        self,
        code: str,
        total: int,
        rows: Iterable[tuple[int | None, str | None, str]],
        *,
        file: str,
        column: str | None,
    ) -> None:
        """Record ``total`` row findings of which ``rows`` (line, sourcedId, message) are
        the first few instances (only up to ``max_instances`` are consumed)."""
        if total <= 0:
            return
        summary = self._summary(code)
        summary.count += total
        room = self.max_instances - len(summary.instances)
        for i, (line, sid, message) in enumerate(rows):
            if i >= room:
                break
            summary.instances.append(
                _finding(code, summary.severity, file, line, column, sid, message)
            )

    def child(self) -> Findings:
        """An empty collector in the same mode, for work done on another thread; its
        findings join this one's with :meth:`merge`, in an order that does not depend on
        which thread finished first."""
        return Findings(self.strict, self.max_instances)

    def merge(self, other: Findings) -> None:
        """Add ``other``'s findings after this one's, as if they had been added here."""
        for code, theirs in other.by_code.items():
            summary = self._summary(code)
            summary.count += theirs.count
            room = self.max_instances - len(summary.instances)
            summary.instances.extend(theirs.instances[: max(room, 0)])

    def _summary(self, code: str) -> CodeSummary:
        if code not in CODES:
            raise KeyError(f"unregistered finding code {code}")
        summary = self.by_code.get(code)
        if summary is None:
            summary = CodeSummary(CODES[code], self.severity(code))
            self.by_code[code] = summary
        return summary

    def counts(self) -> dict[str, int]:
        """Total count per code."""
        return {c: s.count for c, s in sorted(self.by_code.items())}

    def error_count(self) -> int:
        """Number of error findings (all instances, not just kept ones)."""
        return sum(s.count for s in self.by_code.values() if s.severity is Severity.ERROR)

    def warning_count(self) -> int:
        """Number of warning findings."""
        return sum(s.count for s in self.by_code.values() if s.severity is Severity.WARNING)

    def all(self) -> list[Finding]:
        """The kept instances, errors first, then by code."""
        out = [f for s in self.by_code.values() for f in s.instances]
        order: Callable[[Finding], tuple[int, str]] = lambda f: (  # noqa: E731
            0 if f.severity is Severity.ERROR else 1,
            f.code,
        )
        return sorted(out, key=order)
