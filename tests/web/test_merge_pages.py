"""The Merge tab: candidates, a previewed merge, the ready bucket at once, undo — within the
administrator's scope."""

from __future__ import annotations

import pytest

from rollbook.directory.models import Student
from rollbook.merge.models import StudentMerge

from .conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def twins(world, settings, tmp_path):
    """Synced twins of Ana Able and Dana Dunn (Lincoln), and of Carl Cole (Jefferson)."""
    from rollbook.sync.models import SyncSource

    settings.ROLLBOOK_HOME = tmp_path
    settings.ROLLBOOK_JOBS_INLINE = True
    source = SyncSource.objects.get(district=world.district)

    def synced(school, given, family, grade, n):
        return Student.objects.create(
            district=world.district,
            school=school,
            given_name=given,
            family_name=family,
            grade=grade,
            origin="synced",
            source=source,
            sourced_id=f"stu-{n}",
        )

    return {
        "ana": synced(world.school_a, "Ana", "Able", "01", 1),
        "dana": synced(world.school_a, "Dana", "Dunn", "01", 2),
        "carl": synced(world.school_b, "Carl", "Cole", "06", 3),
    }


def test_find_candidates_merge_the_ready_bucket_and_undo(client, world, twins):
    sign_in(client, world.admin_a)
    base = f"/schools/{world.school_a.pk}/merge/"
    client.post(base)
    page = client.get(base).content.decode()
    assert "Ready: one strong candidate: <strong>2</strong>" in page
    assert "Carl" not in page  # Jefferson's students are outside this administrator's scope
    confirm = client.get(f"{base}ready/").content.decode()
    assert "Merge 2 pairs: 1 history record" in confirm
    ana, dana = world.students_a[0], world.students_a[2]
    pat, gil = world.guardians["pat"], world.guardians["gil"]
    # Each guardian the SIS does not list, by name, with a box to keep it (unticked).
    for kid, guardian in ((ana, pat), (dana, gil)):
        box = f'name="keep_guardian" value="{kid.pk}:{guardian.pk}"'
        assert f'<input type="checkbox" {box}>' in confirm
        assert f"Keep {guardian.name}" in confirm
    assert "checked" not in confirm
    client.post(f"{base}ready/", {"confirm": "yes", "keep_guardian": [f"{ana.pk}:{pat.pk}"]})
    ana.refresh_from_db()
    assert ana.status == "merged"
    assert twins["ana"].history.count() == 1
    assert list(
        twins["ana"].guardian_links.filter(status="active").values_list("account", flat=True)
    ) == [pat.pk]
    assert not twins["dana"].guardian_links.filter(status="active").exists()  # Gil: dropped
    merge = StudentMerge.objects.get(old_student=ana)
    # The tombstone is hidden from the Directory.
    listing = client.get(f"/schools/{world.school_a.pk}/directory/", {"status": "all"})
    assert f"/students/{ana.pk}/" not in listing.content.decode()
    undo = client.get(f"{base}{merge.pk}/undo/")
    assert "Restore Ana Able" in undo.content.decode()
    client.post(f"{base}{merge.pk}/undo/", {"confirm": "yes"})
    ana.refresh_from_db()
    assert ana.status == "active" and ana.history.count() == 1


def test_a_hand_picked_pair_from_the_directory(client, world, twins):
    sign_in(client, world.district_admin)
    eve = world.students_a[3]
    chosen = f"{eve.pk},{twins['dana'].pk}"
    response = client.get(f"/districts/{world.district.pk}/merge/", {"students": chosen})
    assert response.status_code == 302 and "preview" in response["Location"]
    preview = client.get(response["Location"]).content.decode()
    assert "Merge Eve Evans into Dana Dunn" in preview
    assert "Hal Home" in preview  # Eve's guardian, found only on the old student
    hal = world.guardians["hal"]
    assert f'<input type="checkbox" name="keep_guardian" value="{hal.pk}"> Keep Hal Home' in preview
    client.post(  # not ticked: dropped
        response["Location"].split("?")[0],
        {"old": eve.pk, "new": twins["dana"].pk, "confirm": "yes"},
    )
    eve.refresh_from_db()
    assert eve.status == "merged"
    assert not twins["dana"].guardian_links.filter(account=hal, status="active").exists()
    assert eve.guardian_links.get(account=hal).status == "archived"


def test_a_ticked_guardian_is_kept_by_hand_and_shown_so(client, world, twins):
    sign_in(client, world.district_admin)
    eve, hal = world.students_a[3], world.guardians["hal"]
    url = f"/districts/{world.district.pk}/merge/preview/"
    client.post(
        url, {"old": eve.pk, "new": twins["dana"].pk, "confirm": "yes", "keep_guardian": hal.pk}
    )
    link = twins["dana"].guardian_links.get(account=hal)
    assert (link.status, link.source_id) == ("active", None)
    page = client.get(f"/students/{twins['dana'].pk}/").content.decode()
    assert "kept by hand</span> by " + world.district_admin.name in page
    merge = StudentMerge.objects.get(old_student=eve)
    assert merge.created_at.strftime("%Y-%m-%d") in page
    client.post(f"/districts/{world.district.pk}/merge/{merge.pk}/undo/", {"confirm": "yes"})
    page = client.get(f"/students/{twins['dana'].pk}/").content.decode()
    assert "kept by hand" not in page


def test_merges_outside_the_scope_are_not_found(client, world, twins):
    sign_in(client, world.admin_a)
    carl = world.students_b[0]
    page = client.get(
        f"/schools/{world.school_a.pk}/merge/preview/", {"old": carl.pk, "new": twins["carl"].pk}
    )
    assert page.status_code == 302  # refused with a message: not among your students
    assert not StudentMerge.objects.exists()
