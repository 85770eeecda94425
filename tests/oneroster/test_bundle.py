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
