import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollbook.directory.contacts import (
    HIDDEN_CHARACTERS,
    ContactError,
    PersonKey,
    check_name,
    clean_name,
    name_key,
    normalize_email,
    normalize_phone,
)


@pytest.mark.parametrize(
    "written",
    ["(212) 555-0123", "212-555-0123", "212.555.0123", "+1 212 555 0123", " 2125550123 "],
)
def test_us_phone_formats_become_one_e164_number(written):
    assert normalize_phone(written, "US") == "+12125550123"


def test_phone_uses_the_district_region():
    assert normalize_phone("020 7946 0018", "GB") == "+442079460018"


@pytest.mark.parametrize("bad", ["12", "555-CALL-NOW", "+1 000 000 0000", "call me"])
def test_malformed_phones_are_refused(bad):
    with pytest.raises(ContactError, match="not a valid phone number"):
        normalize_phone(bad, "US")


def test_blank_contact_details_are_none():
    assert normalize_phone("  ", "US") is None
    assert normalize_email("") is None
    assert normalize_email(None) is None


def test_email_is_trimmed_and_lower_cased():
    assert normalize_email("  Maria.Garcia@Example.ORG ") == "maria.garcia@example.org"


@pytest.mark.parametrize("bad", ["maria@", "@example.org", "maria example.org", "a@b@c.org"])
def test_malformed_emails_are_refused(bad):
    with pytest.raises(ContactError, match="not a valid email"):
        normalize_email(bad)


def test_names_fold_whitespace_and_case_only():
    assert clean_name("  Mary   Ann ") == "Mary Ann"
    assert name_key("MARY  ann") == name_key("mary ann")
    assert name_key("Mary-Ann") != name_key("Mary Ann")  # nothing fuzzy
    assert name_key("José") != name_key("Jose")


def test_person_keys_differ_when_any_part_differs():
    base = PersonKey.of("Ana", "Lopez", "ana@example.org", "+12125550123")
    assert base == PersonKey.of(" ana ", "LOPEZ", "ana@example.org", "+12125550123")
    assert base != PersonKey.of("Ana", "Lopez", "ana@example.org", "+12125550124")
    assert base != PersonKey.of("Ana", "Lopez", None, "+12125550123")
    assert base != PersonKey.of("Anna", "Lopez", "ana@example.org", "+12125550123")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_name_normalisation_is_idempotent(text):
    assert clean_name(clean_name(text)) == clean_name(text)
    assert name_key(clean_name(text)) == name_key(text)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def test_names_are_written_composed_and_compared_whatever_their_form():
    assert clean_name(nfd("  José   Núñez ")) == nfc("José Núñez")
    assert name_key(nfd("JOSÉ")) == name_key(nfc("josé"))
    assert name_key("José") != name_key("Jose")  # still nothing fuzzy


def test_hidden_characters_are_removed_by_clean_name_and_refused_by_check_name():
    assert clean_name("Ann\u202efdp.exe") == "Annfdp.exe"
    assert clean_name("Ann \u200b Lee\ufeff") == "Ann Lee"
    with pytest.raises(ContactError, match=r"U\+202E \(RIGHT-TO-LEFT OVERRIDE\)"):
        check_name("Ann\u202efdp.exe")
    check_name(nfd("José"))  # accents are not hidden characters
    check_name("\u0645\u06cc\u200c\u0631\u0627")  # nor the joiners scripts need (ZWNJ)
    check_name(None)


# Letters that have a composed and a decomposed form, combining marks alone, Hangul (composed
# by rule), hidden characters and whitespace: the places where the forms differ.
NAME_PARTS = st.lists(
    st.one_of(
        st.sampled_from(["é", "Ñ", "ü", "Å", "ǅ", "ẞ", "ő", "ệ", "한", "가", "Ω", "ﬁ", "İ"]),
        st.sampled_from(["\u0301", "\u0308", "\u0323", "\u0302", " ", "\t", "\u2003"]),
        st.sampled_from(list(HIDDEN_CHARACTERS)),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=12,
).map("".join)


@given(NAME_PARTS, NAME_PARTS, st.sampled_from([None, "ana@example.org"]))
def test_person_keys_are_equal_under_nfc_and_nfd(given_name, family_name, email):
    key = PersonKey.of(given_name, family_name, email, "+12125550123")
    for form in ("NFC", "NFD"):
        other = PersonKey.of(
            unicodedata.normalize(form, given_name),
            unicodedata.normalize(form, family_name),
            email,
            "+12125550123",
        )
        assert other == key
    assert unicodedata.is_normalized("NFC", key.given_name)
    assert unicodedata.is_normalized("NFC", clean_name(given_name))
