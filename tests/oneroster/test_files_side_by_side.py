"""The roster files read side by side (validate._side_by_side): the result is the one of
reading them one after the other — the same tables, the same findings in the files' order —
and progress is told from the calling thread."""

from __future__ import annotations

import csv
import threading

import pytest

from rollbook.oneroster import schema, threads, validate
from rollbook.oneroster.findings import MAX_INSTANCES_PER_CODE
from rollbook.oneroster.generator import generate_bundle

DAMAGED = ("users.csv", "enrollments.csv", "roles.csv", "classes.csv")
MANY = MAX_INSTANCES_PER_CODE + 7


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A generated bundle whose first rows of four files have an unknown status: 5 rows each
    (every instance kept) and, in users.csv, more rows than a code keeps instances of."""
    folder = tmp_path_factory.mktemp("damaged") / "b"
    generate_bundle(folder, students=300)
    for name in DAMAGED:
        path = folder / name
        rows = list(csv.reader(path.open(newline="")))
        column = rows[0].index("status")
        for row in rows[1 : 1 + (MANY if name == "users.csv" else 5)]:
            row[column] = "bogus"
        with path.open("w", newline="") as out:
            csv.writer(out).writerows(rows)
    return folder


def _findings(result) -> dict[str, tuple[int, list[tuple]]]:
    return {
        code: (s.count, [(f.file, f.line, f.column, f.message) for f in s.instances])
        for code, s in result.findings.by_code.items()
    }


def test_findings_come_in_the_files_order_whichever_lane_read_them(damaged, monkeypatch):
    result = validate.read_bundle(damaged)
    order = [spec.filename for spec in schema.ROSTER_FILES]
    found = _findings(result)
    count, instances = found["OR-VALUE-ENUM"]
    assert count == 3 * 5 + MANY
    # File by file in the files' order (classes.csv before users.csv, the largest file), by
    # line; the instances kept are the first ones so read.
    expected = [("classes.csv", line) for line in range(2, 7)]
    expected += [("users.csv", line) for line in range(2, 2 + MAX_INSTANCES_PER_CODE - 5)]
    assert [(file, line) for file, line, *_ in instances] == expected
    for code, (_, kept) in found.items():
        places = [(order.index(file), line) for file, line, *_ in kept]
        assert places == sorted(places), code
    # One lane (the files one after the other, largest first) reads the same.
    monkeypatch.setattr(threads, "WORKERS", 1)
    alone = validate.read_bundle(damaged)
    assert _findings(alone) == found
    assert list(alone.findings.by_code) == list(result.findings.by_code)
    for name, table in result.model.tables.items():
        assert alone.model.tables[name].equals(table), name
    assert alone.model.user_roles.equals(result.model.user_roles)
    assert alone.model.guardian_links.equals(result.model.guardian_links)


def test_progress_is_told_from_the_calling_thread(damaged):
    told = []

    def on_file(name: str, done: int, total: int) -> None:
        told.append((threading.get_ident(), name, done, total))

    validate.read_bundle(damaged, on_file=on_file)
    assert {ident for ident, *_ in told} == {threading.get_ident()}
    files = sorted(p.name for p in damaged.glob("*.csv") if p.name != "manifest.csv")
    assert sorted(name for _, name, *_ in told[:-1]) == files  # each file once
    dones = [done for _, _, done, _ in told]
    total = told[-1][3]
    assert dones == sorted(dones) and told[-1][1:] == ("", total, total)
    assert total == sum((damaged / name).stat().st_size for name in files)
