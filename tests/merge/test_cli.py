"""The merge process from the command line: suggest, apply the ready bucket or a file of
pairs, undo."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from rollbook.cli import app
from rollbook.directory.models import Student
from rollbook.merge.models import StudentMerge

pytestmark = pytest.mark.django_db
runner = CliRunner()


@pytest.fixture
def pairs(make):
    ready = (make.old("Bob", "Smith", status="archived"), make.synced("Robert", "Smith"))
    make.history(ready[0], 2)
    twin = make.synced("Emma", "Lee")
    make.synced("Emmy", "Lee")
    ambiguous = (make.old("Emma", "Lee"), twin)
    return ready, ambiguous


def test_suggest_apply_ready_and_undo(pairs, district):
    (old, new), (twin_old, _) = pairs
    result = runner.invoke(app, ["merge", "suggest", "--district", str(district.pk), "--json"])
    assert result.exit_code == 0, result.output
    found = {s["old_student"]["id"]: s for s in json.loads(result.output)}
    assert found[old.pk]["bucket"] == "ready"
    assert found[old.pk]["candidates"][0]["student"]["id"] == new.pk
    assert found[twin_old.pk]["bucket"] == "ambiguous"
    shown = runner.invoke(app, ["merge", "suggest", "--district", str(district.pk)])
    assert "ready 1" in shown.output and "ambiguous 1" in shown.output

    dry = runner.invoke(
        app, ["merge", "apply", "--district", str(district.pk), "--bucket", "ready", "--dry-run"]
    )
    assert dry.exit_code == 0 and "can be merged" in dry.output
    assert not StudentMerge.objects.exists()
    applied = runner.invoke(
        app, ["merge", "apply", "--district", str(district.pk), "--bucket", "ready", "--json"]
    )
    assert applied.exit_code == 0, applied.output
    [result] = json.loads(applied.stdout)
    assert (result["old_id"], result["survivor_id"], result["error"]) == (old.pk, new.pk, "")
    assert new.history.count() == 2
    assert Student.objects.get(pk=twin_old.pk).status == "active"  # ambiguous: not merged

    listed = runner.invoke(app, ["merge", "list", "--district", str(district.pk), "--json"])
    assert json.loads(listed.output)[0]["id"] == result["merge_id"]
    undone = runner.invoke(app, ["merge", "undo", str(result["merge_id"])])
    assert undone.exit_code == 0 and "undone" in undone.output
    assert Student.objects.get(pk=old.pk).status == "archived"
    assert old.history.count() == 2


def test_apply_a_file_of_pairs(pairs, district, tmp_path):
    (old, new), (twin_old, twin) = pairs
    file = tmp_path / "pairs.csv"
    file.write_text(f"old,synced\n{twin_old.pk},{twin.pk}\n{new.pk},{twin.pk}\n")
    result = runner.invoke(
        app, ["merge", "apply", "--district", str(district.pk), "--pairs", str(file)]
    )
    assert result.exit_code == 1  # one pair refused, reported; the other merged
    assert "merged (merge" in result.output and "two synced students" in result.output
    assert Student.objects.get(pk=twin_old.pk).status == "merged"


def test_a_bad_pairs_file_names_the_line(district, tmp_path):
    file = tmp_path / "pairs.csv"
    file.write_text("old,synced\n12,13\nfourteen,15\n")
    result = runner.invoke(
        app, ["merge", "apply", "--district", str(district.pk), "--pairs", str(file)]
    )
    assert "line 3" in str(result.exception)
    result = runner.invoke(app, ["merge", "apply", "--district", str(district.pk)])
    assert "--pairs FILE" in str(result.exception)


def test_guardians_the_sis_does_not_list_are_listed_and_kept_only_when_asked(
    make, district, tmp_path
):
    from rollbook.directory.models import GuardianLink

    old, new = make.old("Mia", "Lopez"), make.synced("Mia", "Lopez")
    ana = make.guardian(old, "Ana", "Lopez", "ana@example.com")
    file = tmp_path / "pairs.csv"
    file.write_text(f"{old.pk},{new.pk}\n")
    base = ["merge", "apply", "--district", str(district.pk), "--pairs", str(file)]
    dry = runner.invoke(app, [*base, "--dry-run"], terminal_width=200)
    assert dry.exit_code == 0, dry.output
    assert "Ana Lopez" in dry.output and "would be dropped" in dry.output
    assert "--keep-guardian" in dry.output
    wrong = runner.invoke(app, [*base, "--keep-guardian", "999999"])
    assert "999999" in str(wrong.exception) and "nothing merged" in str(wrong.exception)
    both = runner.invoke(app, [*base, "--keep-guardian", str(ana.pk), "--guardians", "drop"])
    assert "not both" in str(both.exception)
    assert not StudentMerge.objects.exists()
    kept = runner.invoke(app, [*base, "--keep-guardian", str(ana.pk), "--json"])
    assert kept.exit_code == 0, kept.output
    [result] = json.loads(kept.stdout)
    assert result["guardians"] == [
        {"account": ana.pk, "name": "Ana Lopez", "email": "ana@example.com", "kept": True}
    ]
    assert GuardianLink.objects.get(account=ana).student_id == new.pk
    runner.invoke(app, ["merge", "undo", str(result["merge_id"])])
    dropped = runner.invoke(app, base, terminal_width=200)
    assert dropped.exit_code == 0 and "dropped (archived)" in dropped.output
    assert GuardianLink.objects.get(account=ana).status == "archived"


def test_a_pair_in_two_schools_needs_a_look_and_is_not_merged_at_once(make, district, school_b):
    born = dt.date(2016, 4, 2)
    old = make.old("Priya", "Raman", grade="05", birth=born)
    new = make.synced("Priya", "Raman", school=school_b, grade="05", birth=born)
    result = runner.invoke(app, ["merge", "suggest", "--district", str(district.pk), "--json"])
    [found] = json.loads(result.output)
    assert found["bucket"] == "needs_look"
    assert "different schools" in found["why"] and "Roosevelt High" in found["why"]
    assert found["candidates"][0]["concerns"] == [found["why"].split("but ", 1)[1]]
    shown = runner.invoke(app, ["merge", "suggest", "--district", str(district.pk)])
    assert "needs look 1" in shown.output
    applied = runner.invoke(
        app, ["merge", "apply", "--district", str(district.pk), "--bucket", "ready", "--json"]
    )
    assert applied.exit_code == 0 and json.loads(applied.stdout) == []
    assert not StudentMerge.objects.filter(old_student=old, survivor=new).exists()
