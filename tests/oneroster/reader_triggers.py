"""Minimal bundles that trigger each of the reader's robustness codes (readercodes.py); joined
to the registry-wide TRIGGERS of test_findings.py."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from .conftest import BASE_11, MANIFEST_11, USERS_11, base_files, manifest_text, write_bundle

Builder = Callable[[Path], tuple[Path, dict[str, object]]]
STU = "stu1,,,true,sch,student,stu1,,Ann,Lee,,,ann@example.org,,,par1,09,"
PAR = "par1,,,true,sch,parent,par1,,Bob,Lee,,,bob@example.org,,,,,"
DEMOGRAPHICS = "sourcedId,status,dateLastModified,birthDate,sex\n"


def users(*rows: str) -> str:
    return USERS_11 + "".join(r + "\n" for r in rows)


def with_birth_date(value: str) -> dict[str, str | bytes]:
    """The base bundle with demographics giving stu1 this birth date."""
    return base_files(
        manifest__csv=manifest_text({**MANIFEST_11, "file.demographics": "bulk"}),
        demographics__csv=DEMOGRAPHICS + f"stu1,,,{value},\n",
    )


def _folder(files: dict[str, str | bytes]) -> Builder:
    return lambda tmp: (write_bundle(tmp / "b", files), {})


def _junk_zip(tmp: Path) -> tuple[Path, dict[str, object]]:
    path = tmp / "b.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in base_files().items():
            zf.writestr(name, content)
        zf.writestr("__MACOSX/._users.csv", b"\x00\x05\x16\x07")
        zf.writestr(".DS_Store", b"\x00\x00\x00\x01Bud1")
    return path, {}


READER_TRIGGERS: dict[str, Builder] = {
    "OR-BUNDLE-JUNK": _junk_zip,
    "OR-FILE-UTF16": _folder(base_files(users__csv=users(STU, PAR).encode("utf-16"))),
    "OR-VALUE-DATE-IMPOSSIBLE": _folder(with_birth_date("2020-02-30")),
    "OR-VALUE-TOO-LONG": _folder(
        base_files(classes__csv=BASE_11["classes.csv"].replace("Math 1", "M" * 256))
    ),
}
