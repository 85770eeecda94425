"""How Rollbook compares people: names, emails and phones, normalised for formatting only.

The founding rule: one person, one account, many roles — only when name, email and phone are
*exactly* the same in every role. Nothing fuzzy happens here. Normalisation removes differences
of formatting and nothing else:

- names: surrounding and repeated whitespace is folded, letter case is ignored (casefold);
- emails: surrounding whitespace removed, lower-cased; the address must be well formed;
- phones: parsed with the district's default region and written as E.164 (``+15551234567``).

This module has no Django import: the OneRoster reader, the sync and the directory all use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_SPACES = re.compile(r"\s+")


class ContactError(ValueError):
    """A contact detail that cannot be used, with a message that says how to fix it."""


def clean_name(value: str | None) -> str:
    """Fold surrounding and repeated whitespace; keep the letters as written."""
    return _SPACES.sub(" ", value or "").strip()


def name_key(value: str | None) -> str:
    """The form of a name used for comparison: whitespace folded, case ignored."""
    return clean_name(value).casefold()


def normalize_email(value: str | None) -> str | None:
    """Return the email trimmed and lower-cased, ``None`` when blank.

    Raises:
        ContactError: the address is not a well-formed email address.
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ContactError(f"'{text}' is not a valid email address: {exc}") from None
    return text.lower()


def normalize_phone(value: str | None, region: str = "US") -> str | None:
    """Return the phone as E.164, ``None`` when blank.

    Args:
        value: the phone as written, in any common format.
        region: the district's default region (ISO 3166 code), for numbers without ``+``.

    Raises:
        ContactError: the number cannot be read as a valid phone number for that region.
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise ContactError(
            f"'{text}' is not a valid phone number for region {region}; "
            "write it with its area code, or in international form starting with +"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True, slots=True)
class PersonKey:
    """The identity triple: two records are one person only when their keys are equal."""

    given_name: str
    family_name: str
    email: str | None
    phone: str | None

    @classmethod
    def of(
        cls,
        given_name: str | None,
        family_name: str | None,
        email: str | None,
        phone: str | None,
    ) -> PersonKey:
        """Build a key from already-normalised email and phone and names as written."""
        return cls(name_key(given_name), name_key(family_name), email, phone)
