"""OneRoster REST JSON records from a CSV bundle: the inverse of the fetch's mapping.

For fixture servers (tests), the loopback benchmark and demos: a generated bundle served as a
SIS would serve it. References become GUIDRefs ``{href, sourcedId, type}``, lists become
arrays, ``metadata.*`` columns a nested ``metadata`` object, 1.1 users keep ``role`` and
``orgs``, 1.2 users get ``roles[]`` from roles.csv. Booleans follow each version's OpenAPI:
JSON booleans in 1.1, the strings ``"true"``/``"false"`` in 1.2. Empty status and
dateLastModified (bulk CSV) become ``active`` and ``modified`` (REST requires both).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from .. import schema
from .mapping import Collection, json_key

MODIFIED = "2026-01-01T00:00:00.000Z"

#: GUIDRef ``type`` and collection path of each reference field (by REST field name).
_REF_TYPES = {
    "parent": ("org", "orgs"),
    "org": ("org", "orgs"),
    "orgs": ("org", "orgs"),
    "school": ("org", "schools"),
    "primaryOrg": ("org", "orgs"),
    "course": ("course", "courses"),
    "class": ("class", "classes"),
    "user": ("user", "users"),
    "agents": ("user", "users"),
    "terms": ("academicSession", "academicSessions"),
    "schoolYear": ("academicSession", "academicSessions"),
}


def guid_ref(base_url: str, field: str, sourced_id: str, file: str) -> dict:
    """The GUIDRef of ``sourced_id`` in field ``field`` of a ``file`` record."""
    kind, path = _REF_TYPES.get(field, ("org", "orgs"))
    if field == "parent" and file == "academicSessions":
        kind, path = "academicSession", "academicSessions"
    return {"href": f"{base_url}/{path}/{sourced_id}", "sourcedId": sourced_id, "type": kind}


def _kinds(file: str, version: str) -> dict[str, str]:
    spec = schema.BY_FILENAME[file + ".csv"]
    return {c.header: c.kind for c in spec.columns_for(version)}


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _user_ids(value: str) -> list[dict]:
    out = []
    for item in _split(value):
        kind, _, ident = item.strip("{}").partition(":")
        out.append({"type": kind, "identifier": ident})
    return out


def records(
    folder: str | Path,
    version: str,
    collection: Collection,
    base_url: str = "https://sis.example/ims/oneroster",
    modified: str = MODIFIED,
) -> Iterator[dict]:
    """The REST records of ``collection`` from the bundle folder ``folder``, in file order."""
    folder = Path(folder)
    path = folder / f"{collection.file}.csv"
    if not path.exists():
        return
    kinds = _kinds(collection.file, version)
    roles = _roles(folder, base_url) if collection.file == "users" and version == "1.2" else None
    boolean = _bool11 if version == "1.1" else _bool12
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        for row in reader:
            rec: dict = {}
            meta: dict = {}
            for h, value in zip(header, row, strict=False):
                if h.startswith("metadata."):
                    if value:
                        _nest(meta, h.split(".")[1:], value)
                    continue
                kind = kinds.get(h, "text")
                if h == "status":
                    rec["status"] = value or "active"
                elif h == "dateLastModified":
                    rec["dateLastModified"] = value or modified
                elif not value:
                    continue
                elif kind == "ref":
                    key = json_key(h)
                    rec[key] = guid_ref(base_url, key, value, collection.file)
                elif kind == "refs":
                    key = json_key(h)
                    rec[key] = [guid_ref(base_url, key, v, collection.file) for v in _split(value)]
                elif h == "userIds":
                    rec["userIds"] = _user_ids(value)
                elif kind == "list" and not (h == "periods" and version == "1.1"):
                    rec[h] = _split(value)
                elif kind == "bool":
                    rec[h] = boolean(value)
                else:
                    rec[json_key(h)] = value
            if meta:
                rec["metadata"] = meta
            if roles is not None:
                rec["roles"] = roles.get(rec.get("sourcedId"), [])
            yield rec


def _bool11(value: str) -> bool | str:
    low = value.lower()
    return {"true": True, "false": False}.get(low, value)


def _bool12(value: str) -> str:
    return value


def _nest(target: dict, keys: list[str], value: str) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def _roles(folder: Path, base_url: str) -> dict[str, list[dict]]:
    """roles.csv grouped by user, as REST ``RoleDType`` objects."""
    out: dict[str, list[dict]] = defaultdict(list)
    path = folder / "roles.csv"
    if not path.exists():
        return out
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            role = {
                "roleType": row["roleType"],
                "role": row["role"],
                "org": guid_ref(base_url, "org", row["orgSourcedId"], "roles"),
            }
            for key in ("beginDate", "endDate"):
                if row.get(key):
                    role[key] = row[key]
            out[row["userSourcedId"]].append(role)
    return out
