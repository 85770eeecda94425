"""Row-level checks of one file, vectorised with pyarrow.compute, and the typing of values.

Each check computes a boolean mask over the whole column; Python only touches the first few
failing rows to word their findings (and the duplicates of a sourcedId).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.directory.contacts import HIDDEN_CHARACTERS, describe_characters, hidden_characters

from . import vocab
from .csvread import LINE
from .dates import cast_dates
from .findings import Findings
from .idhash import repeated_ids
from .schema import Column, FileSpec

GUID_RE = r"^[A-Za-z0-9._/@-]{1,255}$"
DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
DATE_PREFIX_RE = r"^(\d{4}-\d{2}-\d{2})[T ].*$"
DATETIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
#: 1.2.1 CSV §3 DateTime: "the format and resolution of YYYY-MM-DDTHH:MM:SS.sssZ" (24
#: characters; a value matching DATETIME_RE is of that resolution exactly when 24 long).
DATETIME_12_LENGTH = 24
_DT_LENIENT = (
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(\.\d{1,3})?\d*)?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
EMAIL_RE = r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$"
LIST_SPACES_RE = r"(^\s|\s$|\s,|,\s)"
#: The bytes a sourcedId may hold (GUID_RE) and the bytes RE2's ``\s`` matches.
GUID_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/@-"
SPACE_BYTES = b" \t\n\v\f\r"
ASCII_BYTES = bytes(range(128))
_WITHOUT_HIDDEN = str.maketrans("", "", HIDDEN_CHARACTERS)
TS = pa.timestamp("ms", tz="UTC")


@dataclass
class Checker:
    """Checks and types one file's table; accumulates the rejected-rows mask."""

    table: pa.Table
    spec: FileSpec
    version: str
    mode: str
    display: str
    findings: Findings
    spelled: dict[str, str] | None = None  # canonical name -> column as the file spells it

    def __post_init__(self) -> None:
        self.rejected = pc.fill_null(pa.nulls(self.table.num_rows, pa.bool_()), False)
        self.out: dict[str, pa.ChunkedArray | pa.Array] = {}
        # findings name a column as the file spells it (`agents`, not `agentSourcedIds`)
        self.headers = {c.name: c.header for c in self.spec.columns} | (self.spelled or {})

    # -- reporting ------------------------------------------------------------------------
    def report(
        self,
        code: str,
        mask: pa.Array,
        column: str | None,
        message: Callable[[object, object], str],
        values: pa.Array | None = None,
        reject: bool = False,
    ) -> None:
        """Record findings for the rows where ``mask`` is true (first few worded)."""
        mask = pc.fill_null(mask, False)
        total = pc.sum(mask.cast(pa.int64())).as_py() or 0
        if not total:
            return
        if reject:
            self.rejected = pc.or_(self.rejected, mask)
        idx = pc.indices_nonzero(mask).slice(0, self.findings.max_instances)
        lines = self.table[LINE].take(idx).to_pylist()
        sids = self.table["sourced_id"].take(idx).to_pylist()
        vals = values.take(idx).to_pylist() if values is not None else [None] * len(idx)
        rows = (
            (ln, sid, f"{self.display} line {ln}: {message(v, sid)}")
            for ln, sid, v in zip(lines, sids, vals, strict=True)
        )
        self.findings.add_rows(code, total, rows, file=self.display, column=column)

    # -- per kind ------------------------------------------------------------------------
    def run(self) -> tuple[pa.Table, pa.Array]:
        """Check every column; return the typed table and the rejected-rows mask."""
        for col in self.spec.columns:
            raw = self.table[col.name]
            in_version = self.version in col.versions
            col = dataclasses.replace(col, header=self.headers[col.name])
            if col.key and in_version:
                self.report(
                    "OR-ROW-KEY-MISSING",
                    pc.is_null(raw),
                    col.header,
                    lambda v, s, h=col.header: f"{h} is empty; the row was rejected.",
                    reject=True,
                )
            elif col.required and in_version:
                self.report(
                    "OR-ROW-REQUIRED",
                    pc.is_null(raw),
                    col.header,
                    lambda v, s, h=col.header: f"{h} is required but empty.",
                )
            kind = getattr(self, "_" + col.kind)
            self.out[col.name] = kind(col, raw)
        self._duplicates()
        self._bulk_delta()
        self._date_order()
        self._subject_codes()
        names = list(self.out)
        meta = [c for c in self.table.column_names if c.startswith("metadata.")]
        cols = [self.out[n] for n in names] + [self.table[m] for m in meta]
        typed = pa.table(cols + [self.table[LINE]], names=names + meta + [LINE])
        return typed, self.rejected

    def _text(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        return raw

    def _name(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        """A person's name in Unicode NFC, without hidden characters (each reported).

        Only non-ASCII values can change: a column of ASCII bytes is returned as it is (one C
        pass over its bytes), otherwise each distinct non-ASCII value is looked at once.
        """
        if _only_bytes(raw, ASCII_BYTES):
            return raw
        other = pc.invert(pc.fill_null(pc.string_is_ascii(raw), True))
        changed: dict[str, str | None] = {}
        hidden: list[str] = []
        for value in pc.unique(raw.filter(other)).to_pylist():
            stripped = value.translate(_WITHOUT_HIDDEN)
            fixed = unicodedata.normalize("NFC", stripped)
            if fixed != value:
                changed[value] = fixed or None  # a name of hidden characters only is empty
            if stripped != value:
                hidden.append(value)
        if not changed:
            return raw
        if hidden:
            self.report(
                "OR-VALUE-HIDDEN-CHARACTER",
                pc.is_in(raw, value_set=pa.array(hidden, pa.string())),
                col.header,
                lambda v, s, h=col.header: (
                    f"{h} {v!r} holds the invisible {describe_characters(hidden_characters(v))}, "
                    "which can make a name display as something else; it was removed."
                ),
                values=raw,
            )
        at = pc.index_in(raw, value_set=pa.array(list(changed), pa.string()))
        fixed = pc.take(pa.array(list(changed.values()), pa.string()), at)
        return pc.if_else(pc.is_valid(at), fixed, raw)

    def _id(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        if _only_bytes(raw, GUID_BYTES) and _lengths_within(raw, 1, 255):
            return raw  # every value matches GUID_RE: no regex over millions of ids
        bad = pc.and_(pc.is_valid(raw), pc.invert(pc.match_substring_regex(raw, GUID_RE)))
        self.report(
            "OR-VALUE-GUID",
            bad,
            col.header,
            lambda v, s, h=col.header: (
                f"{h} {v!r} has characters outside letters, digits and . - _ / @ (or is 256+ long)."
            ),
            values=raw,
        )
        return raw

    def _ref(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        if _no_bytes(raw, SPACE_BYTES):
            return raw
        if pc.any(pc.match_substring_regex(raw, r"^\s|\s$")).as_py():
            return pc.utf8_trim_whitespace(raw)
        return raw

    def _list(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        if _no_bytes(raw, SPACE_BYTES):  # nothing for either regex to find
            return pc.split_pattern(pc.utf8_trim_whitespace(raw), ",")
        spaced = pc.match_substring_regex(raw, LIST_SPACES_RE)
        self.report(
            # a sourcedId holds no space (1.2.1 CSV §3 GUID); a string may, so elsewhere the
            # spaces are only tidied
            "OR-VALUE-GUID" if col.kind == "refs" else "OR-VALUE-LIST-SPACES",
            spaced,
            col.header,
            lambda v, s, h=col.header: f"{h} {v!r} has spaces around its items; they were removed.",
            values=raw,
        )
        clean = pc.utf8_trim_whitespace(pc.replace_substring_regex(raw, r"\s*,\s*", ","))
        return pc.split_pattern(clean, ",")

    _refs = _list

    def _email(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        bad = pc.and_(pc.is_valid(raw), pc.invert(pc.match_substring_regex(raw, EMAIL_RE)))
        self.report(
            "OR-VALUE-EMAIL",
            bad,
            col.header,
            lambda v, s, h=col.header: f"{h} {v!r} is not an e-mail address.",
            values=raw,
        )
        return raw

    def _vocab(
        self,
        col: Column,
        raw: pa.ChunkedArray,
        allowed: tuple[str, ...],
        reject_bad: bool,
        legacy: dict[str, str] | None = None,
    ) -> pa.ChunkedArray:
        """Normalise a vocabulary column. Works on the distinct values, then expands."""
        uniq = pc.unique(raw)
        pos = pc.index_in(raw, value_set=uniq)

        def full(mask: pa.Array) -> pa.Array | None:
            mask = pc.fill_null(mask, False)
            return pc.take(mask, pos) if pc.any(mask).as_py() else None

        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(uniq))
        lookup = {v.lower(): v for v in allowed} | dict(legacy or {})
        keys = pa.array(list(lookup), pa.string())
        norm = pc.take(
            pa.array(list(lookup.values()), pa.string()), pc.index_in(lowered, value_set=keys)
        )
        is_ext = (
            pc.fill_null(pc.starts_with(uniq, "ext:"), False)
            if col.vocab in vocab.EXTENSIBLE
            else None
        )
        legacy_mask = pc.fill_null(
            pc.is_in(lowered, value_set=pa.array(list(legacy or {}), pa.string())), False
        )
        if legacy and (m := full(legacy_mask)) is not None:
            self.report(
                "OR-VALUE-INACTIVE",
                m,
                col.header,
                lambda v, s, h=col.header: (
                    f"{h} {v!r} is not a 1.1/1.2 value; read as `tobedeleted`."
                ),
                values=raw,
            )
        case = pc.and_(pc.and_(pc.is_valid(norm), pc.not_equal(uniq, norm)), pc.invert(legacy_mask))
        if (m := full(case)) is not None:
            self.report(
                "OR-VALUE-CASE",
                m,
                col.header,
                lambda v, s, h=col.header: (
                    f"{h} {v!r} is not written as the spec writes it; read as the spec value."
                ),
                values=raw,
            )
        bad = pc.and_(pc.is_valid(uniq), pc.is_null(norm))
        if is_ext is not None:
            bad = pc.and_(bad, pc.invert(is_ext))
        code = "OR-VALUE-ROLE" if reject_bad else "OR-VALUE-ENUM"
        then = "the row was rejected" if reject_bad else "it was kept as is"
        if (m := full(bad)) is not None:
            self.report(
                code,
                m,
                col.header,
                lambda v, s, h=col.header: (
                    f"{h} {v!r} is not one of {', '.join(allowed[:12])}; {then}."
                ),
                values=raw,
                reject=reject_bad,
            )
        off = vocab.OFF_VERSION.get(col.vocab or "")
        if off:  # 1.2 roles in a 1.1 users.csv, the 1.1 `administrator` in roles.csv
            m = full(pc.is_in(norm, value_set=pa.array(sorted(off))))
            if m is not None:
                self.report(
                    "OR-VALUE-ROLE-VERSION",
                    m,
                    col.header,
                    lambda v, s, h=col.header, w=vocab.OFF_VERSION_WHY[col.vocab or ""]: (
                        f"{h} {v!r} {w}"
                    ),
                    values=raw,
                )
        if is_ext is not None:
            norm = pc.if_else(is_ext, uniq, norm)
        out = norm if reject_bad else pc.coalesce(norm, uniq)
        if (
            pc.all(pc.fill_null(pc.equal(out, uniq), False)).as_py()
            and out.null_count == uniq.null_count
        ):
            return raw
        return pc.take(out, pos)

    def _enum(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        allowed = vocab.VOCABS[col.vocab or ""]
        return self._vocab(col, raw, allowed, reject_bad=col.key)

    def _status(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        out = self._vocab(col, raw, vocab.STATUS, False, vocab.STATUS_LEGACY)
        return pc.if_else(pc.is_in(out, value_set=pa.array(vocab.STATUS)), out, None)

    def _bool(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        out = self._vocab(col, raw, vocab.BOOLEAN, False)
        return pc.if_else(
            pc.is_in(out, value_set=pa.array(vocab.BOOLEAN)),
            pc.equal(out, "true"),
            pa.scalar(None, pa.bool_()),
        )

    def _date(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        if raw.null_count == len(raw):
            return _safe_cast(raw, pa.date32())
        ok = pc.match_substring_regex(raw, DATE_RE)
        bad = pc.and_(pc.is_valid(raw), pc.invert(ok))
        if not pc.any(bad).as_py():
            return self._calendar(col, raw, pa.date32())
        prefix = pc.match_substring_regex(raw, DATE_PREFIX_RE)
        self.report(
            "OR-VALUE-DATE",
            bad,
            col.header,
            lambda v, s, h=col.header: (
                f"{h} {v!r} is not YYYY-MM-DD; "
                + (
                    "its date part was kept."
                    if str(v)[:10].count("-") == 2 and str(v)[4:5] == "-"
                    else "it was ignored (day and month are not guessed)."
                )
            ),
            values=raw,
        )
        text = pc.if_else(ok, raw, pc.if_else(prefix, pc.utf8_slice_codeunits(raw, 0, 10), None))
        return self._calendar(col, text, pa.date32())

    def _year(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        bad = pc.and_(pc.is_valid(raw), pc.invert(pc.match_substring_regex(raw, r"^\d{4}$")))
        self.report(
            "OR-VALUE-DATE",
            bad,
            col.header,
            lambda v, s, h=col.header: f"{h} {v!r} is not a year (YYYY); ignored.",
            values=raw,
        )
        return _safe_cast(pc.if_else(bad, None, raw), pa.int16())

    def _datetime(self, col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
        if raw.null_count == len(raw):
            return _safe_cast(raw, TS)
        ok = pc.match_substring_regex(raw, DATETIME_RE)
        bad = pc.and_(pc.is_valid(raw), pc.invert(ok))
        self._resolution(col, raw, ok)
        if not pc.any(bad).as_py():
            return self._calendar(col, raw, TS)
        lenient = pc.match_substring_regex(raw, _DT_LENIENT)
        self.report(
            "OR-VALUE-DATETIME",
            bad,
            col.header,
            lambda v, s, h=col.header: (
                f"{h} {v!r} is not ISO 8601 UTC "
                "(YYYY-MM-DDTHH:MM:SS.sssZ); it was read as UTC where possible, else "
                "ignored."
            ),
            values=raw,
        )
        fixed = pc.replace_substring_regex(raw, _DT_LENIENT, r"\1T\2\3\4")
        fixed = pc.replace_substring_regex(fixed, r"T(\.|Z|[+-]|$)", r"T00:00:00\1")
        fixed = pc.replace_substring_regex(fixed, r"T(\d{2}:\d{2})(\.|Z|[+-]|$)", r"T\1:00\2")
        fixed = pc.if_else(
            pc.match_substring_regex(fixed, r"(Z|[+-]\d{2}:?\d{2})$"),
            fixed,
            pc.binary_join_element_wise(fixed, "Z", ""),
        )
        return self._calendar(
            col, pc.if_else(pc.or_(ok, lenient), pc.if_else(ok, raw, fixed), None), TS
        )

    def _calendar(self, col: Column, text: pa.ChunkedArray, typ: pa.DataType) -> pa.ChunkedArray:
        """Typed dates; a date no calendar has is reported and never stored (dates.py)."""
        typed, impossible = cast_dates(text, typ)
        self.report(
            "OR-VALUE-DATE-IMPOSSIBLE",
            impossible,
            col.header,
            lambda v, s, h=col.header: (
                f"{h} {v!r} is not a date of the calendar; it was not used, and the bundle "
                "cannot sync until the SIS corrects it."
            ),
            values=text,
        )
        return typed

    def _resolution(self, col: Column, raw: pa.ChunkedArray, ok: pa.ChunkedArray) -> None:
        """1.2: an ISO 8601 UTC time that is not to the millisecond (1.2.1 CSV §3)."""
        if self.version != "1.2":
            return  # 1.1 asks for ISO 8601 UTC only
        length = pc.binary_length(raw)
        bounds = pc.min_max(length)
        if {bounds["min"].as_py(), bounds["max"].as_py()} <= {None, DATETIME_12_LENGTH}:
            return  # every value is 24 long: the resolution is right wherever the form is
        self.report(
            "OR-VALUE-DATETIME-RESOLUTION",
            pc.and_(ok, pc.not_equal(length, DATETIME_12_LENGTH)),
            col.header,
            lambda v, s, h=col.header: (
                f"{h} {v!r} is not to the millisecond (YYYY-MM-DDTHH:MM:SS.sssZ, as OneRoster "
                "1.2 requires); it was read as written."
            ),
            values=raw,
        )

    # -- whole-file checks ---------------------------------------------------------------
    def _duplicates(self) -> None:
        sid = self.table["sourced_id"]
        n = len(sid)
        if n < 2:
            return
        # Sorted 64-bit hashes compared with their neighbours, strings only where hashes
        # are equal (idhash.py): far less memory than a hash table of every id (value_counts
        # on 7M ids peaked at ~0.8 GB), and rows in any order cost about the same.
        dup_vals = repeated_ids(sid)
        if not len(dup_vals):
            return  # no repeated non-null id (repeated nulls alone are not reported)
        if sid.null_count > 1:  # as before: repeated nulls count once other ids repeat
            dup_vals = pa.concat_arrays([dup_vals, pa.nulls(1, dup_vals.type)])
        mask = pc.fill_null(pc.is_in(sid, value_set=dup_vals), False)
        idx = pc.indices_nonzero(mask).to_pylist()
        seen: set[str] = set()
        later: list[int] = []
        ids = sid.take(pa.array(idx, pa.int64())).to_pylist()
        for i, v in zip(idx, ids, strict=True):
            if v in seen:
                later.append(i)
            seen.add(v)
        flag = pc.is_in(
            pc.cumulative_sum(pc.fill_null(pa.nulls(len(sid), pa.int64()), 1)),
            value_set=pa.array([i + 1 for i in later], pa.int64()),
        )
        self.report(
            "OR-ROW-DUPLICATE-ID",
            flag,
            "sourcedId",
            lambda v, s: f"sourcedId {s!r} is used by an earlier row; this row was rejected.",
            reject=True,
        )

    def _bulk_delta(self) -> None:
        has = pc.or_(
            pc.is_valid(self.table["status"]), pc.is_valid(self.table["date_last_modified"])
        )
        if self.mode == "bulk":
            self.report(
                "OR-BULK-HAS-STATUS",
                has,
                "status",
                lambda v, s: (
                    "a bulk file row has status/dateLastModified; the status was honoured."
                ),
            )
        elif self.mode == "delta":
            lacks = pc.or_(
                pc.is_null(self.table["status"]), pc.is_null(self.table["date_last_modified"])
            )
            self.report(
                "OR-DELTA-NO-STATUS",
                lacks,
                "status",
                lambda v, s: "a delta row needs status and dateLastModified; read as active.",
            )

    def _date_order(self) -> None:
        for start, end in (("start_date", "end_date"), ("begin_date", "end_date")):
            if start in self.out and end in self.out:
                bad = pc.less(self.out[end], self.out[start])
                h_start, h_end = self.headers[start], self.headers[end]
                self.report(
                    "OR-VALUE-DATE-ORDER",
                    bad,
                    h_end,
                    lambda v, s, a=h_start, b=h_end: f"{b} is before {a}.",
                )

    def _subject_codes(self) -> None:
        """subjects and subjectCodes "must have the same length" (1.2.1 CSV §3.4, §3.7)."""
        if "subjects" not in self.out or "subject_codes" not in self.out:
            return
        subjects, codes = self.out["subjects"], self.out["subject_codes"]
        if subjects.null_count == len(subjects) or codes.null_count == len(codes):
            return
        n_subjects, n_codes = pc.list_value_length(subjects), pc.list_value_length(codes)
        a, b = self.headers["subjects"], self.headers["subject_codes"]
        self.report(
            "OR-VALUE-SUBJECT-CODES",
            pc.not_equal(n_subjects, n_codes),  # null (one list absent) is no finding
            b,
            lambda v, s: f"{a} and {b} have {v} items; they must pair up in order.",
            values=pc.binary_join_element_wise(
                n_subjects.cast(pa.string()), n_codes.cast(pa.string()), " and "
            ),
        )


def _safe_cast(arr: pa.ChunkedArray | pa.Array, typ: pa.DataType) -> pa.ChunkedArray:
    """Cast strings; values that do not parse (e.g. month 13) become null."""
    try:
        return pc.cast(arr, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        uniq = pc.unique(arr).drop_null()
        good: list[str] = []
        parsed: list[object] = []
        for v in uniq.to_pylist():
            try:
                parsed.append(pa.array([v]).cast(typ)[0].as_py())
                good.append(v)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
        pos = pc.index_in(arr, value_set=pa.array(good, pa.string()))
        return pc.take(pa.array(parsed, typ), pos)


def check_file(
    table: pa.Table,
    spec: FileSpec,
    version: str,
    mode: str,
    display: str,
    findings: Findings,
    spelled: dict[str, str] | None = None,
) -> tuple[pa.Table, pa.Array]:
    """Type and check one file's table; return (typed table, rejected-rows mask).

    ``spelled``: canonical column name -> the column as the file's header spells it."""
    return Checker(table, spec, version, mode, display, findings, spelled).run()


def _value_bytes(raw: pa.ChunkedArray) -> list[bytes] | None:
    """The bytes of each chunk's values, back to back (None: not a plain string column).

    Null slots may hold bytes too; the checks below then only raise a false alarm, and the
    caller falls back to its regex, which gives the exact answer.
    """
    if raw.type != pa.string():
        return None
    out = []
    for chunk in raw.chunks:
        if not len(chunk):
            continue
        _, offsets, data = chunk.buffers()
        if offsets is None or data is None:
            out.append(b"")
            continue
        at = memoryview(offsets).cast("i")
        start, end = at[chunk.offset], at[chunk.offset + len(chunk)]
        out.append(data.slice(start, end - start).to_pybytes())
    return out


def _only_bytes(raw: pa.ChunkedArray, allowed: bytes) -> bool:
    """Whether every value consists of ``allowed`` bytes only (one C pass over the data;
    False may be a false alarm)."""
    chunks = _value_bytes(raw)
    return chunks is not None and not any(b.translate(None, allowed) for b in chunks)


def _no_bytes(raw: pa.ChunkedArray, banned: bytes) -> bool:
    """Whether no value holds any of the ``banned`` bytes (False may be a false alarm)."""
    chunks = _value_bytes(raw)
    return chunks is not None and all(len(b.translate(None, banned)) == len(b) for b in chunks)


def _lengths_within(raw: pa.ChunkedArray, low: int, high: int) -> bool:
    """Whether every non-null value is ``low`` to ``high`` characters long (bytes: the
    values are ASCII when this is asked)."""
    bounds = pc.min_max(pc.binary_length(raw))
    least, most = bounds["min"].as_py(), bounds["max"].as_py()
    return least is None or (least >= low and most <= high)
