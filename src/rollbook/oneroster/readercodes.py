"""Finding codes of the reader's robustness (issue 16, items 4 and 5): what no input may do.

Kept apart from ``codes.py`` (which registers them), like ``rulecodes.py``. These are the
findings for input that is readable but cannot be stored as it is: a date no calendar has,
a value longer than its column in the directory, a file in UTF-16, junk members of a zip.
The refusals of a whole bundle are not findings but :class:`~.bundle.BundleError` codes
(``OR-BUNDLE-*``), listed in docs/oneroster-findings.md.
"""

from __future__ import annotations

from .codes import AP, IG, RR, CodeSpec, E, W

READER_SPECS: list[CodeSpec] = [
    CodeSpec(
        "OR-BUNDLE-JUNK",
        W,
        E,
        IG,
        "Members a zip tool added (__MACOSX/, .DS_Store, ._*.csv)",
        "Zip the CSV files alone (on a Mac: `zip -X`, or compress from the command line); "
        "the extra members were ignored.",
    ),
    CodeSpec(
        "OR-FILE-UTF16",
        W,
        E,
        AP,
        "File is UTF-16 or UTF-32 (with a byte-order mark), not UTF-8",
        "Export the file as UTF-8; it was read in the encoding its byte-order mark names.",
    ),
    CodeSpec(
        "OR-VALUE-DATE-IMPOSSIBLE",
        E,
        E,
        IG,
        "Date no calendar has (day 30 of February, month 13, year 0)",
        "Correct the date in the SIS. The bundle cannot sync until then: syncing would erase "
        "the date the directory holds, and year 0 cannot be stored at all.",
    ),
    CodeSpec(
        "OR-VALUE-TOO-LONG",
        E,
        E,
        RR,
        "Value longer than the directory can store",
        "Shorten the value in the SIS (names, titles and codes: 255 characters, sourcedIds: "
        "255, e-mail addresses: 320, grades: 16, class and session types: 40).",
    ),
]
