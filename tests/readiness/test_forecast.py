"""The foreseen apply (sync/forecast.py) says exactly what the full rehearsal says: the whole
report, every count, row and code — before a first sync, on re-syncs that move people between
accounts, archive and bring back people, on adoptions, and on random directories (a property
test). Each scenario is then synced, and the sync's outcome is the predicted one.

``checked`` (conftest.py) runs both rehearsals and holds their reports equal; every test of
this folder that uses the ``check`` fixture does the same on its own scenario."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from rollbook.directory.audit import Actor
from rollbook.directory.models import Account, District, GuardianLink, School, Status
from rollbook.merge import adoption
from rollbook.sync import services as sync
from rollbook.sync.models import SyncRecord, SyncRun, SyncSource

from ..sync.bundles import Bundle
from .conftest import checked, manual_guardian, manual_student, same_json

pytestmark = pytest.mark.django_db
SYNC = Actor(label="test")
_folders = itertools.count()


def _sync_checked(district, folder, **kwargs):
    """Check (both ways), then sync; the sync does what the check said."""
    report = checked(district, folder, **kwargs)
    source = sync.get_source(district)
    run = sync.sync_bundle(source, folder, SYNC, approve=True)
    if not report.can_sync:
        assert run.status == "failed"
        return report, run
    if run.status == "skipped":  # byte-identical to the last bundle: nothing to compare
        return report, run
    assert run.status == "applied", run.stats
    assert same_json(run.stats["outcome"], report.outcome)
    return report, run


def test_nothing_is_written_by_the_foreseen_apply(district, tmp_path, settings):
    """No source, run, row or sequence value is left behind (the issue's dead rows and used
    sequences on PostgreSQL)."""
    from rollbook.readiness.services import run_check

    settings.ROLLBOOK_HOME = tmp_path / "home"
    b = Bundle().guardian("g1", "Ana", "Lopez", "ana@example.com")
    b.student("s1", "Mia", "Lopez", guardians=("g1",))
    folder = b.write(tmp_path / "b")
    school = School.objects.create(district=district, name="Elsewhere")
    before = (
        Account.objects.create(given_name="A", family_name="B"),
        manual_student(school, "C", "D"),
    )
    counts = (GuardianLink.objects.count(), School.objects.count(), SyncRun.objects.count())
    report = run_check(district, folder)
    assert report.outcome["counts"]["student"]["created"] == 1
    assert report.outcome["identity"]["accounts_created"] == 1
    after = (
        Account.objects.create(given_name="E", family_name="F"),
        manual_student(school, "G", "H"),
    )
    assert [a.pk for a in after] == [b.pk + 1 for b in before]  # no id used up
    assert (GuardianLink.objects.count(), School.objects.count(), SyncRun.objects.count()) == (
        counts
    )
    assert not SyncSource.objects.filter(district=district).exists()
    assert not SyncRecord.objects.exists()


def test_the_demo_district_and_its_next_day(tmp_path, settings):
    from rollbook.directory.demo import build_demo
    from rollbook.oneroster.generator import derive_next_day

    settings.ROLLBOOK_HOME = tmp_path
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    summary = build_demo(students=300, seed=5, first_sync=False)
    district = District.objects.get(pk=summary.district_id)
    report, _ = _sync_checked(district, summary.bundle)
    assert report.count("CHECK-EXISTING-STUDENTS") == summary.manual_students
    assert report.finding("CHECK-GUARDIAN-REUSED").rows
    for day, changes in ((1, 0.05), (2, 0.2)):
        folder = tmp_path / f"next-{day}"
        derive_next_day(summary.bundle if day == 1 else tmp_path / "next-1", folder, changes, day)
        source = sync.get_source(district)
        report = checked(district, folder)
        run = sync.sync_bundle(source, folder, SYNC, approve=True)
        if run.status == "held":
            run = sync.approve_run(run, SYNC)
        assert run.status == "applied", run.stats
        assert same_json(run.stats["outcome"], report.outcome)


def _day(tmp_path, b: Bundle):
    return b.write(tmp_path / f"day-{next(_folders)}")


def test_people_moved_archived_and_back(district, tmp_path, settings):
    """A re-described account, a person moving off a shared account (their links follow),
    people archived (accounts deactivated) and brought back (reactivated), an identifier taken
    meanwhile, a student archived with its links, enrollments changed."""
    settings.ROLLBOOK_HOME = tmp_path / "home"

    def day1() -> Bundle:
        b = Bundle()
        b.teacher("t1", "Tia", "Ross", "tia@example.com", "202-555-0100")
        b.teacher("t5", "Kim", "Lee", "kim@example.com", "202-555-0105")
        b.guardian("g1", "Gus", "Hale", "gus@example.com")
        b.guardian("g2", "Gia", "Hale", "gia@example.com", "202-555-0102")
        b.guardian("g3", "Hal", "Moss", "hal@example.com")
        b.guardian("g5", "Kim", "Lee", "kim@example.com", "202-555-0105")
        b.guardian("g6", "Ola", "Berg", "ola@example.com", "202-555-0106")
        b.student("s1", "Ida", "Hale", guardians=("g1", "g2"))
        b.student("s2", "Bo", "Hale", guardians=("g2",))
        b.student("s3", "Cy", "Moss", guardians=("g3",))
        b.student("s4", "Di", "Lee", guardians=("g5",))
        b.student("s5", "Ed", "Berg", guardians=("g6",))
        b.klass("c1").klass("c2")
        for sid, cls, user in (
            ("e1", "c1", "s1"),
            ("e2", "c1", "s2"),
            ("e3", "c1", "t1"),
            ("e4", "c2", "s4"),
            ("e5", "c2", "t5"),
        ):
            b.enroll(sid, cls, user, role="teacher" if user.startswith("t") else "student")
        return b

    _sync_checked(district, _day(tmp_path, day1()))

    b = day1()
    b.guardians[0]["email"] = "gus.hale@example.com"  # g1 re-described in place
    b.guardians[3]["phone"] = "202-555-0199"  # g5 leaves t5's account: a move
    b.guardians = [g for g in b.guardians if g["sourcedId"] not in ("g3", "g6")]
    b.students[2]["agentSourcedIds"] = ""
    b.students[4]["agentSourcedIds"] = "g7"
    b.guardian("g7", "Oda", "Berg", "ola@example.com")  # takes g6's email, free now
    b.students = [s for s in b.students if s["sourcedId"] != "s2"]  # archived with its links
    b.enrollments = [e for e in b.enrollments if e["sourcedId"] != "e2"]
    b.enroll("e6", "c2", "s1")
    report, run = _sync_checked(district, _day(tmp_path, b))
    assert report.outcome["identity"]["accounts_deactivated"] >= 2
    assert report.outcome["identity"].get("people_moved", 0) >= 1

    b = day1()  # everyone back as on day 1; g7 keeps ola@example.com
    b.students[4]["agentSourcedIds"] = "g6,g7"
    b.guardian("g7", "Oda", "Berg", "ola@example.com")
    report, run = _sync_checked(district, _day(tmp_path, b))
    assert report.outcome["counts"]["person"]["reactivated"] >= 2
    assert report.count("CHECK-SIGN-IN-CONFLICT") >= 1


@pytest.mark.parametrize("keep", [False, True])
def test_an_adopted_student_and_school(district, tmp_path, settings, keep):
    """A school entered by hand under the SIS school's name and a confirmed student adoption:
    the hand-entered guardian links folded, archived or kept by hand, as the sync does."""
    settings.ROLLBOOK_HOME = tmp_path / "home"
    school = School.objects.create(district=district, name="School sch-1")
    mia = manual_student(school, "Mia", "Lopez")
    ana = manual_guardian(mia, "Ana", "Lopez", "ana@example.com", "+12025550101")
    oma = manual_guardian(mia, "Oma", "Lopez", "oma@example.com")
    manual_guardian(manual_student(school, "Noa", "Kim"), "Lin", "Kim", "lin@example.com")
    b = Bundle().guardian("gdn-1", "Ana", "Lopez", "ana@example.com", "202-555-0101")
    b.guardian("gdn-2", "Lin", "Kim", "lin.kim@example.com")
    b.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    b.student("stu-2", "Noa", "Kim", guardians=("gdn-2",))
    b.student("stu-3", "Zoe", "Park")
    folder = b.write(tmp_path / "bundle")
    adoption.confirm_adoptions(
        district, [(mia.pk, "stu-1")], SYNC, keep_guardians=[oma.pk] if keep else ()
    )
    report, run = _sync_checked(district, folder)
    p = report.prediction
    assert (p["students_adopted"], p["schools_adopted"]) == (1, 1)
    assert p["adopted_guardian_links_folded"] == 1
    assert (p["adopted_guardian_links_archived"], p["adopted_guardian_links_kept_by_hand"]) == (
        (0, 1) if keep else (1, 0)
    )
    oma.refresh_from_db()
    assert oma.is_active is keep  # no role left without the kept link
    assert ana.guardian_links.filter(source__isnull=False, status=Status.ACTIVE).exists()


def test_chosen_schools_and_a_new_source(district, tmp_path, settings):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    b = Bundle(schools=["sch-1", "sch-2"])
    b.guardian("g1", "Ana", "Lopez", "ana@example.com", school="sch-1")
    b.guardian("g2", "Bea", "Ruiz", "bea@example.com", school="sch-2")
    b.student("s1", "Mia", "Lopez", guardians=("g1",))
    b.student("s2", "Leo", "Ruiz", school="sch-2", guardians=("g2",))
    folder = b.write(tmp_path / "bundle")
    report = checked(district, folder, source_name="Chosen", schools=["sch-1"])
    assert report.outcome["counts"]["student"]["created"] == 1
    assert report.count("CHECK-SYNC-SKIPS")


# --- random directories ---------------------------------------------------------------------

NAMES = ("Ana", "Bo", "Cy")
EMAILS = ("a@example.com", "b@example.com", "")
PHONES = ("202-555-0101", "202-555-0102", "")


@st.composite
def people(draw, prefix: str):
    n = draw(st.integers(min_value=1, max_value=5))
    return [
        (
            f"{prefix}{i}",
            draw(st.sampled_from(NAMES)),
            draw(st.sampled_from(EMAILS)),
            draw(st.sampled_from(PHONES)),
            draw(st.booleans()),  # staff
            draw(st.lists(st.integers(0, 3), max_size=2, unique=True)),  # children
        )
        for i in range(n)
    ]


def _bundle(persons) -> Bundle:
    b = Bundle()
    kids: dict[int, list[str]] = {k: [] for k in range(4)}
    for sid, name, email, phone, staff, children in persons:
        if staff:
            b.teacher(sid, name, "Doe", email, phone)
        else:
            b.guardian(sid, name, "Doe", email, phone)
            for k in children:
                kids[k].append(sid)
    for k, agents in kids.items():
        b.student(f"s{k}", f"Kid{k}", "Doe", guardians=tuple(agents))
    return b


@settings(
    max_examples=60,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    existing=st.lists(
        st.tuples(st.sampled_from(NAMES), st.sampled_from(EMAILS), st.sampled_from(PHONES)),
        max_size=3,
    ),
    first=people("p"),
    second=people("p"),
)
def test_random_directories_and_days(district, tmp_path_factory, settings, existing, first, second):
    """Hand-entered guardians (some sharing the SIS's identifiers), a first sync and a next
    day that changes, drops and adds people at random: both rehearsals agree, and so does
    the sync."""
    tmp = tmp_path_factory.mktemp("prop")
    settings.ROLLBOOK_HOME = tmp / "home"
    district = District.objects.create(name=f"Random {next(_folders)}")
    school = School.objects.create(district=district, name="School sch-1")
    kid = manual_student(school, "Old", "Doe")
    for name, email, phone in existing:
        phone = f"+1{phone.replace('-', '')}" if phone else None
        if email and Account.objects.filter(email=email).exists():
            email = None
        if phone and Account.objects.filter(phone=phone).exists():
            phone = None
        manual_guardian(kid, name, "Doe", email or None, phone)
    _sync_checked(district, _bundle(first).write(tmp / "day1"))
    _sync_checked(district, _bundle(second).write(tmp / "day2"))
