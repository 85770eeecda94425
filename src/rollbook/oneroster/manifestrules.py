"""Rules of manifest.csv (1.2.1 CSV binding §3.1, and §3: names and values are
case-sensitive).

- ``manifest.version`` is ``1.0`` (OR-MANIFEST-FORMAT-VERSION);
- a property or a file mode in the wrong letter case (``File.users``, ``Bulk``) is reported
  and read under the spec's spelling, never dropped (OR-MANIFEST-CASE);
- a property listed twice is reported; the first row counts (OR-MANIFEST-DUPLICATE).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from . import schema
from .bundle import MAX_MANIFEST_BYTES, Manifest
from .findings import Findings

MODES = ("bulk", "delta", "absent")
MANIFEST_FORMAT_VERSION = "1.0"
_KNOWN = {k.lower(): k for k in (*schema.MANIFEST_FILES[schema.V12], *schema.MANIFEST_OTHER_KEYS)}


def _property_rows(path: Path, encoding: str | None) -> list[tuple[int, str]]:
    """(line, property name) of every row after the header (the manifest is at most 1 MiB;
    it was read once already, so it decodes)."""
    text = path.read_bytes()[:MAX_MANIFEST_BYTES].decode(encoding or "utf-8-sig", "replace")
    csv.field_size_limit(MAX_MANIFEST_BYTES)
    rows: list[tuple[int, str]] = []
    try:
        for i, row in enumerate(csv.reader(io.StringIO(text.replace("\x00", ""))), start=1):
            name = row[0].strip() if row else ""
            if name and not (i == 1 and name == "propertyName"):
                rows.append((i, name))
    except csv.Error:
        pass  # what could be read is checked; read_manifest reported the rest
    return rows


def check_manifest(
    path: Path, manifest: Manifest, findings: Findings, encoding: str | None = None
) -> None:
    """Report the rules above; ``manifest`` is then keyed by the spec's spelling."""
    first: dict[str, int] = {}
    for line, name in _property_rows(path, encoding):
        canon = _KNOWN.get(name.lower(), name)
        if canon in first:
            findings.add(
                "OR-MANIFEST-DUPLICATE",
                f"manifest.csv line {line}: `{name}` is already on line {first[canon]}; "
                "the first row was used.",
                file="manifest.csv",
                line=line,
                column=name,
            )
        else:
            first[canon] = line
    props: dict[str, str] = {}
    lines: dict[str, int] = {}
    for name, value in manifest.properties.items():
        canon = _KNOWN.get(name.lower(), name)
        line = manifest.lines.get(name)
        if canon in props:
            continue  # the same property in another case: reported as a duplicate
        if canon != name:
            findings.add(
                "OR-MANIFEST-CASE",
                f"manifest.csv: property `{name}` should be written `{canon}`; it was read "
                "as that.",
                file="manifest.csv",
                line=line,
                column=name,
            )
        if canon.startswith("file.") and value.lower() in MODES and value != value.lower():
            findings.add(
                "OR-MANIFEST-CASE",
                f"manifest.csv: {canon} is {value!r}; the spec writes it "
                f"`{value.lower()}`, as it was read.",
                file="manifest.csv",
                line=line,
                column=canon,
            )
            value = value.lower()
        props[canon] = value
        if line is not None:
            lines[canon] = line
    version = props.get("manifest.version")
    if version is not None and version != MANIFEST_FORMAT_VERSION:
        findings.add(
            "OR-MANIFEST-FORMAT-VERSION",
            f"manifest.csv: manifest.version is {version!r}; OneRoster 1.1 and 1.2 "
            f"manifests are version {MANIFEST_FORMAT_VERSION}.",
            file="manifest.csv",
            line=lines.get("manifest.version"),
            column="manifest.version",
        )
    manifest.properties, manifest.lines = props, lines
