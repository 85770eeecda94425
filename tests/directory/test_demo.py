import pytest

from rollbook.directory.demo import build_demo
from rollbook.directory.models import Account, GuardianLink, HistoryRecord, Student

pytestmark = pytest.mark.django_db


def test_the_demo_district_is_realistic_and_deterministic():
    summary = build_demo(students=300)
    assert summary.students == Student.objects.count() >= 290
    assert summary.staff_also_guardians > 0
    assert HistoryRecord.objects.count() == summary.history_records > 0
    multi_role = Account.objects.filter(
        staff_roles__isnull=False, guardian_links__isnull=False
    ).distinct()
    assert multi_role.count() == summary.staff_also_guardians
    siblings = GuardianLink.objects.values("account").distinct().count()
    assert siblings < GuardianLink.objects.count()  # siblings share guardians
