"""The `validate` command: exit codes, human and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from rollbook.oneroster.cli import register

from .conftest import BASE_11, base_files, write_bundle

app = typer.Typer()
register(app)


@app.callback()
def _root() -> None:
    """Root (so `validate` stays a sub-command)."""


runner = CliRunner()


def test_clean_bundle_exits_0(tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate", str(write_bundle(tmp_path / "b", base_files()))])
    assert res.exit_code == 0, res.output
    assert "can sync: yes" in res.output


def test_errors_exit_1_with_location(tmp_path: Path) -> None:
    enr = BASE_11["enrollments.csv"].replace("stu1", "ghost")
    path = write_bundle(tmp_path / "b", base_files(enrollments__csv=enr))
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 1
    assert (
        "OR-REF-ENROLLMENT-USER" in res.output and "enrollments.csv:2:userSourcedId" in res.output
    )
    assert "can sync: no" in res.output


def test_strict_turns_warnings_into_errors(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", base_files(manifest__csv=None))
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    assert runner.invoke(app, ["validate", str(path), "--strict"]).exit_code == 1


def test_json_output_has_stable_keys(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", base_files(manifest__csv=None))
    res = runner.invoke(app, ["validate", str(path), "--json"])
    data = json.loads(res.output)
    assert {
        "source",
        "mode",
        "version",
        "can_sync",
        "errors",
        "warnings",
        "files",
        "rows",
        "finding_counts",
        "findings",
    } <= set(data)
    assert data["finding_counts"] == {"OR-MANIFEST-MISSING": 1}
    assert data["rows"]["guardian_links"] == 1


def test_bundle_error_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate", str(tmp_path / "missing")])
    assert res.exit_code == 2
    assert "Cannot read the bundle" in res.output
    res = runner.invoke(app, ["validate", str(tmp_path / "missing"), "--json"])
    assert res.exit_code == 2 and json.loads(res.output)["can_sync"] is False
    path = write_bundle(tmp_path / "b", base_files())
    assert runner.invoke(app, ["validate", str(path), "--encoding", "klingon"]).exit_code == 2
