import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollbook.directory.contacts import (
    ContactError,
    PersonKey,
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
