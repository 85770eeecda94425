"""Every page of the Directory, the overviews, and the student and account pages in a school
administrator's words: no internal field or model names, no "None", no "(s)", no raw dict,
names and not ids; and each record's lineage and audit trail readable ("Created by sync run 3
on 4 Dec 2026 from users.csv line 1,101", "Archived by Dana Whitfield on 4 Dec 2026", "Grade:
03 → 04")."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.utils import timezone

from rollbook.directory import actions, audit
from rollbook.directory.audit import Actor
from rollbook.directory.models import Account, AuditEntry, Student

from ..sync.bundles import Bundle
from .conftest import PASSWORD, World, build_world, sign_in

# Phrases that are the program's, not the reader's.
INTERNAL = [
    (re.compile(r"\b[a-z]+_[a-z_]+\b"), "a field name"),
    (re.compile(r"\bsourcedId\b|\bguardianlink\b|\bclassmembership\b|\bstaffrole\b"), "a name"),
    (
        re.compile(r"\b(SyncRun|SyncSource|StaffRole|GuardianLink|ClassMembership|AuditEntry)\b"),
        "a model name",
    ),
    (re.compile(r"\bNone\b"), "Python's None"),
    (re.compile(r"\(s\)"), "a lazy plural"),
    (re.compile(r"\{'|':|\{\""), "a raw dict"),
    (re.compile(r"\b(account|student|merge|adoption) \d", re.I), "an id instead of a name"),
    (re.compile(r"Select all 0\b"), "a selection of nothing"),
]


class _Text(HTMLParser):
    """The text a person reads: no tags, no scripts, no attribute values."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self.hidden += 1
        if tag in ("br", "p", "div", "tr", "li", "dd", "dt", "h1", "h2", "td", "th", "option"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"[ \t]+", " ", "".join(parser.parts))


def internal(text: str) -> list[str]:
    return [
        f"{what}: {m.group(0)!r} in {line.strip()[:140]!r}"
        for line in text.splitlines()
        for pattern, what in INTERNAL
        for m in pattern.finditer(line)
    ]


@dataclass
class Synced:
    world: World
    source: object
    first: object  # the first sync run (created Ada, Ben, Gwen…)
    second: object  # the next day's: Ada to grade 04, Ben archived, Cy created
    school: object  # "School sis-1", from the SIS
    school_admin: object  # its school administrator
    ada: Student
    ben: Student
    cy: Student
    gwen: Account  # Ada's guardian, created by the first run
    old_ada: Student  # Ada entered by hand, merged into the synced Ada


def _bundle(second: bool) -> Bundle:
    b = Bundle(schools=["sis-1"])
    b.guardian("gdn-1", "Gwen", "Sisko", "gwen@example.org", school="sis-1")
    b.teacher("tch-1", "Tia", "Teach", "tia@example.org", school="sis-1")
    b.klass("cls-1", school="sis-1", title="Room 4")
    b.student("stu-1", "Ada", "Sisko", "sis-1", "04" if second else "03", ("gdn-1",))
    if second:
        b.student("stu-3", "Cy", "Sisko", "sis-1", "05")
    else:
        b.student("stu-2", "Ben", "Sisko", "sis-1", "05")
    b.enroll("enr-1", "cls-1", "stu-1", school="sis-1")
    b.enroll("enr-2", "cls-1", "tch-1", role="teacher", school="sis-1")
    return b


def build_synced(tmp_path: Path) -> Synced:
    from rollbook.directory.models import School
    from rollbook.directory.services import create_administrator
    from rollbook.merge.services import merge
    from rollbook.sync import services

    world = build_world()
    admin = Actor(account=world.district_admin)
    source = services.get_source(world.district)
    first = services.sync_bundle(
        source, _bundle(False).write(tmp_path / "one"), admin, approve=True
    )
    assert first.status == "applied", first.stats
    school = School.objects.get(district=world.district, sourced_id="sis-1")
    ada = Student.objects.get(sourced_id="stu-1")
    old_ada = Student.objects.create(
        district=world.district, school=school, given_name="Ada", family_name="Sisko", grade="03"
    )
    merge(Student.objects.all(), old_ada.pk, ada.pk, admin)
    second = services.sync_bundle(
        source, _bundle(True).write(tmp_path / "two"), Actor(label="test"), approve=True
    )
    assert second.status == "applied", second.stats
    # People's changes: Finn archived by hand; Eve's and Gia's guardians removed, which leaves
    # Hal with no role, deactivated.
    _, _, _, eve, finn, gia = world.students_a
    actions.archive_students(Student.objects.filter(pk=finn.pk), admin)
    actions.remove_guardians(Student.objects.filter(pk__in=[eve.pk, gia.pk]), admin)
    school_admin = create_administrator(
        world.district,
        "sam@example.org",
        PASSWORD,
        Actor(label="test"),
        given_name="Sam",
        school=school,
    )
    return Synced(
        world=world,
        source=source,
        first=first,
        second=second,
        school=school,
        school_admin=school_admin,
        ada=ada,
        ben=Student.objects.get(sourced_id="stu-2"),
        cy=Student.objects.get(sourced_id="stu-3"),
        gwen=Account.objects.get(email="gwen@example.org"),
        old_ada=Student.objects.get(pk=old_ada.pk),
    )


@pytest.fixture
def synced(db, settings, tmp_path) -> Synced:
    settings.ROLLBOOK_HOME = tmp_path / "home"
    return build_synced(tmp_path)


def _day(when) -> str:
    """A date as the pages write it: "4 Dec 2026" (UTC, the test district's time zone)."""
    return audit.when(when, with_time=False)


def _page(client, url: str, data=None, post: bool = False) -> str:
    response = client.post(url, data) if post else client.get(url, data)
    assert response.status_code == 200, (url, response.status_code)
    return visible(response.content.decode())


# Every page, as each kind of administrator ----------------------------------------------------


def _pages(s: Synced, who) -> list[tuple[str, dict | None, bool]]:
    """The pages of this task for an administrator: places, lists, confirmations, and every
    student and account they may see."""
    from rollbook.web.scope import Scope

    scope = Scope.for_account(who)
    places = [("districts", d) for d in scope.districts().values_list("pk", flat=True)]
    places += [("schools", pk) for pk in sorted(scope.school_ids)]
    pages: list[tuple[str, dict | None, bool]] = [("/", None, False)]
    for prefix, pk in places:
        base = f"/{prefix}/{pk}"
        pages += [
            (f"{base}/", None, False),
            (f"{base}/directory/", None, False),
            (f"{base}/directory/", {"status": "all"}, False),
            (f"{base}/directory/", {"q": "nobody-is-called-this"}, False),
            (f"{base}/directory/guardians/", {"status": "all"}, False),
            (f"{base}/directory/staff/", {"status": "all"}, False),
        ]
        for action in ("archive", "unarchive", "remove_guardians"):
            pages.append(
                (f"{base}/directory/actions/", {"action": action, "selection": "all"}, True)
            )
    pages += [
        (f"/students/{pk}/", None, False) for pk in scope.students().values_list("pk", flat=True)
    ]
    pages += [
        (f"/accounts/{pk}/", None, False) for pk in scope.accounts().values_list("pk", flat=True)
    ]
    return pages


@pytest.mark.parametrize("role", ["district_admin", "admin_a", "school_admin"])
def test_every_page_is_in_the_readers_words(client, synced, role):
    who = getattr(synced, role, None) or getattr(synced.world, role)
    sign_in(client, who)
    problems = []
    pages = _pages(synced, who)
    for url, data, post in pages:
        text = _page(client, url, data, post)
        problems += [f"{url} {data or ''}: {p}" for p in internal(text)]
    assert len(pages) > 15
    assert not problems, "\n".join(problems)


# Lineage and the audit trail ------------------------------------------------------------------


def _lineage(client, url: str) -> str:
    html = client.get(url).content.decode()
    found = re.search(r'<p id="lineage">(.*?)</p>', html, re.S)
    assert found, url
    return re.sub(r"\s+", " ", visible(found.group(1))).strip()


def _trail(client, url: str) -> str:
    html = client.get(url).content.decode()
    return visible(html[html.index('id="trail-title"') :])


def test_a_synced_student_says_which_run_created_it_and_from_which_file(client, synced):
    sign_in(client, synced.world.district_admin)
    first, second = synced.first, synced.second
    created = AuditEntry.objects.get(
        run=first, action="create", object_type="student", object_id=None
    )
    # users.csv of the second run: the header, Ada, then Cy on line 3.
    said = _lineage(client, f"/students/{synced.cy.pk}/")
    assert said == (
        f"Created by sync run {second.pk} on {_day(synced.cy.created_at)} from users.csv line 3."
    )
    said = _lineage(client, f"/students/{synced.ada.pk}/")
    assert f"Created by sync run {first.pk} on {_day(created.at)} from users.csv line 2." in said
    assert f"Last changed by sync run {second.pk} on " in said
    # The run links to its page for a district administrator.
    html = client.get(f"/students/{synced.ada.pk}/").content.decode()
    run_url = f"/districts/{synced.world.district.pk}/sync/runs/{first.pk}/"
    assert f'<a href="{run_url}">sync run {first.pk}</a>' in html
    # Its trail: the creation (one entry for the run, decision 0004), the change, the merge.
    trail = _trail(client, f"/students/{synced.ada.pk}/")
    assert "No change recorded yet" not in trail
    assert f"One of the 2 students sync run {first.pk} created; the run's plan lists each one" in (
        trail
    )
    assert "Grade: 03 → 04" in trail
    assert f"Sync run {second.pk}" in trail
    assert "Ada Sisko merged into this student" in trail
    assert "onto this student" in trail


def test_archives_and_deactivations_say_who_and_when(client, synced):
    world = synced.world
    sign_in(client, world.district_admin)
    name, today = world.district_admin.name, _day(timezone.now())
    finn = world.students_a[4]
    assert _lineage(client, f"/students/{finn.pk}/").endswith(f"Archived by {name} on {today}.")
    said = _lineage(client, f"/students/{synced.ben.pk}/")
    assert f"Archived by sync run {synced.second.pk} on {today}." in said
    trail = _trail(client, f"/students/{finn.pk}/")
    assert "Status: Active → Archived" in trail and name in trail
    hal = world.guardians["hal"]
    said = _lineage(client, f"/accounts/{hal.pk}/")
    assert said.endswith(
        f"Deactivated by {name} on {today}: no active role left after guardians were removed."
    )
    trail = _trail(client, f"/students/{world.students_a[3].pk}/")  # Eve
    assert "Guardian link to Hal Home: archived" in trail and "Guardians removed" in trail


def test_accounts_say_which_run_created_them_or_who_entered_them(client, synced):
    world = synced.world
    sign_in(client, world.district_admin)
    said = _lineage(client, f"/accounts/{synced.gwen.pk}/")
    day = _day(synced.gwen.created_at)  # users.csv: the header, Ada, Ben, then Gwen
    assert said == f"Created by sync run {synced.first.pk} on {day} from users.csv line 4."
    trail = _trail(client, f"/accounts/{synced.gwen.pk}/")
    assert f"One of the 2 accounts sync run {synced.first.pk} created" in trail
    said = _lineage(client, f"/accounts/{world.admin_a.pk}/")
    assert said.startswith("Entered by hand by test on ")
    trail = _trail(client, f"/accounts/{world.admin_a.pk}/")
    assert "Invited as school administrator of Lincoln Elementary" in trail or (
        "Given as school administrator of Lincoln Elementary" in trail
    )


def _crowded(filler: int) -> Bundle:
    """users.csv with ``filler`` students before Zoe (line ``filler + 2``, after the header)
    and her guardian Yara after her (line ``filler + 3``)."""
    b = Bundle(schools=["sis-1"])
    for i in range(filler):
        b.student(f"stu-{i:05}", "Filler", f"Pupil {i}", "sis-1", "03")
    b.student("stu-zoe", "Zoe", "Quinn", "sis-1", "04", ("gdn-yara",))
    b.guardian("gdn-yara", "Yara", "Quinn", "yara@example.org", school="sis-1")
    return b


def test_lineage_cites_the_line_of_users_csv_after_the_plan_is_removed(
    client, db, settings, tmp_path
):
    """The line comes from the run's plan; once the plan days are over and the plan is
    removed, from the lines kept of it; without either (a run pruned before lines were kept),
    the sentence is said without a line."""
    from rollbook.merge.adoption import confirm_adoptions
    from rollbook.sync import lines, retention, services

    settings.ROLLBOOK_HOME = tmp_path / "home"
    world = build_world()
    source = services.get_source(world.district)
    # A student entered by hand and confirmed to be the SIS's stu-00500 (line 502): adopted.
    kept_by_hand = Student.objects.create(
        district=world.district, school=world.school_a, given_name="Filler", family_name="Pupil"
    )
    confirm_adoptions(world.district, [(kept_by_hand.pk, "stu-00500")], Actor(label="test"))
    bundle = _crowded(1_099).write(tmp_path / "crowded")
    run = services.sync_bundle(source, bundle, Actor(label="test"), approve=True)
    assert run.status == "applied", run.stats
    zoe = Student.objects.get(sourced_id="stu-zoe")
    yara = Account.objects.get(email="yara@example.org")
    rows = (bundle / "users.csv").read_text().splitlines()
    assert rows[1_100].startswith("stu-zoe,") and rows[1_101].startswith("gdn-yara,")
    student_said = f"Created by sync run {run.pk} on {_day(zoe.created_at)} from users.csv"
    account_said = f"Created by sync run {run.pk} on {_day(yara.created_at)} from users.csv"
    sign_in(client, world.district_admin)

    def said() -> tuple[str, str]:
        return _lineage(client, f"/students/{zoe.pk}/"), _lineage(client, f"/accounts/{yara.pk}/")

    assert said() == (f"{student_said} line 1,101.", f"{account_said} line 1,102.")
    adopted = _lineage(client, f"/students/{kept_by_hand.pk}/")
    assert adopted.startswith("Entered by hand on ")
    assert f"; adopted by sync run {run.pk} on " in adopted
    assert adopted.endswith(" as SIS student stu-00500 from users.csv line 502.")
    # The plan days pass: the plan goes, the lines of the records it created stay.
    folder = services.plan_folder(run)
    assert retention.prune_plans(now=run.finished_at) == 0
    later = run.finished_at + dt.timedelta(days=retention.plan_days() + 1)
    assert retention.prune_plans(now=later) == 1
    assert not folder.exists()
    kept = [lines.kept_path(run, e) for e in ("student", "person")]
    assert all(p.exists() for p in kept)
    assert said() == (f"{student_said} line 1,101.", f"{account_said} line 1,102.")
    assert _lineage(client, f"/students/{kept_by_hand.pk}/").endswith(" line 502.")
    assert "line" not in _lineage(client, f"/accounts/{world.admin_a.pk}/")
    # A run whose plan was removed with nothing kept: no line, the sentence as before.
    for path in kept:
        path.unlink()
    assert said() == (f"{student_said}.", f"{account_said}.")


def test_a_rest_sourced_record_names_the_api_and_no_line(
    client, db, settings, tmp_path, monkeypatch
):
    from rollbook.sync import lines, retention, services
    from tests.oneroster.rest.server import OneRosterServer

    from ..sync.test_rest_sources import add_source, district_bundle, served

    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_HOME.mkdir()
    monkeypatch.delenv("ROLLBOOK_SECRET_KEYS", raising=False)
    monkeypatch.delenv("ROLLBOOK_REST_SECRET", raising=False)
    world = build_world()
    folder = district_bundle().write(tmp_path / "bundle")
    with OneRosterServer(served(folder), version="1.1") as sis:
        sis.bundle = folder
        source = add_source(world.district, sis, name="SIS by REST")
        run = services.sync_source(source, Actor(label="test"), approve=True)
    assert run.status == "applied", run.stats
    ivy = Student.objects.get(source=source, sourced_id="s-3")  # not on line 2 of any file
    ana = Account.objects.get(email="ana@example.org")
    sign_in(client, world.district_admin)
    said = f"Created by sync run {run.pk} on {_day(ivy.created_at)} from the SIS's OneRoster API."
    assert _lineage(client, f"/students/{ivy.pk}/") == said
    assert _lineage(client, f"/accounts/{ana.pk}/") == (
        f"Created by sync run {run.pk} on {_day(ana.created_at)} from the SIS's OneRoster API."
    )
    # Its fetched bundle's lines are Rollbook's: none is kept when its plan is removed.
    later = run.finished_at + dt.timedelta(days=retention.plan_days() + 1)
    assert retention.prune_plans(now=later) == 1
    assert not lines.kept_path(run, "student").exists()
    assert _lineage(client, f"/students/{ivy.pk}/") == said


def test_a_school_administrator_reads_the_runs_without_links(client, synced):
    sign_in(client, synced.school_admin)
    html = client.get(f"/students/{synced.ada.pk}/").content.decode()
    assert f"Created by sync run {synced.first.pk}" in visible(html)
    assert "/sync/runs/" not in html


def test_a_merged_student_names_the_student_it_was_merged_into(client, synced):
    sign_in(client, synced.world.district_admin)
    text = _page(client, f"/students/{synced.old_ada.pk}/")
    assert "Merged into Ada Sisko on " in text
    said = _lineage(client, f"/students/{synced.old_ada.pk}/")
    assert f"Merged into Ada Sisko by {synced.world.district_admin.name} on " in said


def test_the_overview_names_who_started_a_run(client, synced):
    sign_in(client, synced.world.district_admin)
    text = _page(client, f"/districts/{synced.world.district.pk}/")
    assert synced.world.district_admin.name in text
    assert not re.search(r"\baccount \d", text)


def test_counts_have_plurals_and_nothing_to_select_offers_no_selection(client, world):
    sign_in(client, world.admin_a)
    url = f"/schools/{world.school_a.pk}/directory/"
    text = _page(client, url, {"q": "nobody-is-called-this"})
    assert "0 students match" in text and "Select all" not in text
    text = _page(client, url, {"q": "Finn"})
    assert "1 student matches" in text and "Select the 1 student matching this filter" in text
    assert "Select all on this page" in text
    text = _page(client, url, {"grade": "02"})
    assert "Select all 3 matching this filter" in text
    actions_url = f"/schools/{world.school_a.pk}/directory/actions/"
    finn = world.students_a[4]
    confirm = _page(client, actions_url, {"action": "archive", "ids": [finn.pk]}, post=True)
    assert "Archive 1 student." in confirm and "the 1 student you ticked" in confirm
    done = client.post(
        actions_url, {"action": "archive", "ids": [finn.pk], "confirm": "yes"}, follow=True
    )
    assert "Archived 1 student." in visible(done.content.decode())
    again = client.post(
        actions_url, {"action": "archive", "ids": [finn.pk]}, follow=True
    ).content.decode()
    assert "the selected student already is archived" in visible(again)


def test_an_entry_in_words_never_shows_a_dict_or_an_id():
    """The entries whose stored values are dicts and ids (a merge, an unlock, a guardian link
    folded in an adoption) read as sentences."""
    names = audit.Names(students={7: "Mia Davis", 8: "Mya Davies"}, accounts={3: "Pat Parent"})
    at = timezone.now()
    entries = [
        AuditEntry(
            at=at,
            action="merge",
            object_type="student",
            object_id=7,
            actor_label="test",
            after={
                "merged_from": 8,
                "merge": 1,
                "history": 1,
                "links_moved": 2,
                "memberships_moved": 0,
                "links_archived": 0,
            },
            note="merge 1: student 8 merged into 7; moved {'history': 1}",
        ),
        AuditEntry(
            at=at,
            action="sign-in unlocked",
            object_type="account",
            object_id=3,
            actor_label="test",
            before={"locked_from": ["10.0.0.1"], "until": at.isoformat()},
            note="lifted 1 lockout(s) after failed sign-ins",
        ),
        AuditEntry(
            at=at,
            action="archive",
            object_type="guardianlink",
            object_id=5,
            actor_label="t",
            before={"status": "active"},
            after={"status": "archived", "folded_into": 9, "adoption": 2},
            note="folded into the SIS's guardian link 9 (adoption 2)",
        ),
        AuditEntry(
            at=at,
            action="move",
            object_type="guardianlink",
            object_id=5,
            actor_label="t",
            before={"account": 3},
            after={"account": 4},
            note="SIS person p1 is now account 4",
        ),
    ]
    lines = [audit.read(e, names) for e in entries]
    text = "\n".join(f"{x.what}\n{x.note}\n" + "\n".join(map(str, x.changes)) for x in lines)
    assert not internal(text), text
    assert lines[0].what == "Mya Davies merged into this student"
    assert lines[0].note == "1 history record and 2 guardian links moved onto this student"
    assert lines[1].note.startswith("it was locked out from 10.0.0.1 until ")
    assert "the same guardian was linked already" in lines[2].note
    assert [str(c) for c in lines[3].changes] == ["Account: Pat Parent → another account"]


# In the browser ---------------------------------------------------------------------------------

SHOTS = Path("/tmp/rollbook-shots")


@pytest.mark.browser
def test_a_synced_students_page_reads_its_lineage(transactional_db, settings, tmp_path, signed_in):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    s = build_synced(tmp_path)
    page = signed_in(s.world.district_admin)
    page.goto(f"/students/{s.ada.pk}/")
    lineage = page.locator("#lineage").inner_text()
    created = AuditEntry.objects.get(
        run=s.first, action="create", object_type="student", object_id=None
    )
    said = f"Created by sync run {s.first.pk} on {_day(created.at)} from users.csv line 2."
    assert said in lineage
    assert f"Last changed by sync run {s.second.pk}" in lineage
    page.get_by_role("link", name=f"sync run {s.first.pk}").first.wait_for()
    trail = page.locator("table.trail").inner_text()
    assert "Grade: 03 → 04" in trail and not internal(trail)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "plain-student.png"), full_page=True)
    page.goto(f"/accounts/{s.gwen.pk}/")
    assert f"Created by sync run {s.first.pk}" in page.locator("#lineage").inner_text()
    page.screenshot(path=str(SHOTS / "plain-account.png"), full_page=True)
    page.goto(f"/accounts/{s.world.guardians['hal'].pk}/")
    assert "Deactivated by " in page.locator("#lineage").inner_text()
    page.screenshot(path=str(SHOTS / "plain-account-deactivated.png"), full_page=True)
