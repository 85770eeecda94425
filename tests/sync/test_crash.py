"""All or nothing, for real: a sync killed (SIGKILL) in the middle of applying leaves the
directory exactly as it was, and the next sync says what happened and goes ahead."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from rollbook.oneroster.generator import generate_bundle


def rollbook(home, *args, **kw):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["ROLLBOOK_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "rollbook", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def count(db, table):
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_a_sync_killed_while_applying_changes_nothing(tmp_path):
    home, bundle = tmp_path / "home", tmp_path / "bundle"
    generate_bundle(bundle, students=30_000)
    init = rollbook(
        home,
        "init",
        "--no-input",
        "--district-name",
        "D",
        "--admin-email",
        "a@example.org",
        "--admin-password",
        "a-long-passphrase",
    )
    assert init.wait(120) == 0, init.stderr.read()
    db = home / "rollbook.sqlite3"
    accounts_before = count(db, "directory_account")
    sync = rollbook(home, "sync", str(bundle), "--district", "1", "--approve", "--json")
    deadline = time.monotonic() + 120
    status = None
    while time.monotonic() < deadline and sync.poll() is None:
        with sqlite3.connect(db, timeout=5) as conn:
            row = conn.execute("SELECT status FROM sync_syncrun ORDER BY id DESC").fetchone()
        status = row[0] if row else None
        if status == "applying":
            break
        time.sleep(0.02)
    assert status == "applying" and sync.poll() is None, "the apply was not caught in time"
    time.sleep(0.3)
    os.kill(sync.pid, signal.SIGKILL)
    sync.wait(30)
    assert count(db, "directory_student") == 0
    assert count(db, "directory_account") == accounts_before
    assert count(db, "directory_classmembership") == 0
    again = rollbook(home, "sync", str(bundle), "--district", "1", "--approve", "--json")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert json.loads(out)["status"] == "applied"
    with sqlite3.connect(db) as conn:
        first = conn.execute("SELECT status, stats FROM sync_syncrun ORDER BY id").fetchone()
    assert first[0] == "failed" and "interrupted" in json.loads(first[1])["note"]
    assert count(db, "directory_student") == 30_000
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
