"""Streaming CSV reading with pyarrow: headers matched by name, every value read as a string.

The hot path never builds a Python object per row: pyarrow parses the file block by block
into columnar batches. Python loops only run over rows that fail (bad field counts) and, on
failure paths, over the file's lines to say exactly where a problem is.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .findings import Findings
from .schema import Column, FileSpec
from .textfiles import (
    damaged_utf8,
    file_bom_encoding,
    guess_encoding,
    is_wide,
    line_ends,
    non_ascii_sample,
)

#: pyarrow block size; also the longest line the reader accepts.
BLOCK_SIZE = 16 * 1024**2
MAX_LINE_BYTES = BLOCK_SIZE
_SCAN_CHUNK = 16 * 1024**2
LINE = "line"  # name of the line-number column added to every table


class FileRejected(Exception):  # noqa: N818 - an outcome, not a failure of the reader
    """The file cannot be used at all; the finding has been recorded."""


@dataclass
class HeaderMap:
    """How the header of one file maps onto the spec."""

    header: list[str]
    fields: dict[str, int]  # canonical name or `metadata.*` -> field index
    n_fields: int


def _line_of(path: Path, offset: int) -> int:
    """1-based line number of byte ``offset`` (failure path only; CRLF, LF and CR end lines)."""
    line = 1
    done = 0
    after_cr = False
    with open(path, "rb") as f:
        while done < offset and (chunk := f.read(min(_SCAN_CHUNK, offset - done))):
            line += line_ends(chunk, after_cr)
            after_cr = chunk.endswith(b"\r")
            done += len(chunk)
    return line


def _first_end(chunk: bytes) -> int:
    """Position of the first line end (CR or LF) in ``chunk``, -1 when there is none."""
    ends = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
    return min(ends) if ends else -1


def _last_end(chunk: bytes) -> int:
    return max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))


def prescan(path: Path, display: str, encoding: str | None, findings: Findings) -> str | None:
    """Refuse files with NUL bytes (binary or corrupt) or over-long lines; returns the
    encoding to read the file in (a UTF-16/32 byte-order mark names its own)."""
    bom = file_bom_encoding(path)
    if bom is not None:
        if not is_wide(encoding):
            findings.add(
                "OR-FILE-UTF16",
                f"{display} is {bom.upper()} (it starts with a byte-order mark), not UTF-8; "
                "it was read as such.",
                file=display,
                line=1,
            )
        encoding = bom if not is_wide(encoding) else encoding
    wide = is_wide(encoding)
    offset = 0
    since_newline = 0  # bytes since the last line end: finds lines over MAX_LINE_BYTES
    with open(path, "rb") as f:
        while chunk := f.read(_SCAN_CHUNK):
            first_nl = _first_end(chunk)
            run = since_newline + (len(chunk) if first_nl < 0 else first_nl)
            if run > MAX_LINE_BYTES:
                line = _line_of(path, offset)
                findings.add(
                    "OR-FILE-TOO-LONG",
                    f"{display}: line {line} is longer than "
                    f"{MAX_LINE_BYTES:,} bytes (often a quote that is never closed); "
                    "the file was not read.",
                    file=display,
                    line=line,
                )
                raise FileRejected
            since_newline = run if first_nl < 0 else len(chunk) - _last_end(chunk) - 1
            pos = -1 if wide else chunk.find(b"\x00")
            if pos >= 0:
                hint = ""
                if offset == 0 and _looks_wide(chunk):
                    hint = (
                        " It looks like UTF-16 without a byte-order mark: export it as UTF-8, "
                        "or read it with `--encoding utf-16-le` (or `utf-16-be`; rollbook "
                        "validate, sync or check), or set the source's encoding to that."
                    )
                line = _line_of(path, offset + pos)
                findings.add(
                    "OR-FILE-NUL",
                    f"{display} contains a NUL byte at line {line}; the file was not read.{hint}",
                    file=display,
                    line=line,
                )
                raise FileRejected
            offset += len(chunk)
    return encoding


def _looks_wide(head: bytes) -> bool:
    """Text in UTF-16 without a byte-order mark: every other byte of ASCII text is NUL."""
    head = head[:4096]
    return len(head) >= 4 and head[1::2].count(0) + head[0::2].count(0) >= len(head) // 2 - 1


def _report_encoding(path: Path, display: str, encoding: str | None, findings: Findings) -> None:
    line = None
    dec = codecs.getincrementaldecoder(encoding or "utf-8")()
    offset = 0
    with open(path, "rb") as f:
        while chunk := f.read(_SCAN_CHUNK):
            try:
                dec.decode(chunk)
            except UnicodeDecodeError as exc:
                line = _line_of(path, offset + max(exc.start, 0))
                break
            offset += len(chunk)
    enc = encoding or "UTF-8"
    at = f" (line {line})" if line else ""
    if not encoding and damaged_utf8(non_ascii_sample(path)):
        findings.add(
            "OR-FILE-ENCODING",
            f"{display} is UTF-8 but holds bytes that are not{at}: correct that value in the "
            "SIS, or export the file again. The file was not read.",
            file=display,
            line=line,
        )
        return
    guess = guess_encoding(path)
    how = (
        f"; it looks like {guess}: read it with `--encoding {guess}` (rollbook validate, "
        f"sync or check) or set the source's encoding to {guess}"
        if guess and guess != encoding
        else ""
    )
    findings.add(
        "OR-FILE-ENCODING",
        f"{display} is not valid {enc}{at}{how}, or export it as UTF-8. The file was not read.",
        file=display,
        line=line,
    )


def read_header(
    path: Path, display: str, encoding: str | None, findings: Findings
) -> tuple[list[str], list[str] | None]:
    """The header fields and the fields of the first data row (None when there is none)."""
    enc = encoding or "utf-8-sig"
    try:
        with open(path, encoding=enc, newline="") as f:
            records = csv.reader(f)
            header = next(records, [])
            row = next(records, None) or None
    except (UnicodeError, LookupError):
        _report_encoding(path, display, encoding, findings)
        raise FileRejected from None
    except csv.Error as exc:
        findings.add(
            "OR-FILE-UNREADABLE",
            f"{display}: the header cannot be parsed as CSV ({exc}); the file was not read.",
            file=display,
            line=1,
        )
        raise FileRejected from None
    if header:
        header[0] = header[0].lstrip("\ufeff")
    if not any(h.strip() for h in header):
        findings.add(
            "OR-FILE-EMPTY",
            f"{display} is empty (no header line); it was treated as absent.",
            file=display,
            line=1,
        )
        raise FileRejected
    return header, row


def map_header(
    header: list[str],
    first_row: list[str] | None,
    spec: FileSpec,
    version: str,
    display: str,
    findings: Findings,
) -> HeaderMap:
    """Match header names to spec columns (by name, in any order) and report deviations."""
    n = len(header)
    if first_row is not None and len(first_row) < n:
        # `…,orgSourcedId,,` with 9-field rows: trailing empty names are not real columns.
        last_named = max((i for i, h in enumerate(header) if h.strip()), default=-1)
        n = max(len(first_row), last_named + 1)
        if n < len(header):
            findings.add(
                "OR-HEADER-EMPTY",
                f"{display}: the header ends with "
                f"{len(header) - n} empty column name(s) that the rows do not have; "
                "they were ignored.",
                file=display,
                line=1,
                column=f"#{n + 1}",
            )
    cols = spec.columns_for(version)
    exact = {c.header: c for c in cols}
    loose: dict[str, Column] = {}
    for c in cols:
        loose.setdefault(c.header.lower(), c)
        for a in c.aliases:
            loose.setdefault(a.lower(), c)
    other = {c.header.lower(): c for c in spec.columns if version not in c.versions}
    fields: dict[str, int] = {}
    spec_pos: list[int] = []
    last_spec_field = -1
    metadata_fields: list[int] = []
    order = {c.name: i for i, c in enumerate(cols)}
    for i, raw in enumerate(header[:n]):
        h = raw.strip()
        col = exact.get(h)
        if col is None and not h:
            findings.add(
                "OR-HEADER-EMPTY",
                f"{display}: column {i + 1} of the header has no name; it was ignored.",
                file=display,
                line=1,
                column=f"#{i + 1}",
            )
            continue
        if col is None and h.lower().startswith("metadata."):
            if not h.startswith("metadata."):  # names are case-sensitive (1.2.1 CSV §3)
                findings.add(
                    "OR-HEADER-CASE",
                    f"{display}: column `{h}` should start with `metadata.`; it was read "
                    f"as `metadata.{h[9:]}`.",
                    file=display,
                    line=1,
                    column=h,
                )
                h = "metadata." + h[9:]
            if h in fields:
                findings.add(
                    "OR-HEADER-DUPLICATE",
                    f"{display}: column {h} appears twice.",
                    file=display,
                    line=1,
                    column=h,
                )
            else:
                fields[h] = i
                metadata_fields.append(i)
            continue
        if col is None and h.lower() in loose:
            col = loose[h.lower()]
            findings.add(
                "OR-HEADER-CASE" if col.header.lower() == h.lower() else "OR-HEADER-ALIAS",
                f"{display}: column `{h}` was read as `{col.header}`; rename it in the export.",
                file=display,
                line=1,
                column=h,
            )
        if col is None:
            why = "not a OneRoster column"
            if h.lower() in other:
                why = f"a column of OneRoster {'/'.join(sorted(other[h.lower()].versions))}"
                why += f", not {version}"
            findings.add(
                "OR-HEADER-UNKNOWN",
                f"{display}: column `{h}` is {why}; it was ignored.",
                file=display,
                line=1,
                column=h,
            )
            continue
        if col.name in fields:
            findings.add(
                "OR-HEADER-DUPLICATE",
                f"{display}: column `{h}` appears twice; the first one was read.",
                file=display,
                line=1,
                column=h,
            )
            continue
        fields[col.name] = i
        spec_pos.append(order[col.name])
        last_spec_field = i
    if spec_pos != sorted(spec_pos):
        findings.add(
            "OR-HEADER-ORDER",
            f"{display}: columns are not in the order of the "
            f"OneRoster {version} spec; they were matched by name.",
            file=display,
            line=1,
        )
    if any(i < last_spec_field for i in metadata_fields):
        findings.add(
            "OR-HEADER-METADATA-POSITION",
            f"{display}: metadata.* columns must come after all spec columns.",
            file=display,
            line=1,
        )
    missing = [c for c in cols if c.name not in fields and not c.optional_header]
    keys = [c.header for c in missing if c.key]
    if keys:
        findings.add(
            "OR-HEADER-MISSING-KEY",
            f"{display}: column(s) {', '.join(keys)} missing; "
            "the file cannot be used and was not read.",
            file=display,
            line=1,
            column=keys[0],
        )
        raise FileRejected
    if missing:
        names = ", ".join(c.header for c in missing)
        findings.add(
            "OR-HEADER-MISSING",
            f"{display}: column(s) {names} missing from the header; read as empty.",
            file=display,
            line=1,
            column=missing[0].header,
        )
    return HeaderMap(header, fields, n)


def _bad_lines(path: Path, encoding: str | None, n_fields: int) -> list[tuple[int, int]]:
    """(line, field count) of rows whose field count differs (failure path only)."""
    out: list[tuple[int, int]] = []
    csv.field_size_limit(MAX_LINE_BYTES)
    with open(path, encoding=encoding or "utf-8-sig", newline="", errors="replace") as f:
        for i, line in enumerate(f, start=1):
            if i == 1:
                continue
            try:
                fields = next(csv.reader([line]), [])
            except csv.Error:
                fields = []
            if line.strip() and len(fields) != n_fields:
                out.append((i, len(fields)))
    return out


def _header_only(path: Path) -> bool:
    """Whether nothing but blank space follows the header line (any line end: CRLF, LF, CR;
    NUL bytes are the padding of UTF-16/32 text)."""
    with open(path, "rb") as f:
        head = b""
        while (end := _first_end(head)) < 0:
            chunk = f.read(64 * 1024)
            if not chunk:
                return True
            head += chunk
            if len(head) > MAX_LINE_BYTES:
                return False  # prescan refused such a file already
        rest = head[end + 1 :] + f.read(4096)
    return not rest.replace(b"\x00", b"").strip()


def read_table(
    path: Path,
    display: str,
    spec: FileSpec,
    version: str,
    hmap: HeaderMap,
    encoding: str | None,
    findings: Findings,
    quoted_newlines: list[int] | None = None,
) -> pa.Table:
    """Read the data rows as a table of strings (empty -> null) with a `line` column.

    ``quoted_newlines``: the lines that end inside a quoted field (``quoting.scan_quoting``);
    such records span several lines, which RFC 4180 and the spec allow (only a carriage
    return inside a field is refused). Each row's `line` is the line it starts on.
    """
    names = [f"f{i}" for i in range(hmap.n_fields)]
    if _header_only(path):
        return pa.table(
            {c.name: pa.array([], pa.string()) for c in spec.columns}
            | {LINE: pa.array([], pa.int32())}
        )
    wanted = {f"f{i}": name for name, i in hmap.fields.items()}
    invalid: list[tuple[int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.actual_columns, row.text or ""))
        return "skip"

    read_opts = pacsv.ReadOptions(
        column_names=names, skip_rows=1, block_size=BLOCK_SIZE, encoding=encoding or "utf8"
    )
    parse_opts = pacsv.ParseOptions(
        newlines_in_values=bool(quoted_newlines),
        ignore_empty_lines=False,
        invalid_row_handler=on_invalid,
    )
    conv_opts = pacsv.ConvertOptions(
        include_columns=list(wanted),
        column_types=dict.fromkeys(wanted, pa.string()),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    try:
        reader = pacsv.open_csv(
            path, read_options=read_opts, parse_options=parse_opts, convert_options=conv_opts
        )
        table = reader.read_all()
    except (pa.ArrowException, UnicodeError, LookupError) as exc:
        text = str(exc)[:300]
        if "Empty CSV file" in text or "Could not skip initial" in text:
            return pa.table(
                {c.name: pa.array([], pa.string()) for c in spec.columns}
                | {LINE: pa.array([], pa.int32())}
            )
        if isinstance(exc, UnicodeError | LookupError) or "UTF8" in text.upper():
            _report_encoding(path, display, encoding, findings)
        elif "straddl" in text or "block" in text:
            findings.add(
                "OR-FILE-TOO-LONG",
                f"{display}: a line is longer than "
                f"{MAX_LINE_BYTES:,} bytes (often a quote that is never closed); "
                "the file was not read.",
                file=display,
            )
        else:
            findings.add(
                "OR-FILE-UNREADABLE",
                f"{display}: cannot be parsed as CSV ({text}); the file was not read.",
                file=display,
            )
        raise FileRejected from exc
    if table.num_columns == 0:  # no wanted columns: still need the row count
        table = pa.table({"_": pa.nulls(table.num_rows, pa.string())})
    table = table.rename_columns([wanted.get(c, c) for c in table.column_names])
    n = table.num_rows
    line = pc.add(pc.cumulative_sum(pc.fill_null(pa.nulls(n, pa.int32()), 1)), 1)
    if quoted_newlines:  # a record starts on every line but those after a quoted newline
        inner = pc.add(pa.array(quoted_newlines, pa.int32()), 1)
        span = pc.add(pc.cumulative_sum(pc.fill_null(pa.nulls(n + len(inner), pa.int32()), 1)), 1)
        line = span.filter(pc.invert(pc.is_in(span, value_set=inner))).slice(0, n)
    if invalid:
        bad = _bad_lines(path, encoding, hmap.n_fields)
        bad_set = pa.array([b[0] for b in bad], pa.int32())
        candidates = pc.add(
            pc.cumulative_sum(pc.fill_null(pa.nulls(n + len(bad), pa.int32()), 1)), 1
        )
        kept = pc.filter(candidates, pc.invert(pc.is_in(candidates, value_set=bad_set)))
        line = kept.slice(0, n) if len(kept) >= n else line
        rows = [
            (
                ln,
                None,
                f"{display} line {ln}: {cnt} fields where the header has "
                f"{hmap.n_fields}; the row was rejected.",
            )
            for ln, cnt in (bad or [(None, c) for c, _ in invalid])
        ]
        findings.add_rows("OR-ROW-FIELD-COUNT", len(invalid), rows, file=display, column=None)
    table = table.append_column(LINE, pc.cast(line, pa.int32()))  # `+ 1` made it int64
    # Blank lines become all-null rows: drop them.
    data_cols = [c for c in table.column_names if c != LINE]
    if data_cols and n:
        any_value = pc.is_valid(table.column(data_cols[0]))
        for c in data_cols[1:]:
            any_value = pc.or_(any_value, pc.is_valid(table.column(c)))
        if not pc.all(any_value).as_py():
            table = table.filter(any_value)
    if "_" in table.column_names:
        table = table.drop_columns(["_"])
    for c in spec.columns:  # every canonical column exists, in every version
        if c.name not in table.column_names:
            table = table.append_column(c.name, pa.nulls(table.num_rows, pa.string()))
    return table


def csv_text_of(rows: list[list[str]]) -> str:
    """Write rows as RFC 4180 CSV with CRLF (helper for tests and tools)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()
