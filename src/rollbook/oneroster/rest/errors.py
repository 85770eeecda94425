"""The one error a fetch raises, and reading a OneRoster error body into plain words.

A fetch either writes a whole bundle or raises :class:`FetchFailed`: which collection, which
page, the HTTP status, what happened and what to check. Messages never hold a credential:
they are built from our own words, the status, the collection and at most a short excerpt of
the server's OneRoster status description.
"""

from __future__ import annotations

import orjson

_EXCERPT = 200


class FetchFailed(Exception):
    """A REST fetch did not complete; nothing of it may be applied.

    Attributes:
        reason: what happened, in plain words.
        hint: what the administrator should check or do.
        collection: the OneRoster collection (``users``, ...) or ``None`` (sign-in, setup).
        page: the 1-based page of that collection, when a page was being read.
        status: the HTTP status of the last answer, when there was one.
    """

    def __init__(
        self,
        reason: str,
        hint: str = "",
        *,
        collection: str | None = None,
        page: int | None = None,
        status: int | None = None,
    ) -> None:
        self.reason = reason
        self.hint = hint
        self.collection = collection
        self.page = page
        self.status = status
        super().__init__(self.message())

    def __reduce__(self):  # picklable (a worker may hand it to another process)
        return _rebuild, (self.reason, self.hint, self.collection, self.page, self.status)

    def where(self) -> str:
        """``users, page 12`` — what was being read."""
        if self.collection is None:
            return ""
        if self.page is None:
            return self.collection
        return f"{self.collection}, page {self.page}"

    def message(self) -> str:
        """One sentence (two with the hint) for an administrator."""
        head = f"REST fetch failed ({self.where()}): " if self.collection else "REST fetch failed: "
        text = head + self.reason
        if self.status is not None and f"HTTP {self.status}" not in self.reason:
            text += f" (HTTP {self.status})"
        text += "."
        if self.hint:
            text += " " + self.hint
        return text

    def to_dict(self) -> dict:
        """For a run's report and ``--json``."""
        return {
            "reason": self.reason,
            "hint": self.hint,
            "collection": self.collection,
            "page": self.page,
            "status": self.status,
            "message": self.message(),
        }


def _rebuild(reason, hint, collection, page, status) -> FetchFailed:
    return FetchFailed(reason, hint, collection=collection, page=page, status=status)


def status_summary(body: bytes) -> str:
    """The OneRoster status of an error body in a few words, or ``""``.

    Reads the three shapes seen in practice (SPEC-NOTES §2.5): ``{"statusInfoSet": [...]}``,
    ``{"imsx_statusInfo": {...}}`` and a bare status object; also ``{"error": ...}`` from
    OAuth endpoints. Only the code minor and a short description are kept.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if isinstance(data, dict):
        for key in ("statusInfoSet", "imsx_statusInfoSet"):
            if isinstance(data.get(key), list) and data[key]:
                data = data[key][0]
                break
        else:
            for key in ("imsx_statusInfo", "imsx_StatusInfo", "statusInfo"):
                if isinstance(data.get(key), dict):
                    data = data[key]
                    break
    if not isinstance(data, dict):
        return ""
    parts = []
    minor = _code_minor(data)
    if minor:
        parts.append(minor)
    for key in ("imsx_description", "error_description", "error", "message"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            parts.append(_excerpt(value))
            break
    return ": ".join(parts)


def _code_minor(status: dict) -> str:
    minor = status.get("imsx_CodeMinor") or status.get("imsx_codeMinor")
    if isinstance(minor, dict):
        fields = minor.get("imsx_codeMinorField")
        if isinstance(fields, list) and fields and isinstance(fields[0], dict):
            value = fields[0].get("imsx_codeMinorFieldValue")
            return value if isinstance(value, str) else ""
    return ""


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"
