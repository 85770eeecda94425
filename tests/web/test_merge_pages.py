"""The Merge tab: candidates, a previewed merge, the ready bucket at once, undo — within the
administrator's scope."""

from __future__ import annotations

import datetime as dt

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


def _search(place_url: str):
    """The latest search for candidates (a job, done at once: ROLLBOOK_JOBS_INLINE)."""
    from rollbook.web.models import Job

    return Job.objects.filter(kind=Job.Kind.SUGGEST).latest("id")


def test_find_candidates_merge_the_ready_bucket_and_undo(client, world, twins):
    from rollbook.web.models import Job

    sign_in(client, world.admin_a)
    base = f"/schools/{world.school_a.pk}/merge/"
    client.post(base)
    page = client.get(base).content.decode()
    assert "Ready: one strong candidate, same school, names alike: <strong>2</strong>" in page
    assert "no other candidate; same school; names 100% alike." in page  # why each is ready
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
    assert "Pairs to look at" not in confirm  # both pairs agree on everything
    search = _search(base)
    response = client.post(
        f"{base}ready/",
        {"confirm": "yes", "search": search.pk, "keep_guardian": [f"{ana.pk}:{pat.pk}"]},
    )
    # The merging is a job (run at once here); its page reports, then goes back to the tab.
    job = Job.objects.get(kind=Job.Kind.MERGE)
    assert response["Location"] == f"/schools/{world.school_a.pk}/jobs/{job.pk}/"
    assert (job.status, job.done, job.total) == ("done", 2, 2)
    assert job.params["pairs"] == [[ana.pk, twins["ana"].pk], [dana.pk, twins["dana"].pk]]
    report = client.get(response["Location"]).content.decode()
    assert "Merge of the ready pairs" in report
    assert "Merged 2 of 2 pairs; every merge can be undone from the Merge tab." in report
    assert f'href="{base}"' in report  # "See the result": the Merge tab
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
    assert f"{merge.created_at.day} {merge.created_at:%b %Y}" in page  # "3 Dec 2026"
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


BORN = dt.date(2016, 4, 2)


@pytest.fixture
def judged(world, twins):
    """Beside the twins: 'Mya Davies' and her synced 'Mia Davis' (names 67% alike); Finn Fox
    and a synced Finn Fox at Jefferson, both born the same day (another school); Gia Gray and
    a synced Gia Gray whose birth date only the SIS knows (ready, but worth a look)."""
    from rollbook.sync.models import SyncSource

    source = SyncSource.objects.get(district=world.district)
    finn, gia = world.students_a[4], world.students_a[5]
    Student.objects.filter(pk=finn.pk).update(birth_date=BORN)
    mya = Student.objects.create(
        district=world.district,
        school=world.school_a,
        given_name="Mya",
        family_name="Davies",
        grade="03",
        birth_date=BORN,
    )

    def synced(school, given, family, grade, n, birth=None):
        return Student.objects.create(
            district=world.district,
            school=school,
            given_name=given,
            family_name=family,
            grade=grade,
            birth_date=birth,
            origin="synced",
            source=source,
            sourced_id=f"stu-j{n}",
        )

    return {
        "mya": (mya, synced(world.school_a, "Mia", "Davis", "03", 1, BORN)),
        "finn": (finn, synced(world.school_b, "Finn", "Fox", "01", 2, BORN)),
        "gia": (gia, synced(world.school_a, "Gia", "Gray", "02", 3, BORN)),
    }


def test_pairs_that_need_a_look_are_not_ready_and_say_why(client, world, judged):
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}/merge/"
    client.post(base)
    page = client.get(base).content.decode()
    # Ana, Dana, Carl and Gia are ready; Mya and Finn need a look.
    assert "Ready: one strong candidate, same school, names alike: <strong>4</strong>" in page
    assert "Needs a look: a strong candidate, with something to check: <strong>2</strong>" in page
    look = page.split('id="b-needs_look"')[1].split("</section>")[0]
    assert "names 67% alike (spelling differs), under the 85% a merge at once needs." in look
    assert "but different schools (Lincoln Elementary → Jefferson Middle)." in look
    for old, new in (judged["mya"], judged["finn"]):
        assert f"?old={old.pk}&amp;new={new.pk}" in look  # decided one by one, from a preview
    mya, mia = judged["mya"]
    preview = client.get(f"{base}preview/", {"old": mya.pk, "new": mia.pk}).content.decode()
    assert (
        "How alike they are: score 75 — names 67% alike (spelling differs); same school; same "
        "grade; same birth date. <strong>Not merged with the ready pairs:</strong> names 67% "
        "alike (spelling differs), under the 85% a merge at once needs; make sure they are the "
        "same child." in preview
    )
    confirm = client.get(f"{base}ready/").content.decode()
    assert "Merge 4 pairs" in confirm
    assert "Mya" not in confirm and "Finn" not in confirm
    # Gia's pair is ready, but its records differ: listed, with a box to leave it out.
    gia, gia_twin = judged["gia"]
    table = confirm.split('id="exceptional-title"')[1].split("</table>")[0]
    assert "Pairs to look at before merging (1)</h3>" in confirm
    assert "Gia Gray" in table and "birth date known on one side only" in table
    assert f'<input type="checkbox" name="leave_out" value="{gia.pk}">' in table
    client.post(
        f"{base}ready/", {"confirm": "yes", "search": _search(base).pk, "leave_out": gia.pk}
    )
    merged = set(StudentMerge.objects.values_list("old_student", flat=True))
    ana, dana, carl = world.students_a[0], world.students_a[2], world.students_b[0]
    assert merged == {ana.pk, dana.pk, carl.pk}  # not Gia (left out), not Mya nor Finn


def test_a_pair_changed_since_the_search_is_held_at_the_confirmation(client, world, judged):
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}/merge/"
    client.post(base)
    gia, gia_twin = judged["gia"]
    Student.objects.filter(pk=gia_twin.pk).update(school=world.school_b)  # the SIS moved her
    confirm = client.get(f"{base}ready/").content.decode()
    assert "Merge 3 pairs" in confirm
    assert "Not merged at once (1)" in confirm
    assert "Gia Gray → Gia Gray: needs a look — different schools" in confirm
    client.post(f"{base}ready/", {"confirm": "yes", "search": _search(base).pk})
    assert not StudentMerge.objects.filter(old_student=gia).exists()
    assert StudentMerge.objects.count() == 3


def test_a_confirmation_older_than_the_last_search_is_refused(client, world, twins):
    from rollbook.web.models import Job

    sign_in(client, world.admin_a)
    base = f"/schools/{world.school_a.pk}/merge/"
    client.post(base)
    first = _search(base)
    client.post(base)  # found again, perhaps with other pairs
    response = client.post(f"{base}ready/", {"confirm": "yes", "search": first.pk}, follow=True)
    assert "The candidates were found again since that confirmation" in response.content.decode()
    assert not Job.objects.filter(kind=Job.Kind.MERGE).exists()
    assert not StudentMerge.objects.exists()


def test_a_pair_refused_by_the_worker_is_reported_by_name(client, world, twins):
    sign_in(client, world.admin_a)
    base = f"/schools/{world.school_a.pk}/merge/"
    client.post(base)
    ana, dana = world.students_a[0], world.students_a[2]
    # Since the search, the SIS archived Ana's synced twin: the merge refuses that pair.
    Student.objects.filter(pk=twins["ana"].pk).update(status="archived")
    response = client.post(
        f"{base}ready/", {"confirm": "yes", "search": _search(base).pk}, follow=True
    )
    page = response.content.decode()
    assert "Merged 1 of 2 pairs" in page
    assert (
        f"Ana Able → Ana Able: not merged, student {twins['ana'].pk} is archived; merge into "
        "an active one" in page
    )
    assert StudentMerge.objects.filter(old_student=dana).exists()
    assert not StudentMerge.objects.filter(old_student=ana).exists()


def test_a_long_confirmation_shows_a_page_and_counts_the_rest(client, world, judged, monkeypatch):
    from rollbook.web import views_merge

    monkeypatch.setattr(views_merge, "ROWS", 1)
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}/merge/"
    client.post(base)
    confirm = client.get(f"{base}ready/").content.decode()
    assert "Merge 4 pairs" in confirm
    assert confirm.count('name="keep_guardian"') == 1
    assert "… and 3 more guardians the SIS does not list, on pairs not shown here: dropped." in (
        confirm
    )


def test_a_merge_under_way_is_shown_and_not_confirmed_twice(client, world, twins):
    from rollbook.web.models import Job

    sign_in(client, world.admin_a)
    base = f"/schools/{world.school_a.pk}/merge/"
    client.post(base)
    job = Job.objects.create(
        district=world.district,
        school=world.school_a,
        kind=Job.Kind.MERGE,
        params={"pairs": [[1, 2], [3, 4]]},
        created_by=world.admin_a,
    )
    page = client.get(base).content.decode()
    assert (
        f'A merge of 2 pairs is waiting: <a href="/schools/{world.school_a.pk}/jobs/{job.pk}/">'
        "follow it</a>." in page
    )
    assert "Merge all 2 ready pairs" not in page
