"""Progress: what a run, a self-check, merges and bulk actions report as they go, how often
the run's row is written (a fake clock, no sleeps), and the command line's bars and lines."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rich.console import Console
from typer.testing import CliRunner

from rollbook import bars
from rollbook.cli import app
from rollbook.directory import actions
from rollbook.directory.models import Student
from rollbook.sync import services
from rollbook.sync.models import SyncRun
from rollbook.sync.progress import Progress, Snapshot, job_listener

from .bundles import Bundle

pytestmark = pytest.mark.django_db
runner = CliRunner()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _run(district) -> SyncRun:
    source = services.get_source(district)
    return SyncRun.objects.create(source=source, status=SyncRun.Status.PLANNING)


def _run_writes(queries) -> int:
    return sum(
        1
        for q in queries.captured_queries
        if q["sql"].startswith("UPDATE") and "sync_syncrun" in q["sql"]
    )


def _bundle(tmp_path, students: int = 30):
    b = Bundle()
    for i in range(students):
        b.guardian(f"gdn-{i}", "Pat", f"Parent{i}", f"p{i}@example.org")
        b.student(f"stu-{i}", "Mia", f"Lopez{i}", guardians=(f"gdn-{i}",))
    return b.write(tmp_path / "b")


# The run's row: throttled, never stale ------------------------------------------------------


def test_counts_are_written_at_most_once_a_second_of_the_clock(district):
    run, clock = _run(district), Clock()
    progress = Progress(clock=clock)
    progress.attach(run)
    with CaptureQueriesContext(connection) as queries:
        progress.stage("apply", total=10_000)
        for done in range(1, 10_001):  # 10,000 reports over 5 seconds of the clock
            clock.now += 0.0005
            progress.update(done)
    # The stage once, then at most one write per second of the clock.
    assert _run_writes(queries) == progress.writes <= 1 + 5
    assert progress.writes >= 5  # and the counts do get written as time passes
    row = SyncRun.objects.get(pk=run.pk)
    assert row.stage == "apply" and row.total == 10_000 and 0 < row.done <= row.total
    assert row.progress_at is not None


def test_a_new_stage_is_written_at_once_and_counts_wait_their_second(district):
    run, clock = _run(district), Clock()
    progress = Progress(clock=clock)
    progress.attach(run)
    progress.stage("read")
    progress.update(10, total=100, step="users.csv")  # within the second: not written
    assert SyncRun.objects.get(pk=run.pk).done == 0
    progress.stage("plan")  # a new stage: written at once
    assert SyncRun.objects.get(pk=run.pk).stage == "plan"
    clock.now += 1.0
    progress.update(step="resolving 3 people")  # the row would not change: not written
    assert progress.writes == 2
    assert SyncRun.objects.get(pk=run.pk).stage == "plan"  # steps: this process only


def test_the_run_in_memory_carries_the_latest_progress_so_a_save_never_writes_older(district):
    run, clock = _run(district), Clock()
    progress = Progress(clock=clock)
    progress.attach(run)
    progress.stage("apply", total=50)
    progress.update(40)  # throttled: not in the row yet
    assert SyncRun.objects.get(pk=run.pk).done == 0
    assert (run.stage, run.done, run.total) == ("apply", 40, 50)
    run.save()  # as the sync saves its run when it finishes
    assert SyncRun.objects.get(pk=run.pk).done == 40


def test_inside_a_transaction_the_listener_hears_and_the_row_is_left_alone(district):
    heard: list[Snapshot] = []
    run, clock = _run(district), Clock()
    progress = Progress(heard.append, clock=clock)
    progress.attach(run)
    progress.stage("apply")
    with CaptureQueriesContext(connection) as queries, progress.unseen():
        progress.update(0, total=300)
        for step in ("school", "student", "accounts"):
            clock.now += 5
            progress.update(step=step)
            progress.advance(100)
    assert _run_writes(queries) == 0
    assert [s.durable for s in heard] == [True] + [False] * 7
    row = SyncRun.objects.get(pk=run.pk)
    assert (row.stage, row.done, row.total) == ("apply", 0, 0)  # what others see
    assert (run.done, run.total) == (300, 300)  # saved with the run afterwards


def test_done_never_exceeds_a_known_total():
    heard: list[Snapshot] = []
    progress = Progress(heard.append)
    progress.stage("merge", total=3)
    for _ in range(5):
        progress.advance()
    assert heard[-1].done == 3 and heard[-1].percent == 100


def test_snapshots_in_words():
    assert Snapshot("read", "users.csv", 4_500_000, 9_000_000).text() == (
        "Reading the bundle: users.csv — 4.5 of 9.0 MB"
    )
    assert Snapshot("read", "", 600, 900).counts() == "0.6 of 0.9 kB"
    assert Snapshot("apply", "accounts", 1234, 5000).text() == (
        "Applying: accounts — 1,234 of 5,000 rows"
    )
    assert "in one transaction" in Snapshot("apply", "accounts").text(for_others=True)
    assert Snapshot("plan").text() == "Planning"
    assert Snapshot.of_run(SyncRun(stage="apply", done=5, total=9)) == Snapshot("apply", "", 5, 9)


# A web job's record ------------------------------------------------------------------------


def test_a_job_hears_durable_snapshots_stage_at_once_counts_once_a_second():
    written: list[tuple] = []
    clock = Clock()
    listen = job_listener(lambda *a: written.append(a), clock=clock)
    listen(Snapshot("read", "", 0, 1000))
    listen(Snapshot("read", "", 500, 1000))  # same step, same second: left out
    clock.now += 1
    listen(Snapshot("read", "", 900, 1000))
    listen(Snapshot("plan"))  # a new stage: at once
    listen(Snapshot("apply"))
    listen(Snapshot("apply", "accounts", 10, 20, durable=False))  # inside the transaction
    assert [w[0].split(" —")[0] for w in written] == [
        "Reading the bundle",
        "Reading the bundle",
        "Planning",
        "Applying, in one transaction: other processes see how far it got when it ends",
    ]
    assert written[1][1:] == (900, 1000)


# The sync, the approval and the self-check -------------------------------------------------


def test_a_sync_reports_its_stages_in_order_and_its_row_says_what_others_see(
    district, tmp_path, settings, actor
):
    settings.ROLLBOOK_HOME = tmp_path
    folder = _bundle(tmp_path)
    heard: list[tuple[Snapshot, str]] = []
    progress = Progress()

    def listen(snapshot: Snapshot) -> None:  # what the run's row says at each report
        heard.append((snapshot, SyncRun.objects.get(pk=progress.run.pk).stage))

    progress.listener = listen
    source = services.get_source(district)
    run = services.sync_bundle(source, folder, actor, approve=True, progress=progress)
    assert run.status == "applied"
    stages = [s.stage for s, _ in heard]
    assert sorted(set(stages), key=stages.index) == ["read", "plan", "apply"]
    assert stages == sorted(stages, key=["read", "plan", "apply"].index)  # never back
    assert all(s.done <= s.total for s, _ in heard if s.total)
    read = [s for s, _ in heard if s.stage == "read"]
    csv_bytes = sum(p.stat().st_size for p in folder.glob("*.csv") if p.name != "manifest.csv")
    assert read[-1].done == read[-1].total == csv_bytes
    steps = [s.step for s, _ in heard if s.stage == "apply" and s.step]
    assert steps[0] == "school" and steps[-1] == "records and audit"
    last = heard[-1][0]
    assert last.total > 0 and last.done == last.total
    # Inside the apply's transaction nothing was written to the row: it said "apply".
    assert {row for s, row in heard if s.stage == "apply" and not s.durable} == {"apply"}
    run.refresh_from_db()
    assert run.stage == "apply" and run.done == run.total == last.total


def test_an_approval_reports_the_apply_only(district, tmp_path, settings, actor):
    settings.ROLLBOOK_HOME = tmp_path
    source = services.get_source(district)
    planned = services.sync_bundle(source, _bundle(tmp_path), actor, dry_run=True)
    heard: list[Snapshot] = []
    run = services.approve_run(planned, actor, Progress(heard.append))
    assert run.status == "applied"
    assert {s.stage for s in heard} == {"apply"}
    # Each entity's created rows, and the person records twice (accounts, then records).
    counts = run.stats["plan"]["counts"]
    rows = sum(c["created"] for c in counts.values()) + counts["person"]["created"]
    assert heard[-1].done == heard[-1].total == rows


def test_the_old_stage_function_still_hears_each_stage(district, tmp_path, settings, actor):
    settings.ROLLBOOK_HOME = tmp_path
    told: list[str] = []
    services.sync_bundle(
        services.get_source(district),
        _bundle(tmp_path, 2),
        actor,
        approve=True,
        progress=told.append,
    )
    assert told == ["read", "plan", "apply"]


def test_the_self_check_reads_then_rehearses_in_one_transaction(district, tmp_path, settings):
    from rollbook.readiness.services import run_check

    settings.ROLLBOOK_HOME = tmp_path
    heard: list[Snapshot] = []
    run_check(district, _bundle(tmp_path), progress=Progress(heard.append))
    assert [s.stage for s in heard if s.durable][-1] == "rehearse"
    rehearse = [s for s in heard if s.stage == "rehearse"]
    assert rehearse[0].durable and not any(s.durable for s in rehearse[1:])
    steps = list(dict.fromkeys(s.step for s in rehearse))
    # the diffs first, then the check's sections about people (never held beside them)
    assert steps[:3] == ["", "comparing with the last delivery", "people and their roles"]
    assert "records and audit" in steps and steps[-1] == "the report"
    assert not SyncRun.objects.exists()  # rolled back, as ever


# Merges and bulk actions -------------------------------------------------------------------


def test_archiving_reports_students_then_audit_entries(district, school, actor):
    for i in range(5):
        Student.objects.create(district=district, school=school, given_name="A", family_name=f"{i}")
    heard: list[Snapshot] = []
    actions.archive_students(Student.objects.all(), actor, progress=Progress(heard.append))
    assert [s.stage for s in heard if s.done == s.total and s.total] == ["archive", "audit"]
    assert heard[0] == Snapshot("archive")  # before the transaction: others see it began
    assert not any(s.durable for s in heard[1:])


def test_merging_reports_each_pair(district, school, actor):
    from rollbook.merge.services import merge_many

    heard: list[Snapshot] = []
    merge_many(Student.objects.all(), [(1, 2), (3, 4)], actor, progress=Progress(heard.append))
    assert [(s.stage, s.done, s.total) for s in heard] == [
        ("merge", 0, 2),
        ("merge", 1, 2),
        ("merge", 2, 2),
    ]


# The command line ------------------------------------------------------------------------


def test_json_on_stdout_stays_clean_and_plain_lines_go_to_stderr(district, tmp_path, settings):
    settings.ROLLBOOK_HOME = tmp_path
    folder = _bundle(tmp_path)
    result = runner.invoke(
        app, ["sync", str(folder), "--district", str(district.pk), "--approve", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "applied"
    lines = result.stderr.splitlines()
    assert lines[0] == "Reading the bundle…"
    assert [line.split(":")[0] for line in lines if ": done in" in line] == [
        "Reading the bundle",
        "Planning",
        "Applying",
    ]
    assert "rows)" in lines[-1]


def test_approve_and_archive_show_their_progress(district, school, tmp_path, settings):
    settings.ROLLBOOK_HOME = tmp_path
    planned = runner.invoke(
        app, ["sync", str(_bundle(tmp_path)), "--district", str(district.pk), "--dry-run"]
    )
    run = SyncRun.objects.get()
    assert "Planning: done in" in planned.stderr and "Planned" in planned.stdout
    approved = runner.invoke(app, ["run", "approve", str(run.pk)])
    assert approved.stderr.startswith("Applying…") and "Applied" in approved.stdout
    Student.objects.create(district=district, school=school, given_name="Mia", family_name="Old")
    archived = runner.invoke(app, ["students", "archive", "--district", str(district.pk), "--yes"])
    assert "Archiving students: done in" in archived.stderr
    assert "Writing the audit log: done in" in archived.stderr


def test_bars_on_a_terminal_show_counts_and_percentages():
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    with bars.shown(console=console) as progress:
        progress.stage("read", total=2_000_000)
        progress.update(1_000_000, step="users.csv")
        progress.update(2_000_000, step="")
        progress.stage("apply")
        progress.update(50, total=200, step="accounts")
    text = screen.getvalue()
    assert "Reading the bundle" in text and "2.0 of 2.0 MB" in text
    assert "Applying" in text and "50 of 200 rows" in text and "25%" in text
    assert "✓ Reading the bundle" in text and "100%" in text


def test_plain_lines_every_ten_seconds_of_the_clock():
    screen, clock = io.StringIO(), Clock()
    lines = bars.Lines(Console(file=screen, width=200), clock=clock)
    with lines:
        progress = Progress(lines)
        progress.stage("merge", total=100)
        for _ in range(100):
            clock.now += 0.5
            progress.advance()
    printed = screen.getvalue().splitlines()
    assert printed[0] == "Merging…"
    assert len(printed) == 1 + 5 + 1  # begun, every 10 s of 50 s, done
    assert printed[1] == "  Merging — 20 of 100 pairs (20%), 10 s"
    assert printed[-1] == "Merging: done in 50 s (100 of 100 pairs)"


def test_runs_lists_running_runs_with_their_progress_and_the_queued_work(
    district, actor, monkeypatch
):
    from rollbook.sync import cli

    monkeypatch.setattr(cli.out, "width", 250)
    from rollbook.directory.services import create_administrator
    from rollbook.web.models import Job

    admin = create_administrator(district, "a@example.org", "a-long-passphrase", actor)
    busy = _run(district)
    progress = Progress()
    progress.attach(busy)
    progress.stage("read", total=9_000_000, step="users.csv")
    progress.update(4_500_000)
    busy.save()  # as the run is saved by the sync: with its progress
    applying = _run(district)
    applying.status = SyncRun.Status.APPLYING
    applying.save()
    progress = Progress()
    progress.attach(applying)
    progress.stage("apply")
    Job.objects.create(district=district, kind=Job.Kind.CHECK, created_by=admin, bundle="x.zip")
    shown = runner.invoke(app, ["runs"])
    assert shown.exit_code == 0, shown.output
    assert "Reading the bundle — 4.5 of 9.0 MB (as of" in shown.stdout
    assert "Applying, one transaction since" in shown.stdout
    assert "waiting for a worker" in shown.stdout
    listed = json.loads(runner.invoke(app, ["runs", "--json"]).stdout)
    assert [(r["kind"], r["status"]) for r in listed] == [
        ("job", "queued"),
        ("run", "applying"),
        ("run", "planning"),
    ]
    assert (listed[2]["stage"], listed[2]["done"], listed[2]["total"]) == (
        "read",
        4_500_000,
        9_000_000,
    )


def test_check_and_merge_apply_show_their_stages(district, tmp_path, settings):
    settings.ROLLBOOK_HOME = tmp_path
    checked = runner.invoke(app, ["check", str(_bundle(tmp_path)), "--district", str(district.pk)])
    assert checked.exit_code == 0, checked.output
    assert "Reading the bundle: done in" in checked.stderr
    assert "Working out what the sync will do (nothing written): done in" in checked.stderr
    assert "Prediction" in checked.stdout and "Rehearsing" not in checked.stdout
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("1,2\n")
    merged = runner.invoke(
        app, ["merge", "apply", "--district", str(district.pk), "--pairs", str(pairs), "--json"]
    )
    begun, ended = merged.stderr.splitlines()
    assert begun == "Merging…" and re.fullmatch(
        r"Merging: done in [\d.]+ s \(1 of 1 pairs\)", ended
    )
    assert json.loads(merged.stdout)[0]["error"]  # no such students: refused, reported
