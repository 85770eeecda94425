"""Directory lists: keyset pagination, filters and search."""

import re

import pytest
from django.db import connection
from django.http import QueryDict

from rollbook.directory.models import Origin, Status, Student
from rollbook.web.listing import SORTS, decode_cursor, encode_cursor, keyset_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(world):
    """130 more students at Lincoln, many sharing a name (the id breaks ties)."""
    Student.objects.bulk_create(
        Student(
            district=world.district,
            school=world.school_a,
            given_name=["Kim", "Lee", "Max"][i % 3],
            family_name=["Same", "Other"][i % 2],
            grade=["KG", "01", "02", "03"][i % 4],
        )
        for i in range(130)
    )
    return Student.objects.filter(school=world.school_a, status=Status.ACTIVE)


def walk(queryset, fields, size, backwards_from=None):
    pages, data = [], QueryDict(mutable=True)
    while True:
        page = keyset_page(queryset, fields, data, size=size)
        pages.append([s.pk for s in page.rows])
        if not page.next_cursor:
            return pages
        data = QueryDict(mutable=True)
        data["after"] = page.next_cursor


@pytest.mark.parametrize("sort", sorted(SORTS))
def test_pages_cover_every_row_once_in_order(crowd, sort):
    fields = SORTS[sort]
    expected = list(crowd.order_by(*fields).values_list("pk", flat=True))
    pages = walk(crowd, fields, size=25)
    assert [len(p) for p in pages] == [25] * 5 + [11]
    assert [pk for page in pages for pk in page] == expected


def test_previous_pages_are_the_same_pages(crowd):
    fields = SORTS["name"]
    forward = walk(crowd, fields, size=40)
    data = QueryDict(mutable=True)
    last = keyset_page(crowd, fields, data, size=40)
    for _ in range(len(forward) - 1):
        data = QueryDict(mutable=True)
        data["after"] = last.next_cursor
        last = keyset_page(crowd, fields, data, size=40)
    backward = [[s.pk for s in last.rows]]
    while last.previous_cursor:
        data = QueryDict(mutable=True)
        data["before"] = last.previous_cursor
        last = keyset_page(crowd, fields, data, size=40)
        backward.insert(0, [s.pk for s in last.rows])
    assert backward == forward


def test_a_forged_cursor_means_the_first_page(crowd):
    assert decode_cursor("not base64!", 3) is None
    assert decode_cursor(encode_cursor(["a", {"x": 1}, 3]), 3) is None
    assert decode_cursor(encode_cursor(["a", "b"]), 3) is None
    data = QueryDict("after=garbage")
    assert keyset_page(crowd, SORTS["name"], data, size=5).previous_cursor is None


def shown(response) -> list[str]:
    return re.findall(r'/students/\d+/">([^<]+)</a>', response.content.decode())


def test_filters_and_search(client, world):
    client.force_login(world.admin_a)
    url = f"/schools/{world.school_a.pk}/directory/"
    ana, ben, dana, eve, finn, gia = world.students_a
    Student.objects.filter(pk=gia.pk).update(
        sis_identifier="S-77", origin=Origin.MANUAL, status=Status.ARCHIVED
    )
    assert shown(client.get(url)) == [
        "Able, Ana",
        "Baker, Ben",
        "Dunn, Dana",
        "Evans, Eve",
        "Fox, Finn",
    ]
    assert shown(client.get(url, {"grade": "02"})) == ["Baker, Ben", "Evans, Eve"]
    assert shown(client.get(url, {"klass": world.klass_a.pk})) == ["Able, Ana", "Dunn, Dana"]
    assert shown(client.get(url, {"guardians": "without"})) == ["Fox, Finn"]
    assert len(shown(client.get(url, {"guardians": "with"}))) == 4
    assert shown(client.get(url, {"status": "archived"})) == ["Gray, Gia"]
    assert len(shown(client.get(url, {"status": "all"}))) == 6
    assert shown(client.get(url, {"origin": "synced"})) == []
    assert shown(client.get(url, {"q": "dun"})) == ["Dunn, Dana"]
    assert shown(client.get(url, {"q": "S-77", "status": "all"})) == ["Gray, Gia"]
    assert shown(client.get(url, {"q": "pat@example.org"})) == ["Able, Ana", "Baker, Ben"]
    assert shown(client.get(url, {"q": "(202) 555-0102"})) == ["Dunn, Dana"]
    assert shown(client.get(url, {"sort": "grade"}))[:3] == ["Able, Ana", "Dunn, Dana", "Fox, Finn"]
    # A class that does not exist, or a grade that does not exist: an error, never dropped
    # (tests/web/test_unusable_filters.py).
    refused = client.get(url, {"klass": 10**9, "grade": "99"})
    assert refused.status_code == 400 and shown(refused) == []


def test_guardian_and_staff_lists(client, world):
    client.force_login(world.admin_a)
    base = f"/schools/{world.school_a.pk}/directory/"
    guardians = re.findall(r'/accounts/\d+/">([^<]+)</a>', client.get(base + "guardians/").text)
    assert guardians == ["Guard, Gil", "Home, Hal", "Parent, Pat"]
    staff = re.findall(r'/accounts/\d+/">([^<]+)</a>', client.get(base + "staff/").text)
    assert staff == ["Guard, Gil"]
    found = client.get(base + "guardians/", {"q": "hal@example.org"}).text
    assert "Home, Hal" in found and "Parent, Pat" not in found
    assert re.search(r'id="total">1</strong> guardian matches\b', found)
    found = client.get(base + "guardians/", {"q": "a"}).text  # Gil Guard, Hal Home, Pat Parent
    assert re.search(r'id="total">3</strong> guardians match\b', found)


def test_a_search_by_name_counts_its_guardians_up_to_a_cap(client, world, monkeypatch):
    """A search by name words that the index finds in many names counts the list's accounts
    up to SEARCH_COUNT_CAP (each account found is tested for the list); the list itself, and
    the count without a search, are as before."""
    from rollbook.web import views_directory

    monkeypatch.setattr(views_directory, "SEARCH_COUNT_CAP", 2)
    client.force_login(world.admin_a)
    base = f"/schools/{world.school_a.pk}/directory/guardians/"
    found = client.get(base, {"q": "a"}).text  # Gil Guard, Hal Home, Pat Parent
    assert re.search(r'id="total">more than 2</strong> guardians match\b', found)
    assert re.findall(r'/accounts/\d+/">([^<]+)</a>', found) == [
        "Guard, Gil",
        "Home, Hal",
        "Parent, Pat",
    ]
    assert re.search(r'id="total">3</strong> guardians match\b', client.get(base).text)


def test_htmx_requests_get_only_the_results(client, world):
    client.force_login(world.admin_a)
    url = f"/schools/{world.school_a.pk}/directory/"
    partial = client.get(url, {"grade": "01"}, headers={"HX-Request": "true"}).text
    assert partial.lstrip().startswith('<div id="results">')
    assert "<html" not in partial


def plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(row) for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("who", "kind", "query"),
    [
        ("admin_a", "school", "sort=name"),
        ("district_admin", "district", "sort=name"),
        ("district_admin", "district", "sort=grade"),
        ("admin_a", "school", "grade=01"),
        ("district_admin", "district", "grade=01&sort=grade"),
        ("district_admin", "district", "status=archived&guardians=without"),
    ],
)
def test_a_page_is_an_index_walk_without_a_sort(world, who, kind, query):
    """What keeps a page fast at a million students: the index gives the order, so a page
    reads its 51 rows from the cursor on, whatever page it is."""
    from rollbook.web.listing import Place, StudentFilter, after
    from rollbook.web.scope import Scope

    obj = world.district if kind == "district" else world.school_a
    place = Place.get(Scope.for_account(getattr(world, who)), kind, obj.pk)
    form = StudentFilter(QueryDict(query), place)
    fields = form.order()
    cursor = ["01", "Baker", "Ben", 1][-len(fields) :]
    page = form.apply(place.students()).filter(after(fields, cursor)).order_by(*fields)
    sql, params = page[:51].query.sql_with_params()
    explained = plan(sql, params)
    assert "directory_student" in explained
    assert "TEMP B-TREE" not in explained, explained  # SQLite
    assert "Sort" not in explained, explained  # PostgreSQL
