"""Where the web app takes OneRoster bundles from: an uploaded zip, or a folder on the server.

Uploads are kept under ``ROLLBOOK_HOME/uploads/district-N/`` — outside the web root, never
served — and are capped in size (``ROLLBOOK_MAX_UPLOAD_MB``, 1024 by default). A folder must lie
inside the import folder (``ROLLBOOK_IMPORT_ROOT``, by default ``ROLLBOOK_HOME/imports``): an
administrator names a folder the district's SIS export lands in, never an arbitrary path on the
server.
"""

from __future__ import annotations

import datetime as dt
import secrets
import zipfile
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


def resolve_folder(name: str) -> Path:
    """A folder named relative to the import folder, which it must not leave."""
    root = import_root().resolve()
    path = (root / name.strip().lstrip("/")).resolve()
    if path != root and root not in path.parents:
        raise UserError(f"name a folder inside the import folder {root}")
    if not path.exists():
        raise UserError(f"there is no {name!r} in the import folder {root}")
    return path


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
