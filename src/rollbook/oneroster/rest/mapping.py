"""The rostering collections of the REST binding, and how a JSON record becomes CSV rows.

One collection per CSV file of the binding (users also gives roles.csv in 1.2). The CSV column
order is the generator's normative layout (``generator/layout.py``); each column is read from
the JSON field the REST binding names (SPEC-NOTES §2.4):

- ``fooSourcedId`` ← ``foo`` (a GUIDRef ``{href, sourcedId, type}`` or a plain string);
- ``fooSourcedIds`` ← ``foos`` (a list of GUIDRefs or strings, joined with commas);
- ``preferredGivenName``/``preferredFamilyName`` ← ``preferredFirstName``/``preferredLastName``;
- ``userIds`` ← ``[{type, identifier}]`` written ``{type:identifier}``;
- anything else ← the field of the same name.

A vendor sending the CSV name instead (``orgSourcedId``) is read too. Values are written as
given — JSON ``true`` as ``true``, ``null`` as empty, lists comma-joined — so that the CSV
reader checks and reports them exactly as it would in a CSV export. ``metadata`` objects
become ``metadata.*`` columns (nested keys joined with dots).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from ..generator import layout


@dataclass(frozen=True)
class Collection:
    """A REST collection: its path under the base URL, its envelope keys, its CSV file."""

    path: str  # e.g. "academicSessions" (also the report's name)
    file: str  # CSV file without ".csv"
    envelope: tuple[str, ...]  # keys the records may come under: plural first, then singular
    optional: bool = False  # may be missing from a SIS (404/501/403 = not offered)


ORGS = Collection("orgs", "orgs", ("orgs", "org"))
ACADEMIC_SESSIONS = Collection(
    "academicSessions", "academicSessions", ("academicSessions", "academicSession")
)
COURSES = Collection("courses", "courses", ("courses", "course"))
CLASSES = Collection("classes", "classes", ("classes", "class"))
USERS = Collection("users", "users", ("users", "user"))
ENROLLMENTS = Collection("enrollments", "enrollments", ("enrollments", "enrollment"))
DEMOGRAPHICS = Collection("demographics", "demographics", ("demographics",), optional=True)

#: Fetch order: the two large collections first, so that they start as early as possible.
COLLECTIONS: tuple[Collection, ...] = (
    ENROLLMENTS,
    USERS,
    DEMOGRAPHICS,
    CLASSES,
    COURSES,
    ACADEMIC_SESSIONS,
    ORGS,
)
BY_PATH = {c.path: c for c in COLLECTIONS}

_RENAMED = {
    "preferredGivenName": "preferredFirstName",
    "preferredFamilyName": "preferredLastName",
}


def json_key(header: str) -> str:
    """The REST field that holds CSV column ``header``."""
    if header in _RENAMED:
        return _RENAMED[header]
    if header.endswith("SourcedIds"):
        return header[: -len("SourcedIds")] + "s"
    if header.endswith("SourcedId") and header != "sourcedId":
        return header[: -len("SourcedId")]
    return header


def text(value: object) -> str:
    """A JSON value as the CSV binding writes it."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[return-value]
    if value is None:
        return ""
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if cls is dict:
        ref = value.get("sourcedId")  # type: ignore[union-attr]
        if ref is not None:
            return text(ref)
        if "identifier" in value:  # a userId {type, identifier}
            kind, ident = text(value.get("type")), text(value.get("identifier"))  # type: ignore[union-attr]
            return "{" + kind + ":" + ident + "}"
        return orjson.dumps(value).decode()
    if cls is list:
        parts = []
        for item in value:  # type: ignore[union-attr]
            if item.__class__ is dict and item.get("sourcedId").__class__ is str:
                parts.append(item["sourcedId"])  # a GUIDRef, the usual case
            elif item.__class__ is str:
                parts.append(item)
            elif (part := text(item)) != "":
                parts.append(part)
        return ",".join(p for p in parts if p)
    if cls is float:
        return str(int(value)) if value.is_integer() else str(value)  # type: ignore[union-attr]
    return str(value)


RowMaker = Callable[[dict], list[str]]


def row_maker(columns: list[str]) -> RowMaker:
    """A function turning a JSON record into the CSV row of ``columns``."""
    keys = [json_key(h) for h in columns]
    alts = [(i, h) for i, h in enumerate(columns) if keys[i] != h]

    def row(record: dict) -> list[str]:
        values = list(map(record.get, keys))
        for i, alt in alts:
            if values[i] is None:
                values[i] = record.get(alt)
        return [v if v.__class__ is str else "" if v is None else text(v) for v in values]

    return row


_ROLE_FIELDS = ("role", "org", "roleType", "beginDate", "endDate")


def role_rows(user: dict) -> list[list[str]]:
    """roles.csv rows (1.2 layout) of a 1.2 REST user: one per entry of ``roles[]``.

    The REST binding gives roles no sourcedId; each row gets ``user/org/role``, stable from one
    fetch to the next. A user with no ``roles`` but 1.1-style ``role`` and ``orgs`` (a vendor
    quirk) gets one row per org, the first primary. Status and dateLastModified are the user's.
    """
    uid = text(user.get("sourcedId"))
    status = text(user.get("status"))
    modified = text(user.get("dateLastModified"))
    roles = user.get("roles")
    rows = []
    if roles.__class__ is list and roles:
        for r in roles:
            if r.__class__ is not dict:
                continue
            role, org, kind, begin, end = map(r.get, _ROLE_FIELDS)
            role = role if role.__class__ is str else text(role)
            org = org.get("sourcedId") if org.__class__ is dict else org
            org = org if org.__class__ is str else text(org)
            row = [f"{uid}/{org}/{role}", status, modified, uid, kind, role, begin, end, org, ""]
            if not (kind.__class__ is str and begin is None and end is None):
                row[4], row[6], row[7] = text(kind), text(begin), text(end)
            rows.append(row)
    elif roles is None and user.get("role") is not None:
        role = text(user.get("role"))
        orgs = user.get("orgs") or []
        for i, org_ref in enumerate(orgs if isinstance(orgs, list) else [orgs]):
            org = text(org_ref)
            kind = "primary" if i == 0 else "secondary"
            rows.append([f"{uid}/{org}/{role}", status, modified, uid, kind, role, "", "", org, ""])
    return rows


def flat_metadata(record: dict) -> dict[str, str] | None:
    """``metadata`` of a record as ``{"metadata.a.b": text}``, or ``None`` when it has none."""
    meta = record.get("metadata")
    if not isinstance(meta, dict) or not meta:
        return None
    out: dict[str, str] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        elif value is not None and value != {}:
            out[prefix] = text(value)

    walk("metadata", meta)
    return out or None


def columns(version: str, file: str) -> list[str]:
    """The CSV columns of ``file`` in ``version``'s binding (normative order)."""
    return layout.columns(version, file)
