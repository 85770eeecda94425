"""The quoting scan (RFC 4180 with the spec's carriage-return rule) and records that span
lines because a quoted field holds a line feed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollbook.oneroster import quoting
from rollbook.oneroster.findings import Findings
from rollbook.oneroster.validate import read_bundle

from .conftest import write_bundle
from .rule_bundles import CLASS_ROW, classes_with, v12

SAMPLE = (
    b'\xef\xbb\xbf"a",b,c\r\n'  # 1: a BOM, a quoted header name
    b'x,"y",1\r\n'  # 2: fine
    b'"bad"x,1,2\r\n'  # 3: text after the closing quote
    b'q"r,2,3\r\n'  # 4: a bare quote
    b'"m\nn",2,"3\r\n'  # 5-7: one record, a line feed in a, a CRLF inside c
    b'4"\r\n'
    b'ok,"o ""k""",k\r\n'  # 8: a doubled quote: fine
    b'"never,1,2\n'  # 9: never closed
)


def scan(tmp_path: Path, data: bytes) -> tuple[quoting.QuoteScan, Findings]:
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    findings = Findings(strict=True)
    return quoting.scan_quoting(path, "t.csv", None, findings, ["a", "b", "c"]), findings


def located(findings: Findings) -> list[tuple[str, int | None, str | None]]:
    return sorted((f.code, f.line, f.column) for f in findings.all())


EXPECTED = [
    ("OR-CSV-AFTER-QUOTE", 3, "a"),
    ("OR-CSV-BARE-QUOTE", 4, "a"),
    ("OR-CSV-BARE-QUOTE", 9, None),
    ("OR-CSV-CR-IN-FIELD", 6, "c"),
]


def test_each_defect_is_found_on_its_line_and_column(tmp_path: Path) -> None:
    result, findings = scan(tmp_path, SAMPLE)
    assert located(findings) == EXPECTED
    assert result.quoted_newlines == [5, 6]


@pytest.mark.parametrize("block", [7, 16, 40])
def test_blocks_cut_anywhere_find_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """A record open at the end of a block is carried into the next one."""
    monkeypatch.setattr(quoting, "BLOCK", block)
    result, findings = scan(tmp_path, SAMPLE)
    assert located(findings) == EXPECTED
    assert result.quoted_newlines == [5, 6]


def test_a_file_without_defects_reports_nothing(tmp_path: Path) -> None:
    result, findings = scan(tmp_path, b'a,b\n"1,2","x ""y"""\n,\n"",""\n3,4')
    assert located(findings) == []
    assert result.quoted_newlines == []


def test_utf16_is_not_scanned_by_byte(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes('a,b\nq"r,1\n'.encode("utf-16"))
    findings = Findings()
    assert quoting.scan_quoting(path, "t.csv", "utf-16", findings).defects == 0
    assert findings.counts() == {}


def test_a_line_feed_in_quotes_is_read_whole_and_rows_keep_their_lines(tmp_path: Path) -> None:
    rows = [
        CLASS_ROW.replace(",scheduled,,", ',scheduled,"Room 1\nWest\nwing",'),
        CLASS_ROW.replace("cls1", "cls2").replace("Math 1", "Math 2"),
        CLASS_ROW.replace("cls1", "cls3").replace("Math 1", '"Math ""3"""'),
    ]
    path = write_bundle(tmp_path / "b", v12(classes__csv=classes_with("\n".join(rows))))
    result = read_bundle(path, strict=True)
    assert result.findings.counts() == {}
    classes = result.model.classes
    assert classes["location"].to_pylist() == ["Room 1\nWest\nwing", None, None]
    assert classes["line"].to_pylist() == [2, 5, 6]
    assert classes["title"].to_pylist() == ["Math 1", "Math 2", 'Math "3"']


def test_findings_of_later_rows_cite_their_own_line(tmp_path: Path) -> None:
    rows = [
        CLASS_ROW.replace(",scheduled,,", ',scheduled,"Room 1\nWest",'),
        CLASS_ROW.replace("cls1", "cls2").replace("scheduled", "lecture"),
    ]
    path = write_bundle(tmp_path / "b", v12(classes__csv=classes_with("\n".join(rows))))
    finding = read_bundle(path).findings.by_code["OR-VALUE-ENUM"].instances[0]
    assert (finding.line, finding.column) == (4, "classType")


def test_findings_name_columns_as_the_file_spells_them(tmp_path: Path) -> None:
    sessions = (
        "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,"
        "schoolYear\nsy,,,2025-26,schoolYear,2026-07-01,2025-08-01,,2026\n"
        "term1,,,Fall,term,2025-08-01,2026-01-01,sy,2026\n"
    )
    path = write_bundle(tmp_path / "b", v12(academicSessions__csv=sessions))
    finding = read_bundle(path).findings.by_code["OR-VALUE-DATE-ORDER"].instances[0]
    assert finding.column == "endDate"
    assert "endDate" in finding.message and "end_date" not in finding.message
