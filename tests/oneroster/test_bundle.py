"""Hostile and odd bundles: each gives a clear BundleError or finding, never a traceback."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from rollbook.oneroster import bundle as bundle_mod
from rollbook.oneroster.bundle import BundleError, open_bundle
from rollbook.oneroster.validate import read_bundle

from .conftest import base_files, write_bundle


def make_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "name", ["../evil.csv", "/etc/evil.csv", "C:/evil.csv", "a/../../evil.csv", "..\\evil.csv"]
)
def test_path_traversal_is_refused(tmp_path: Path, name: str) -> None:
    z = make_zip(tmp_path / "b.zip", {**base_files(), name: "x\n"})
    with pytest.raises(BundleError, match="path traversal"):
        read_bundle(z)
    assert not (tmp_path.parent / "evil.csv").exists()


def test_zip_bomb_ratio_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_mod, "RATIO_FREE_BYTES", 1024)
    z = make_zip(tmp_path / "b.zip", {**base_files(), "users.csv": "a" * 5_000_000})
    with pytest.raises(BundleError, match="zip bomb"):
        read_bundle(z)


def test_zip_total_size_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_mod, "MAX_TOTAL_UNCOMPRESSED", 1000)
    z = make_zip(tmp_path / "b.zip", base_files())
    with pytest.raises(BundleError, match="zip bomb"):
        read_bundle(z)


def test_member_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_mod, "MAX_MEMBERS", 3)
    with pytest.raises(BundleError, match="members"):
        read_bundle(make_zip(tmp_path / "b.zip", base_files()))


def test_not_a_zip_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(BundleError):
        read_bundle(tmp_path / "x.zip")
    with pytest.raises(BundleError, match="no such"):
        read_bundle(tmp_path / "nope")


def test_nested_folder_in_zip_and_folder(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "b.zip", {f"export/{k}": v for k, v in base_files().items()})
    assert read_bundle(z).findings.counts() == {"OR-FILE-NESTED": 1}
    write_bundle(tmp_path / "outer" / "inner", base_files())
    assert read_bundle(tmp_path / "outer").findings.counts() == {"OR-FILE-NESTED": 1}


def test_csvs_in_several_folders_are_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "b.zip", {"a/users.csv": "x", "b/orgs.csv": "y"})
    with pytest.raises(BundleError, match="several folders"):
        read_bundle(z)


def test_temporary_folder_is_removed(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "b.zip", base_files())
    with open_bundle(z) as b:
        folder = next(iter(b.files.values())).parent
        assert folder.exists()
    assert not folder.exists()


def test_bom_crlf_quoted_and_metadata(tmp_path: Path) -> None:
    files = base_files()
    users = str(files["users.csv"]).replace("password\n", "password,metadata.house\n")
    users = users.replace(",09,\n", ',09,,"Red, Blue"\n').replace(",,,,,\n", ",,,,,,\n")
    files["users.csv"] = "\ufeff" + '"sourcedId"' + users.replace("\n", "\r\n")[9:]
    result = read_bundle(write_bundle(tmp_path / "b", files), strict=True)
    assert result.findings.counts() == {}
    users_t = result.model.users
    assert "metadata.house" in users_t.column_names
    assert users_t["metadata.house"].to_pylist()[0] == "Red, Blue"
    assert result.files["users.csv"].metadata_columns == ["metadata.house"]
    assert users_t["line"].to_pylist() == [2, 3, 4]


# --- refusals instead of surprises (issue 16) ------------------------------------------------
def test_two_members_of_one_name_are_refused(tmp_path: Path) -> None:
    files = base_files()
    z = make_zip(tmp_path / "b.zip", files)
    with zipfile.ZipFile(z, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("users.csv", str(files["users.csv"]).replace("Ann", "Eve"))
    with pytest.raises(BundleError, match="users.csv") as caught:
        read_bundle(z)
    assert caught.value.code == "OR-BUNDLE-DUPLICATE-FILE"


@pytest.mark.parametrize(
    "twin", ["Users.csv", "USERS.CSV", "export/users.csv", "Manifest.csv", "x/manifest.csv"]
)
def test_names_differing_in_case_or_folder_are_refused(tmp_path: Path, twin: str) -> None:
    files = base_files()
    source = "manifest.csv" if "anifest" in twin else "users.csv"
    z = make_zip(tmp_path / "b.zip", {**files, twin: files[source]})
    with pytest.raises(BundleError) as caught:
        read_bundle(z)
    assert caught.value.code == "OR-BUNDLE-DUPLICATE-FILE"


def test_case_twins_in_a_folder_are_refused(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", base_files())
    (folder / "USERS.csv").write_bytes((folder / "users.csv").read_bytes())
    if len(list(folder.iterdir())) == len(base_files()):
        pytest.skip("a file system that ignores letter case")
    with pytest.raises(BundleError) as caught:
        read_bundle(folder)
    assert caught.value.code == "OR-BUNDLE-DUPLICATE-FILE"


def test_junk_members_are_ignored_with_a_warning(tmp_path: Path) -> None:
    z = make_zip(
        tmp_path / "b.zip",
        {**base_files(), "__MACOSX/._users.csv": "\x00\x05", ".DS_Store": "Bud1", "Thumbs.db": "x"},
    )
    result = read_bundle(z)
    assert result.findings.counts() == {"OR-BUNDLE-JUNK": 1}
    assert "3 member(s)" in result.findings.by_code["OR-BUNDLE-JUNK"].instances[0].message
    assert result.can_sync


@pytest.mark.parametrize(
    "members",
    [
        {"readme.csv": "a,b\n1,2\n"},
        {"notes.txt": "hello"},
        {"__MACOSX/._users.csv": "x", "data/other.csv": "a\n"},
    ],
)
def test_no_manifest_and_no_oneroster_file_is_not_a_bundle(
    tmp_path: Path, members: dict[str, str]
) -> None:
    with pytest.raises(BundleError, match="not a OneRoster bundle") as caught:
        read_bundle(make_zip(tmp_path / "b.zip", members))
    assert caught.value.code == "OR-BUNDLE-NOT-ONEROSTER"
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "grades.csv").write_text("a,b\n1,2\n")
    with pytest.raises(BundleError, match="not a OneRoster bundle"):
        read_bundle(folder)


def test_only_the_files_read_are_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Members the reader does not read are listed, never written to disk; the whole zip's
    budget stops many members each under the ratio-free size."""
    other = {"resources.csv": "x" * 100_000, "notes.csv": "a,b\n" + "1,2\n" * 1000}
    z = make_zip(tmp_path / "b.zip", {**base_files(), **other})
    with open_bundle(z) as b:
        folder = next(iter(b.files.values())).parent
        assert sorted(p.name for p in folder.iterdir() if p.name != ".reading") == sorted(
            base_files()
        )
        assert sorted(b.others) == ["notes.csv", "resources.csv"]
    result = read_bundle(z)
    assert result.findings.counts() == {"OR-FILE-UNKNOWN": 1}  # notes.csv; resources.csv is 1.2
    assert sorted(result.extra_files) == ["notes.csv", "resources.csv"]
    monkeypatch.setattr(bundle_mod, "RATIO_FREE_BYTES", 1000)
    bomb = {n: "a" * 900 + "\n" + "b" * 200_000 for n in ("orgs.csv", "users.csv", "classes.csv")}
    with pytest.raises(BundleError, match="zip bomb"):
        read_bundle(make_zip(tmp_path / "bomb.zip", {**base_files(), **bomb}))


def test_a_killed_read_leaves_nothing_behind(tmp_path: Path) -> None:
    """A reader killed with its folder unpacked: the folder's lock dies with it, and the next
    read removes the folder; a live reader's folder is kept."""
    import subprocess
    import sys
    import tempfile

    z = make_zip(tmp_path / "b.zip", base_files())
    script = (
        "import sys, time\n"
        "from rollbook.oneroster.bundle import open_bundle\n"
        f"b = open_bundle({str(z)!r})\n"
        "print(next(iter(b.files.values())).parent, flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        folder = Path(child.stdout.readline().strip())  # type: ignore[union-attr]
        assert folder.is_dir() and folder.parent == Path(tempfile.gettempdir())
        assert folder not in bundle_mod.remove_left_over()  # alive: kept
        assert folder.is_dir()
    finally:
        child.kill()
        child.wait()
    assert folder.is_dir()  # killed: nothing cleaned up after it...
    with open_bundle(z):  # ...until the next read
        pass
    assert not folder.exists()


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    import os

    with pytest.raises(BundleError, match="not a regular file") as caught:
        read_bundle("/dev/zero")
    assert caught.value.code == "OR-BUNDLE-NOT-A-FILE"
    fifo = tmp_path / "bundle.zip"
    os.mkfifo(fifo)
    with pytest.raises(BundleError, match="not a regular file"):
        read_bundle(fifo)  # never opened: a FIFO would block the read for good
    folder = write_bundle(tmp_path / "b", base_files(users__csv=None))
    os.mkfifo(folder / "users.csv")
    with pytest.raises(BundleError, match="not a regular file"):
        read_bundle(folder)


def test_links_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("sourcedId\nx\n")
    folder = write_bundle(tmp_path / "b", base_files(users__csv=None))
    (folder / "users.csv").symlink_to(outside)
    with pytest.raises(BundleError, match="outside the bundle") as caught:
        read_bundle(folder)
    assert caught.value.code == "OR-BUNDLE-OUTSIDE"
    (folder / "users.csv").unlink()
    (folder / "real.txt").write_text(str(base_files()["users.csv"]))
    (folder / "users.csv").symlink_to(folder / "real.txt")  # inside: read
    assert read_bundle(folder).files["users.csv"].rows_read == 3


def test_a_symbolic_link_member_of_a_zip_is_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "b.zip", base_files(users__csv=None))
    info = zipfile.ZipInfo("users.csv")
    info.external_attr = (0o120777 << 16) | 0  # S_IFLNK
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(BundleError, match="symbolic link"):
        read_bundle(z)


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2])
def test_a_broken_stream_is_a_refusal(tmp_path: Path, method: int) -> None:
    z = tmp_path / "b.zip"
    with zipfile.ZipFile(z, "w", method) as zf:
        for name, data in base_files().items():
            zf.writestr(name, data)
    raw = bytearray(z.read_bytes())
    at = raw.find(b"users.csv") + len("users.csv") + 12
    raw[at : at + 16] = bytes(16)
    z.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="cannot be unpacked") as caught:
        read_bundle(z)
    assert caught.value.code == "OR-BUNDLE-DAMAGED"


def test_a_truncated_zip_is_damaged(tmp_path: Path) -> None:
    data = make_zip(tmp_path / "b.zip", base_files()).read_bytes()
    for cut in (10, len(data) // 2, len(data) - 10):
        (tmp_path / "t.zip").write_bytes(data[:cut])
        with pytest.raises(BundleError) as caught:
            read_bundle(tmp_path / "t.zip")
        assert caught.value.code == "OR-BUNDLE-DAMAGED"
