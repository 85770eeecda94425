"""The bytes of one CSV file: line ends, long cells, encodings — a finding, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollbook.oneroster.validate import read_bundle

from .conftest import BASE_11, USERS_11, base_files, write_bundle

STU = "stu1,,,true,sch,student,stu1,,Ann,Lee,,,ann@example.org,,,par1,09,"
PAR = "par1,,,true,sch,parent,par1,,Bob,Lee,,,bob@example.org,,,,,"
TEA = "tea1,,,true,sch,teacher,tea1,,Cy,Ray,,,cy@example.org,,,,,"


def users(*rows: str) -> str:
    return USERS_11 + "".join(r + "\n" for r in rows)


def read(tmp_path: Path, encoding: str | None = None, **files: str | bytes):
    return read_bundle(write_bundle(tmp_path / "b", base_files(**files)), encoding=encoding)


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"])
def test_every_line_end_reads_the_same(tmp_path: Path, end: str) -> None:
    """CR-only files (old Mac exports) are read like CRLF ones, manifest included."""
    files = {k.replace(".", "__"): str(v).replace("\n", end) for k, v in base_files().items()}
    result = read(tmp_path, **files)
    assert result.findings.counts() == {}
    assert result.model.users["sourced_id"].to_pylist() == ["stu1", "par1", "tea1"]
    assert result.model.users["line"].to_pylist() == [2, 3, 4]


@pytest.mark.parametrize("row", [0, 2])
def test_a_cell_over_131072_characters_is_a_finding(tmp_path: Path, row: int) -> None:
    """Python's csv module refuses such a field by default: in the first row it crashed the
    header read, in a later row it passed unnoticed. Now it is read, and its length is a
    finding (no directory column holds it)."""
    rows = [STU, PAR, TEA]
    rows[row] = (
        rows[row]
        .replace(",Lee,", "," + "L" * 140_000 + ",", 1)
        .replace(",Ray,", "," + "R" * 140_000 + ",", 1)
    )
    result = read(tmp_path, users__csv=users(*rows))
    summary = result.findings.by_code["OR-VALUE-TOO-LONG"]
    assert summary.count == 1 and summary.instances[0].line == row + 2
    assert summary.instances[0].column == "familyName"
    assert not result.can_sync
    assert result.files["users.csv"].rows_rejected == 1


def test_an_undecodable_byte_in_utf8_is_not_called_another_encoding(tmp_path: Path) -> None:
    data = users(STU.replace("Ann", "Zoë"), PAR, TEA).encode().replace(b"Bob", b"B\xffb")
    result = read(tmp_path, users__csv=data)
    message = result.findings.by_code["OR-FILE-ENCODING"].instances[0].message
    assert "UTF-8 but holds bytes that are not (line 3)" in message
    assert "--encoding" not in message


def test_windows_1252_is_advised_as_windows_1252_and_the_advice_works(tmp_path: Path) -> None:
    data = users(STU.replace("Ann", "Zoë"), PAR.replace("Bob", "José"), TEA).encode("cp1252")
    result = read(tmp_path, users__csv=data)
    message = result.findings.by_code["OR-FILE-ENCODING"].instances[0].message
    assert "--encoding cp1252" in message
    again = read(tmp_path, "cp1252", users__csv=data)
    assert "OR-FILE-ENCODING" not in again.findings.counts()
    assert {"Zoë", "José"} <= set(again.model.users["given_name"].to_pylist())


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_a_file_with_a_wide_byte_order_mark_is_read(tmp_path: Path, codec: str) -> None:
    bom = {"utf-16-be": b"\xfe\xff"}.get(codec, b"")
    data = bom + users(STU, PAR.replace("Bob", "Björn"), TEA).encode(codec)
    result = read(tmp_path, users__csv=data)
    assert result.findings.counts() == {"OR-FILE-UTF16": 1}
    assert "Björn" in result.model.users["given_name"].to_pylist()
    assert result.can_sync


def test_a_whole_utf16_bundle_is_read(tmp_path: Path) -> None:
    files = {k.replace(".", "__"): str(v).encode("utf-16") for k, v in base_files().items()}
    result = read(tmp_path, **files)
    assert result.version == "1.1"
    assert result.findings.counts() == {"OR-FILE-UTF16": 6}
    assert result.model.enrollments.num_rows == 2


def test_utf16_without_a_byte_order_mark_gets_advice_that_works(tmp_path: Path) -> None:
    data = users(STU, PAR, TEA).encode("utf-16-le")
    result = read(tmp_path, users__csv=data)
    message = result.findings.by_code["OR-FILE-NUL"].instances[0].message
    assert "--encoding utf-16-le" in message
    folder = write_bundle(tmp_path / "c", {"users.csv": data})
    for name, content in base_files(users__csv=None).items():
        (folder / name).write_bytes(str(content).encode("utf-16-le"))
    again = read_bundle(folder, encoding="utf-16-le")
    assert again.can_sync and again.model.users.num_rows == 3


def test_empty_file_header_only_and_bom(tmp_path: Path) -> None:
    result = read(
        tmp_path,
        users__csv=b"",
        courses__csv=BASE_11["courses.csv"].split("\n")[0] + "\r\n",
        orgs__csv=b"\xef\xbb\xbf" + BASE_11["orgs.csv"].encode(),
    )
    empty = result.findings.by_code["OR-FILE-EMPTY"]
    assert empty.count == 2
    assert any("no header line" in f.message for f in empty.instances)
    assert result.model.orgs.num_rows == 2
    assert result.files["users.csv"].state == "rejected"


def test_header_without_a_line_end_is_header_only(tmp_path: Path) -> None:
    result = read(tmp_path, courses__csv=BASE_11["courses.csv"].split("\n")[0])
    assert result.files["courses.csv"].state == "empty"
