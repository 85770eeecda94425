"""How the bytes of a CSV file are text: byte-order marks, line ends, and a likely encoding.

OneRoster files are UTF-8. A file that starts with a UTF-16 or UTF-32 byte-order mark is read
in that encoding (with a finding); any other file that is not UTF-8 is refused with advice,
and the advice names an encoding only when the whole file decodes in it. The guess is made by
``charset-normalizer``, steered towards the encodings school systems export (Windows-1252
before the code pages that decode the same bytes as other letters), and never names a
legacy encoding for a UTF-8 file that merely has a damaged byte.
"""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

import charset_normalizer

#: Python's csv module refuses fields over 131,072 characters by default: the reader bounds
#: lines by MAX_LINE_BYTES instead (csvread.py), so the module's own limit is raised to that.
CSV_FIELD_LIMIT = 16 * 1024**2
csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Japanese encodings, preferred in this order to the Korean and Chinese ones that decode the
#: same bytes (the detector cannot tell them apart on a few names).
PREFERRED = ("cp932", "euc_jp", "euc_jis_2004", "shift_jis_2004")
#: The letters of names in Western European languages that Windows-1252 holds.
_LATIN_LETTERS = frozenset(
    "ŠšŒœŽžŸ" + "".join(chr(c) for c in range(0xC0, 0x100) if chr(c) not in "×÷")
)
_PUNCTUATION = frozenset("‘’“”–—…")
_SAMPLE_BYTES = 64 * 1024
_SCAN = 16 * 1024**2
_UTF8_CHAR = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def bom_encoding(head: bytes) -> str | None:
    """``utf-16`` or ``utf-32`` when ``head`` starts with their byte-order mark."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return None


def file_bom_encoding(path: Path) -> str | None:
    """The encoding a file's byte-order mark names (UTF-16/32 only; None otherwise)."""
    with open(path, "rb") as f:
        return bom_encoding(f.read(4))


def is_wide(encoding: str | None) -> bool:
    """Whether text in ``encoding`` has NUL bytes of its own (UTF-16, UTF-32)."""
    try:
        return bool(encoding) and codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    except LookupError:
        return False


def line_ends(chunk: bytes, after_cr: bool = False) -> int:
    """Line ends in ``chunk`` (CRLF, LF or a lone CR each count once); ``after_cr``: the
    previous chunk ended with CR, so a leading LF belongs to it."""
    n = chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
    if after_cr and chunk.startswith(b"\n"):
        n -= 1
    return n


def non_ascii_sample(path: Path) -> bytes:
    """Lines of the file that hold non-ASCII bytes, up to 64 KiB (the evidence to guess on)."""
    out: list[bytes] = []
    size = 0
    with open(path, "rb") as f:
        rest = b""
        while size < _SAMPLE_BYTES and (chunk := f.read(_SCAN)):
            lines = re.split(rb"\r\n|\r|\n", rest + chunk)
            rest = lines.pop()
            for line in lines:
                if not line.isascii():
                    out.append(line[:4096])
                    size += len(out[-1]) + 1
                    if size >= _SAMPLE_BYTES:
                        break
        if rest and not rest.isascii() and size < _SAMPLE_BYTES:
            out.append(rest[:4096])
    return b"\n".join(out)


def damaged_utf8(sample: bytes) -> bool:
    """Whether bytes that are not UTF-8 sit in text that otherwise is (a damaged file, not
    another encoding): as many well-formed UTF-8 characters as broken ones, or more."""
    good = len(_UTF8_CHAR.findall(sample))
    bad = sample.decode("utf-8", errors="replace").count("\ufffd")
    return good > 0 and good >= bad


def decodes(path: Path, encoding: str) -> bool:
    """Whether the whole file decodes in ``encoding``."""
    try:
        dec = codecs.getincrementaldecoder(encoding)()
        with open(path, "rb") as f:
            while chunk := f.read(_SCAN):
                dec.decode(chunk)
            dec.decode(b"", final=True)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _western_letters(sample: bytes) -> bool:
    """Whether the non-ASCII bytes read as Western European text in Windows-1252: accented
    letters within words of mostly plain letters (``José``, ``Müller``), and typographic
    quotes and dashes (``O’Brien``). Cyrillic in Windows-1251 also reads as accented
    letters, but as whole words of them."""
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:
        return False
    if any(not c.isascii() and c not in _LATIN_LETTERS and c not in _PUNCTUATION for c in text):
        return False
    words = [w for w in re.findall(r"\w+", text) if not w.isascii()]
    accented = sum(1 for w in words for c in w if not c.isascii())
    return accented <= sum(len(w) for w in words) / 2  # no accented word: quotes only


def guess_encoding(path: Path) -> str | None:
    """A likely encoding for a file that is not UTF-8, in which the whole file decodes
    (None when no guess fits, or when the file is UTF-8 with damaged bytes)."""
    sample = non_ascii_sample(path)
    if not sample or damaged_utf8(sample):
        return None
    try:
        matches = list(charset_normalizer.from_bytes(sample))
    except Exception:  # a guess is advice only: never a reason to fail the read
        matches = []
    best = min((m.chaos for m in matches), default=0.0)
    plausible = [m.encoding for m in matches if m.chaos <= best + 0.1]
    order: list[str] = []
    if _western_letters(sample):
        order.append("cp1252")
    order += [e for e in PREFERRED if e in plausible] + plausible
    for enc in dict.fromkeys(order):
        if decodes(path, enc):
            return enc
    return None
