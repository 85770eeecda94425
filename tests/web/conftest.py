"""Fixtures of the web app's tests: a small district with two schools and their three kinds of
administrator, and (for browser tests) Debian's Chromium driven by Playwright."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rollbook.directory.audit import Actor

PASSWORD = "a-long-passphrase"
CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class World:
    district: object
    school_a: object
    school_b: object
    district_admin: object
    admin_a: object
    admin_b: object
    students_a: list = field(default_factory=list)
    students_b: list = field(default_factory=list)
    guardians: dict = field(default_factory=dict)
    other_district: object = None
    held_run: object = None
    klass_a: object = None


def build_world() -> World:
    """District "Test District" with Lincoln (A) and Jefferson (B).

    Lincoln: 6 students, grade 01 and 02; Ana Able (grade 01) and Ben Baker (grade 02) have
    the guardian Pat Parent, who also has Carl Cole at Jefferson; Dana Dunn has Gil Guard,
    who is a teacher at Lincoln too; Eve Evans has Hal Home only; Finn Fox has none.
    Jefferson: Carl Cole and Gus Green (guardian Ida Inn).
    """
    from rollbook.directory.models import (
        Account,
        ClassMembership,
        District,
        GuardianLink,
        HistoryRecord,
        School,
        SchoolClass,
        StaffRole,
        Student,
    )
    from rollbook.directory.services import create_administrator
    from rollbook.sync.models import SyncRun, SyncSource

    actor = Actor(label="test")
    district = District.objects.create(name="Test District", default_region="US")
    other = District.objects.create(name="Other District", default_region="US")
    a = School.objects.create(district=district, name="Lincoln Elementary")
    b = School.objects.create(district=district, name="Jefferson Middle")
    School.objects.create(district=other, name="Elsewhere High")
    world = World(
        district=district,
        school_a=a,
        school_b=b,
        other_district=other,
        district_admin=create_administrator(district, "district@example.org", PASSWORD, actor),
        admin_a=create_administrator(
            district, "lincoln@example.org", PASSWORD, actor, given_name="Lin", school=a
        ),
        admin_b=create_administrator(
            district, "jefferson@example.org", PASSWORD, actor, given_name="Jeff", school=b
        ),
    )

    def student(school, given, family, grade):
        return Student.objects.create(
            district=district, school=school, given_name=given, family_name=family, grade=grade
        )

    world.students_a = [
        student(a, "Ana", "Able", "01"),
        student(a, "Ben", "Baker", "02"),
        student(a, "Dana", "Dunn", "01"),
        student(a, "Eve", "Evans", "02"),
        student(a, "Finn", "Fox", "01"),
        student(a, "Gia", "Gray", "02"),
    ]
    world.students_b = [student(b, "Carl", "Cole", "06"), student(b, "Gus", "Green", "07")]

    def guardian(given, family, email, phone):
        return Account.objects.create(
            given_name=given, family_name=family, email=email, phone=phone, password="!"
        )

    g = world.guardians
    g["pat"] = guardian("Pat", "Parent", "pat@example.org", "+12025550101")
    g["gil"] = guardian("Gil", "Guard", "gil@example.org", "+12025550102")
    g["hal"] = guardian("Hal", "Home", "hal@example.org", None)
    g["ida"] = guardian("Ida", "Inn", "ida@example.org", None)
    ana, ben, dana, eve, _, gia = world.students_a
    carl, gus = world.students_b
    for account, kid in [
        (g["pat"], ana),
        (g["pat"], ben),
        (g["pat"], carl),
        (g["gil"], dana),
        (g["hal"], eve),
        (g["hal"], gia),
        (g["ida"], gus),
    ]:
        GuardianLink.objects.create(account=account, student=kid)
    StaffRole.objects.create(account=g["gil"], school=a, role="teacher")
    world.klass_a = SchoolClass.objects.create(school=a, title="Room 1")
    for kid in (ana, dana):
        ClassMembership.objects.create(school_class=world.klass_a, student=kid)
    ClassMembership.objects.create(school_class=world.klass_a, account=g["gil"], role="teacher")
    HistoryRecord.objects.create(
        student=ana, kind="note", occurred_at="2025-01-02T10:00:00Z", text="Likes drawing."
    )
    source = SyncSource.objects.create(district=district, name="SIS")
    SyncRun.objects.create(source=source, status=SyncRun.Status.APPLIED)
    world.held_run = SyncRun.objects.create(
        source=source, status=SyncRun.Status.HELD, hold_reasons=["would archive 40%"]
    )
    return world


@pytest.fixture
def world(db) -> World:
    return build_world()


def sign_in(client, account):
    client.force_login(account)
    return client


# Browser tests --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless. Missing: skipped — unless CI is set, then a failure."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need Chromium at {CHROMIUM}")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own
    # database work (fixtures, assertions) is synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_world(transactional_db) -> World:
    """The world, committed, so that the live server's threads see it."""
    return build_world()


@pytest.fixture
def queue_worker(transactional_db):
    """A worker for the browser tests' jobs: django-tasks-db's loop on a thread of the test
    process (the live server is a thread of it too, on the same test database). In production
    the worker is its own process (``rollbook worker``); the web process runs no work."""
    import threading

    from rollbook.work import heartbeat
    from rollbook.work.worker import Worker

    beat = heartbeat.this_process()
    worker = Worker(
        beat,
        queue_names=["default", "heavy"],
        interval=0.1,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        excluded_queue_names=[],
    )

    def loop():
        from django.db import connections

        try:
            worker.run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop, daemon=True, name="test-queue-worker")
    thread.start()
    yield worker
    worker.running = False
    thread.join(timeout=30)


@pytest.fixture
def page(chromium, live_server, queue_worker):
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def signed_in(page):
    """Sign in through the real form, as a person would."""

    def as_(account) -> object:
        page.goto("/sign-in/")
        page.get_by_label("Email").fill(account.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        return page

    return as_


# Two districts, with everything a page can name ----------------------------------------------


@dataclass
class Bag:
    """What exists in one place (a district or a school) and what its pages take in their URL,
    query string or form: a job, a merge, a pair to merge, students, a guardian, a class; for a
    district also its sync source, a planned and an applied run, a finished self-check, an
    upload and a folder of its import folder, and an alert on its page."""

    kind: str  # "district" or "school"
    pk: int
    district_id: int
    jobs: list[int] = field(default_factory=list)  # a plan or directory job, merge suggestions
    merge: int = 0
    pair: tuple[int, int] = (0, 0)  # a student entered by hand and its synced twin, not merged
    students: list[int] = field(default_factory=list)
    account: int = 0
    klass: int = 0
    source: int = 0
    run: int = 0  # planned (a dry run), with its saved plan
    applied_run: int = 0
    check: int = 0  # a finished self-check job with its report
    alert: int = 0  # an alert on the district's page (no successful scheduled sync lately)
    upload: str = ""
    folder: str = ""


@dataclass
class TwoDistricts:
    """``world`` (district one: Lincoln "a", Jefferson "b") and district two ("Other
    District": Elsewhere High "e", Faraway Middle "f"), each also with a school adopted by its
    first sync ("c" and "g"), and in each: a sync source, an applied run (with an adopted
    student), a planned run, a finished self-check (its findings fixable), plan and directory
    jobs, merges, an upload and an export folder.

    Administrators: ``world``'s three (district one), ``admin_two`` (district two),
    ``school_admin_two`` (Faraway Middle) and ``both`` (district administrator of district one
    *and* school administrator of Elsewhere High in district two).
    """

    world: World
    district_two: object
    admin_two: object
    school_admin_two: object
    both: object
    schools: dict[str, object]  # "a", "b", "c" (district one), "e", "f", "g" (district two)
    bags: dict[tuple[str, int], Bag]  # by (kind, pk)
    # Text only some administrators may read, and who: ("school", pk) those who see the
    # school, ("district", pk) those who see any school of the district.
    markers: dict[str, tuple[str, int]]
    # Student and account pages: (URL name, pk, what makes it visible: ("school", pk) for
    # those who see the school, ("district", pk) for the district's own administrators).
    people: list[tuple[str, int, tuple[tuple[str, int], ...]]]

    @property
    def names(self) -> dict[tuple[str, int], str]:
        """The name of each place, by (kind, pk)."""
        districts = (self.world.district, self.district_two)
        return {("school", s.pk): s.name for s in self.schools.values()} | {
            ("district", d.pk): d.name for d in districts
        }

    def account(self, role: str):
        return getattr(self.world, role, None) or getattr(self, role)


def _bundle(p: str, *, planned: bool):
    """District ``p``'s SIS export: school ``sis-p`` ("School sis-p"); the plan adds a
    student, a guardian who resembles one entered by hand, and one who gives the phone of a
    guardian of the other district (what the plan, the check and their pages say of it must
    name nobody of the other district)."""
    from ..sync.bundles import Bundle

    family = f"Sis{p}smith"
    b = Bundle(schools=[f"sis-{p}"])
    b.guardian(f"gdn-{p}-1", "Gwen", family, f"sis.parent@{p}.example", school=f"sis-{p}")
    b.student(f"stu-{p}-1", "Ada", family, school=f"sis-{p}", guardians=(f"gdn-{p}-1",))
    b.student(f"stu-{p}-2", "Ben", family, school=f"sis-{p}")
    if planned:
        b.guardian(
            f"gdn-{p}-2",
            "Nell",
            family,
            f"near.parent@{p}.example",
            "(202) 555-0177" if p == "one" else "(202) 555-0277",
            school=f"sis-{p}",
        )
        other = "(202) 555-0266" if p == "one" else "(202) 555-0166"  # the other's Nell
        b.guardian(f"gdn-{p}-9", "Ivan", "Takeover", "", other, school=f"sis-{p}")
        kin = (f"gdn-{p}-2", f"gdn-{p}-9")
        b.student(f"stu-{p}-3", "Cara", family, school=f"sis-{p}", guardians=kin)
    return b


def _populate(district, admin, p: str, places: list, sis_key: str, out: TwoDistricts) -> None:
    """Fill one district: ``places`` are its schools entered by hand, as (key, school, its
    school administrator, a family name only that school has, a slug for addresses)."""

    from django.conf import settings

    from rollbook.directory.models import (
        Account,
        GuardianLink,
        HistoryRecord,
        School,
        SchoolClass,
        StaffRole,
        Student,
    )
    from rollbook.merge import adoption
    from rollbook.merge.services import merge
    from rollbook.sync import services as sync
    from rollbook.web import jobs
    from rollbook.web.models import Alert, Job
    from rollbook.web.views_merge import suggest_work

    actor = Actor(account=admin)
    twins = itertools.count(1)
    n = "01" if p == "one" else "02"  # phone numbers are unique across the install

    def kid(school, given, family, **extra):
        return Student.objects.create(
            district=district, school=school, given_name=given, family_name=family, **extra
        )

    def synced_twin(school, old, source):
        return kid(
            school,
            old.given_name,
            old.family_name,
            grade=old.grade,
            origin="synced",
            source=source,
            sourced_id=f"twin-{p}-{next(twins)}",
        )

    def person(given, family, email, phone=None):
        return Account.objects.create(
            given_name=given, family_name=family, email=email, phone=phone, password="!"
        )

    def suggestions(kind, place, creator):
        school = place if kind == "school" else None
        job = Job(
            district=district,
            school=school,
            kind=Job.Kind.SUGGEST,
            params={"place_kind": kind, "place_id": place.pk},
            created_by=creator,
        )
        job = jobs.start(job, suggest_work)
        assert job.status == Job.Status.DONE, job.error
        return job

    def school_objects(key, school, creator, family, source):
        """A guardian, a teacher, a class, a pair to merge, a merge, a directory job and
        merge suggestions."""
        mara = kid(school, "Mara", family, grade="03")
        parent = person("Gale", family, f"{school_slug[key]}.parent@{p}.example")
        GuardianLink.objects.create(account=parent, student=mara)
        teacher = person("Tess", family, f"{school_slug[key]}.teacher@{p}.example")
        StaffRole.objects.create(account=teacher, school=school, role="teacher")
        klass = SchoolClass.objects.create(school=school, title=f"Room {family}")
        HistoryRecord.objects.create(
            student=mara, kind="note", occurred_at="2025-01-02T10:00:00Z", text="Reads well."
        )
        olive = kid(school, "Olive", family, grade="03")
        olive_twin = synced_twin(school, olive, source)
        milo = kid(school, "Milo", family, grade="03")
        merged = merge(Student.objects.all(), milo.pk, synced_twin(school, milo, source).pk, actor)
        job = Job.objects.create(
            district=district,
            school=school,
            kind=Job.Kind.ACTION,
            status=Job.Status.DONE,
            params={"action": "archive"},
            result={"message": "Archived 0 students.", "back": f"/schools/{school.pk}/"},
            created_by=creator,
        )
        out.bags["school", school.pk] = Bag(
            "school",
            school.pk,
            district.pk,
            jobs=[job.pk, suggestions("school", school, creator).pk],
            merge=merged.pk,
            pair=(olive.pk, olive_twin.pk),
            students=[mara.pk, olive.pk],
            account=parent.pk,
            klass=klass.pk,
        )
        anchor = ("school", school.pk)
        out.markers |= {
            school.name: anchor,
            family: anchor,
            parent.email: anchor,
            teacher.email: anchor,
        }
        out.people += [
            ("web:student", mara.pk, (anchor,)),
            ("web:student", milo.pk, (anchor,)),  # merged: the tombstone's page
            ("web:account", parent.pk, (anchor,)),
            ("web:account", teacher.pk, (anchor,)),
        ]

    school_slug = {key: slug for key, _, _, _, slug in places}
    source = sync.get_source(district)
    # Before the first sync: a school entered by hand with the SIS school's name, and a student
    # in it confirmed to be an SIS student (both adopted by the sync).
    family = f"Sis{p}smith"
    sis_school = School.objects.create(district=district, name=f"School sis-{p}")
    ada = kid(sis_school, "Ada", family, grade="03")
    adoption.confirm_adoptions(district, [(ada.pk, f"stu-{p}-1")], actor)
    home = Path(settings.ROLLBOOK_HOME)
    first = _bundle(p, planned=False).write(home / "exports" / f"first-{p}")
    applied = sync.sync_bundle(source, first, actor, approve=True)
    assert applied.status == "applied", applied.stats
    ada.refresh_from_db()
    assert ada.origin == "synced", "the sync did not adopt the student"
    sis_school.refresh_from_db()
    out.schools[sis_key] = sis_school
    # A guardian entered by hand whom the next export brings with another phone: the
    # self-check offers to update the account's contact details (a fix).
    cody = kid(sis_school, "Cody", family, grade="03")
    nell = person("Nell", family, f"near.parent@{p}.example", f"+1202555{n}66")
    GuardianLink.objects.create(account=nell, student=cody)
    for key, school, creator, family_name, _ in places:
        out.schools[key] = school
        school_objects(key, school, creator, family_name, source)
    school_slug[sis_key] = f"sis{p}"
    school_objects(sis_key, sis_school, admin, family, source)
    sis_bag = out.bags["school", sis_school.pk]
    out.bags["district", district.pk] = Bag(
        "district",
        district.pk,
        district.pk,
        jobs=[suggestions("district", district, admin).pk],
        merge=sis_bag.merge,
        pair=sis_bag.pair,
        students=[ada.pk, cody.pk],
        account=nell.pk,
        klass=sis_bag.klass,
        source=source.pk,
        applied_run=applied.pk,
        alert=Alert.objects.create(
            key=f"stale:source:{source.pk}:after:{applied.pk}",
            kind=Alert.Kind.STALE,
            district=district,
            source=source,
            run=applied,
            detail={"since": applied.finished_at.isoformat(), "hours": 36},
        ).pk,
    )
    anchor = ("school", sis_school.pk)
    out.markers |= {nell.email: anchor, f"sis.parent@{p}.example": anchor}
    out.people += [("web:student", ada.pk, (anchor,)), ("web:account", nell.pk, (anchor,))]
    out.markers[district.name] = ("district", district.pk)


def _plan_and_check(district, admin, p: str, bag: Bag) -> None:
    """District ``p``'s next export, in its import folder and uploaded: planned (a dry run,
    with a plan job), checked (a self-check job with its report)."""
    import zipfile

    from rollbook.readiness.services import run_check
    from rollbook.sync import services as sync
    from rollbook.web import bundles
    from rollbook.web.models import Job
    from rollbook.web.views_check import save_report

    source, actor = sync.get_source(district), Actor(account=admin)
    folder = bundles.import_root() / str(district.pk) / f"export-{p}"
    _bundle(p, planned=True).write(folder)
    planned = sync.sync_bundle(source, folder, actor, dry_run=True)
    assert planned.status == "planned", planned.stats
    check = Job.objects.create(
        district=district, kind=Job.Kind.CHECK, bundle=str(folder), created_by=admin
    )
    check.result = save_report(check, run_check(district, folder))
    check.status = Job.Status.DONE
    check.save()
    # Both fixes have something to change: a leak through them would show.
    assert {"CHECK-EXISTING-STUDENTS", "CHECK-GUARDIAN-NEAR-MATCH"} <= set(check.result["counts"])
    plan_job = Job.objects.create(
        district=district,
        kind=Job.Kind.PLAN,
        status=Job.Status.DONE,
        bundle=str(folder),
        result={"run": planned.pk, "status": planned.status},
        created_by=admin,
    )
    uploads = bundles.upload_folder(district.pk)
    uploads.mkdir(parents=True, exist_ok=True)
    upload = uploads / f"20250101-000000-{p}.zip"
    with zipfile.ZipFile(upload, "w") as archive:
        for path in folder.iterdir():
            archive.write(path, path.name)
    bag.jobs.insert(0, plan_job.pk)
    bag.run, bag.check = planned.pk, check.pk
    bag.upload, bag.folder = upload.name, folder.name


def build_two_districts() -> TwoDistricts:
    """``build_world``'s district and a second one, each with every kind of object (see
    :class:`TwoDistricts`). Needs ROLLBOOK_HOME and ROLLBOOK_IMPORT_ROOT in a temporary
    folder, and ROLLBOOK_JOBS_INLINE."""
    from rollbook.directory.models import AdministratorRole, GuardianLink, School
    from rollbook.directory.services import create_administrator

    actor = Actor(label="test")
    world = build_world()
    two = world.other_district
    elsewhere = School.objects.get(district=two, name="Elsewhere High")
    faraway = School.objects.create(district=two, name="Faraway Middle")
    admin_two = create_administrator(two, "district2@example.org", PASSWORD, actor)
    school_admin_two = create_administrator(
        two, "faraway@example.org", PASSWORD, actor, given_name="Far", school=faraway
    )
    both = create_administrator(
        world.district, "both@example.org", PASSWORD, actor, given_name="Bo"
    )
    AdministratorRole.objects.create(account=both, district=two, school=elsewhere)
    out = TwoDistricts(
        world=world,
        district_two=two,
        admin_two=admin_two,
        school_admin_two=school_admin_two,
        both=both,
        schools={},
        bags={},
        markers={},
        people=[],
    )
    _populate(
        world.district,
        world.district_admin,
        "one",
        [
            ("a", world.school_a, world.admin_a, "Lincolnshire", "lincoln"),
            ("b", world.school_b, world.admin_b, "Jeffersonian", "jefferson"),
        ],
        "c",
        out,
    )
    _populate(
        two,
        admin_two,
        "two",
        [
            ("e", elsewhere, both, "Elsewhereton", "elsewhere"),
            ("f", faraway, school_admin_two, "Farawayson", "faraway"),
        ],
        "g",
        out,
    )
    # Planned once both districts hold their people: each plan meets the other's guardian.
    _plan_and_check(
        world.district, world.district_admin, "one", out.bags["district", world.district.pk]
    )
    _plan_and_check(two, admin_two, "two", out.bags["district", two.pk])
    # One guardian with a child in each district (Lincoln and Elsewhere High), and the
    # administrators' own accounts.
    from rollbook.directory.models import Account, Student

    shared = Account.objects.create(
        given_name="Sam", family_name="Shared", email="shared@example.org", password="!"
    )
    for school in (out.schools["a"], out.schools["e"]):
        GuardianLink.objects.create(
            account=shared, student=Student.objects.filter(school=school).first()
        )
    one, a, b, e, f = (
        world.district.pk,
        world.school_a.pk,
        world.school_b.pk,
        elsewhere.pk,
        faraway.pk,
    )
    out.people += [
        ("web:account", shared.pk, (("school", a), ("school", e))),
        ("web:account", world.admin_a.pk, (("school", a),)),
        ("web:account", world.admin_b.pk, (("school", b),)),
        ("web:account", world.district_admin.pk, (("district", one),)),
        ("web:account", admin_two.pk, (("district", two.pk),)),
        ("web:account", school_admin_two.pk, (("school", f),)),
        ("web:account", both.pk, (("district", one), ("school", e))),
    ]
    return out


@pytest.fixture
def two_districts(db, settings, tmp_path) -> TwoDistricts:
    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    settings.ROLLBOOK_JOBS_INLINE = True
    return build_two_districts()
