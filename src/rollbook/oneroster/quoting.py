"""CSV quoting checks: RFC 4180 with the 1.2.1 CSV binding's carriage-return rule (§3).

"Fields containing commas and double-quotes must be enclosed in double-quotes … a
double-quote appearing inside the field must be escaped by preceding it with another
double-quote", and "carriage-returns are not permitted within a field". A line feed inside a
quoted field is allowed: such a record spans several lines, and the reader is told which
lines end inside a quoted field so that it reads the record whole and cites the line it
starts on.

The scan is a pass over the bytes, not over rows: a block without a double quote is skipped
at memchr speed; in a block with quotes the lines are split and matched against one RE2
expression of a well-quoted line (Arrow compute, in C++). Python only looks at the lines
that fail it — the defects themselves, and records with a quoted line feed.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from .findings import Findings
from .threads import WORKERS, side_by_side

#: Bytes read per block; a record still open at the end of a block is carried over.
BLOCK = 64 * 1024**2
#: A quoted field longer than this is taken for a quote that is never closed.
MAX_RECORD = 16 * 1024**2
_FIELD = r'(?:"(?:[^"\r]|"")*"|[^",\r]*)'
#: A line whose every field is well quoted (a CR only as the line's end, CRLF).
GOOD_LINE = rf"^{_FIELD}(?:,{_FIELD})*\r?$"
_ONE_LINE_FIELD = r'(?:"(?:[^"\r\n]|"")*"|[^",\r\n]*)'
_LINE = rf"{_ONE_LINE_FIELD}(?:,{_ONE_LINE_FIELD})*\r?"
#: A block of lines that are all well quoted, with no line feed inside quotes (one RE2
#: match over the whole block: ~0.25 s per 64 MiB, no copy of the bytes).
GOOD_BLOCK = rf"\A(?:{_LINE}\n)*{_LINE}\z"
_BOM = codecs.BOM_UTF8


@dataclass
class QuoteScan:
    """What the scan found in one file."""

    quoted_newlines: list[int] = field(default_factory=list)  # lines ending inside quotes
    defects: int = 0
    # A quote left open, or a carriage return inside quotes: a record whose extent depends on
    # the lines after it (with ``quoted_newlines``: the file's lines are not all records).
    open_or_cr: bool = False

    @property
    def lines_are_records(self) -> bool:
        """Every line of the file is one whole record, whatever the lines around it."""
        return not (self.quoted_newlines or self.open_or_cr)


@dataclass
class _Record:
    """One record (one or more lines) that failed the line expression."""

    text: bytes
    line: int  # first line, 1-based
    open: bool = False  # ends inside a quoted field
    problems: list[tuple[str, int, int]] = field(default_factory=list)  # code, field, offset


def _classify(rec: _Record) -> None:
    """Walk the record's fields (only records that failed the expression get here)."""
    text, i, col, end = rec.text, 0, 0, len(rec.text)
    if end and text.endswith(b"\r"):
        end -= 1  # the CR of a CRLF line end
    rec.problems, rec.open = [], False
    while i <= end:
        if i < end and text[i : i + 1] == b'"':
            j = i + 1
            while True:
                k = text.find(b'"', j, end)
                if k < 0:
                    rec.open = True
                    return
                if text[k + 1 : k + 2] == b'"':
                    j = k + 2
                    continue
                break
            cr = text.find(b"\r", i + 1, k)
            if cr >= 0:
                rec.problems.append(("OR-CSV-CR-IN-FIELD", col, cr))
            nxt = text.find(b",", k + 1, end)
            stop = end if nxt < 0 else nxt
            if stop > k + 1:
                rec.problems.append(("OR-CSV-AFTER-QUOTE", col, k + 1))
        else:
            nxt = text.find(b",", i, end)
            stop = end if nxt < 0 else nxt
            q = text.find(b'"', i, stop)
            if q >= 0:
                rec.problems.append(("OR-CSV-BARE-QUOTE", col, q))
        i, col = stop + 1, col + 1


def _blocks(f: BinaryIO) -> Iterator[tuple[bytearray, int, int, bool, int]]:
    """(buffer, start, end, last, offset): the file in blocks, each buffer[start:end] ending
    at a line end (the last at the file's end), read into one reused buffer: memory stays at
    one block, whatever the file's size (a mapped file's pages counted ~0.4 GB at L);
    ``offset``: where buffer[0] is in the file."""
    buf = bytearray(min(BLOCK, os.fstat(f.fileno()).st_size + 1))
    have, eof, first, offset = 0, False, True, 0
    while True:
        while have < len(buf) and not eof:
            with memoryview(buf) as view:
                n = f.readinto(view[have:])
            eof, have = n == 0, have + n
        start = len(_BOM) if first and buf.startswith(_BOM) else 0
        first = False
        if eof:
            if have > start:
                yield buf, start, have, True, offset
            return
        cut = buf.rfind(b"\n", 0, have) + 1
        if cut <= start:  # one line longer than the buffer: a bigger buffer
            buf.extend(bytes(len(buf)))
            first = start > 0
            continue
        yield buf, start, cut, False, offset
        rest = have - cut
        buf[0:rest] = buf[cut:have]  # same length: the buffer is not resized
        have, offset = rest, offset + cut


def _view(data: pa.Buffer, cuts: list[int]) -> pa.Array:
    """Values data[cuts[i]:cuts[i + 1]] as one large_binary array (no copy)."""
    offsets = pa.array(cuts, pa.int64()).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), len(cuts) - 1, [None, offsets, data])


def _all_good(buf: bytearray, start: int, end: int) -> bool:
    """Whether every line of buf[start:end] is well quoted with no line end inside quotes.
    Matched in one piece per core, cut at line ends, without a copy: Arrow's RE2 releases the
    GIL (at L, 1.15 GB with every value quoted, one core took ~7 s at load average 10)."""
    cuts = [start]
    for k in range(1, WORKERS):
        cut = buf.find(b"\n", start + (end - start) * k // WORKERS, end) + 1
        cuts.append(max(cut, cuts[-1]))
    cuts.append(end)
    pieces = _view(pa.py_buffer(buf), cuts)
    results = side_by_side(
        *(
            partial(pc.match_substring_regex, pieces.slice(i, 1), pattern=GOOD_BLOCK)
            for i in range(len(pieces))
        )
    )
    return all(bool(r[0].as_py()) for r in results)


def _lines_before(f: BinaryIO, counted: tuple[int, int], offset: int) -> tuple[int, int]:
    """(offset, lines before it), counting on from ``counted`` (an earlier such pair) by
    reading the file again: only a block with a defect or a quoted line feed needs it."""
    at, lines = counted
    here = f.tell()
    f.seek(at)
    while at < offset and (chunk := f.read(min(BLOCK, offset - at))):
        lines += chunk.count(b"\n")
        at += len(chunk)
    f.seek(here)
    return at, lines


def _bad_lines(block: bytes) -> tuple[pa.Array, list[int]]:
    """The block's lines, and the indices of those with a quote that fail the expression."""
    lines = pc.list_flatten(pc.split_pattern(pa.array([block], pa.binary()), pattern="\n"))
    has_quote = pc.match_substring(lines, pattern='"')
    where = pc.indices_nonzero(has_quote)
    good = pc.match_substring_regex(lines.filter(has_quote), pattern=GOOD_LINE)
    return lines, where.filter(pc.invert(good)).to_pylist()


def scan_quoting(
    path: Path,
    display: str,
    encoding: str | None,
    findings: Findings,
    header: list[str] | None = None,
) -> QuoteScan:
    """Report quoting defects of one file; return the lines that end inside quotes."""
    out = QuoteScan()
    if encoding and codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return out  # not byte-compatible with ASCII: the quotes cannot be found by byte
    with open(path, "rb") as f:
        _scan(f, display, findings, header, out)
    return out


def _scan(
    f: BinaryIO, display: str, findings: Findings, header: list[str] | None, out: QuoteScan
) -> None:
    counted = (0, 0)  # (file offset, lines before it), as far as counted
    pending: _Record | None = None  # a record open at the end of the previous block
    for buf, start, end, last, offset in _blocks(f):
        if pending is None and (buf.find(b'"', start, end) < 0 or _all_good(buf, start, end)):
            continue
        counted = _lines_before(f, counted, offset + start)
        base = counted[1]
        block = bytes(buf[start:end])
        lines, bad = _bad_lines(block)
        n = len(lines)
        done = 0  # lines of this block already part of an earlier record
        if pending is not None:
            bad = [0, *[b for b in bad if b]]
        for idx in bad:
            if idx < done:
                continue
            if pending is not None and idx == 0:
                rec, pending = pending, None
                rec.text += b"\n" + lines[0].as_py()
            else:
                rec = _Record(lines[idx].as_py(), base + idx + 1)
            nxt = idx + 1
            _classify(rec)
            while rec.open and nxt < n - (0 if last else 1) and len(rec.text) <= MAX_RECORD:
                rec.text += b"\n" + lines[nxt].as_py()
                nxt += 1
                _classify(rec)
            done = nxt
            if rec.open and not last and len(rec.text) <= MAX_RECORD:
                pending = rec  # continues in the next block
                continue
            _report(rec, display, findings, header, out)
    if pending is not None:
        _report(pending, display, findings, header, out)


def _report(
    rec: _Record,
    display: str,
    findings: Findings,
    header: list[str] | None,
    out: QuoteScan,
) -> None:
    def column(i: int) -> str:
        return header[i].strip() if header is not None and i < len(header) else f"#{i + 1}"

    if rec.open:
        out.defects += 1
        out.open_or_cr = True
        findings.add(
            "OR-CSV-BARE-QUOTE",
            f"{display} line {rec.line}: a double quote opens a field that is never closed; "
            "the rest of the file may be read into that field.",
            file=display,
            line=rec.line,
        )
        return
    span = rec.text.count(b"\n")
    out.quoted_newlines.extend(range(rec.line, rec.line + span))
    what = {
        "OR-CSV-BARE-QUOTE": "holds a double quote but is not enclosed in double quotes "
        "(or the quote is not doubled); it was read as a character",
        "OR-CSV-AFTER-QUOTE": "has text after its closing double quote; the text was appended",
        "OR-CSV-CR-IN-FIELD": "holds a carriage return inside its quotes; it was kept",
    }
    for code, col, offset in rec.problems:
        out.defects += 1
        out.open_or_cr |= code == "OR-CSV-CR-IN-FIELD"
        line = rec.line + rec.text.count(b"\n", 0, offset)
        findings.add(
            code,
            f"{display} line {line}: the value of {column(col)} {what[code]}.",
            file=display,
            line=line,
            column=column(col),
        )
