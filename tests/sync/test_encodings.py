"""A bundle whose CSV files are not UTF-8 is synced in the encoding given for the run
(``rollbook sync --encoding``) or set on its source (``rollbook source edit --encoding``), and
every caller of the pipeline reads it alike (issue 16)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.models import Account, AuditEntry, Student
from rollbook.sync.models import SyncRun, SyncSource

from .bundles import Bundle

pytestmark = pytest.mark.django_db
runner = CliRunner()


def cp1252_bundle(folder: Path) -> Path:
    """A bundle with accented names whose users.csv is Windows-1252 (é is the byte 0xE9)."""
    b = Bundle().guardian("gdn-1", "Hélène", "Dubois", email="helene@example.com")
    b.student("stu-1", "José", "Pérez", guardians=("gdn-1",))
    b.write(folder)
    users = folder / "users.csv"
    data = users.read_text(encoding="utf-8").encode("cp1252")
    assert b"Jos\xe9" in data
    users.write_bytes(data)
    return folder


def code_of(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """The exit code and standard error of the real command (``rollbook.cli.main``)."""
    from rollbook.cli import main

    monkeypatch.setattr(sys, "argv", ["rollbook", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code or 0, capsys.readouterr().err


def names() -> set[tuple[str, str]]:
    return set(Student.objects.values_list("given_name", "family_name"))


def test_the_encoding_given_for_the_run_reads_the_names(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    folder = cp1252_bundle(tmp_path / "b")
    args = ["sync", str(folder), "--district", str(district.pk), "--approve", "--json"]
    refused = runner.invoke(app, args)  # read as UTF-8: refused, with advice that works
    assert refused.exit_code == 1, refused.output
    message = next(
        i["message"]
        for i in json.loads(refused.stdout)["issues"]
        if i["code"] == "OR-FILE-ENCODING"
    )
    assert "`--encoding cp1252`" in message and "source's encoding to cp1252" in message
    assert Student.objects.count() == 0

    result = runner.invoke(app, [*args, "--encoding", "cp1252"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["status"] == "applied"
    assert run["stats"]["encoding"] == "cp1252" and run["stats"]["encoding_from"] == "run"
    assert names() == {("José", "Pérez")}
    assert Account.objects.get(email="helene@example.com").given_name == "Hélène"
    assert SyncSource.objects.get().encoding == ""  # for this run only
    shown = runner.invoke(app, ["run", "show", str(run["id"])])
    assert "read as cp1252 (given for this run)" in shown.output


def test_the_sources_encoding_is_read_by_every_run(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    from rollbook.directory.audit import Actor
    from rollbook.readiness.services import run_check
    from rollbook.sync import services

    folder = cp1252_bundle(tmp_path / "b")
    base = ["--district", str(district.pk)]
    planned = runner.invoke(app, ["sync", str(folder), *base, "--dry-run", "--json"])
    assert json.loads(planned.stdout)["status"] == "failed"  # creates the source, as UTF-8
    assert not run_check(district, folder).can_sync

    edited = runner.invoke(app, ["source", "edit", "SIS", *base, "--encoding", "cp1252"])
    assert edited.exit_code == 0, edited.output
    assert "reads its CSV files as cp1252" in edited.output
    source = SyncSource.objects.get()
    assert source.encoding == "cp1252"
    entry = AuditEntry.objects.get(action="update_source")
    assert (entry.before, entry.after) == ({"encoding": ""}, {"encoding": "cp1252"})
    listed = json.loads(runner.invoke(app, ["source", "list", *base, "--json"]).stdout)
    assert listed[0]["encoding"] == "cp1252"

    # The self-check, a dry run (the web's plans) and a scheduled run (sync_source) read alike.
    assert run_check(district, folder).can_sync
    dry = services.sync_bundle(source, folder, Actor(label="test"), dry_run=True)
    assert dry.status == "planned" and dry.report.read_as == "cp1252 (the source's encoding)"
    scheduled = services.sync_source(source, Actor(label="schedule"), approve=True)
    assert scheduled.status == "applied", scheduled.report.error or scheduled.report.note
    assert scheduled.stats["encoding_from"] == "source"
    assert names() == {("José", "Pérez")}

    # The same bytes read in another encoding are another bundle: not skipped as identical.
    runner.invoke(app, ["source", "edit", "SIS", *base, "--encoding", "latin-1"])
    again = runner.invoke(app, ["sync", str(folder), *base, "--json"])
    assert json.loads(again.stdout)["status"] != "skipped"
    assert runner.invoke(app, ["source", "edit", "SIS", *base, "--encoding", ""]).exit_code == 0
    assert SyncSource.objects.get().encoding == ""


def test_an_unknown_encoding_is_a_clear_error_and_changes_nothing(
    tmp_path, district, settings, monkeypatch, capsys
):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    folder = cp1252_bundle(tmp_path / "b")
    base = ["--district", str(district.pk)]
    code, err = code_of(monkeypatch, capsys, "sync", str(folder), *base, "--encoding", "klingon")
    assert code == 2 and "Traceback" not in err
    assert "unknown encoding 'klingon' for --encoding" in err and "--encoding cp1252" in err
    assert not SyncSource.objects.exists() and not SyncRun.objects.exists()
    code, err = code_of(monkeypatch, capsys, "sync", str(folder), *base, "--encoding", "base64")
    assert code == 2 and "unknown encoding 'base64'" in err  # a codec, but not of text

    runner.invoke(app, ["sync", str(folder), *base, "--dry-run"])  # creates the source
    code, err = code_of(monkeypatch, capsys, "source", "edit", "SIS", *base, "--encoding", "x-1")
    assert code == 2 and "unknown encoding 'x-1'" in err and "Traceback" not in err
    assert SyncSource.objects.get().encoding == ""
    assert not AuditEntry.objects.filter(action="update_source").exists()
    code, err = code_of(monkeypatch, capsys, "check", str(folder), *base, "--encoding", "x-1")
    assert code == 2 and "unknown encoding 'x-1'" in err


def test_a_failed_run_is_retried_in_the_encoding_it_was_given(tmp_path, district, settings):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    folder = cp1252_bundle(tmp_path / "b")
    users = folder / "users.csv"
    good = users.read_bytes()
    users.write_bytes(good + b"\n,,,,\n")  # a row the reader refuses: the run fails
    args = ["sync", str(folder), "--district", str(district.pk), "--encoding", "cp1252"]
    failed = json.loads(runner.invoke(app, [*args, "--approve", "--json"]).stdout)
    assert failed["status"] == "failed"
    users.write_bytes(good)
    again = json.loads(runner.invoke(app, ["run", "retry", str(failed["id"]), "--json"]).stdout)
    assert again["status"] == "held"  # a first sync, read as cp1252
    assert again["stats"]["encoding"] == "cp1252"
