"""REST sources end to end on a real database against the fixture SIS (tests/oneroster/rest):
added by command, tested, first sync held then approved, deltas, reconciles, failures, and
the same plan as the CSV bundle of the same data."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.audit import Actor
from rollbook.directory.models import AuditEntry, Student
from rollbook.oneroster.rest import RetryPolicy, mapping, render
from rollbook.sync import credentials, rest, services
from rollbook.sync.models import SyncRun, SyncSource
from tests.oneroster.rest.server import CLIENT_ID, CLIENT_SECRET, Fault, OneRosterServer

from .bundles import Bundle

pytestmark = pytest.mark.django_db
runner = CliRunner()
FAST = None  # set below: FetchOptions for tests (no long backoff)


def fast_options():
    from rollbook.oneroster.rest import FetchOptions

    return FetchOptions(page_size=25, timeout=5.0, retry=RetryPolicy.fast())


def district_bundle() -> Bundle:
    b = Bundle()
    b.guardian("g-1", "Ana", "Lopez", email="ana@example.org", phone="+15555550101")
    b.student("s-1", "Mia", "Lopez", guardians=("g-1",))
    b.student("s-2", "Leo", "Lopez", guardians=("g-1",))
    b.student("s-3", "Ivy", "Chen")
    b.teacher("t-1", "Tom", "Reed", email="tom@example.org")
    b.klass("c-1")
    b.enroll("e-1", "c-1", "s-1")
    b.enroll("e-2", "c-1", "t-1", role="teacher")
    return b


def served(folder: Path, version: str = "1.1") -> dict[str, list[dict]]:
    return {
        c.path: list(render.records(folder, version, c))
        for c in mapping.COLLECTIONS
        if (folder / f"{c.file}.csv").exists()
    }


@pytest.fixture
def home(tmp_path, settings, monkeypatch):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_HOME.mkdir()
    monkeypatch.delenv("ROLLBOOK_SECRET_KEYS", raising=False)
    monkeypatch.delenv("ROLLBOOK_REST_SECRET", raising=False)
    return settings.ROLLBOOK_HOME


@pytest.fixture
def sis(tmp_path, home):
    folder = district_bundle().write(tmp_path / "bundle")
    with OneRosterServer(served(folder), version="1.1") as server:
        server.bundle = folder
        yield server


def add_source(district, sis, name="SIS") -> SyncSource:
    secret_file = sis.bundle.parent / "secret.txt"
    secret_file.write_text(CLIENT_SECRET + "\n")
    result = runner.invoke(
        app,
        [
            "source", "add", name, "--district", str(district.pk), "--rest", sis.base_url,
            "--version", "1.1", "--oauth2", "--token-url", sis.token_url,
            "--client-id", CLIENT_ID, "--client-secret-file", str(secret_file), "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert CLIENT_SECRET not in result.output
    record = json.loads(result.stdout)
    assert record["secret_set"] is True and record["auth"] == "oauth2"
    return SyncSource.objects.get(pk=record["id"])


def later(seconds: int = 60) -> str:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def user(sis, sourced_id: str) -> dict:
    return next(u for u in sis.data["users"] if u["sourcedId"] == sourced_id)


# --- adding and testing -----------------------------------------------------------------------


def test_add_test_and_list_by_command_never_show_the_secret(district, sis, home):
    source = add_source(district, sis)
    assert source.is_rest and source.secret_encrypted
    assert CLIENT_SECRET not in source.secret_encrypted  # encrypted at rest
    assert credentials.decrypt(source) == CLIENT_SECRET
    assert oct((home / credentials.KEY_FILE).stat().st_mode & 0o777) == "0o600"
    tested = runner.invoke(app, ["source", "test", "SIS", "--district", str(district.pk)])
    assert tested.exit_code == 0, tested.output
    assert "Signed in" in tested.output and "users: readable (5 in all)" in tested.output
    listed = runner.invoke(app, ["source", "list", "--district", str(district.pk), "--json"])
    assert json.loads(listed.stdout)[0]["url"] == sis.base_url
    for output in (tested.output, listed.output):
        assert CLIENT_SECRET not in output
    # The audit says the secret was set, never what it is (nor its encrypted form).
    entries = AuditEntry.objects.filter(object_type="syncsource")
    assert {e.action for e in entries} == {"create_source", "set_secret"}
    dumped = json.dumps([[e.before, e.after, e.note] for e in entries])
    assert CLIENT_SECRET not in dumped and source.secret_encrypted not in dumped
    assert CLIENT_SECRET not in repr(credentials.rest_source(source))


def test_a_secret_is_never_an_argument_and_a_wrong_one_is_a_clear_problem(district, sis, home):
    result = runner.invoke(
        app,
        ["source", "add", "SIS", "--district", str(district.pk), "--rest", sis.base_url,
         "--oauth2", "--token-url", sis.token_url, "--client-id", CLIENT_ID],
        input="not-the-secret\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # asked at a hidden prompt
    assert "not-the-secret" not in result.output
    tested = runner.invoke(app, ["source", "test", "SIS", "--district", str(district.pk)])
    assert tested.exit_code == 1
    assert "invalid_client" in tested.output and "not-the-secret" not in tested.output
    again = runner.invoke(
        app,
        ["source", "add", "SIS", "--district", str(district.pk), "--rest", sis.base_url,
         "--oauth2", "--token-url", sis.token_url, "--client-id", CLIENT_ID],
        input="x\n",
    )  # fmt: skip
    assert "already has a source named 'SIS'" in str(again.exception)
    assert "--replace" in str(again.exception)


def test_key_rotation_re_encrypts_every_secret(district, sis, home, monkeypatch):
    source = add_source(district, sis)
    before = source.secret_encrypted
    result = runner.invoke(app, ["secrets", "rotate", "--json"])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert outcome == {"sources": 1, "new_key": True, "keys": 2}
    source.refresh_from_db()
    assert source.secret_encrypted != before
    newest = credentials.keys()[0]
    # Readable with the newest key alone: the old one may go.
    monkeypatch.setenv("ROLLBOOK_SECRET_KEYS", newest)
    assert credentials.decrypt(source) == CLIENT_SECRET
    monkeypatch.setenv("ROLLBOOK_SECRET_KEYS", credentials.Fernet.generate_key().decode())
    with pytest.raises(Exception, match="cannot be decrypted"):
        credentials.decrypt(source)
    assert AuditEntry.objects.filter(action="rotate_secret_keys").count() == 1


# --- syncing ----------------------------------------------------------------------------------


def test_first_sync_held_then_approved_then_deltas_fetch_only_changes(district, sis, home):
    source = add_source(district, sis)
    result = runner.invoke(app, ["sync", "--district", str(district.pk), "--json"])
    assert result.exit_code == 3, result.output  # a first sync is held
    held = SyncRun.objects.get(pk=json.loads(result.stdout)["id"])
    assert held.stats["fetch"]["mode"] == "bulk" and Student.objects.count() == 0
    assert Path(held.bundle).is_dir() and Path(held.bundle).parent.parent == home / "fetches"
    assert services.approve_run(held, Actor(label="test")).status == "applied"
    assert Student.objects.filter(status="active").count() == 3

    sis.requests.clear()
    mia = user(sis, "s-1")
    mia["givenName"], mia["dateLastModified"] = "Mila", later()
    ivy = user(sis, "s-3")
    ivy["status"], ivy["dateLastModified"] = "tobedeleted", later()
    run = services.sync_source(source, Actor(label="test"), approve=True)  # 1 of 3 archived
    assert run.status == "applied", run.stats
    assert run.stats["fetch"]["mode"] == "delta"
    users = [q for c, q in sis.requests if c == "users"]
    assert users and all("filter=dateLastModified" in q for q in users)
    assert run.stats["fetch"]["records"] == 2  # only the changed records came
    assert Student.objects.get(sourced_id="s-1").given_name == "Mila"
    assert Student.objects.get(sourced_id="s-3").status == "archived"
    assert Student.objects.get(sourced_id="s-2").status == "active"  # absent from a delta

    # Nothing changed since: the delta (its window overlaps the last by a few minutes, for
    # clocks that disagree) brings the same two records, byte for byte: skipped.
    again = services.sync_source(source, Actor(label="test"), approve=True)
    assert again.status == "skipped" and again.stats["fetch"]["records"] == 2
    assert Student.objects.filter(status="active").count() == 2


def test_the_full_reconcile_archives_what_vanished(district, sis, home):
    source = add_source(district, sis)
    first = services.sync_source(source, Actor(label="test"), approve=True)
    assert first.status == "applied"
    sis.data["users"] = [u for u in sis.data["users"] if u["sourcedId"] != "s-2"]
    # A delta cannot see a record that vanished: only the reconcile archives it.
    delta = services.sync_source(source, Actor(label="test"))
    assert delta.stats["fetch"]["mode"] == "delta"
    assert Student.objects.get(sourced_id="s-2").status == "active"
    assert rest.plan_fetch(source).full is False
    week = dt.datetime.now(dt.UTC) + dt.timedelta(days=7, minutes=1)
    assert rest.plan_fetch(source, now=week).full is True  # weekly by default
    source.reconcile_days = 30
    source.save()
    assert rest.plan_fetch(source, now=week).full is False
    full = services.sync_source(source, Actor(label="test"), full=True, approve=True)
    assert full.status == "applied", full.stats
    assert full.stats["fetch"]["mode"] == "bulk"
    assert Student.objects.get(sourced_id="s-2").status == "archived"


def test_a_failed_fetch_is_a_failed_run_with_its_reason_and_no_change(district, sis, home):
    source = add_source(district, sis)
    services.sync_source(source, Actor(label="test"), approve=True)
    counts = Student.objects.filter(status="active").count()
    user(sis, "s-1")["givenName"] = "Changed"
    sis.faults.append(Fault("status", "users", 0, status=500, times=0))
    with pytest.raises(Exception, match="HTTP 500") as caught:
        services.sync_source(source, Actor(label="test"), full=True, options=fast_options())
    assert CLIENT_SECRET not in str(caught.value)
    run = source.runs.order_by("-pk").first()
    assert run.status == "failed" and "users" in run.stats["error"]
    assert "HTTP 500" in run.stats["error"]
    assert Student.objects.filter(status="active").count() == counts
    assert Student.objects.get(sourced_id="s-1").given_name == "Mia"
    leftovers = [p for p in (home / "fetches" / str(source.pk)).iterdir() if p.name != ""]
    assert len(leftovers) == 1  # the first fetch only; nothing of the failed one


def test_a_rest_source_and_its_csv_bundle_give_the_same_plan(district, sis, home, tmp_path):
    from rollbook.directory.models import District
    from rollbook.sync.plan import load

    source = add_source(district, sis)
    by_rest = services.sync_source(source, Actor(label="test"), dry_run=True)
    other = District.objects.create(name="Twin District", default_region="US")
    twin = services.get_source(other, "SIS")
    by_csv = services.sync_bundle(twin, sis.bundle, Actor(label="test"), dry_run=True)
    assert by_rest.status == by_csv.status == "planned"
    assert by_rest.stats["plan"]["counts"] == by_csv.stats["plan"]["counts"]
    assert by_rest.stats["plan"]["identity"] == by_csv.stats["plan"]["identity"]
    rest_plan = load(services.plan_folder(by_rest))
    csv_plan = load(services.plan_folder(by_csv))
    assert set(rest_plan.identity) == set(csv_plan.identity)
    for name, table in rest_plan.identity.items():
        assert table.equals(csv_plan.identity[name]), name
    for entity, actions in rest_plan.entities.items():
        mine = actions.create.sort_by("sourced_id").select(["sourced_id", "fingerprint"])
        theirs = csv_plan.entities[entity].create.sort_by("sourced_id")
        assert mine.equals(theirs.select(["sourced_id", "fingerprint"])), entity


def test_fetch_by_hand_and_retention(district, sis, home, tmp_path, settings):
    add_source(district, sis)
    out = tmp_path / "fetched"
    result = runner.invoke(
        app, ["source", "fetch", "SIS", str(out), "--district", str(district.pk)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "manifest.csv").exists() and (out / "users.csv").exists()
    source = SyncSource.objects.get(district=district, name="SIS")
    root = home / "fetches" / str(source.pk)
    old = []
    for i in range(5):
        folder = root / f"2026010{i}T000000.000000Z"
        folder.mkdir(parents=True)
        os.utime(folder, (0, 0))
        old.append(folder)
    settings.ROLLBOOK_FETCH_KEEP_DAYS = 30
    removed = rest.prune(source)
    assert removed == old[:2]  # the newest three are kept whatever their age
    assert [p.name for p in sorted(root.iterdir())] == [p.name for p in old[2:]]
