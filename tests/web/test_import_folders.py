"""Each district has its own import folder (``ROLLBOOK_IMPORT_ROOT/<district id>/``): the Sync
and Self-check tabs take a folder name only inside the signed-in administrator's district
folder, and a refusal names no other folder and no server path (issue 13, case 2)."""

from __future__ import annotations

import html

import pytest

from rollbook.errors import UserError
from rollbook.web import bundles
from rollbook.web.models import Job

from ..sync.bundles import Bundle
from .conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def folders(settings, tmp_path, world):
    """District 1 (the world's) has the export "mine"; district 2 (Other District) has
    "theirs-export" and "secret-2025", which district 1's administrator must not reach."""
    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    settings.ROLLBOOK_JOBS_INLINE = True
    mine = bundles.district_import_folder(world.district.pk)
    theirs = bundles.district_import_folder(world.other_district.pk)
    b = Bundle(schools=["sch-1"])
    b.guardian("gdn-1", "Ana", "Lopez", "ana@example.com", "(202) 555-0111")
    b.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",))
    b.write(mine / "mine")
    (mine / "sibling-of-mine").mkdir()
    (mine / "notes.txt").write_text("not a bundle")
    for name in ("theirs-export", "secret-2025"):
        b.write(theirs / name)
    return mine, theirs


def _refused(client, world, folder: str, do: str = "check") -> str:
    """The page of the refusal, without the name typed (in the message and in the field)."""
    response = client.post(f"/districts/{world.district.pk}/sync/", {"folder": folder, "do": do})
    assert response.status_code == 200  # the form again, with the refusal
    assert not Job.objects.exists()
    text = html.unescape(response.content.decode())
    typed = folder.strip()
    assert f"folder {typed!r}" in text, folder
    return text.replace(repr(typed), "").replace(f'value="{typed}"', "")


def _names_nothing(text: str, tmp_path) -> None:
    assert str(tmp_path) not in text
    for other in ("theirs-export", "secret-2025", "sibling-of-mine", "notes.txt", "imports"):
        assert other not in text


@pytest.mark.parametrize("do", ["check", "plan"])
def test_another_districts_folder_by_name_is_refused(client, world, folders, tmp_path, do):
    sign_in(client, world.district_admin)
    text = _refused(client, world, "theirs-export", do)
    assert "there is no folder  in this district's import folder" in text
    _names_nothing(text, tmp_path)


def test_every_way_out_of_the_district_folder_is_the_same_refusal(client, world, folders, tmp_path):
    mine, theirs = folders
    d2 = world.other_district.pk
    (mine / "shortcut").symlink_to(theirs / "theirs-export", target_is_directory=True)
    (mine / "up").symlink_to(tmp_path / "imports", target_is_directory=True)
    sign_in(client, world.district_admin)
    for name in (
        f"../{d2}/theirs-export",
        f"mine/../../{d2}/theirs-export",
        str(theirs / "theirs-export"),  # an absolute path
        str(mine / "mine"),  # absolute, even to its own folder
        "/theirs-export",
        "shortcut",  # a link inside district 1's folder into district 2's
        f"up/{d2}/theirs-export",  # a link to the import root
        f"{d2}/theirs-export",
        "..",
        ".",
        "notes.txt",  # not a folder
        "nothing-here",
        "..\\2\\theirs-export",
    ):
        text = _refused(client, world, name)
        assert "there is no folder  in this district's import folder" in text, name
        _names_nothing(text, tmp_path)


def test_a_file_linked_from_another_districts_folder_is_refused(client, world, folders, tmp_path):
    mine, theirs = folders
    mixed = mine / "mixed"
    Bundle(schools=["sch-1"]).write(mixed)
    (mixed / "users.csv").unlink()
    (mixed / "users.csv").symlink_to(theirs / "theirs-export" / "users.csv")
    sign_in(client, world.district_admin)
    text = _refused(client, world, "mixed")
    assert "holds a link to files outside this district's import folder" in text
    _names_nothing(text, tmp_path)
    with pytest.raises(UserError):
        bundles.resolve_folder(world.district.pk, "mixed")


def test_the_districts_own_folder_works_and_pages_show_its_name_only(
    client, world, folders, tmp_path
):
    mine, _ = folders
    (mine / "inner-link").symlink_to(mine / "mine", target_is_directory=True)
    assert bundles.resolve_folder(world.district.pk, "inner-link") == (mine / "mine").resolve()
    assert bundles.resolve_folder(world.district.pk, " mine/ ") == (mine / "mine").resolve()
    for name in ("", "mine\x00", "mine/../mine"):  # (the form itself refuses a NUL)
        with pytest.raises(UserError, match="in this district's import folder"):
            bundles.resolve_folder(world.district.pk, name)
    sign_in(client, world.district_admin)
    base = f"/districts/{world.district.pk}"
    started = client.post(f"{base}/sync/", {"folder": "mine", "do": "check"})
    assert started.status_code == 302
    job = Job.objects.get(kind="check")
    assert job.status == "done", job.error
    assert job.bundle == str((mine / "mine").resolve())
    for url in (started["Location"], f"{base}/self-check/{job.pk}/", f"{base}/sync/"):
        text = html.unescape(client.get(url).content.decode())
        assert str(tmp_path) not in text, url
    job_page = html.unescape(client.get(started["Location"]).content.decode())
    assert "folder mine of this district's import folder" in job_page


def test_the_folder_of_one_district_is_its_own_for_each(client, world, folders):
    """District 2's administrator reaches district 2's export, and not district 1's."""
    from rollbook.directory.audit import Actor
    from rollbook.directory.services import create_administrator

    admin2 = create_administrator(
        world.other_district, "other@example.org", "a-long-passphrase", Actor(label="test")
    )
    d2 = world.other_district.pk
    theirs = bundles.district_import_folder(d2)
    assert bundles.resolve_folder(d2, "theirs-export") == (theirs / "theirs-export").resolve()
    with pytest.raises(UserError, match="there is no folder 'mine'"):
        bundles.resolve_folder(d2, "mine")
    sign_in(client, admin2)
    response = client.post(f"/districts/{d2}/sync/", {"folder": "mine", "do": "check"})
    assert response.status_code == 200 and not Job.objects.exists()
    # And district 1's tab is a 404 for district 2's administrator.
    assert client.post(f"/districts/{world.district.pk}/sync/", {"folder": "mine"}).status_code == (
        404
    )


def test_the_tabs_say_where_exports_go_in_words(client, world, folders, tmp_path, settings):
    settings.ROLLBOOK_MAX_UPLOAD_MB = 300
    sign_in(client, world.district_admin)
    for tab in ("sync", "self-check"):
        text = html.unescape(client.get(f"/districts/{world.district.pk}/{tab}/").content.decode())
        assert "Upload a bundle (.zip, up to 300 MB)" in text, tab
        assert "this district's import folder" in text
        assert f"the folder named {world.district.pk} in Rollbook's import folder" in text
        assert str(tmp_path) not in text and "Inside " not in text
    # A district whose folder IT has not made yet is told so.
    (tmp_path / "imports" / str(world.district.pk)).rename(tmp_path / "moved")
    text = html.unescape(client.get(f"/districts/{world.district.pk}/sync/").content.decode())
    assert "it does not exist yet: ask IT to create it" in text


def test_describe_never_shows_a_server_path(world, folders, tmp_path):
    mine, _ = folders
    d = world.district.pk
    assert bundles.describe(d, mine / "mine") == "folder mine of this district's import folder"
    upload = bundles.upload_folder(d) / "20250101-000000-abcd.zip"
    assert bundles.describe(d, str(upload)) == "uploaded bundle 20250101-000000-abcd.zip"
    assert bundles.describe(d, "/srv/exports/x") == "x (given on the server)"
    assert bundles.describe(d, "") == ""


def test_the_demo_bundle_is_in_the_demo_districts_folder(settings, tmp_path):
    from rollbook.directory.demo import build_demo

    settings.ROLLBOOK_HOME = tmp_path / "home"
    settings.ROLLBOOK_IMPORT_ROOT = tmp_path / "imports"
    summary = build_demo(students=60, first_sync=False)
    assert summary.bundle == tmp_path / "imports" / str(summary.district_id) / "demo"
    assert bundles.resolve_folder(summary.district_id, "demo") == summary.bundle.resolve()
    assert not (tmp_path / "imports" / "demo").exists()


@pytest.mark.parametrize("do", ["check", "plan"])
def test_a_bundle_that_cannot_be_read_is_named_without_its_path(
    client, world, folders, tmp_path, do
):
    mine, _ = folders
    (mine / "empty").mkdir()
    sign_in(client, world.district_admin)
    started = client.post(f"/districts/{world.district.pk}/sync/", {"folder": "empty", "do": do})
    job = Job.objects.get()
    assert job.status == "failed" and "empty: no CSV files found" in job.error
    assert str(tmp_path) not in job.error
    for url in (started["Location"], f"/districts/{world.district.pk}/sync/"):
        assert str(tmp_path) not in client.get(url).content.decode()
