"""People's names in the reader: Unicode NFC, hidden characters reported and removed."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from rollbook.directory.contacts import HIDDEN_CHARACTERS
from rollbook.oneroster.csvread import LINE
from rollbook.oneroster.findings import Findings
from rollbook.oneroster.rowchecks import Checker
from rollbook.oneroster.schema import USERS
from rollbook.oneroster.validate import read_bundle

from .conftest import USERS_11, base_files, write_bundle

NFD = unicodedata.normalize("NFD", "José Núñez")
NFC = unicodedata.normalize("NFC", "José Núñez")


def users(*rows: str) -> str:
    return USERS_11 + "".join(r + "\n" for r in rows)


def bundle(tmp_path: Path, given_name: str, family: str = "Lee", middle: str = "") -> Path:
    student = f"stu1,,,true,sch,student,stu1,,{given_name},{family},{middle},,,,,par1,09,"
    return write_bundle(
        tmp_path / "b",
        base_files(
            users__csv=users(
                student,
                "par1,,,true,sch,parent,par1,,Bob,Lee,,,bob@example.org,,,,,",
                "tea1,,,true,sch,teacher,tea1,,Cy,Ray,,,cy@example.org,,,,,",
            )
        ),
    )


def student_names(result) -> dict[str, str | None]:
    users = result.model.users
    row = users.filter(pa.compute.equal(users["sourced_id"], "stu1")).to_pylist()[0]
    return {k: row[k] for k in ("given_name", "family_name", "middle_name")}


def test_decomposed_names_are_read_composed(tmp_path: Path) -> None:
    given_name, family = NFD.split(" ")
    result = read_bundle(
        bundle(tmp_path, given_name, family, middle=unicodedata.normalize("NFD", "Inés"))
    )
    assert student_names(result) == {
        "given_name": "José",
        "family_name": "Núñez",
        "middle_name": "Inés",
    }
    assert result.findings.counts() == {}  # the same letters: nothing to tell


def test_a_direction_override_is_reported_and_removed(tmp_path: Path) -> None:
    result = read_bundle(bundle(tmp_path, "Ann\u202efdp.exe", "Lee\u200b"))
    assert student_names(result)["given_name"] == "Annfdp.exe"
    assert student_names(result)["family_name"] == "Lee"
    found = result.findings.by_code["OR-VALUE-HIDDEN-CHARACTER"]
    assert found.count == 2 and str(found.severity) == "warning"
    first = found.instances[0]
    assert (first.file, first.line, first.column, first.sourced_id) == (
        "users.csv",
        2,
        "givenName",
        "stu1",
    )
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in first.message
    assert "\u202e" not in first.message  # the message shows the character escaped
    assert "U+200B (ZERO WIDTH SPACE)" in found.instances[1].message
    assert result.can_sync


def test_joiners_that_scripts_need_are_kept(tmp_path: Path) -> None:
    persian = "\u0645\u06cc\u200c\u0631\u0627"  # ZWNJ inside a Persian name
    result = read_bundle(bundle(tmp_path, persian))
    assert student_names(result)["given_name"] == persian
    assert result.findings.counts() == {}


def _name_column(values: list[str | None], cut: int) -> pa.ChunkedArray:
    cut = min(cut, len(values))
    return pa.chunked_array(
        [pa.array(values[:cut], pa.string()), pa.array(values[cut:], pa.string())], pa.string()
    )


LETTERS = st.sampled_from(
    ["a", "Z", " ", "é", "e\u0301", "n\u0303", "\u0301", "Å", "A\u030a", "ß", "한", "\u1100\u1161"]
    + list(HIDDEN_CHARACTERS)
)


@given(
    st.lists(st.one_of(st.none(), st.lists(LETTERS, max_size=6).map("".join)), max_size=20),
    st.integers(0, 20),
)
def test_the_name_column_equals_the_scalar_rule(values: list[str | None], cut: int) -> None:
    column = next(c for c in USERS.columns if c.name == "given_name")
    raw = _name_column(values, cut)
    table = pa.table({"sourced_id": pa.array([str(i) for i in range(len(values))]), "x": raw})
    table = table.append_column(LINE, pa.array(range(len(values)), pa.int32()))
    checker = Checker(table, USERS, "1.1", "bulk", "users.csv", Findings())
    out = checker._name(column, raw).to_pylist()
    strip = str.maketrans("", "", HIDDEN_CHARACTERS)
    expected = [
        None
        if v is None
        else (unicodedata.normalize("NFC", v.translate(strip)) or None)
        if not v.isascii()
        else v
        for v in values
    ]
    assert out == expected


def test_an_ascii_column_is_returned_untouched() -> None:
    column = next(c for c in USERS.columns if c.name == "family_name")
    raw = pa.chunked_array([pa.array(["Lee", None, "O'Neil"])])
    table = pa.table({"sourced_id": ["1", "2", "3"], "x": raw, LINE: pa.array([2, 3, 4])})
    checker = Checker(table, USERS, "1.1", "bulk", "users.csv", Findings())
    assert checker._name(column, raw) is raw
