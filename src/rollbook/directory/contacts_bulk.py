"""Vectorised twins of :mod:`rollbook.directory.contacts` over pyarrow string arrays.

Every function here gives, element by element, exactly what the scalar function gives. Each one
splits its input in two:

- a *fast path*, pure pyarrow compute, that only takes inputs whose scalar result we can derive
  with certainty (plain ASCII dot-atom emails; NANP phones written with digits and ``+ ( ) . -``
  and spaces, in a NANP district region);
- a *slow path* for everything else — unusual, non-ASCII or invalid-looking values — which calls
  the scalar function once per distinct value and scatters the results back.

Exactness over speed: when in doubt a value goes to the slow path. No Django import.

Null convention: ``name_keys`` maps null to ``""`` (like ``name_key(None)``); the normalisers map
null and blank to null with the invalid mask ``False`` (like the scalar ``None`` result).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from rollbook.directory.contacts import (
    ContactError,
    clean_name,
    name_key,
    normalize_email,
    normalize_phone,
)
from rollbook.oneroster.checks import arange, marked

__all__ = ["name_keys", "normalize_emails", "normalize_phones"]

# ASCII characters that Python's str.strip() removes (a subset of what it removes: the slow
# path handles every other kind of surrounding whitespace).
_WS = r"[\t\n\v\f\r ]*"
_BLANK = rf"^{_WS}$"
_NULL = pa.scalar(None, pa.string())

# --- emails ------------------------------------------------------------------------------------
# What email-validator 2.x accepts for an ASCII address with the options Rollbook uses (no quoted
# local part, no domain literal, no display name, globally deliverable, not strict):
# local part = DOT_ATOM_TEXT; domain = RFC 952 labels (letters, digits, inner hyphens), at least
# one dot, ends with a letter. The extra rules (lengths, R-LDH/Punycode labels, special-use
# names) are not encoded here: addresses that might break them go to the slow path instead.
_ATEXT = r"[A-Za-z0-9_!#$%&'*+/=?^`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_TLD = r"(?:[A-Za-z0-9][A-Za-z0-9-]*)?[A-Za-z]"
_EMAIL_FAST = rf"^{_WS}{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}\.)+{_TLD}{_WS}$"
_EMAIL_UNSURE = (
    r"[@.][A-Za-z0-9-]{64}"  # a domain label longer than 63 characters
    r"|[@.][A-Za-z0-9-]{2}--"  # "ab--" labels: R-LDH rule, and Punycode "xn--" (IDNA decoding)
    rf"|(?i:\.(?:arpa|invalid|local|localhost|onion|test)){_WS}$"  # special-use domains
)
_EMAIL_MAX_LENGTH = 254  # the whole address; it also bounds the domain (253)


def _as_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous ``pa.string()`` array (chunked, large or view strings are converted)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if values.type != pa.string():
        values = values.cast(pa.string())
    return values


def _scalar_on(
    values: pa.Array, mask: pa.Array, fn: Callable[[str | None], str | None]
) -> tuple[pa.Array, pa.Array]:
    """Run ``fn`` once per distinct value where ``mask``; return (results, invalid) for those rows.

    ``ContactError`` becomes result null and invalid ``True``.
    """
    encoded = pc.dictionary_encode(values.filter(mask))
    results: list[str | None] = []
    invalid: list[bool] = []
    for value in encoded.dictionary.to_pylist():
        try:
            results.append(fn(value))
            invalid.append(False)
        except ContactError:
            results.append(None)
            invalid.append(True)
    out = pa.array(results, pa.string()).take(encoded.indices)
    bad = pc.fill_null(pa.array(invalid, pa.bool_()).take(encoded.indices), False)
    return out, bad


def _merge(
    fast_out: pa.Array, fast_bad: pa.Array, slow_mask: pa.Array, slow: tuple[pa.Array, pa.Array]
) -> tuple[pa.Array, pa.Array]:
    """Put the slow-path results in their rows."""
    if not pc.any(slow_mask).as_py():
        return fast_out, fast_bad
    return (
        pc.replace_with_mask(fast_out, slow_mask, slow[0]),
        pc.replace_with_mask(fast_bad, slow_mask, slow[1]),
    )


def name_keys(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``name_key`` of every element; null becomes ``""`` (as ``name_key(None)``).

    Names repeat a lot, so the scalar function runs once per distinct value: exact by design.
    Unicode work (NFC, hidden characters) is only done for the non-ASCII ones: the scalar
    functions test ``str.isascii()`` first.
    """
    encoded = pc.dictionary_encode(_as_strings(values))
    keys = pa.array([name_key(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.fill_null(keys.take(encoded.indices), "")


def clean_names(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``clean_name`` of every element (null becomes ``""``), once per distinct value."""
    encoded = pc.dictionary_encode(_as_strings(values))
    cleaned = pa.array([clean_name(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.fill_null(cleaned.take(encoded.indices), "")


def _email_fast(arr: pa.Array, core: pa.Array) -> pa.Array:
    """Rows the fast path decides: plain ASCII dot-atom addresses email-validator surely accepts."""
    return pc.and_(
        pc.and_(
            pc.fill_null(pc.match_substring_regex(arr, _EMAIL_FAST), False),
            pc.invert(pc.fill_null(pc.match_substring_regex(arr, _EMAIL_UNSURE), True)),
        ),
        pc.fill_null(pc.less_equal(pc.binary_length(core), _EMAIL_MAX_LENGTH), False),
    )


def normalize_emails(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """``normalize_email`` of every element.

    Returns:
        (emails, invalid): the trimmed lower-cased address, or null when blank or invalid; and
        ``True`` where a non-blank value was rejected (``ContactError``), else ``False``.
    """
    arr = _as_strings(values)
    blank = pc.fill_null(pc.match_substring_regex(arr, _BLANK), True)
    core = pc.ascii_trim(arr, characters=" \t\n\v\f\r")
    fast = _email_fast(arr, core)
    fast_out = pc.if_else(fast, pc.ascii_lower(core), _NULL)
    fast_bad = pc.and_(fast, pa.scalar(False))
    slow_mask = pc.invert(pc.or_(fast, blank))
    return _merge(fast_out, fast_bad, slow_mask, _scalar_on(arr, slow_mask, normalize_email))


# --- phones ------------------------------------------------------------------------------------
# A NANP number as parse() reads it with a NANP default region: optional "+1" or "1", then ten
# digits whose first is 2-9, separated only by spaces, dots, hyphens and parentheses. For these
# parse() gives country code 1 and the last ten digits as national number (see _nanp_plan for the
# metadata facts this relies on); is_valid_number then decides, mirrored by _nanp_valid.
_SEP = r"[ ().-]*"
_PHONE_FAST = rf"^{_WS}(?:\+{_SEP}1|{_SEP}1)?{_SEP}[2-9](?:{_SEP}[0-9]){{9}}{_WS}$"
_PHONE_MAX_INPUT = 250  # phonenumbers' _MAX_INPUT_STRING_LENGTH
# Python regex syntax that means the same in RE2 on ASCII digit strings.
_SIMPLE_PATTERN = re.compile(r"[0-9\[\]()?:{},|\\d-]+")
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


@dataclass(frozen=True, slots=True)
class _Region:
    """How is_valid_number treats a ten-digit national number for one NANP region."""

    code: str
    leading: str | None  # prefix pattern that claims a number for the region, if any
    general: str | None  # full-match pattern of the general description (None: never valid)
    types: str | None  # full-match union of the number-type patterns (None: never valid)


def _desc_pattern(desc: object, length: int) -> str | None:
    """The desc's pattern if ``_is_number_matching_desc`` may accept a number of ``length``."""
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    lengths = desc.possible_length
    if not pattern or (len(lengths) > 0 and length not in lengths):
        return None
    if not _SIMPLE_PATTERN.fullmatch(pattern):
        raise ValueError(f"unexpected pattern syntax: {pattern!r}")
    return pattern


@cache
def _nanp_plan() -> tuple[_Region, ...] | None:
    """The NANP regions in is_valid_number's order, or None if the metadata breaks an assumption.

    Assumptions checked (each makes parse() keep the last ten digits of a fast-path number):
    the international prefix starts with 0 (never matches digits starting 1-9); the national
    prefix for parsing is "1" or "(<digit class>\\d{6})$|1" (neither matches ten digits starting
    2-9); eleven digits are too long for the region (so a leading 1 is taken as country code).
    """
    regions = COUNTRY_CODE_TO_REGION_CODE.get(1, ())
    plan = []
    try:
        for code in regions:
            md = PhoneMetadata.metadata_for_region(code, None)
            npp = md.national_prefix_for_parsing if md else None
            if (
                md is None
                or md.country_code != 1
                or not re.fullmatch(r"0\d*", md.international_prefix or "")
                or not (
                    npp == "1" or re.fullmatch(r"\((?:\[[0-9-]+\]|\d)\\d\{6\}\)\$\|1", npp or "")
                )
                or not md.general_desc.possible_length
                or max(md.general_desc.possible_length) >= 11
            ):
                return None
            if md.leading_digits is not None and not _SIMPLE_PATTERN.fullmatch(md.leading_digits):
                return None
            names = [
                t for t in _TYPES if not (t == "mobile" and md.same_mobile_and_fixed_line_pattern)
            ]
            kinds = [p for p in (_desc_pattern(getattr(md, t), 10) for t in names) if p]
            general = _desc_pattern(md.general_desc, 10)
            plan.append(
                _Region(
                    code=code,
                    leading=md.leading_digits,
                    general=f"^(?:{general})$" if general else None,
                    types="^(?:" + "|".join(f"(?:{p})" for p in kinds) + ")$" if kinds else None,
                )
            )
    except ValueError:
        return None
    return tuple(plan)


def _valid_in(nsn: pa.Array, region: _Region) -> pa.Array:
    """``_number_type_helper(nsn, metadata) != UNKNOWN`` for ten-digit national numbers."""
    if region.general is None or region.types is None:
        return pc.and_(pc.is_valid(nsn), pa.scalar(False))
    return pc.and_(
        pc.match_substring_regex(nsn, region.general),
        pc.match_substring_regex(nsn, region.types),
    )


def _nanp_valid(nsn: pa.Array, plan: tuple[_Region, ...]) -> pa.Array:
    """``is_valid_number`` for country code 1 and these ten-digit national numbers.

    Mirrors region_code_for_number: the first region (in metadata order) whose leading digits
    match — or, without leading digits, for which the number is valid — decides validity.
    """
    pending = arange(len(nsn))
    valid_rows: list[pa.Array] = []
    for region in plan:
        if len(pending) == 0:
            break
        sub = nsn.take(pending)
        if region.leading is None:  # claims the numbers valid for it
            claimed = _valid_in(sub, region)
            valid_rows.append(pending.filter(claimed))
        else:  # claims by leading digits, then decides validity
            claimed = pc.match_substring_regex(sub, f"^(?:{region.leading})")
            mine = pending.filter(claimed)
            valid_rows.append(mine.filter(_valid_in(nsn.take(mine), region)))
        pending = pending.filter(pc.invert(claimed))
    if not valid_rows:
        return pc.and_(pc.is_valid(nsn), pa.scalar(False))
    return marked(pa.concat_arrays(valid_rows), len(nsn))


def _phone_fast(arr: pa.Array, plan: tuple[_Region, ...] | None) -> pa.Array:
    """Rows the fast path decides: NANP-shaped numbers, when the district region is NANP."""
    if plan is None:
        return pc.and_(pc.is_valid(arr), pa.scalar(False))
    return pc.and_(
        pc.fill_null(pc.match_substring_regex(arr, _PHONE_FAST), False),
        pc.fill_null(pc.less_equal(pc.binary_length(arr), _PHONE_MAX_INPUT), False),
    )


def normalize_phones(
    values: pa.Array | pa.ChunkedArray, region: str = "US"
) -> tuple[pa.Array, pa.Array]:
    """``normalize_phone(value, region)`` of every element.

    Returns:
        (phones, invalid): the E.164 number, or null when blank or invalid; and ``True`` where a
        non-blank value was rejected (``ContactError``), else ``False``.
    """
    arr = _as_strings(values)
    blank = pc.fill_null(pc.match_substring_regex(arr, _BLANK), True)
    plan = _nanp_plan() if region in COUNTRY_CODE_TO_REGION_CODE.get(1, ()) else None
    fast = _phone_fast(arr, plan)
    fast_out = pa.nulls(len(arr), pa.string())
    fast_bad = pc.and_(pc.fill_null(fast, False), pa.scalar(False))
    if plan is not None and pc.any(fast).as_py():
        digits = pc.replace_substring_regex(arr.filter(fast), r"[^0-9]", "")
        nsn = pc.utf8_slice_codeunits(digits, start=-10)
        ok = _nanp_valid(nsn, plan)
        e164 = pc.if_else(ok, pc.binary_join_element_wise("+1", nsn, ""), _NULL)
        fast_out = pc.replace_with_mask(fast_out, fast, e164)
        fast_bad = pc.replace_with_mask(fast_bad, fast, pc.invert(ok))
    slow_mask = pc.invert(pc.or_(fast, blank))

    def scalar(value: str | None) -> str | None:
        return normalize_phone(value, region)

    return _merge(fast_out, fast_bad, slow_mask, _scalar_on(arr, slow_mask, scalar))
