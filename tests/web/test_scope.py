"""The scope: what each kind of administrator may see, and 404 for everything else."""

import pytest
from django.http import Http404

from rollbook.directory.models import AdministratorRole, Status
from rollbook.web.scope import Scope

pytestmark = pytest.mark.django_db


def names(students):
    return sorted(s.given_name for s in students)


def test_a_district_administrator_sees_every_school_of_the_district(world):
    scope = Scope.for_account(world.district_admin)
    assert set(scope.schools()) == {world.school_a, world.school_b}
    assert scope.students().count() == 8
    assert scope.get_district(world.district.pk) == world.district
    with pytest.raises(Http404):
        scope.get_district(world.other_district.pk)


def test_a_school_administrator_sees_only_their_school(world):
    scope = Scope.for_account(world.admin_a)
    assert list(scope.schools()) == [world.school_a]
    assert names(scope.students()) == ["Ana", "Ben", "Dana", "Eve", "Finn", "Gia"]
    assert scope.get_student(world.students_a[0].pk) == world.students_a[0]
    for pk in (world.students_b[0].pk, 10**9):  # another school's, and one that doesn't exist
        with pytest.raises(Http404):
            scope.get_student(pk)
    with pytest.raises(Http404):
        scope.get_school(world.school_b.pk)
    with pytest.raises(Http404):
        scope.get_district(world.district.pk)  # district pages are for district administrators


def test_accounts_in_scope_are_those_with_a_role_or_link_there(world):
    g = world.guardians
    a = set(Scope.for_account(world.admin_a).accounts())
    b = set(Scope.for_account(world.admin_b).accounts())
    assert {g["pat"], g["gil"], g["hal"], world.admin_a} <= a
    assert g["ida"] not in a and world.admin_b not in a and world.district_admin not in a
    assert {g["pat"], g["ida"], world.admin_b} <= b  # Pat has a child at each school
    assert g["hal"] not in b and g["gil"] not in b
    with pytest.raises(Http404):
        Scope.for_account(world.admin_b).get_account(g["hal"].pk)


def test_only_active_administrator_roles_count(world):
    AdministratorRole.objects.filter(account=world.admin_a).update(status=Status.ARCHIVED)
    scope = Scope.for_account(world.admin_a)
    assert scope.is_empty()
    assert scope.students().count() == 0 and scope.accounts().count() == 0
    with pytest.raises(Http404):
        scope.get_school(world.school_a.pk)


def test_a_school_role_pointing_at_another_districts_school_gives_nothing(world):
    from rollbook.directory.models import School

    elsewhere = School.objects.get(district=world.other_district)
    AdministratorRole.objects.create(
        account=world.admin_a, district=world.district, school=elsewhere
    )
    assert list(Scope.for_account(world.admin_a).schools()) == [world.school_a]


def test_a_deactivated_account_has_no_scope(world):
    world.district_admin.is_active = False
    assert Scope.for_account(world.district_admin).is_empty()


def test_district_and_extra_school_roles_combine(world):
    from rollbook.directory.models import School, Student

    elsewhere = School.objects.get(district=world.other_district)
    Student.objects.create(
        district=world.other_district, school=elsewhere, given_name="Zed", family_name="Z"
    )
    AdministratorRole.objects.create(
        account=world.district_admin, district=world.other_district, school=elsewhere
    )
    scope = Scope.for_account(world.district_admin)
    assert scope.students().count() == 9
    assert "Zed" in names(scope.students())
