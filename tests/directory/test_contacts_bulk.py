"""The bulk contact normalisers equal the scalar ones, element by element.

Pure pytest + hypothesis, no database: run with ``-p no:django``.

Equivalence is defined as: for every input value ``v``, the bulk result at that position is
``(f(v), False)`` when the scalar ``f`` returns, and ``(None, True)`` when it raises
``ContactError``; ``name_keys`` equals ``name_key`` (so null becomes ``""``).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollbook.directory.contacts import (
    ContactError,
    clean_name,
    name_key,
    normalize_email,
    normalize_phone,
)
from rollbook.directory.contacts_bulk import (
    _EMAIL_FAST,
    _PHONE_FAST,
    _nanp_plan,
    clean_names,
    name_keys,
    normalize_emails,
    normalize_phones,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def scalar(fn, values):
    """(results, invalid) of the scalar function mapped over the values."""
    out, bad = [], []
    for value in values:
        try:
            out.append(fn(value))
            bad.append(False)
        except ContactError:
            out.append(None)
            bad.append(True)
    return out, bad


def bulk(fn, values, *args):
    out, bad = fn(pa.array(values, pa.string()), *args)
    assert out.type == pa.string() and bad.type == pa.bool_()
    assert bad.null_count == 0
    return out.to_pylist(), bad.to_pylist()


def assert_same(bulk_fn, scalar_fn, values, *args):
    got = bulk(bulk_fn, values, *args)
    want = scalar(scalar_fn, values)
    for i, value in enumerate(values):
        assert (got[0][i], got[1][i]) == (want[0][i], want[1][i]), repr(value)


# --- strategies --------------------------------------------------------------------------------

SPACES = st.sampled_from(["", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\x1c", "\u3000"])
maybe_none = st.none()


@st.composite
def emails(draw):
    atext = "abcXYZ0189_!#$%&'*+/=?^`{|}~-"
    local_chars = st.sampled_from(list(atext) + [".", ".", " ", '"', "@", "é", "ü", "\u0301", "<"])
    local = draw(st.text(local_chars, min_size=0, max_size=12))
    if draw(st.booleans()):
        local = draw(
            st.from_regex(r"[a-zA-Z0-9]{1,10}(\.[a-zA-Z0-9+_-]{1,8}){0,2}", fullmatch=True)
        )
    label_chars = st.sampled_from(list("abcXYZ0189--") + ["é", "_", "."])
    labels = draw(st.lists(st.text(label_chars, min_size=0, max_size=8), min_size=1, max_size=4))
    if draw(st.integers(0, 9)) == 0:
        labels.append("a" * draw(st.integers(60, 66)))
    if draw(st.integers(0, 6)) == 0:
        labels.append(
            draw(st.sampled_from(["xn--bcher-kva", "xn--zz", "ab--cd", "a---b", "XN--x"]))
        )
    tld = draw(
        st.sampled_from(
            ["com", "ORG", "net", "io", "c0m", "1", "test", "local", "LocalHost", "onion", "arpa"]
            + ["invalid", "x-y", "", "co9", "museum", "a"]
        )
    )
    domain = ".".join([*labels, tld]) if tld else ".".join(labels)
    if draw(st.integers(0, 12)) == 0:
        domain = draw(st.sampled_from(["[127.0.0.1]", "[IPv6:::1]", "[1.2.3]", "[x:y]"]))
    address = f"{local}@{domain}"
    if draw(st.integers(0, 15)) == 0:
        address = f"Maria <{address}>"
    if draw(st.integers(0, 15)) == 0:
        address = "x" * draw(st.integers(200, 260)) + "@example.com"
    return draw(SPACES) + address + draw(SPACES)


email_values = st.one_of(
    emails(),
    maybe_none,
    SPACES,
    st.text(max_size=30),
    st.from_regex(r"[ -~]{0,30}@[ -~]{0,30}", fullmatch=True),
)


@st.composite
def phones(draw):
    area = draw(st.integers(100, 999))
    exch = draw(st.integers(0, 999))
    line = draw(st.integers(0, 9999))
    a, b, c = f"{area:03d}", f"{exch:03d}", f"{line:04d}"
    fmt = draw(
        st.sampled_from(
            ["({a}) {b}-{c}", "{a}.{b}.{c}", "+1 {a} {b} {c}", "1-{a}-{b}-{c}", "{a}{b}{c}"]
            + ["+1{a}{b}{c}", "1 ({a}) {b}-{c}", "+1 ({a}) {b}.{c}", "(1) {a} {b} {c}"]
            + ["{a}-{b}-{c} x123", "{a}-{b}-{c} ext. 5", "{a} {b} {c}#", "+{a}{b}{c}", "0{a}{b}{c}"]
            + ["011 44 20 7946 0018", "+44 20 7946 0018", "1-800-FLOWERS", "{a}-FLOWERS"]
            + ["+1 {a} {b} {c} 9", "{a}-{b}-{c}/x12", "tel:+1-{a}-{b}-{c}", "++1 {a} {b} {c}"]
            + [
                "{b}-{c}",
                "１{a}{b}{c}",
                "{a}\u2013{b}\u2013{c}",
                "{a}-{b}-{c};ext=9",
                "- {a}{b}{c}",
            ]
        )
    )
    text = fmt.format(a=a, b=b, c=c)
    return draw(SPACES) + text + draw(SPACES)


phone_values = st.one_of(
    phones(),
    maybe_none,
    SPACES,
    st.text(max_size=20),
    st.text(st.sampled_from(list("0123456789 ()-.+x")), max_size=22),
)
REGIONS = ["US", "CA", "PR", "BS", "GB", "us"]


# --- properties --------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["Ann", " ann "]))))
def test_name_keys_equal_name_key(values):
    assert name_keys(pa.array(values, pa.string())).to_pylist() == [name_key(v) for v in values]


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.lists(
                st.sampled_from(["a", " ", "É", "E\u0301", "\u0301", "ß", "\u202e", "\ufeff"]),
                max_size=8,
            ).map("".join),
        )
    )
)
def test_names_in_any_unicode_form_equal_the_scalar_functions(values):
    column = pa.array(values, pa.string())
    assert name_keys(column).to_pylist() == [name_key(v) for v in values]
    assert clean_names(column).to_pylist() == [clean_name(v) for v in values]


def test_name_keys_accepts_chunked_and_large_strings():
    chunked = pa.chunked_array([["  Ann  Lee"], [None, "STRASSE"]], pa.large_string())
    assert name_keys(chunked).to_pylist() == ["ann lee", "", "strasse"]


@SETTINGS
@given(st.lists(email_values, max_size=20))
def test_normalize_emails_equals_scalar(values):
    assert_same(normalize_emails, normalize_email, values)


@SETTINGS
@given(st.lists(phone_values, max_size=20), st.sampled_from(REGIONS))
def test_normalize_phones_equals_scalar(values, region):
    assert_same(normalize_phones, lambda v: normalize_phone(v, region), values, region)


@pytest.mark.parametrize("region", ["US", "CA", "JM"])
def test_every_nanp_area_code_agrees_with_phonenumbers(region):
    values = []
    for area in range(200, 1000):
        for exch in ("200", "212", "555", "911", "473", "100", "011"):
            for line in ("0123", "0000", "9999"):
                values.append(f"{area}{exch}{line}")
                values.append(f"+1 ({area}) {exch}-{line}")
    assert_same(normalize_phones, lambda v: normalize_phone(v, region), values, region)


def test_fast_paths_cover_the_common_formats():
    phones_ = pa.array(["(212) 555-0123", "212.555.0123", "+1 212 555 0123", "1-212-555-0123"])
    assert pc.all(pc.match_substring_regex(phones_, _PHONE_FAST)).as_py()
    mails = pa.array([" Maria.Garcia@Example.ORG ", "a+b@mail.k12.ny.us", "o'neil@x-y.io"])
    assert pc.all(pc.match_substring_regex(mails, _EMAIL_FAST)).as_py()
    assert _nanp_plan() is not None


def test_results_and_masks_on_a_mixed_column():
    emails_, bad = normalize_emails(pa.array([" A@B.org", None, "  ", "no-at", "é@x.org"]))
    assert emails_.to_pylist() == ["a@b.org", None, None, None, "é@x.org"]
    assert bad.to_pylist() == [False, False, False, True, False]
    written = ["(212) 555-0123", None, "12", "020 7946 0018", "+1 212 555 0123"]
    phones_, bad = normalize_phones(pa.array(written), "GB")
    assert phones_.to_pylist() == [None, None, None, "+442079460018", "+12125550123"]
    assert bad.to_pylist() == [True, False, True, False, False]


def test_empty_and_all_null_columns():
    for fn in (normalize_emails, lambda a: normalize_phones(a, "US")):
        out, bad = fn(pa.array([], pa.string()))
        assert len(out) == 0 and len(bad) == 0
        out, bad = fn(pa.nulls(3, pa.string()))
        assert out.to_pylist() == [None] * 3 and bad.to_pylist() == [False] * 3
    assert name_keys(pa.array([], pa.string())).to_pylist() == []
    assert pc.all(pc.equal(name_keys(pa.nulls(2, pa.string())), "")).as_py()
