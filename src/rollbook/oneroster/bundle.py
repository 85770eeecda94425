"""Opening a OneRoster bundle (a .zip or a folder) safely, and reading its manifest.

A zip is checked member by member before anything is written: names with ``..``, absolute
paths or drive letters are refused, and caps on the member count, the total uncompressed size
and the compression ratio stop zip bombs while the members are streamed into a private
temporary folder (deleted on close). Nothing is ever written outside that folder.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType

#: Caps for zip bundles (module constants so callers and tests may adjust them).
MAX_TOTAL_UNCOMPRESSED = 20 * 1024**3
MAX_COMPRESSION_RATIO = 200
RATIO_FREE_BYTES = 8 * 1024**2  # members smaller than this are not ratio-checked
MAX_MEMBERS = 500
MAX_MANIFEST_BYTES = 1024**2
_CHUNK = 1024**2
_DRIVE = re.compile(r"^[A-Za-z]:")


class BundleError(Exception):
    """A bundle that cannot be read at all; the message says what to fix."""


@dataclass
class Bundle:
    """The CSV files of a bundle, on disk, by their name in the bundle."""

    source: Path
    files: dict[str, Path]  # file name (no folder) -> readable path
    nested_folder: str | None = None
    is_zip: bool = False
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def close(self) -> None:
        """Delete the temporary folder of an extracted zip."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Bundle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_bundle(path: str | Path) -> Bundle:
    """Open a bundle (folder or .zip). Raises BundleError for anything unreadable or unsafe."""
    p = Path(path)
    if not p.exists():
        raise BundleError(
            f"{p}: no such file or folder. Give the path of the OneRoster .zip "
            "or of the folder holding its CSV files."
        )
    if p.is_dir():
        return _open_folder(p)
    if not zipfile.is_zipfile(p):
        raise BundleError(f"{p}: not a zip file. Give the OneRoster .zip or a folder of CSVs.")
    return _open_zip(p)


def _group_by_folder(names: list[str], source: Path) -> tuple[str | None, list[str]]:
    """Pick the CSVs at the root, or those of the single folder holding all of them."""
    folders = {str(PurePosixPath(n).parent) for n in names}
    if not names:
        raise BundleError(
            f"{source}: no CSV files found. A OneRoster bundle holds "
            "manifest.csv, users.csv, ... at its root."
        )
    if "." in folders:
        return None, [n for n in names if str(PurePosixPath(n).parent) == "."]
    if len(folders) == 1:
        return folders.pop(), names
    raise BundleError(
        f"{source}: CSV files are spread over several folders "
        f"({', '.join(sorted(folders)[:5])}). Zip the CSV files of one export, "
        "at the root of the zip."
    )


def _open_folder(p: Path) -> Bundle:
    names = [c.name for c in p.iterdir() if c.is_file() and c.suffix.lower() == ".csv"]
    if names:
        return Bundle(p, {n: p / n for n in sorted(names)})
    subs = [d for d in p.iterdir() if d.is_dir()]
    nested = [
        f"{d.name}/{c.name}"
        for d in subs
        for c in d.iterdir()
        if c.is_file() and c.suffix.lower() == ".csv"
    ]
    folder, chosen = _group_by_folder(nested, p)
    return Bundle(p, {PurePosixPath(n).name: p / n for n in sorted(chosen)}, nested_folder=folder)


def _check_member_name(name: str, source: Path) -> str:
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    if clean.startswith("/") or _DRIVE.match(clean) or ".." in parts or "\x00" in clean:
        raise BundleError(
            f"{source}: zip member {name!r} points outside the bundle (path "
            "traversal). The zip was refused; export it again from the SIS."
        )
    return clean


def _open_zip(p: Path) -> Bundle:
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{p}: the zip file is damaged ({exc}). Export it again.") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise BundleError(
                f"{p}: the zip has {len(infos)} members (limit {MAX_MEMBERS}). "
                "A OneRoster bundle has at most a few dozen files."
            )
        csvs: dict[str, zipfile.ZipInfo] = {}
        declared = 0
        for info in infos:
            name = _check_member_name(info.filename, p)
            if info.is_dir() or "__MACOSX" in name or PurePosixPath(name).name.startswith("."):
                continue
            if not name.lower().endswith(".csv"):
                continue
            csvs[name] = info
            declared += info.file_size
        if declared > MAX_TOTAL_UNCOMPRESSED:
            raise BundleError(
                f"{p}: the zip would unpack to {declared:,} bytes, over the "
                f"limit of {MAX_TOTAL_UNCOMPRESSED:,}. Refused as a zip bomb."
            )
        folder, chosen = _group_by_folder(sorted(csvs), p)
        basenames = [PurePosixPath(n).name for n in chosen]
        if len(set(basenames)) != len(basenames):
            raise BundleError(f"{p}: the zip holds two CSV files with the same name.")
        tmp = tempfile.TemporaryDirectory(prefix="rollbook-bundle-")
        try:
            files = _extract(zf, [csvs[n] for n in chosen], Path(tmp.name), p)
        except BaseException:
            tmp.cleanup()
            raise
    return Bundle(p, files, nested_folder=folder, is_zip=True, _tmp=tmp)


def _extract(
    zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], dest: Path, source: Path
) -> dict[str, Path]:
    files: dict[str, Path] = {}
    total = 0
    for info in infos:
        base = PurePosixPath(info.filename.replace("\\", "/")).name
        target = dest / base  # base has no separators: always inside dest
        written = 0
        try:
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    total += len(chunk)
                    if total > MAX_TOTAL_UNCOMPRESSED:
                        raise BundleError(
                            f"{source}: unpacking exceeds {MAX_TOTAL_UNCOMPRESSED:,}"
                            " bytes. Refused as a zip bomb."
                        )
                    if written > RATIO_FREE_BYTES and written > MAX_COMPRESSION_RATIO * max(
                        info.compress_size, 1
                    ):
                        raise BundleError(
                            f"{source}: member {base} expands more than "
                            f"{MAX_COMPRESSION_RATIO}:1. Refused as a zip bomb."
                        )
                    out.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise BundleError(
                f"{source}: member {base} cannot be unpacked ({exc}). "
                "Export the zip again (plain DEFLATE, no password)."
            ) from exc
        except RuntimeError as exc:  # encrypted members
            raise BundleError(
                f"{source}: member {base} cannot be unpacked ({exc}). "
                "Export the zip without a password."
            ) from exc
        files[base] = target
    return files


@dataclass
class Manifest:
    """manifest.csv as a key -> value map, with the rows that could not be used."""

    properties: dict[str, str]
    has_header: bool
    lines: dict[str, int]  # property -> line number
    bad_rows: list[tuple[int, str]]  # (line, text) rows that are not `name,value`


def read_manifest(path: Path, encoding: str | None = None) -> Manifest:
    """Read manifest.csv (rows in any order). Raises BundleError when unreadable."""
    raw = path.read_bytes()[: MAX_MANIFEST_BYTES + 1]
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(
            f"{path.name}: manifest.csv is larger than 1 MiB; it is not a OneRoster manifest."
        )
    try:
        text = raw.decode(encoding or "utf-8-sig")
    except (UnicodeDecodeError, LookupError) as exc:
        raise BundleError(
            f"manifest.csv is not readable as {encoding or 'UTF-8'} ({exc}). Export it as UTF-8."
        ) from exc
    props: dict[str, str] = {}
    lines: dict[str, int] = {}
    bad: list[tuple[int, str]] = []
    rows = list(csv.reader(io.StringIO(text.replace("\x00", ""))))
    has_header = bool(rows) and [c.strip() for c in rows[0][:2]] == ["propertyName", "value"]
    for i, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) < 2 or not cells[0]:
            bad.append((i, ",".join(row)))
            continue
        props.setdefault(cells[0], cells[1])
        lines.setdefault(cells[0], i)
    return Manifest(props, has_header, lines, bad)
