"""A bundle that brings the same records in another order is skipped without being read
(sync/digests.py); anything else about it that could change what the sync does is read."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from rollbook.directory import actions
from rollbook.directory.models import GuardianLink, Student
from rollbook.oneroster import read_bundle
from rollbook.sync import services
from rollbook.sync.digests import bundle_digest, records_digest
from rollbook.sync.models import SyncRun

from .conftest import family_bundle
from .test_withheld import holder, sis  # noqa: F401 - the fixture, used below


def _reordered(folder: Path, out: Path) -> Path:
    """``folder`` with every CSV file's data lines in reverse order (the manifest as it is)."""
    shutil.copytree(folder, out)
    for path in out.glob("*.csv"):
        if path.name == "manifest.csv":
            continue
        header, *rows = path.read_bytes().splitlines(keepends=True)
        rows = [r if r.endswith(b"\n") else r + b"\r\n" for r in rows]
        path.write_bytes(header + b"".join(reversed(rows)))
    return out


def _edited(folder: Path, out: Path, name: str, old: bytes, new: bytes) -> Path:
    shutil.copytree(folder, out)
    path = out / name
    text = path.read_bytes()
    assert old in text
    path.write_bytes(text.replace(old, new))
    return out


@pytest.fixture
def folder(tmp_path) -> Path:
    b = family_bundle(4)
    b.teacher("t-1", "Ann", "Teach", email="ann@example.org")
    return b.write(tmp_path / "day1")


# --- the digest alone -------------------------------------------------------------------------


def test_the_same_lines_in_another_order_are_the_same_records(folder, tmp_path):
    again = _reordered(folder, tmp_path / "again")
    assert bundle_digest(again) != bundle_digest(folder)
    assert records_digest(again) == records_digest(folder) is not None
    # Line ends are not part of a line.
    lf = _edited(folder, tmp_path / "lf", "users.csv", b"\r\n", b"\n")
    assert records_digest(lf) == records_digest(folder)


@pytest.mark.parametrize(
    "edit",
    [
        ("users.csv", b"Family1", b"Family9"),  # a value changed
        ("users.csv", b"\r\n", b"\r\n\r\n"),  # empty lines are lines
        ("users.csv", b"Kid,Family1", b'"Kid",Family1'),  # the same value, quoted otherwise
        (  # the manifest counts by its bytes
            "manifest.csv",
            b"file.orgs,bulk\nfile.academicSessions,bulk\n",
            b"file.academicSessions,bulk\nfile.orgs,bulk\n",
        ),
    ],
)
def test_anything_but_the_order_is_another_bundle(folder, tmp_path, edit):
    name, old, new = edit
    changed = _edited(folder, tmp_path / "changed", name, old, new)
    assert records_digest(changed) != records_digest(folder)


def test_values_swapped_between_rows_are_other_records(folder, tmp_path):
    swapped = tmp_path / "swapped"
    shutil.copytree(folder, swapped)
    users = swapped / "users.csv"
    text = users.read_bytes()
    text = text.replace(b"pat1@", b"TMP@").replace(b"pat2@", b"pat1@").replace(b"TMP@", b"pat2@")
    users.write_bytes(text)
    assert records_digest(swapped) != records_digest(folder)


def test_the_header_must_stay_first(folder, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved)
    users = moved / "users.csv"
    header, first, *rest = users.read_bytes().splitlines(keepends=True)
    users.write_bytes(first + header + b"".join(rest))
    assert records_digest(moved) != records_digest(folder)


def _zipped(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.glob("*.csv"), reverse=True):  # stored in another order
            z.write(path, prefix + path.name)
    return archive


def test_a_zip_is_judged_by_its_members_lines(folder, tmp_path):
    archive = _zipped(folder, tmp_path / "bundle.zip")
    digest = records_digest(archive)
    assert digest is not None
    again = _zipped(_reordered(folder, tmp_path / "again"), tmp_path / "again.zip")
    assert bundle_digest(again) != bundle_digest(archive)
    assert records_digest(again) == digest
    changed = _edited(folder, tmp_path / "changed", "users.csv", b"Family1", b"Family9")
    assert records_digest(_zipped(changed, tmp_path / "changed.zip")) != digest
    # The members' names count: the same files in a folder of the zip are another bundle.
    assert records_digest(_zipped(folder, tmp_path / "nested.zip", "export/")) != digest


def test_a_zip_beyond_the_openers_caps_or_damaged_is_read_in_full(folder, tmp_path, monkeypatch):
    from rollbook.oneroster import bundle

    archive = _zipped(folder, tmp_path / "bundle.zip")
    monkeypatch.setattr(bundle, "MAX_MEMBERS", 3)
    assert records_digest(archive) is None
    monkeypatch.undo()
    monkeypatch.setattr(bundle, "MAX_TOTAL_UNCOMPRESSED", 100)
    assert records_digest(archive) is None
    monkeypatch.undo()
    monkeypatch.setattr(bundle, "RATIO_FREE_BYTES", 0)
    monkeypatch.setattr(bundle, "MAX_COMPRESSION_RATIO", 1)
    assert records_digest(archive) is None
    monkeypatch.undo()
    # Members the opener refuses: zipfile raises other errors than a damaged zip's.
    encrypted = tmp_path / "encrypted.zip"
    data = bytearray(archive.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            data[at + flag_at] |= 0x01  # "encrypted"
            start = at + 4
    encrypted.write_bytes(bytes(data))
    with pytest.raises(RuntimeError), zipfile.ZipFile(encrypted) as z:
        z.read(z.namelist()[0])
    assert records_digest(encrypted) is None
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(archive.read_bytes()[:-40])
    assert records_digest(damaged) is None
    not_zip = tmp_path / "users.csv"
    shutil.copy(folder / "users.csv", not_zip)
    assert records_digest(not_zip) is None


def test_bundles_not_judged_by_their_lines(folder, tmp_path):
    assert records_digest(folder, encoding="utf-16") is None
    wide = tmp_path / "wide"
    shutil.copytree(folder, wide)
    (wide / "orgs.csv").write_text((folder / "orgs.csv").read_text(), encoding="utf-16")
    assert records_digest(wide) is None
    odd = _edited(folder, tmp_path / "odd", "users.csv", b"Family1", b"Fam\x1fily1")
    assert records_digest(odd) is None


def test_a_rest_fetch_leaves_its_own_report_out(folder, tmp_path):
    fetched = tmp_path / "fetched"
    shutil.copytree(folder, fetched)
    (fetched / "fetch.json").write_text('{"at": 1}')
    first = records_digest(fetched, csv_only=True)
    (fetched / "fetch.json").write_text('{"at": 2}')
    assert records_digest(fetched, csv_only=True) == first
    assert records_digest(fetched) != first


def test_the_reader_says_when_a_record_spans_lines(folder, tmp_path):
    assert read_bundle(folder).lines_are_records
    spans = _edited(folder, tmp_path / "spans", "users.csv", b"Kid,Family1", b'"Kid\nA",Family1')
    result = read_bundle(spans)
    assert result.can_sync
    assert not result.files["users.csv"].lines_are_records
    assert not result.lines_are_records
    bare = _edited(folder, tmp_path / "bare", "users.csv", b"Kid,Family1", b'"Kid,Family1')
    assert not read_bundle(bare).lines_are_records


# --- the sync ---------------------------------------------------------------------------------

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(folder, district, settings, tmp_path, actor):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    source = services.get_source(district)
    run = services.sync_bundle(source, folder, actor, approve=True)
    assert run.status == SyncRun.Status.APPLIED
    source.refresh_from_db()
    assert source.last_records_digest == run.records_digest == records_digest(folder)
    return source


def test_a_reordered_bundle_is_skipped_unread(synced, folder, tmp_path, actor):
    run = services.sync_bundle(synced, _reordered(folder, tmp_path / "again"), actor)
    assert run.status == SyncRun.Status.SKIPPED
    assert "same records" in run.stats["note"]
    assert run.get_status_display() == "Skipped: nothing new"
    assert set(run.stats["timings"]) == {"read"}  # neither planned nor applied


def test_a_reordered_zip_is_skipped_unread(synced, folder, tmp_path, actor):
    again = _zipped(_reordered(folder, tmp_path / "again"), tmp_path / "again.zip")
    run = services.sync_bundle(synced, again, actor)
    assert run.status == SyncRun.Status.SKIPPED
    assert set(run.stats["timings"]) == {"read"}


def test_a_reordered_bundle_with_a_change_is_synced(synced, folder, tmp_path, actor):
    again = _reordered(folder, tmp_path / "again")
    changed = _edited(again, tmp_path / "changed", "users.csv", b"Family1", b"Family9")
    run = services.sync_bundle(synced, changed, actor, approve=True)
    assert run.status == SyncRun.Status.APPLIED
    assert Student.objects.get(sourced_id="s-1").family_name == "Family9"
    synced.refresh_from_db()
    assert synced.last_records_digest == records_digest(changed)


def test_a_dry_run_keeps_its_digest_for_its_approval(synced, folder, tmp_path, actor):
    changed = _edited(folder, tmp_path / "changed", "users.csv", b"Family1", b"Family9")
    planned = services.sync_bundle(synced, changed, actor, dry_run=True)
    assert planned.status == SyncRun.Status.PLANNED
    services.approve_run(planned, actor)
    synced.refresh_from_db()
    assert synced.last_records_digest == records_digest(changed)
    run = services.sync_bundle(synced, _reordered(changed, tmp_path / "again"), actor)
    assert run.status == SyncRun.Status.SKIPPED


def test_a_bundle_whose_records_span_lines_is_never_skipped_reordered(
    folder, tmp_path, district, settings, actor
):
    settings.ROLLBOOK_HOME = tmp_path / "home"
    spans = _edited(folder, tmp_path / "spans", "users.csv", b"Kid,Family1", b'"Kid\nA",Family1')
    source = services.get_source(district)
    first = services.sync_bundle(source, spans, actor, approve=True)
    assert first.status == SyncRun.Status.APPLIED
    assert first.records_digest == ""
    again = tmp_path / "again"
    shutil.copytree(spans, again)
    users = again / "users.csv"
    header, *rows = users.read_bytes().split(b"\r\n")
    users.write_bytes(b"\r\n".join([header, *reversed([r for r in rows if r])]) + b"\r\n")
    assert bundle_digest(again) != bundle_digest(spans)
    run = services.sync_bundle(source, again, actor, approve=True)
    assert run.status == SyncRun.Status.APPLIED  # read in full, whatever it holds


def test_a_reordered_bundle_attaches_an_identifier_freed_since(
    run_sync,
    bundle,
    holder,  # noqa: F811 - the fixture
    actor,
    tmp_path,
):
    first = run_sync(sis(bundle))
    folder = Path(first.bundle)
    ana = GuardianLink.objects.get(person_sourced_id="gdn-1").account
    assert ana.email is None
    again = _reordered(folder, tmp_path / "again")
    assert services.sync_bundle(run_sync.source, again, actor).status == "skipped"
    actions.remove_guardians(Student.objects.filter(guardian_links__account=holder), actor)
    run = services.sync_bundle(run_sync.source, again, actor, approve=True)
    assert run.status == "applied"
    ana.refresh_from_db()
    assert ana.email == "ana@example.com"


def test_the_same_bundle_under_other_settings_is_synced(synced, folder, tmp_path, actor):
    """Choosing schools or 'additions only' changes what a bundle syncs: not skipped."""
    again = _reordered(folder, tmp_path / "again")
    synced.additions_only = True
    synced.save()
    assert services.sync_bundle(synced, folder, actor).status == SyncRun.Status.APPLIED
    assert services.sync_bundle(synced, folder, actor).status == SyncRun.Status.SKIPPED
    assert services.sync_bundle(synced, again, actor).status == SyncRun.Status.SKIPPED
    school = Student.objects.first().school.sourced_id
    synced.additions_only = False
    synced.school_sourced_ids = [school]
    synced.save()
    assert services.sync_bundle(synced, folder, actor).status == SyncRun.Status.APPLIED
    assert services.sync_bundle(synced, again, actor).status == SyncRun.Status.SKIPPED


def test_the_same_bundle_after_a_change_by_hand_is_synced_as_its_preview_says(
    synced, folder, tmp_path, actor
):
    """A student archived by hand is still in the SIS: the sync reactivates it, so the same
    delivery is not skipped then — the dry run and the sync agree — and is skipped again once
    a run has applied it."""
    from rollbook.directory import actions

    again = _reordered(folder, tmp_path / "again")
    actions.archive_students(Student.objects.filter(sourced_id="s-1"), actor)
    assert Student.objects.get(sourced_id="s-1").status == "archived"
    for bundle in (folder, again):  # the same bytes, the same records
        dry = services.sync_bundle(synced, bundle, actor, dry_run=True)
        assert dry.stats["plan"]["counts"]["student"]["reactivated"] == 1
    run = services.sync_bundle(synced, again, actor)
    assert run.status == SyncRun.Status.APPLIED
    assert run.stats["outcome"]["counts"]["student"]["reactivated"] == 1
    assert Student.objects.get(sourced_id="s-1").status == "active"
    assert services.sync_bundle(synced, again, actor).status == SyncRun.Status.SKIPPED
    assert services.sync_bundle(synced, folder, actor).status == SyncRun.Status.SKIPPED
