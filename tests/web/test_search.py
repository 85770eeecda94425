"""The Directory's search (web/search.py): it finds exactly what the scan it replaced found,
on either database, after every kind of write, and never outside the scope."""

from __future__ import annotations

import itertools
import random

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef, Q

from rollbook.directory.contacts import clean_name
from rollbook.directory.models import Account, GuardianLink, StaffRole, Status, Student
from rollbook.web import search
from rollbook.web.search import account_search, student_search

from .conftest import sign_in

pytestmark = pytest.mark.django_db

SYLLABLES = ["an", "na", "mar", "ia", "lee", "son", "o'", "jo", "sé", "ñez", "de la ", "-", "ke"]


# What the search meant before issue 18: one scan (kept here as the reference) ----------------


def scan_student_search(text: str, district) -> Q:
    text = clean_name(text)
    q = Q(sis_identifier=text) | Q(sourced_id=text)
    contact = None
    if "@" in text:
        contact = {"account__email": text.lower()}
    elif phone := search.phone_of(text, district):
        contact = {"account__phone": phone}
    if contact:
        links = GuardianLink.objects.filter(student=OuterRef("pk"), status=Status.ACTIVE)
        return q | Q(Exists(links.filter(**contact)))
    words = Q()
    for word in text.split()[:5]:
        words &= (
            Q(given_name__icontains=word)
            | Q(family_name__icontains=word)
            | Q(preferred_given_name__icontains=word)
            | Q(preferred_family_name__icontains=word)
            | Q(middle_name__icontains=word)
        )
    return q | words


def scan_account_search(text: str, district) -> Q:
    text = clean_name(text)
    if "@" in text:
        return Q(email=text.lower())
    if phone := search.phone_of(text, district):
        return Q(phone=phone)
    sourced = Exists(
        GuardianLink.objects.filter(account=OuterRef("pk"), person_sourced_id=text)
    ) | Exists(StaffRole.objects.filter(account=OuterRef("pk"), person_sourced_id=text))
    words = Q()
    for word in text.split()[:5]:
        words &= Q(given_name__icontains=word) | Q(family_name__icontains=word)
    return Q(sourced) | words


def found(queryset, q: Q) -> set[int]:
    return set(queryset.filter(q).values_list("pk", flat=True))


def assert_same(district, terms, *, students=True, accounts=True) -> int:
    """Every term finds the same students and accounts as the scan; returns how many terms
    found something (so that a test cannot pass by finding nothing)."""
    everyone = Student.objects.filter(district=district)
    hits = 0
    for term in terms:
        if students:
            expected = found(everyone, scan_student_search(term, district))
            assert found(everyone, student_search(term, district)) == expected, term
            hits += bool(expected)
        if accounts:
            expected = found(Account.objects.all(), scan_account_search(term, district))
            assert found(Account.objects.all(), account_search(term, district)) == expected, term
            hits += bool(expected)
    if connection.vendor == "sqlite":
        integrity_check()
    return hits


def integrity_check() -> None:
    """SQLite: FTS5 compares each name index with its table (an error when they differ)."""
    with connection.cursor() as cursor:
        for fts, _, _ in search.NAME_INDEXES.values():
            cursor.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")


def name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))).strip().title()


def terms_from(rng: random.Random, names: list[str], n: int) -> list[str]:
    """Pieces of stored names (1 to 7 characters, any case, one to three words) and text
    that means something to LIKE or to FTS5's query syntax."""
    ascii_case = [str.lower, str.upper, str.title, lambda s: s]
    terms = ['"', '""ann', "%", "_", "a%n", "an_", "*", "ma*", "AND", "NOT ia", "NEAR(an", "^mar"]
    terms += ["o'", "'so", "de la", "-ke", "ñez", "sé", "x", "zzzz", "na na", "mar:ia", "  lee  "]
    for _ in range(n):
        words = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            text = rng.choice(names)
            start = rng.randrange(len(text))
            piece = text[start : start + rng.randint(1, 7)].strip() or text
            if piece.isascii():
                piece = rng.choice(ascii_case)(piece)
            words.append(piece)
        terms.append(" ".join(words))
    return terms


@pytest.fixture
def people(world):
    """60 more students and 40 guardians at Lincoln, with names made of shared syllables."""
    rng = random.Random(18)
    for i in range(60):
        Student.objects.create(
            district=world.district,
            school=world.school_a if i % 3 else world.school_b,
            given_name=name(rng),
            family_name=name(rng),
            middle_name=name(rng) if i % 4 == 0 else "",
            preferred_given_name=name(rng) if i % 5 == 0 else "",
            preferred_family_name=name(rng) if i % 7 == 0 else "",
            sis_identifier=f"{9000 + i}",
        )
    kids = list(Student.objects.filter(district=world.district))
    for i in range(40):
        account = Account.objects.create(
            given_name=name(rng), family_name=name(rng), email=f"g{i}@example.org"
        )
        GuardianLink.objects.create(account=account, student=kids[i % len(kids)])
    return rng


@pytest.mark.parametrize("few", [search.FEW, 0], ids=["ids", "condition"])
def test_name_words_find_what_the_scan_found(world, people, monkeypatch, few):
    monkeypatch.setattr(search, "FEW", few)  # 0: every name is found as a condition
    names = [
        value
        for row in Student.objects.values_list(*search.STUDENT_NAMES)
        for value in row
        if value
    ]
    names += [v for row in Account.objects.values_list(*search.ACCOUNT_NAMES) for v in row]
    hits = assert_same(world.district, terms_from(people, names, 150))
    assert hits > 150


def test_identifiers_and_contacts_find_what_the_scan_found(world, people):
    from rollbook.sync.models import SyncSource

    source = SyncSource.objects.get(district=world.district)
    ana, ben = world.students_a[:2]
    Student.objects.filter(pk=ana.pk).update(
        origin="synced", source=source, sourced_id="stu-ana", sis_identifier="S-1"
    )
    Student.objects.filter(pk=ben.pk).update(sis_identifier="stu-ana")  # a number like an id
    pat, gil, hal = (world.guardians[k] for k in ("pat", "gil", "hal"))
    GuardianLink.objects.filter(account=pat).update(person_sourced_id="gdn-pat")
    StaffRole.objects.filter(account=gil).update(person_sourced_id="stf-gil")
    Account.objects.filter(pk=hal.pk).update(is_active=False)  # inactive: still found
    terms = ["stu-ana", "S-1", "s-1", "9001", "gdn-pat", "stf-gil", "nobody"]
    terms += ["pat@example.org", " PAT@Example.org ", "hal@example.org", "ida@example.org"]
    terms += ["+12025550101", "(202) 555-0101", "202.555.0102", "555-0101", "+1 999 555 0000"]
    assert assert_same(world.district, terms) >= 14
    everyone = Student.objects.filter(district=world.district)
    assert found(everyone, student_search("stu-ana", world.district)) == {ana.pk, ben.pk}
    assert found(everyone, student_search("hal@example.org", world.district)) == {
        s.pk for s in world.students_a if s.given_name in ("Eve", "Gia")
    }


def scan_account_list(place, kind: str, status: str, term: str) -> set[int]:
    """The guardians' or staff list as it was defined before issue 18's PostgreSQL work: a
    correlated EXISTS of a role at one of the place's schools (a subquery), and the scan."""
    schools = place.schools()
    if kind == "guardians":
        roles = GuardianLink.objects.filter(account=OuterRef("pk"), student__school__in=schools)
    else:
        roles = StaffRole.objects.filter(account=OuterRef("pk"), school__in=schools)
    active = Exists(roles.filter(status=Status.ACTIVE))
    member = {
        "active": Q(active),
        "archived": Q(Exists(roles)) & ~Q(active),
        "all": Q(Exists(roles)),
    }[status]
    return found(Account.objects.filter(member), scan_account_search(term, place.district))


@pytest.mark.parametrize("few", [search.FEW, 0], ids=["ids", "condition"])
def test_the_guardian_and_staff_lists_find_what_the_scan_found(world, people, monkeypatch, few):
    """A search in the guardians' or staff list, at the district, at a school and for one
    school of the district, in every status: the accounts the plain definition lists (the
    search's few accounts have their roles read once, the others are tested one by one)."""
    from rollbook.web.listing import AccountFilter, Place
    from rollbook.web.scope import Scope

    monkeypatch.setattr(search, "FEW", few)
    rng = random.Random(7)
    links = list(GuardianLink.objects.filter(student__district=world.district))
    for link in rng.sample(links, len(links) // 3):  # some links archived, some accounts too
        GuardianLink.objects.filter(pk=link.pk).update(status=Status.ARCHIVED)
    guardians = list(Account.objects.filter(guardian_links__isnull=False).distinct())
    for account in rng.sample(guardians, 12):  # staff at either school, some archived
        StaffRole.objects.create(
            account=account,
            school=rng.choice([world.school_a, world.school_b]),
            role="teacher",
            status=rng.choice([Status.ACTIVE, Status.ARCHIVED]),
        )
    names = [v for row in Account.objects.values_list(*search.ACCOUNT_NAMES) for v in row]
    terms = terms_from(people, names, 25) + ["pat@example.org", "+12025550102", "gil"]
    district = Place.get(Scope.for_account(world.district_admin), "district", world.district.pk)
    lincoln = Place.get(Scope.for_account(world.admin_a), "school", world.school_a.pk)
    jefferson = Place.get(Scope.for_account(world.admin_b), "school", world.school_b.pk)
    lists = [  # (the place, its filter, the place whose plain list it must equal)
        (district, {}, district),
        (district, {"school": str(world.school_b.pk)}, jefferson),
        (lincoln, {}, lincoln),
    ]
    hits = 0
    for (place, chosen, reference), kind, status in itertools.product(
        lists, ["guardians", "staff"], ["active", "archived", "all"]
    ):
        for term in terms:
            form = AccountFilter({"q": term, "status": status, **chosen}, place)
            listed = set(form.apply(kind).values_list("pk", flat=True))
            expected = scan_account_list(reference, kind, status, term)
            assert listed == expected, (place.kind, chosen, kind, status, term)
            assert form.members is None or len(form.members) == len(expected)  # the count
            hits += bool(expected)
    assert hits > 100


def test_another_districts_student_is_never_found(world):
    other = world.other_district
    school = other.schools.get()
    stranger = Student.objects.create(
        district=other, school=school, given_name="Ana", family_name="Able", sis_identifier="77"
    )
    mine = Student.objects.filter(district=world.district)
    assert stranger.pk not in found(Student.objects.all(), student_search("77", world.district))
    assert found(mine, student_search("able", world.district)) == {world.students_a[0].pk}


def _listed(client, url: str, q: str) -> str:
    response = client.get(url, {"q": q})
    assert response.status_code == 200
    return response.content.decode()


def test_a_search_never_finds_people_outside_the_place_or_scope(client, world):
    """Carl Cole (Jefferson) and Ana Able (Lincoln): Lincoln's administrator finds Ana, never
    Carl, whatever the term; the district's list finds both; another district's Ana, never."""
    other = world.other_district
    Student.objects.create(
        district=other, school=other.schools.get(), given_name="Carl", family_name="Able"
    )
    lincoln = f"/schools/{world.school_a.pk}/directory/"
    district = f"/districts/{world.district.pk}/directory/"
    sign_in(client, world.admin_a)
    assert "Able" in _listed(client, lincoln, "able")
    for q in ("cole", "carl", "pat@example.org", "+12025550101"):
        assert "Cole" not in _listed(client, lincoln, q), q
    jefferson = f"/schools/{world.school_b.pk}/directory/"
    assert client.get(jefferson, {"q": "cole"}).status_code == 404
    assert "Inn" not in _listed(client, f"{lincoln}guardians/", "ida")
    sign_in(client, world.district_admin)
    page = _listed(client, district, "carl")
    assert "Cole" in page and "Able" not in page  # the other district's Carl Able: never
    page = _listed(client, district, "pat@example.org")
    assert all(n in page for n in ("Able", "Baker", "Cole"))
    assert "Inn" in _listed(client, f"{district}guardians/", "inn")


# Exact after every kind of write -------------------------------------------------------------


def _students_named(district, text: str) -> set[str]:
    rows = Student.objects.filter(district=district).filter(student_search(text, district))
    return set(rows.values_list("sourced_id", flat=True))


def test_the_names_stay_exact_after_syncs_hand_edits_archives_and_merges(
    world, tmp_path, settings, actor
):
    from rollbook.directory import actions
    from rollbook.merge import services as merges
    from rollbook.sync import services
    from tests.sync.bundles import Bundle

    settings.ROLLBOOK_HOME = tmp_path / "home"
    source = services.get_source(world.district, name="Roster")
    counter = itertools.count()

    def sync(bundle: Bundle):
        folder = bundle.write(tmp_path / f"bundle-{next(counter)}")
        run = services.sync_bundle(source, folder, actor, approve=True)
        assert run.status == "applied", run.error

    day1 = Bundle()
    day1.student("stu-1", "Marisol", "Quintero", guardians=("gdn-1",))
    day1.student("stu-2", "Tobias", "Wexley", guardians=("gdn-1",))
    day1.student("stu-3", "Ileana", "Quintero")
    day1.guardian("gdn-1", "Orla", "Quintero", email="orla@example.org")
    sync(day1)
    district = world.district
    assert _students_named(district, "quinter") == {"stu-1", "stu-3"}
    assert assert_same(district, ["quint", "orla", "wexley", "Mar Quin", "ileana"]) >= 5

    day2 = Bundle()  # Marisol renamed, Tobias gone (archived), a new student
    day2.student("stu-1", "Marisol", "Zabriskie", guardians=("gdn-1",))
    day2.student("stu-3", "Ileana", "Quintero")
    day2.student("stu-4", "Petra", "Quintero")
    day2.guardian("gdn-1", "Orla", "Zabriskie", email="orla@example.org")
    sync(day2)
    assert _students_named(district, "quinter") == {"stu-3", "stu-4"}
    assert _students_named(district, "zabris") == {"stu-1"}
    assert _students_named(district, "wexley") == {"stu-2"}  # archived, still findable
    assert assert_same(district, ["quint", "zabr", "orla", "wexley", "petra"]) >= 5

    petra = Student.objects.get(sourced_id="stu-4")  # a hand edit through the ORM
    petra.preferred_given_name = "Pim"
    petra.save()
    Student.objects.filter(sourced_id="stu-3").update(middle_name="Aurelia")  # queryset
    assert _students_named(district, "pim quin") == {"stu-4"}
    assert _students_named(district, "aurel") == {"stu-3"}
    actions.archive_students(Student.objects.filter(sourced_id="stu-3"), actor)
    assert _students_named(district, "aurel") == {"stu-3"}

    old = Student.objects.create(  # entered by hand before the sync, merged into its twin
        district=district, school=petra.school, given_name="Petra", family_name="Quintero"
    )
    merges.merge(Student.objects.filter(district=district), old.pk, petra.pk, actor)
    old.refresh_from_db()
    assert old.status == "merged"
    assert assert_same(district, ["petra", "pim", "quintero", "zabriskie", "orla"]) >= 5

    with connection.cursor() as cursor:  # even a raw delete (nothing in Rollbook deletes)
        cursor.execute("DELETE FROM directory_student WHERE id = %s", [world.students_a[4].pk])
    assert assert_same(district, ["fox", "finn"], accounts=False) == 0


def test_a_first_load_that_rebuilds_the_indexes_keeps_the_names_exact(world):
    """The sync's bulk insert of more than 50,000 rows drops the table's secondary indexes
    and builds them again (bulk.insert_many): the name index too, on either database."""
    import pyarrow as pa
    from django.db import transaction

    from rollbook.sync import bulk

    n = 50_001
    family = [f"Fam{i:05d}" for i in range(n)]
    data = pa.table(
        {
            "district_id": pa.array([world.district.pk] * n),
            "school_id": pa.array([world.school_b.pk] * n),
            "given_name": pa.array(["Bulk"] * n),
            "middle_name": pa.array([""] * n),
            "family_name": pa.array(family),
            "preferred_given_name": pa.array([""] * n),
            "preferred_family_name": pa.array([""] * n),
            "grade": pa.array(["05"] * n),
            "sis_identifier": pa.array([f"B{i}" for i in range(n)]),
        }
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":  # the fixture's foreign-key checks, done now
            with connection.cursor() as cursor:  # (a table with pending ones cannot change)
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        bulk.insert_many(
            "directory_student",
            data,
            {"status": "active", "origin": "manual", "created_at": world.district_admin.created_at}
            | {"updated_at": world.district_admin.created_at},
        )
    district = world.district
    everyone = Student.objects.filter(district=district)
    assert everyone.filter(student_search("fam12345", district)).get().sis_identifier == "B12345"
    assert everyone.filter(student_search("B49999", district)).get().family_name == "Fam49999"
    assert everyone.filter(student_search("bulk", district)).count() == n
    assert assert_same(district, ["fam0000", "am4999", "Fam50000 bulk"], accounts=False) == 3
    assert search.ensure_name_indexes() == []  # the load's triggers are back, whole
    Student.objects.filter(family_name="Fam00007").update(family_name="Zork")
    assert assert_same(district, ["zork", "fam00007", "fam0000"], accounts=False) == 2


# The indexes serve the search -------------------------------------------------------------------


def test_lost_triggers_are_restored_after_a_migration(world):
    """Django's SQLite schema editor rebuilds a table to alter it, and the table's triggers go
    with it: after every migrate, the name index's triggers are made again and it is rebuilt."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's trigram indexes have no triggers")
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER directory_student_names_au")
    Student.objects.filter(pk=world.students_a[0].pk).update(family_name="Zeller")
    assert search.ensure_name_indexes() == ["directory_student"]
    assert search.ensure_name_indexes() == []
    assert assert_same(world.district, ["zeller", "able"]) == 1
    Student.objects.filter(pk=world.students_a[0].pk).update(family_name="Yates")
    assert assert_same(world.district, ["zeller", "yates"]) == 1


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: prove it *can* serve
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_each_kind_of_term_is_served_by_an_index(world, monkeypatch):
    monkeypatch.setattr(search, "FEW", 0)
    district = world.district
    students = Student.objects.filter(district=district)
    if connection.vendor == "sqlite":
        names = _plan(students.filter(student_search("ana", district)))
        assert "directory_student_names VIRTUAL TABLE" in names
    else:
        # Tiny tables: PostgreSQL may walk another index of the district and filter the
        # names; without the district and a plain index walk, only the trigram index can
        # serve the name condition (a bitmap scan) — proof that it can.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
        names = _plan(Student.objects.filter(student_search("ana", district)))
        assert "directory_student_names_trgm" in names
    accounts = _plan(Account.objects.filter(account_search("parent", district)))
    if connection.vendor == "sqlite":
        assert "directory_account_names VIRTUAL TABLE" in accounts
    else:
        assert "directory_account_names_trgm" in accounts
    lookups = {
        "directory_student_number": Student.objects.filter(sis_identifier="S-1"),
        "directory_student_one_per_sourced_id": Student.objects.filter(
            source__in=[world.held_run.source_id], sourced_id="stu-1", district=district
        ),
        "directory_guardian_person": GuardianLink.objects.filter(person_sourced_id="g"),
        "directory_staff_person": StaffRole.objects.filter(person_sourced_id="s"),
        "directory_acct_email_inactive": Account.objects.filter(is_active=False, email="a@b.c"),
        "directory_acct_phone_inactive": Account.objects.filter(is_active=False, phone="+1"),
        "directory_account_email_one_active_account": Account.objects.filter(
            is_active=True, email="a@b.c"
        ),
    }
    for index, queryset in lookups.items():
        assert index in _plan(queryset.values("pk")), index


def _page(queryset, q: Q, order: tuple[str, ...]) -> list[int]:
    """The first rows of a list page: ordered and limited, as keyset_page asks for them."""
    return list(queryset.filter(q).order_by(*order).values_list("pk", flat=True)[:7])


def test_a_page_that_walks_the_list_order_holds_what_the_scan_found(world, people, monkeypatch):
    """With every name search a condition that walks the list's ordered index (SQLite's
    ``+id IN (…)`` for words found in very many names), each page and each count is the
    scan's, at the district and at a school, for students and for guardians."""
    from rollbook.web.listing import ACCOUNT_ORDER, SORTS

    monkeypatch.setattr(search, "FEW", 0)
    monkeypatch.setattr(search, "WALK", 0)
    names = [v for row in Student.objects.values_list(*search.STUDENT_NAMES) for v in row if v]
    names += [v for row in Account.objects.values_list(*search.ACCOUNT_NAMES) for v in row]
    district = world.district
    places = [
        Student.objects.filter(district=district, status=Status.ACTIVE),
        Student.objects.filter(school=world.school_a, status=Status.ACTIVE),
    ]
    guardians = Account.objects.filter(
        Exists(GuardianLink.objects.filter(account=OuterRef("pk"), status=Status.ACTIVE))
    )
    hits = 0
    for term in terms_from(people, names, 60):
        for students in places:
            for order in SORTS.values():
                expected = _page(students, scan_student_search(term, district), order)
                assert _page(students, student_search(term, district), order) == expected, term
                hits += bool(expected)
            searched = students.filter(student_search(term, district))
            assert searched.count() == students.filter(scan_student_search(term, district)).count()
        expected = _page(guardians, scan_account_search(term, district), ACCOUNT_ORDER)
        assert _page(guardians, account_search(term, district), ACCOUNT_ORDER) == expected, term
        hits += bool(expected)
    assert hits > 50


def test_a_page_walks_the_order_and_a_count_is_driven_by_the_index(world, monkeypatch):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's FTS5 name index (PostgreSQL plans from its statistics)")
    monkeypatch.setattr(search, "FEW", 0)
    district = world.district
    students = Student.objects.filter(district=district, status=Status.ACTIVE)
    walking = '+"directory_student"."id" IN (SELECT rowid FROM directory_student_names'
    for walk_from, walks in ((0, True), (10**9, False)):  # very many rows found, or not
        monkeypatch.setattr(search, "WALK", walk_from)
        searched = students.filter(student_search("ana", district))
        page = searched.order_by("family_name", "given_name", "id")[:51]
        assert (walking in str(page.query)) is walks
        if walks:  # the rows are found by the list's ordered index, not by the name index
            plan = _plan(page)
            assert "directory_student USING INDEX" in plan.splitlines()[0], plan
        count = searched.order_by()[:1001]  # a count reads every row found: never walks
        assert walking not in str(count.query)
        assert "directory_student_names" in str(count.query)
    # One school's guardians are never found by walking the order of every account's name.
    from rollbook.web.listing import AccountFilter, Place
    from rollbook.web.scope import Scope

    monkeypatch.setattr(search, "WALK", 0)
    lincoln = Place.get(Scope.for_account(world.admin_a), "school", world.school_a.pk)
    queryset = AccountFilter({"q": "parent"}, lincoln).apply("guardians")
    page = str(queryset.order_by("family_name", "given_name", "id")[:51].query)
    assert "directory_account_names" in page and '+"directory_account"."id"' not in page
    everyone = AccountFilter(
        {"q": "parent"}, Place.get(Scope.for_account(world.district_admin), "district", district.pk)
    ).apply("guardians")
    page = str(everyone.order_by("family_name", "given_name", "id")[:51].query)
    assert '+"directory_account"."id" IN' in page  # the district's: it walks
