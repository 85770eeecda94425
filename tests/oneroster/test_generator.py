"""Tests of the OneRoster bundle generator (small scale: 2,000 students)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import phonenumbers
import pytest
import typer
from email_validator import validate_email
from typer.testing import CliRunner

from rollbook.oneroster.generator import generate_bundle
from rollbook.oneroster.generator.cli import register
from rollbook.oneroster.generator.layout import columns, data_files
from rollbook.oneroster.generator.nextday import derive_next_day
from rollbook.oneroster.generator.write import summary_path

N = 2000


def read(folder: Path, name: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(folder / f"{name}.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module", params=["1.1", "1.2"])
def bundle(request, tmp_path_factory) -> tuple[str, Path, object]:
    out = tmp_path_factory.mktemp(f"gen{request.param}") / "bundle"
    summary = generate_bundle(out, N, version=request.param, seed=7)
    return request.param, out, summary


def test_generator_deterministic(tmp_path: Path) -> None:
    a = generate_bundle(tmp_path / "a", 500, version="1.2", seed=3, zip=True)
    b = generate_bundle(tmp_path / "b", 500, version="1.2", seed=3, zip=True)
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name
    assert Path(a.zip).read_bytes() == Path(b.zip).read_bytes()
    generate_bundle(tmp_path / "c", 500, version="1.2", seed=4)
    assert (tmp_path / "c" / "users.csv").read_bytes() != (
        tmp_path / "a" / "users.csv"
    ).read_bytes()


def test_generator_manifest_and_columns(bundle) -> None:
    version, out, _ = bundle
    files = {p.name for p in out.iterdir()}
    assert files == {f"{n}.csv" for n in data_files(version)} | {"manifest.csv"}
    header, rows = read(out, "manifest")
    assert header == ["propertyName", "value"]
    m = {r["propertyName"]: r["value"] for r in rows}
    assert m["manifest.version"] == "1.0" and m["oneroster.version"] == version
    assert m["source.systemName"] == "Rollbook generator"
    for name in data_files(version):
        assert m[f"file.{name}"] == "bulk"
        header, rows = read(out, name)
        assert header == columns(version, name)
        assert rows, name
        assert all(r["status"] == "" and r["dateLastModified"] == "" for r in rows)
    assert m["file.results"] == "absent"
    assert ("file.roles" in m) == (version == "1.2")
    assert not summary_path(out).parent.joinpath(out.name, "generator-summary.json").exists()
    assert json.loads(summary_path(out).read_text())["students"] == N


def test_generator_referential_integrity(bundle) -> None:
    version, out, _ = bundle
    orgs = {r["sourcedId"]: r for r in read(out, "orgs")[1]}
    sessions = {r["sourcedId"] for r in read(out, "academicSessions")[1]}
    courses = {r["sourcedId"]: r for r in read(out, "courses")[1]}
    classes = {r["sourcedId"]: r for r in read(out, "classes")[1]}
    users = {r["sourcedId"]: r for r in read(out, "users")[1]}
    schools = {k for k, v in orgs.items() if v["type"] == "school"}
    for o in orgs.values():
        assert not o["parentSourcedId"] or o["parentSourcedId"] in orgs
    for c in courses.values():
        assert c["orgSourcedId"] in orgs and c["schoolYearSourcedId"] in sessions
    for c in classes.values():
        assert c["courseSourcedId"] in courses and c["schoolSourcedId"] in schools
        assert all(t in sessions for t in c["termSourcedIds"].split(","))
    ids = set()
    for e in read(out, "enrollments")[1]:
        assert e["classSourcedId"] in classes and e["userSourcedId"] in users
        assert e["schoolSourcedId"] == classes[e["classSourcedId"]]["schoolSourcedId"]
        assert e["sourcedId"] not in ids
        ids.add(e["sourcedId"])
    for u in users.values():
        for a in filter(None, u["agentSourcedIds"].split(",")):
            assert a in users
        if version == "1.1":
            assert all(o in orgs for o in u["orgSourcedIds"].split(","))
        else:
            assert u["primaryOrgSourcedId"] in orgs
    if version == "1.2":
        roles = read(out, "roles")[1]
        assert {r["userSourcedId"] for r in roles} == set(users)
        assert all(r["orgSourcedId"] in orgs for r in roles)
        primaries = Counter(
            (r["userSourcedId"], r["orgSourcedId"]) for r in roles if r["roleType"] == "primary"
        )
        assert max(primaries.values()) == 1
    assert {d["sourcedId"] for d in read(out, "demographics")[1]} <= set(users)
    # every primary-teacher count is exactly one per class
    prim = Counter(
        e["classSourcedId"]
        for e in read(out, "enrollments")[1]
        if e["role"] == "teacher" and e["primary"] == "true"
    )
    assert set(prim) == set(classes) and set(prim.values()) == {1}


def test_generator_ratios(bundle) -> None:
    version, out, s = bundle
    users = read(out, "users")[1]
    kinds = Counter(u["sourcedId"][:3] for u in users)
    assert kinds["stu"] == N
    assert 1.35 <= kinds["gdn"] / N <= 1.65
    assert 0.13 <= kinds["stf"] / N <= 0.17
    grades = {u["sourcedId"]: u["grades"] for u in users if u["sourcedId"].startswith("stu")}
    per_student = Counter(
        e["userSourcedId"] for e in read(out, "enrollments")[1] if e["role"] == "student"
    )
    sec = [
        per_student[k] for k, g in grades.items() if g not in ("KG", "01", "02", "03", "04", "05")
    ]
    assert 6.5 <= sum(sec) / len(sec) <= 7.5
    assert all(per_student[k] == 1 for k, g in grades.items() if g in ("KG", "01"))
    assert s.staff_also_guardians_same >= 1
    assert all(v >= 1 for v in s.staff_also_guardians_differing.values())
    assert all(v >= 1 for v in s.duplicate_guardian_rows_differing.values())
    assert 0 < s.guardians_without_contact < 0.1 * s.guardian_rows
    # siblings share guardians; some guardians list their children too
    links = Counter(
        a
        for u in users
        if u["sourcedId"].startswith("stu")
        for a in u["agentSourcedIds"].split(",")
    )
    assert max(links.values()) >= 2
    assert any(u["agentSourcedIds"] for u in users if u["sourcedId"].startswith("gdn"))
    names = " ".join(u["familyName"] for u in users)
    assert "'" in names and "-" in names and any(ord(c) > 127 for c in names)


def test_generator_planted_people(bundle) -> None:
    _, out, s = bundle
    users = {u["sourcedId"]: u for u in read(out, "users")[1]}
    planted = json.loads(summary_path(out).read_text())["planted"]
    for staff_id, gdn_id, kind in planted["staff_also_guardian"]:
        a, b = users[staff_id], users[gdn_id]
        same = [
            a["givenName"] == b["givenName"],
            a["email"] == b["email"],
            a["phone"] == b["phone"],
        ]
        assert all(same) == (kind == "same"), (kind, a, b)
    for first, second, kind in planted["duplicate_guardian"]:
        a, b = users[first], users[second]
        fields = ("givenName", "familyName", "email", "phone")
        assert all(a[f] == b[f] for f in fields) == (kind == "same")
        if kind == "email_case":
            assert a["email"].lower() == b["email"].lower() and a["email"] != b["email"]


def test_generator_contacts_valid(bundle) -> None:
    _, out, _ = bundle
    for u in read(out, "users")[1]:
        for field in ("phone", "sms"):
            if u[field]:
                num = phonenumbers.parse(u[field], "US")
                assert phonenumbers.is_valid_number(num), u[field]
        if u["email"]:
            validate_email(u["email"], check_deliverability=False)


def test_generator_birth_dates_match_grades(bundle) -> None:
    _, out, _ = bundle
    grade = {u["sourcedId"]: u["grades"] for u in read(out, "users")[1] if u["grades"]}
    for d in read(out, "demographics")[1]:
        g = 0 if grade[d["sourcedId"]] == "KG" else int(grade[d["sourcedId"]])
        age = 2026 - int(d["birthDate"][:4])
        assert 4 + g <= age <= 7 + g


@pytest.mark.parametrize("delta", [False, True])
def test_generator_next_day(bundle, tmp_path: Path, delta: bool) -> None:
    version, out, _ = bundle
    nd = derive_next_day(out, tmp_path / "next", 0.02, seed=5, delta=delta)
    derive_next_day(out, tmp_path / "again", 0.02, seed=5, delta=delta)
    for f in (tmp_path / "next").iterdir():
        assert f.read_bytes() == (tmp_path / "again" / f.name).read_bytes()
    assert 0.01 <= nd.change_share <= 0.04
    assert nd.students_left and nd.students_arrived and nd.guardians_modified
    m = {r["propertyName"]: r["value"] for r in read(tmp_path / "next", "manifest")[1]}
    if delta:
        assert m["file.users"] == "delta" and m["file.orgs"] == "absent"
        rows = read(tmp_path / "next", "users")[1]
        assert {r["status"] for r in rows} == {"active", "tobedeleted"}
        assert all(r["dateLastModified"].endswith("Z") for r in rows)
        return
    before = {u["sourcedId"]: u for u in read(out, "users")[1]}
    after = {u["sourcedId"]: u for u in read(tmp_path / "next", "users")[1]}
    kept = set(before) & set(after)
    assert len(kept) > 0.95 * len(before)
    same = sum(before[k] == after[k] for k in kept)
    assert same > 0.95 * len(kept)
    # integrity still holds
    classes = {r["sourcedId"] for r in read(tmp_path / "next", "classes")[1]}
    for e in read(tmp_path / "next", "enrollments")[1]:
        assert e["userSourcedId"] in after and e["classSourcedId"] in classes
    for u in after.values():
        assert all(a in after for a in filter(None, u["agentSourcedIds"].split(",")))
    if version == "1.2":
        assert {r["userSourcedId"] for r in read(tmp_path / "next", "roles")[1]} == set(after)


def test_generator_cli(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Root."""

    runner = CliRunner()
    res = runner.invoke(
        app, ["generate", "--students", "300", "--version", "1.1", str(tmp_path / "b")]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / "users.csv").exists()
    assert (tmp_path / "b.summary.json").exists()
    res = runner.invoke(
        app,
        [
            "generate",
            "--next-day-of",
            str(tmp_path / "b"),
            "--changes",
            "0.05",
            "--delta",
            str(tmp_path / "d"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "d" / "manifest.csv").exists()


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_generated_bundles_are_conformant(tmp_path, version):
    """The reader in strict (1EdTech conformance) mode finds nothing to report."""
    from rollbook.oneroster import read_bundle
    from rollbook.oneroster.generator import generate_bundle

    generate_bundle(tmp_path / "b", students=600, version=version)
    result = read_bundle(tmp_path / "b", strict=True)
    assert result.findings.counts() == {}
    assert result.can_sync
