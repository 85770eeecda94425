"""The Directory's school finder (web/school_finder.py) and the district overview's first
schools: a district of many schools gets no menu of every school, finds one by any part of its
name, and chooses it through a link that keeps the rest of the filter; the school filter keeps
its meaning and its refusals. Through the test client, on the real database."""

from __future__ import annotations

import html
import re

import pytest

from rollbook.directory.models import School, SchoolClass
from rollbook.web.views_places import SCHOOLS_SHOWN

from .conftest import sign_in

pytestmark = pytest.mark.django_db

LISTS = ("directory/", "directory/guardians/", "directory/staff/")


@pytest.fixture
def many(world):
    """Test District with 60 more schools (Lincoln and Jefferson among 62)."""
    School.objects.bulk_create(
        School(district=world.district, name=f"School {n:02d} of the North") for n in range(1, 61)
    )
    return world


def options(page: str, name: str) -> list[str]:
    menu = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert menu, f"no {name} menu"
    return [html.unescape(o) for o in re.findall(r"<option[^>]*>([^<]*)</option>", menu.group(1))]


def links(page: str) -> dict[str, str]:
    found = re.search(r'<ul class="school-matches">(.*?)</ul>', page, re.S)
    if not found:
        return {}
    return {
        html.unescape(name): html.unescape(href)
        for href, name in re.findall(r'<a href="([^"]+)">([^<]+)</a>', found.group(1))
    }


@pytest.mark.parametrize("path", LISTS)
def test_the_school_menu_holds_the_chosen_school_only(client, many, path):
    sign_in(client, many.district_admin)
    base = f"/districts/{many.district.pk}/{path}"
    page = client.get(base).content.decode()
    assert options(page, "school") == ["All schools"]
    assert "School 07 of the North" not in page
    assert 'id="id_find_school"' in page
    chosen = client.get(f"{base}?school={many.school_b.pk}").content.decode()
    assert options(chosen, "school") == ["All schools", "Jefferson Middle"]
    assert re.search(rf'<option value="{many.school_b.pk}" selected>', chosen)


def test_finding_a_school_lists_links_that_keep_the_filter(client, many):
    sign_in(client, many.district_admin)
    base = f"/districts/{many.district.pk}/directory/"
    room = SchoolClass.objects.create(school=many.school_a, title="Room 2")
    page = client.get(
        f"{base}?find_school=North+0&grade=01&q=an&school={many.school_a.pk}&klass={room.pk}"
    ).content.decode()
    found = links(page)
    # Every word, in any order and letter case: "North 0" is School 01 … 10, 20 … 60.
    assert list(found) == sorted(
        f"School {n:02d} of the North" for n in range(1, 61) if "0" in f"{n:02d}"
    )
    assert "15 schools match “North 0”" in html.unescape(page)
    school = School.objects.get(name="School 03 of the North")
    # The rest of the filter is kept; the class (Lincoln's) is left out with Lincoln.
    assert found["School 03 of the North"] == f"?q=an&grade=01&school={school.pk}"
    chosen = client.get(base + found["School 03 of the North"])
    assert chosen.status_code == 200
    assert options(chosen.content.decode(), "school") == ["All schools", school.name]


def test_many_matches_show_the_first_ones_and_say_how_many(client, many):
    sign_in(client, many.district_admin)
    page = client.get(f"/districts/{many.district.pk}/directory/staff/?find_school=north")
    text = html.unescape(page.content.decode())
    assert len(links(text)) == 20
    assert "60 schools match “north”; the first 20 by name are below" in text
    nothing = client.get(f"/districts/{many.district.pk}/directory/?find_school=zzz")
    assert "No school of Test District has “zzz” in its name." in html.unescape(
        nothing.content.decode()
    )


def test_the_finder_never_finds_another_districts_school(client, many):
    sign_in(client, many.district_admin)
    page = client.get(f"/districts/{many.district.pk}/directory/?find_school=high")
    assert "Elsewhere High" not in page.content.decode()
    assert links(page.content.decode()) == {}


def test_another_districts_school_is_still_a_filter_that_cannot_be_applied(client, many):
    sign_in(client, many.district_admin)
    elsewhere = School.objects.get(name="Elsewhere High")
    page = client.get(f"/districts/{many.district.pk}/directory/?school={elsewhere.pk}")
    assert page.status_code == 400
    text = html.unescape(page.content.decode())
    assert f"there is no school “{elsewhere.pk}” in Test District" in text
    assert "Elsewhere High" not in text


def test_a_schools_lists_have_no_finder(client, many):
    sign_in(client, many.admin_a)
    page = client.get(f"/schools/{many.school_a.pk}/directory/?find_school=north")
    assert page.status_code == 200
    assert 'id="id_find_school"' not in page.content.decode()
    assert links(page.content.decode()) == {}


def test_the_district_overview_shows_the_first_schools_and_links_to_all(client, many):
    sign_in(client, many.district_admin)
    page = html.unescape(client.get(f"/districts/{many.district.pk}/").content.decode())
    table = re.search(r'aria-labelledby="schools-title">(.*?)</section>', page, re.S).group(1)
    rows = re.findall(r"<tr><td><a [^>]*>([^<]+)</a></td><td>([^<]+)</td>", table)
    assert len(rows) == SCHOOLS_SHOWN
    names = sorted(s.name for s in School.objects.filter(district=many.district))
    assert [name for name, _ in rows] == names[:SCHOOLS_SHOWN]
    assert ("Jefferson Middle", "2") in rows  # Carl and Gus, counted for the school
    assert f"The first {SCHOOLS_SHOWN} of 62 schools, by name." in page
    assert f'href="/districts/{many.district.pk}/schools/"' in table
    # The counts: the district's maintained row, exactly what the directory holds.
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", page))
    assert counts == {
        "Active students": "8",
        "Archived students": "0",
        "Guardians": "4",
        "Staff": "1",
        "Classes": "1",
    }


def test_finding_with_nothing_typed_lists_the_first_schools(client, many):
    sign_in(client, many.district_admin)
    page = client.get(f"/districts/{many.district.pk}/directory/guardians/?find_school=")
    text = html.unescape(page.content.decode())
    assert list(links(text))[:2] == ["Jefferson Middle", "Lincoln Elementary"]
    assert len(links(text)) == 20
    assert "Test District has 62 schools; the first 20 by name are below — type part" in text
