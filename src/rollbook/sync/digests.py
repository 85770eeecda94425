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
manifest counts by its bytes. A UTF-16/32 file (a line break is not one byte there), a line the
line reader refuses and a zip bundle give no records digest: those bundles are read in full.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import xxhash

from rollbook.oneroster.textfiles import file_bom_encoding, is_wide

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
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


class NotByLines(Exception):  # noqa: N818 - an outcome: the bundle is read in full
    """The bundle cannot be judged by its lines."""


def _line_batches(path: Path):
    try:
        reader = pacsv.open_csv(path, **_LINES)
        for batch in reader:
            yield batch.column(0)
    except (pa.ArrowInvalid, OSError) as exc:
        raise NotByLines(f"{path.name}: {exc}") from exc


def _csv_digest(path: Path) -> tuple[int, int, int]:
    """The first line's xxh3-64 (the header: the reader takes the first line as one), the
    number of lines and the sum of their xxh3-64s (mod 2⁶⁴)."""
    first = lines = total = 0
    for column in _line_batches(path):
        if not lines and len(column):
            first = xxhash.xxh3_64_intdigest(column[0].as_py())
        lines += len(column)
        total = (total + sum(map(xxhash.xxh3_64_intdigest, column.to_pylist()))) & _MASK
    return first, lines, total


def records_digest(path: str | Path, encoding: str = "", csv_only: bool = False) -> str | None:
    """xxh3-128 over the bundle's lines, each file's in any order; None when the bundle
    cannot be judged by its lines (see the module's docstring). ``csv_only``: other files
    are left out (a REST fetch's own report, whose times differ at every fetch)."""
    path = Path(path)
    if path.is_file() or is_wide(encoding or None):
        return None
    digest = xxhash.xxh3_128(f"{RECORDS_VERSION}:{(encoding or 'utf-8').lower()}".encode())
    try:
        for item in _files(path):
            name = item.relative_to(path).as_posix()
            if csv_only and item.suffix.lower() != ".csv":
                continue
            if item.suffix.lower() != ".csv" or item.name.lower() == "manifest.csv":
                digest.update(f"\x1e{name}\x1f{bundle_digest(item)}".encode())
                continue
            if is_wide(file_bom_encoding(item)):
                return None
            first, lines, total = _csv_digest(item)
            digest.update(f"\x1e{name}\x1f{first}\x1f{lines}\x1f{total}".encode())
    except NotByLines:
        return None
    return digest.hexdigest()
