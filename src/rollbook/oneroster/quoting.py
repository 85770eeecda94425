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
import contextlib
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

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


def _blocks(mm: mmap.mmap, start: int) -> Iterator[tuple[int, int, bool]]:
    """(start, end, last): the file in blocks that end at a line end (or the file's end)."""
    size = len(mm)
    while start < size:
        end = min(start + BLOCK, size)
        if end < size:
            cut = mm.rfind(b"\n", start, end) + 1
            if cut > start:
                end = cut
            else:  # one line longer than a block: the block is that line
                nl = mm.find(b"\n", end)
                end = size if nl < 0 else nl + 1
        yield start, end, end >= size
        start = end


def _view(data: pa.Buffer, cuts: list[int]) -> pa.Array:
    """Values data[cuts[i]:cuts[i + 1]] as one large_binary array (no copy)."""
    offsets = pa.array(cuts, pa.int64()).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), len(cuts) - 1, [None, offsets, data])


def _all_good(data: pa.Buffer, mm: mmap.mmap, start: int, end: int) -> bool:
    """Whether every line of data[start:end] is well quoted and no quoted field holds a line
    end. Matched in one piece per core, cut at line ends, without a copy (Arrow's RE2
    releases the GIL; at L, 1.15 GB with every value quoted, one core took ~7 s)."""
    cuts = [start]
    for k in range(1, WORKERS):
        cut = mm.find(b"\n", start + (end - start) * k // WORKERS, end) + 1
        cuts.append(max(cut, cuts[-1]))
    cuts.append(end)
    pieces = _view(data, cuts)
    results = side_by_side(
        *(
            partial(pc.match_substring_regex, pieces.slice(i, 1), pattern=GOOD_BLOCK)
            for i in range(len(pieces))
        )
    )
    return all(bool(r[0].as_py()) for r in results)


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
        if not os.fstat(f.fileno()).st_size:
            return out
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        _scan(mm, display, findings, header, out)
    finally:
        with contextlib.suppress(BufferError):  # an Arrow view still holds it: closed when
            mm.close()  # collected
    return out


def _scan(
    mm: mmap.mmap, display: str, findings: Findings, header: list[str] | None, out: QuoteScan
) -> None:
    data = pa.py_buffer(mm)
    first = len(_BOM) if mm[: len(_BOM)] == _BOM else 0
    counted, base = first, 0  # lines before byte `counted`, counted only when needed
    pending: _Record | None = None  # a record open at the end of the previous block
    for start, end, last in _blocks(mm, first):
        if pending is None and (mm.find(b'"', start, end) < 0 or _all_good(data, mm, start, end)):
            continue
        base += pc.count_substring(_view(data, [counted, start]), pattern="\n")[0].as_py()
        counted = end
        block = mm[start:end]
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
        base += block.count(b"\n")
        del block, lines
    del data
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
        line = rec.line + rec.text.count(b"\n", 0, offset)
        findings.add(
            code,
            f"{display} line {line}: the value of {column(col)} {what[code]}.",
            file=display,
            line=line,
            column=column(col),
        )
