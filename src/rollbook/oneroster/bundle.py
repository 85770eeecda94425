"""Opening a OneRoster bundle (a .zip or a folder) safely, and reading its manifest.

A bundle is refused (:class:`BundleError`, with a code and a message that says what to fix)
when it cannot be read as one OneRoster export: a path that is not a regular file or folder
(a device such as ``/dev/zero``, a FIFO), a file that is not a zip, a damaged zip, no
OneRoster file at all, two members of one name (``users.csv`` twice, or ``Users.csv`` beside
``users.csv``), a member that points outside the bundle (path traversal, a symbolic link out of
the folder), or a zip bomb.

Only the members the reader needs (``manifest.csv`` and the rostering files) are unpacked,
streamed into a private folder within a size budget; other members are listed, never
unpacked. The folder is deleted on close; a read that is killed (``kill -9``, power loss)
leaves it behind, and the next :func:`open_bundle` of any process removes it: each folder
holds a lock that its live reader keeps (``flock``), so a folder whose lock can be taken
belongs to no one. Nothing is ever written outside that folder.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType

from . import schema
from .textfiles import bom_encoding

try:  # POSIX: a lock held by the live reader, released by the kernel when it dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Caps for zip bundles (module constants so callers and tests may adjust them).
MAX_TOTAL_UNCOMPRESSED = 20 * 1024**3
MAX_COMPRESSION_RATIO = 200
RATIO_FREE_BYTES = 8 * 1024**2  # members smaller than this are not ratio-checked
MAX_MEMBERS = 500
MAX_MANIFEST_BYTES = 1024**2
_CHUNK = 1024**2
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Prefix of the private folders zips are unpacked into (in the system's temporary folder).
FOLDER_PREFIX = "rollbook-bundle-"
_NEW_PREFIX = ".rollbook-bundle-new-"
_LOCK = ".reading"
#: A folder without a lock (the old layout, or one whose reader died before it took its name)
#: is left over once it is this old (seconds).
_UNLOCKED_STALE = 3600
#: Members a zip tool adds that are not part of the export (macOS resource forks, Finder and
#: Explorer files): ignored, with a note.
_JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}
#: The files the reader reads; every other member is listed but never unpacked.
NEEDED = frozenset({"manifest.csv"} | {f.filename.lower() for f in schema.ROSTER_FILES})


class BundleError(Exception):
    """A bundle that cannot be read at all; the message says what to fix.

    ``code`` names the kind of refusal (``OR-BUNDLE-*``, docs/oneroster-findings.md)."""

    def __init__(self, message: str, code: str = "OR-BUNDLE-UNREADABLE"):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Note:
    """Something about the bundle's members the reader reports as a finding."""

    code: str
    message: str
    file: str | None = None


@dataclass
class Bundle:
    """The CSV files of a bundle, on disk, by their name in the bundle."""

    source: Path
    files: dict[str, Path]  # file name (no folder) -> readable path: the files to read
    nested_folder: str | None = None
    is_zip: bool = False
    others: list[str] = field(default_factory=list)  # CSVs present, not unpacked or read
    notes: list[Note] = field(default_factory=list)
    _tmp: Path | None = field(default=None, repr=False)
    _lock: int | None = field(default=None, repr=False)

    def close(self) -> None:
        """Delete the private folder of an unpacked zip."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

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
    try:
        st = p.stat()
    except (OSError, ValueError):
        raise BundleError(
            f"{p}: no such file or folder. Give the path of the OneRoster .zip "
            "or of the folder holding its CSV files.",
            "OR-BUNDLE-MISSING",
        ) from None
    if stat.S_ISDIR(st.st_mode):
        return _open_folder(p)
    if not stat.S_ISREG(st.st_mode):
        raise BundleError(
            f"{p}: not a regular file or folder (a device, a pipe or a socket). Give the "
            "OneRoster .zip or a folder of CSVs.",
            "OR-BUNDLE-NOT-A-FILE",
        )
    try:
        is_zip = zipfile.is_zipfile(p)
    except OSError as exc:
        raise BundleError(f"{p}: cannot be read ({exc.strerror or exc}).") from None
    if not is_zip and _starts_like_zip(p):
        raise BundleError(
            f"{p}: the zip file is damaged or truncated (its table of contents is missing). "
            "Copy or export it again.",
            "OR-BUNDLE-DAMAGED",
        )
    if not is_zip:
        raise BundleError(
            f"{p}: not a zip file. Give the OneRoster .zip or a folder of CSVs.",
            "OR-BUNDLE-NOT-A-ZIP",
        )
    return _open_zip(p)


def _starts_like_zip(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _is_junk(name: str) -> bool:
    parts = PurePosixPath(name).parts
    base = parts[-1].lower() if parts else ""
    return "__MACOSX" in parts or base.startswith(".") or base in _JUNK_NAMES


def _junk_note(junk: list[str]) -> list[Note]:
    if not junk:
        return []
    shown = ", ".join(junk[:5]) + (f" and {len(junk) - 5} more" if len(junk) > 5 else "")
    return [
        Note(
            "OR-BUNDLE-JUNK",
            f"{len(junk)} member(s) that zip tools add ({shown}) are not part of the export; "
            "they were ignored.",
        )
    ]


def _choose(names: list[str], source: Path) -> tuple[str | None, list[str]]:
    """The CSVs at the root, or those of the single folder holding all of them; refuses two
    members a reader would take for one file (same name in any letter case)."""
    if not names:
        raise BundleError(
            f"{source}: no CSV files found; this is not a OneRoster bundle. A OneRoster "
            "bundle holds manifest.csv, users.csv, ... at its root.",
            "OR-BUNDLE-NOT-ONEROSTER",
        )
    by_name: dict[str, list[str]] = {}
    for n in names:
        base = PurePosixPath(n).name.lower()
        if base in NEEDED:
            by_name.setdefault(base, []).append(n)
    twice = {k: v for k, v in by_name.items() if len(v) > 1}
    if twice:
        base, members = sorted(twice.items())[0]
        raise BundleError(
            f"{source}: the bundle holds {len(members)} files that read as {base} "
            f"({', '.join(sorted(members)[:4])}); which one is the export cannot be known. "
            "Export the bundle again with one file of each name.",
            "OR-BUNDLE-DUPLICATE-FILE",
        )
    folders = {str(PurePosixPath(n).parent) for n in names}
    if "." in folders:
        return None, [n for n in names if str(PurePosixPath(n).parent) == "."]
    if len(folders) == 1:
        return folders.pop(), names
    raise BundleError(
        f"{source}: CSV files are spread over several folders "
        f"({', '.join(sorted(folders)[:5])}). Zip the CSV files of one export, "
        "at the root of the zip.",
        "OR-BUNDLE-FOLDERS",
    )


def _must_be_oneroster(chosen: list[str], source: Path) -> None:
    if not any(PurePosixPath(n).name.lower() in NEEDED for n in chosen):
        raise BundleError(
            f"{source}: no manifest.csv and no OneRoster file (orgs.csv, users.csv, ...); "
            "this is not a OneRoster bundle. Give the zip or folder the SIS exported.",
            "OR-BUNDLE-NOT-ONEROSTER",
        )


def _regular_member(entry: Path, root: Path, source: Path) -> bool:
    """Whether a folder's entry is a regular file inside the bundle; refuses links out of
    the folder and CSV names that are devices or pipes."""
    try:
        st = entry.lstat()
        if stat.S_ISLNK(st.st_mode):
            target = entry.resolve(strict=True)
            if not target.is_relative_to(root):
                raise BundleError(
                    f"{source}: {entry.name} is a link to {target}, outside the bundle. "
                    "Copy the file itself into the folder.",
                    "OR-BUNDLE-OUTSIDE",
                )
            st = target.stat()
    except OSError:
        raise BundleError(
            f"{source}: {entry.name} cannot be read (a broken link?). Copy the file itself "
            "into the folder.",
            "OR-BUNDLE-OUTSIDE",
        ) from None
    if stat.S_ISDIR(st.st_mode):
        return False
    if not stat.S_ISREG(st.st_mode):
        raise BundleError(
            f"{source}: {entry.name} is not a regular file (a device, a pipe or a socket); "
            "the bundle was not read.",
            "OR-BUNDLE-NOT-A-FILE",
        )
    return True


def _open_folder(p: Path) -> Bundle:
    root = p.resolve()
    junk: list[str] = []

    def csvs(folder: Path, prefix: str) -> list[str]:
        out = []
        for entry in sorted(folder.iterdir()):
            name = prefix + entry.name
            if not entry.name.lower().endswith(".csv"):
                continue
            if _is_junk(name):
                junk.append(name)
            elif _regular_member(entry, root, p):
                out.append(name)
        return out

    names = csvs(p, "")
    if not names:
        names = [
            n
            for d in sorted(p.iterdir())
            if d.is_dir() and not d.is_symlink() and not _is_junk(d.name + "/x")
            for n in csvs(d, d.name + "/")
        ]
    folder, chosen = _choose(names, p)
    _must_be_oneroster(chosen, p)
    files = {PurePosixPath(n).name: p / n for n in chosen}
    read = {k: v for k, v in files.items() if k.lower() in NEEDED}
    others = [k for k in files if k.lower() not in NEEDED]
    return Bundle(p, read, folder, others=others, notes=_junk_note(junk))


def _check_member_name(name: str, source: Path) -> str:
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    if clean.startswith("/") or _DRIVE.match(clean) or ".." in parts or "\x00" in clean:
        raise BundleError(
            f"{source}: zip member {name!r} points outside the bundle (path "
            "traversal). The zip was refused; export it again from the SIS.",
            "OR-BUNDLE-OUTSIDE",
        )
    return clean


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _open_zip(p: Path) -> Bundle:
    try:
        zf = zipfile.ZipFile(p)
    except Exception as exc:  # BadZipFile, OSError, ValueError, struct errors...
        raise BundleError(
            f"{p}: the zip file is damaged ({type(exc).__name__}). Export it again.",
            "OR-BUNDLE-DAMAGED",
        ) from None
    with zf:
        try:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise BundleError(
                    f"{p}: the zip has {len(infos)} members (limit {MAX_MEMBERS}). "
                    "A OneRoster bundle has at most a few dozen files.",
                    "OR-BUNDLE-TOO-BIG",
                )
            csvs: dict[str, zipfile.ZipInfo] = {}
            names: list[str] = []  # every CSV member, a name listed twice included
            junk: list[str] = []
            for info in infos:
                name = _check_member_name(info.filename, p)
                if info.is_dir():
                    continue
                if _is_junk(name):
                    junk.append(name)
                elif name.lower().endswith(".csv"):
                    csvs[name] = info
                    names.append(name)
            folder, chosen = _choose(sorted(names), p)
            _must_be_oneroster(chosen, p)
            wanted = [csvs[n] for n in chosen if PurePosixPath(n).name.lower() in NEEDED]
            others = [PurePosixPath(n).name for n in chosen if csvs[n] not in wanted]
            for info in wanted:
                _check_member(info, p)
            tmp, lock = _private_folder()
            try:
                files = _extract(zf, wanted, tmp, p)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                os.close(lock)
                raise
        except BundleError:
            raise
        except Exception as exc:  # a damaged central directory read lazily
            raise BundleError(
                f"{p}: the zip file is damaged ({type(exc).__name__}). Export it again.",
                "OR-BUNDLE-DAMAGED",
            ) from None
    return Bundle(p, files, folder, True, others, _junk_note(junk), tmp, lock)


def _check_member(info: zipfile.ZipInfo, source: Path) -> None:
    base = PurePosixPath(info.filename.replace("\\", "/")).name
    if _is_link(info):
        raise BundleError(
            f"{source}: member {base} is a symbolic link, not a file. Zip the file itself.",
            "OR-BUNDLE-OUTSIDE",
        )
    if info.flag_bits & 0x1:
        raise BundleError(
            f"{source}: member {base} is encrypted. Export the zip without a password.",
            "OR-BUNDLE-DAMAGED",
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2):
        raise BundleError(
            f"{source}: member {base} uses a compression method Rollbook does not read "
            f"({info.compress_type}). Export the zip again with plain DEFLATE.",
            "OR-BUNDLE-DAMAGED",
        )


def _private_folder() -> tuple[Path, int]:
    """A new private folder for an unpacked zip, and the lock its reader holds; folders of
    readers that died are removed first."""
    remove_left_over()
    # Made under another name and locked before it takes its own: another reader never sees
    # it unlocked (it would take it for a dead reader's).
    new = Path(tempfile.mkdtemp(prefix=_NEW_PREFIX))
    lock = os.open(new / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    if fcntl is not None:
        fcntl.flock(lock, fcntl.LOCK_EX)
    tmp = new.with_name(FOLDER_PREFIX + new.name.removeprefix(_NEW_PREFIX))
    os.rename(new, tmp)
    return tmp, lock


def remove_left_over(parent: Path | None = None) -> list[Path]:
    """Remove the unpacked folders of readers that are gone; returns what was removed."""
    parent = parent or Path(tempfile.gettempdir())
    removed = []
    for folder in [*parent.glob(FOLDER_PREFIX + "*"), *parent.glob(_NEW_PREFIX + "*")]:
        lock_file = folder / _LOCK
        try:
            if not lock_file.exists() or folder.name.startswith(_NEW_PREFIX):
                if time.time() - folder.stat().st_mtime < _UNLOCKED_STALE:
                    continue  # just made: its reader has yet to take the lock
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
                continue
            if fcntl is None:
                continue
            fd = os.open(lock_file, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its reader is alive
        else:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(fd)
    return removed


def unpacked_budget(infos: list[zipfile.ZipInfo]) -> int:
    """The most bytes these members may unpack to, together: no member set may expand past
    the ratio either (many members each just under RATIO_FREE_BYTES once made 3 MB into
    2.4 GB)."""
    return min(
        MAX_TOTAL_UNCOMPRESSED,
        RATIO_FREE_BYTES + MAX_COMPRESSION_RATIO * sum(max(i.compress_size, 1) for i in infos),
    )


def expands_too_much(size: int, info: zipfile.ZipInfo) -> bool:
    """Whether ``size`` bytes unpacked from ``info`` make it a zip bomb."""
    return size > RATIO_FREE_BYTES and size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1)


def _extract(
    zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], dest: Path, source: Path
) -> dict[str, Path]:
    files: dict[str, Path] = {}
    total = 0
    budget = unpacked_budget(infos)
    for info in infos:
        base = PurePosixPath(info.filename.replace("\\", "/")).name
        target = dest / base  # base has no separators: always inside dest
        written = 0
        try:
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    total += len(chunk)
                    if total > budget:
                        raise BundleError(
                            f"{source}: unpacking the OneRoster files exceeds {budget:,} "
                            "bytes. Refused as a zip bomb.",
                            "OR-BUNDLE-TOO-BIG",
                        )
                    if expands_too_much(written, info):
                        raise BundleError(
                            f"{source}: member {base} expands more than "
                            f"{MAX_COMPRESSION_RATIO}:1. Refused as a zip bomb.",
                            "OR-BUNDLE-TOO-BIG",
                        )
                    out.write(chunk)
        except BundleError:
            raise
        except OSError as exc:
            if exc.errno in _NO_ROOM:  # our disk, not the zip
                raise BundleError(
                    f"{source}: member {base} cannot be unpacked into {dest.parent} "
                    f"({exc.strerror}). Free some space there, or set TMPDIR to a folder "
                    "with room.",
                    "OR-BUNDLE-NO-ROOM",
                ) from None
            raise BundleError(
                f"{source}: member {base} cannot be unpacked ({exc}). "
                "Export the zip again (plain DEFLATE, no password).",
                "OR-BUNDLE-DAMAGED",
            ) from None
        except Exception as exc:  # zlib.error, EOFError, BadZipFile (CRC), bz2 streams...
            raise BundleError(
                f"{source}: member {base} cannot be unpacked ({type(exc).__name__}: "
                f"{str(exc)[:200]}). Export the zip again (plain DEFLATE, no password).",
                "OR-BUNDLE-DAMAGED",
            ) from None
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
    with open(path, "rb") as f:
        raw = f.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(
            f"{path.name}: manifest.csv is larger than 1 MiB; it is not a OneRoster manifest.",
            "OR-BUNDLE-MANIFEST",
        )
    enc = bom_encoding(raw) or encoding or "utf-8-sig"
    try:
        text = raw.decode(enc)
    except (UnicodeDecodeError, LookupError):
        raise BundleError(
            f"manifest.csv is not readable as {enc}. Export it as UTF-8.",
            "OR-BUNDLE-MANIFEST",
        ) from None
    props: dict[str, str] = {}
    lines: dict[str, int] = {}
    bad: list[tuple[int, str]] = []
    try:
        text = text.lstrip("\ufeff").replace("\x00", "")
        rows = list(csv.reader(io.StringIO(text, newline="")))  # CRLF, LF or CR line ends
    except csv.Error as exc:
        raise BundleError(
            f"manifest.csv cannot be read as CSV ({exc}). Export it again: two columns, "
            "propertyName and value.",
            "OR-BUNDLE-MANIFEST",
        ) from None
    has_header = bool(rows) and [c.strip() for c in rows[0][:2]] == ["propertyName", "value"]
    for i, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) < 2 or not cells[0]:
            bad.append((i, ",".join(row)[:200]))
            continue
        props.setdefault(cells[0], cells[1])
        lines.setdefault(cells[0], i)
    return Manifest(props, has_header, lines, bad)
