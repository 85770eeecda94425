"""What tells a sync that a bundle brings nothing new, before it reads a record of it.

Two digests of a bundle, both kept on the run and, for the last applied run, on its source:

- **the bytes** (``bundle_digest``): xxh3-128 over every file's name and bytes. The same bytes
  again are skipped at once.
- **the records** (``records_digest``): the same lines in any order. A SIS exports the same
  records in another order from one night to the next; such a bundle is the same delivery, and
  reading, checking and comparing a million students only to find nothing changed is what this
  avoids. Per CSV file: its first line (the header, which must stay first), the number of
  lines and the sum (mod 2⁶⁴) of each line's xxh3-64, which no order of the lines changes;
  line ends (LF, CRLF, CR) are not part of a line, an empty line is one. The same records
  written another way (other quoting, the columns in another order) are other lines: such a
  bundle is read in full. A file that is not CSV counts by its bytes.

Equal lines are equal records only where each line is one record: CSV lets a quoted value
hold a line break, and a reordered bundle would then pair the lines of such records otherwise.
The reader knows (``FileInfo.lines_are_records``: its quote scan found no record over several
lines and no quote left open), and a run keeps its records digest only when that holds for
every file; equal digests mean the same lines, which then hold for the new bundle too. The
manifest counts by its bytes. A zip bundle's members are read as they are stored, without
unpacking them (names as in the zip; the bundle opener's caps on members and sizes apply, and a
zip beyond them gives no digest). A UTF-16/32 file (a line break is not one byte there), a line
the line reader refuses and a zip that cannot be read give no records digest: those bundles are
read in full.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import xxhash

from rollbook.oneroster import bundle
from rollbook.oneroster.textfiles import bom_encoding, is_wide

#: Bumped when what the records digest covers changes (an old digest then matches nothing).
RECORDS_VERSION = "records-1"
_MASK = (1 << 64) - 1
#: Lines read as one binary value each: no quoting, and a separator no CSV line holds (a line
#: with one is refused, and its bundle read in full).
_LINES = dict(
    read_options=pacsv.ReadOptions(autogenerate_column_names=True, block_size=1 << 20),
    parse_options=pacsv.ParseOptions(
        delimiter="\x1f",
        quote_char=False,
        double_quote=False,
        escape_char=False,
        newlines_in_values=False,
        ignore_empty_lines=False,
    ),
    convert_options=pacsv.ConvertOptions(column_types={"f0": pa.binary()}),
)


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())


def bundle_digest(path: str | Path) -> str:
    """xxh3-128 over every file of the bundle (names and bytes), to skip identical bundles."""
    path = Path(path)
    digest = xxhash.xxh3_128()
    for item in _files(path):
        digest.update(item.relative_to(path).as_posix().encode() if item != path else b"")
        with item.open("rb") as handle:
            _feed(digest, handle)
    return digest.hexdigest()


def _feed(digest: xxhash.xxh3_128, stream: BinaryIO) -> xxhash.xxh3_128:
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    return digest


class NotByLines(Exception):  # noqa: N818 - an outcome: the bundle is read in full
    """The bundle cannot be judged by its lines."""


def _line_batches(name: str, stream: BinaryIO):
    try:
        reader = pacsv.open_csv(stream, **_LINES)
        for batch in reader:
            yield batch.column(0)
    except (pa.ArrowInvalid, OSError) as exc:
        raise NotByLines(f"{name}: {exc}") from exc


def _csv_digest(name: str, stream: BinaryIO) -> tuple[int, int, int]:
    """The first line's xxh3-64 (the header: the reader takes the first line as one), the
    number of lines and the sum of their xxh3-64s (mod 2⁶⁴)."""
    first = lines = total = 0
    for column in _line_batches(name, stream):
        if not lines and len(column):
            first = xxhash.xxh3_64_intdigest(column[0].as_py())
        lines += len(column)
        total = (total + sum(map(xxhash.xxh3_64_intdigest, column.to_pylist()))) & _MASK
    return first, lines, total


Opener = Callable[[], AbstractContextManager[BinaryIO]]


def _folder_entries(path: Path) -> Iterator[tuple[str, Opener]]:
    for item in _files(path):
        yield item.relative_to(path).as_posix(), partial(item.open, "rb")


def _zip_entries(archive: zipfile.ZipFile) -> Iterator[tuple[str, Opener]]:
    """The zip's files, in the order of their names, when within the bundle opener's caps
    (``oneroster/bundle.py``, applied to the sizes the zip declares: a member never reads
    past its declared size); NotByLines otherwise (the reader then says what is wrong)."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) > bundle.MAX_MEMBERS:
        raise NotByLines("too many members")
    if sum(info.file_size for info in members) > bundle.unpacked_budget(members):
        raise NotByLines("too large unpacked")
    if any(bundle.expands_too_much(info.file_size, info) for info in members):
        raise NotByLines("a member expands too much")
    for info in sorted(members, key=lambda info: info.filename):
        yield info.filename, partial(archive.open, info)


def records_digest(path: str | Path, encoding: str = "", csv_only: bool = False) -> str | None:
    """xxh3-128 over the bundle's lines, each file's in any order; None when the bundle
    cannot be judged by its lines (see the module's docstring). ``csv_only``: other files
    are left out (a REST fetch's own report, whose times differ at every fetch)."""
    path = Path(path)
    if is_wide(encoding or None):
        return None
    digest = xxhash.xxh3_128(f"{RECORDS_VERSION}:{(encoding or 'utf-8').lower()}".encode())
    try:
        with ExitStack() as stack:
            if path.is_file():
                entries = _zip_entries(stack.enter_context(zipfile.ZipFile(path)))
            else:
                entries = _folder_entries(path)
            for name, opener in entries:
                suffix = PurePosixPath(name).suffix.lower()
                if csv_only and suffix != ".csv":
                    continue
                with opener() as stream:
                    if suffix != ".csv" or PurePosixPath(name).name.lower() == "manifest.csv":
                        digest.update(
                            f"\x1e{name}\x1f{_feed(xxhash.xxh3_128(), stream).hexdigest()}".encode()
                        )
                        continue
                    if is_wide(bom_encoding(stream.read(4))):
                        return None
                    stream.seek(0)
                    first, lines, total = _csv_digest(name, stream)
                digest.update(f"\x1e{name}\x1f{first}\x1f{lines}\x1f{total}".encode())
    except (NotByLines, OSError):
        return None
    except Exception:
        # A zip the bundle opener refuses (an encrypted member, a compression method it
        # does not read, a damaged one): read in full, and the reader says why.
        if path.is_file():
            return None
        raise
    return digest.hexdigest()
