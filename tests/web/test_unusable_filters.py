"""A filter that cannot be applied is an error, never dropped (issue 13, case 7): the Directory
shows the list empty with the problem, and every bulk action with it is refused and changes
nothing. The confirmation of an action states the filter it applies, in words."""

from __future__ import annotations

import html
import re

import pytest
from django.http import QueryDict

from rollbook.directory.models import (
    Account,
    AuditEntry,
    ClassMembership,
    GuardianLink,
    School,
    SchoolClass,
    Student,
)
from rollbook.web.listing import FilterError, Place, StudentFilter
from rollbook.web.scope import Scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def classes(world):
    """Room 9 at Jefferson (Carl in it), and a class of the other district's school."""
    room9 = SchoolClass.objects.create(school=world.school_b, title="Room 9")
    ClassMembership.objects.create(school_class=room9, student=world.students_b[0])
    elsewhere = School.objects.get(district=world.other_district)
    far = SchoolClass.objects.create(school=elsewhere, title="Far Away")
    return {"room9": room9, "far": far, "elsewhere": elsewhere}


def snapshot():
    """Every row an action could change."""
    return (
        sorted(Student.objects.values_list("pk", "status", "archived_at")),
        sorted(GuardianLink.objects.values_list("pk", "status")),
        sorted(Account.objects.values_list("pk", "is_active")),
        AuditEntry.objects.count(),
    )


def district_forgeries(world, classes):
    a, b = world.school_a.pk, world.school_b.pk
    return [
        ({"school": classes["elsewhere"].pk}, "School"),  # another district's school
        ({"school": "abc"}, "School"),  # malformed
        ({"school": a, "klass": classes["room9"].pk}, "Class"),  # a class of another school
        ({"klass": classes["far"].pk}, "Class"),  # a class of another district
        ({"school": b, "klass": world.klass_a.pk}, "Class"),
        ({"klass": "x1"}, "Class"),
        ({"klass": 10**30}, "Class"),
        ({"grade": "99"}, "Grade"),
        ({"grade": "3"}, "Grade"),  # the list says 03
        ({"status": "deleted"}, "Status"),
        ({"origin": "imported"}, "Origin"),
        ({"guardians": "maybe"}, "Guardians"),
        ({"sort": "age"}, "Sort by"),
        ({"q": "x" * 201}, "Search"),
        ({"grade": ["01", "02"]}, "Grade"),  # given twice
    ]


def school_forgeries(world, classes):
    return [
        ({"school": world.school_b.pk}, "School"),  # the school's page names another school
        ({"klass": classes["room9"].pk}, "Class"),
        ({"grade": "99"}, "Grade"),
        ({"q": "y" * 500}, "Search"),
    ]


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _rows(response) -> list[str]:
    return re.findall(r'/students/\d+/">([^<]+)</a>', response.content.decode())


def _cases(client, world, classes):
    client.force_login(world.district_admin)
    district = f"/districts/{world.district.pk}/directory/"
    for data, label in district_forgeries(world, classes):
        yield district, data, label
    client.force_login(world.admin_a)
    school = f"/schools/{world.school_a.pk}/directory/"
    for data, label in school_forgeries(world, classes):
        yield school, data, label


def test_the_directory_shows_the_problem_and_an_empty_list(client, world, classes):
    for url, data, label in _cases(client, world, classes):
        response = client.get(url, data)
        assert response.status_code == 400, data
        text = _text(response)
        assert "This filter cannot be applied." in text, data
        assert f"{label}: " in text, (data, text[text.find("cannot be applied") :][:300])
        assert _rows(response) == [], data
        assert f'<a href="{url}">Clear the filter</a>' in text
        assert "Select all" not in text and 'name="action"' not in text
        # The filter form is still there, to choose again.
        assert 'role="search"' in text


def test_each_forged_filter_refuses_every_action_and_changes_nothing(client, world, classes):
    before = snapshot()
    for url, data, label in _cases(client, world, classes):
        for action in ("archive", "unarchive", "remove_guardians", "merge"):
            for confirm in ({}, {"confirm": "yes"}):
                response = client.post(
                    url + "actions/", {"action": action, "selection": "all", **data, **confirm}
                )
                assert response.status_code == 400, (data, action)
                text = _text(response)
                assert "refused" in text and "This filter cannot be applied." in text
                assert f"{label}: " in text
                assert "Nothing was changed" in text
                assert 'name="confirm"' not in text
        # Ticked rows with a forged filter beside them are refused too.
        ids = [s.pk for s in world.students_a[:2]]
        response = client.post(
            url + "actions/", {"action": "archive", "ids": ids, "confirm": "yes", **data}
        )
        assert response.status_code == 400
    assert snapshot() == before


def test_the_problems_are_named_in_words(client, world, classes):
    client.force_login(world.district_admin)
    url = f"/districts/{world.district.pk}/directory/"
    other = classes["elsewhere"].pk
    assert f"School: there is no school “{other}” in Test District" in _text(
        client.get(url, {"school": other})
    )
    assert "Class: there is no class “{}” at Lincoln Elementary".format(
        classes["room9"].pk
    ) in _text(client.get(url, {"school": world.school_a.pk, "klass": classes["room9"].pk}))
    assert "Grade: “99” is not a grade (the grades are IT, PR, PK" in _text(
        client.get(url, {"grade": "99"})
    )
    assert "Search: the search is 201 characters long; at most 200 are searched" in _text(
        client.get(url, {"q": "z" * 201})
    )
    assert "Status: “deleted” is not one of its choices (Active / Archived / Any)" in _text(
        client.get(url, {"status": "deleted"})
    )
    assert "Grade: given more than once" in _text(client.get(url + "?grade=01&grade=02"))


def test_an_htmx_request_gets_the_problem_in_the_results(client, world):
    client.force_login(world.admin_a)
    url = f"/schools/{world.school_a.pk}/directory/"
    response = client.get(url, {"grade": "99"}, headers={"HX-Request": "true"})
    assert response.status_code == 200  # htmx swaps only a success into the page
    text = _text(response)
    assert text.lstrip().startswith('<div id="results">')
    assert "This filter cannot be applied." in text and _rows(response) == []


def test_guardian_and_staff_lists_refuse_a_forged_filter(client, world, classes):
    client.force_login(world.district_admin)
    base = f"/districts/{world.district.pk}/directory/"
    for which in ("guardians/", "staff/"):
        for data in ({"school": classes["elsewhere"].pk}, {"status": "x"}, {"q": "q" * 300}):
            response = client.get(base + which, data)
            assert response.status_code == 400, data
            text = _text(response)
            assert "This filter cannot be applied." in text
            assert not re.findall(r'/accounts/\d+/">', text)
            assert f'<a href="{base}{which}">Clear the filter</a>' in text
    client.force_login(world.admin_a)
    school = f"/schools/{world.school_a.pk}/directory/guardians/"
    assert client.get(school, {"school": world.school_b.pk}).status_code == 400
    assert client.get(school, {"school": world.school_a.pk}).status_code == 200


def test_the_confirmation_states_the_filter_in_words(client, world, classes):
    client.force_login(world.district_admin)
    url = f"/districts/{world.district.pk}/directory/actions/"

    def applies_to(data) -> str:
        text = _text(client.post(url, {"action": "archive", **data}))
        return re.search(r"Applies to: <strong>(.*?)</strong>", text).group(1)

    assert applies_to({"selection": "all"}) == "all active students of Test District, 8 students"
    assert (
        applies_to({"selection": "all", "grade": "01", "school": world.school_a.pk})
        == "active students in grade 1 at Lincoln Elementary, 3 students"
    )
    assert (
        applies_to(
            {
                "selection": "all",
                "school": world.school_b.pk,
                "klass": classes["room9"].pk,
                "guardians": "with",
                "origin": "manual",
            }
        )
        == "active students entered by hand in class Room 9 at Jefferson Middle with "
        "guardians, 1 student"
    )
    assert (
        applies_to({"selection": "all", "status": "archived", "q": "dunn"})
        == "archived students of Test District matching the search “dunn”, 0 students"
    )
    ticked = [s.pk for s in world.students_a[:2]]
    assert applies_to({"ids": ticked}) == "the 2 students you ticked"
    client.force_login(world.admin_a)
    url = f"/schools/{world.school_a.pk}/directory/actions/"
    assert (
        applies_to({"selection": "all", "klass": world.klass_a.pk, "grade": "KG"})
        == "active students in kindergarten in class Room 1 at Lincoln Elementary, 0 students"
    )
    assert (
        applies_to({"selection": "all", "school": world.school_a.pk})
        == "all active students of Lincoln Elementary, 6 students"
    )
    assert (
        applies_to({"selection": "all", "status": "all"})
        == "students (active or archived) at Lincoln Elementary, 6 students"
    )


def test_a_valid_filter_still_acts_on_exactly_its_students(client, world, classes):
    client.force_login(world.district_admin)
    url = f"/districts/{world.district.pk}/directory/actions/"
    form = {"action": "archive", "selection": "all", "school": world.school_b.pk}
    form["klass"] = classes["room9"].pk
    before = Student.objects.filter(status="archived").count()
    done = client.post(url, {**form, "confirm": "yes"}, follow=True)
    assert "Archived 1 student." in _text(done)
    carl = world.students_b[0]
    assert list(Student.objects.filter(status="archived").values_list("pk", flat=True)) == [carl.pk]
    assert before == 0
    # The Directory with the same filter lists what it says.
    page = client.get(
        f"/districts/{world.district.pk}/directory/",
        {"school": world.school_b.pk, "klass": classes["room9"].pk, "status": "archived"},
    )
    assert page.status_code == 200 and _rows(page) == ["Cole, Carl"]


def test_apply_raises_rather_than_drops(world, classes):
    place = Place.get(Scope.for_account(world.district_admin), "district", world.district.pk)
    form = StudentFilter(QueryDict(f"school={classes['elsewhere'].pk}"), place)
    with pytest.raises(FilterError, match="School: there is no school"):
        form.apply(place.students())
    with pytest.raises(FilterError):
        form.describe()
    fine = StudentFilter(QueryDict("grade=02"), place)
    assert sorted(s.given_name for s in fine.apply(place.students())) == ["Ben", "Eve", "Gia"]
