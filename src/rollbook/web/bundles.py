"""Where the web app takes OneRoster bundles from: an uploaded zip, or a folder on the server.

Uploads are kept under ``ROLLBOOK_HOME/uploads/district-N/`` — outside the web root, never
served — and are capped in size (``ROLLBOOK_MAX_UPLOAD_MB``, 1024 by default).

Each district has its own import folder, ``ROLLBOOK_IMPORT_ROOT/<district id>/`` (the import
root is ``ROLLBOOK_HOME/imports`` by default): IT puts the district's SIS exports there, one
folder per export. An administrator names a folder inside *their district's* import folder and
nothing else — not another district's folder, not a path on the server. Whatever is wrong with
the name (missing, leaving the folder by ``..``, an absolute path or a link, not a folder), the
answer is the same sentence, which names no other folder and no server path.
"""

from __future__ import annotations

import datetime as dt
import secrets
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from rollbook.errors import UserError


def max_upload_bytes() -> int:
    return int(getattr(settings, "ROLLBOOK_MAX_UPLOAD_MB", 1024)) * 1024 * 1024


def upload_folder(district_id: int) -> Path:
    return Path(settings.ROLLBOOK_HOME) / "uploads" / f"district-{district_id}"


def import_root() -> Path:
    configured = getattr(settings, "ROLLBOOK_IMPORT_ROOT", None)
    return Path(configured) if configured else Path(settings.ROLLBOOK_HOME) / "imports"


def save_upload(district_id: int, upload: UploadedFile) -> Path:
    """Keep an uploaded zip; refuse what is too big or not a zip."""
    if upload.size > max_upload_bytes():
        raise UserError(
            f"the file is {upload.size // (1024 * 1024)} MB; the limit is "
            f"{max_upload_bytes() // (1024 * 1024)} MB (ROLLBOOK_MAX_UPLOAD_MB)"
        )
    if not (upload.name or "").lower().endswith(".zip"):
        raise UserError("upload the bundle as a .zip file (the CSV files and manifest.csv)")
    folder = upload_folder(district_id)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stamp}-{secrets.token_hex(4)}.zip"
    with path.open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    if not zipfile.is_zipfile(path):
        path.unlink()
        raise UserError("the file is not a readable zip archive")
    return path


def district_import_folder(district_id: int) -> Path:
    """The district's own import folder: the import root's subfolder named by the district's
    id (``ROLLBOOK_IMPORT_ROOT/7/`` for district 7). Ids never change or come back, names may."""
    return import_root() / str(int(district_id))


MAX_ENTRIES = 10_000  # entries looked at in a named folder (a bundle holds about ten files)


def _no_such_folder(name: str) -> UserError:
    return UserError(
        f"there is no folder {name!r} in this district's import folder; give the name of a "
        "folder IT put there (for example: 2025-09-01), or upload the bundle as a .zip"
    )


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _links_out(folder: Path, root: Path) -> bool:
    """Whether an entry of the folder, or of its subfolders (the reader looks one level
    down), is a link that leads out of ``root``."""
    seen = 0
    for entry in folder.iterdir():
        children = [entry]
        if entry.is_dir() and not entry.is_symlink():
            children += list(entry.iterdir())
        for child in children:
            seen += 1
            if seen > MAX_ENTRIES:
                return False
            if child.is_symlink() and not _inside(child.resolve(), root):
                return True
    return False


def resolve_folder(district_id: int, name: str) -> Path:
    """A folder named inside the district's import folder, resolved (links followed) and
    checked to be still inside it. Anything else is the same refusal, naming nothing else."""
    name = name.strip()
    relative = Path(name)
    if (
        not name
        or "\x00" in name
        or "\\" in name
        or relative.is_absolute()
        or relative.anchor
        or ".." in relative.parts
    ):
        raise _no_such_folder(name)
    try:
        root = district_import_folder(district_id).resolve(strict=True)
        path = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a loop of links, unreadable
        raise _no_such_folder(name) from None
    if path == root or not _inside(path, root) or not path.is_dir():
        raise _no_such_folder(name)
    try:
        links_out = _links_out(path, root)
    except OSError:
        raise _no_such_folder(name) from None
    if links_out:
        raise UserError(
            f"the folder {name!r} holds a link to files outside this district's import "
            "folder; ask IT to copy the export's files into it instead"
        )
    return path


def _short(district_id: int, path: Path) -> tuple[str, str]:
    """(kind, name) of a bundle: ("folder", "2025-09-01"), ("upload", "….zip") or
    ("server", its last part)."""
    for kind, base in (
        ("folder", district_import_folder(district_id)),
        ("upload", upload_folder(district_id)),
    ):
        for root in (base.resolve(), base):
            try:
                return kind, path.relative_to(root).as_posix()
            except ValueError:
                continue
    return "server", path.name


def describe(district_id: int, bundle: str | Path) -> str:
    """A bundle as the web app shows it: a folder of the district's import folder or an upload
    by its name, anything else (a path given on the server's command line) by its last part —
    never a server path."""
    if not bundle:
        return ""
    kind, name = _short(district_id, Path(bundle))
    return {
        "folder": f"folder {name} of this district's import folder",
        "upload": f"uploaded bundle {name}",
        "server": f"{name} (given on the server)",
    }[kind]


@contextmanager
def named_in_errors(district_id: int, bundle: str | Path) -> Iterator[None]:
    """Refusals raised inside (the reader names the bundle it cannot read) name the bundle as
    the page does, without its server path."""
    try:
        yield
    except UserError as exc:
        text = str(exc)
        path = Path(bundle)
        name = _short(district_id, path)[1]
        for shown in {str(path.resolve()), str(path)}:
            text = text.replace(shown, name)
        if text == str(exc):
            raise
        raise UserError(text) from None


def previous_uploads(district_id: int, limit: int = 10) -> list[Path]:
    folder = upload_folder(district_id)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.zip"), reverse=True)[:limit]


def known_bundle(district_id: int, value: str) -> Path:
    """A previous upload chosen by name (only this district's)."""
    for path in previous_uploads(district_id, limit=1000):
        if path.name == value:
            return path
    raise UserError("that upload is no longer there; upload the bundle again")
