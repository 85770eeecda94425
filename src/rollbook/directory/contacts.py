"""How Rollbook compares people: names, emails and phones, normalised for formatting only.

The founding rule: one person, one account, many roles — only when name, email and phone are
*exactly* the same in every role. Nothing fuzzy happens here. Normalisation removes differences
of formatting and nothing else:

- names: written in Unicode NFC (so that "José" typed with a precomposed "é" and "José" typed
  as "e" + combining accent are one name), hidden characters removed (see below), surrounding
  and repeated whitespace folded; letter case is ignored when comparing (casefold);
- emails: surrounding whitespace removed, lower-cased; the address must be well formed;
- phones: parsed with the district's default region and written as E.164 (``+15551234567``).

Hidden characters (``HIDDEN_CHARACTERS``) are the bidirectional controls — marks, embeddings,
overrides and isolates, which make "Ann\u202efdp.exe" display as "Annexe.pdf" — and the
zero-width space, word joiner and byte-order mark, which make two names that look the same
differ. They have no place in a name: a name typed by hand that holds one is refused
(:func:`check_name`), and :func:`clean_name` removes them from SIS data (the OneRoster reader
reports them first). The zero-width joiner and non-joiner (U+200C, U+200D) are kept: Persian and
Indic names need them.

This module has no Django import: the OneRoster reader, the sync and the directory all use it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_SPACES = re.compile(r"\s+")

#: Bidirectional controls: ALM, LRM, RLM, LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
#: Invisible characters that only make equal-looking names differ: zero-width space, word
#: joiner, zero-width no-break space (byte-order mark).
INVISIBLE = "\u200b\u2060\ufeff"
#: Characters refused in names typed by hand and removed from names read from an SIS.
HIDDEN_CHARACTERS = BIDI_CONTROLS + INVISIBLE
_WITHOUT_HIDDEN = str.maketrans("", "", HIDDEN_CHARACTERS)


class ContactError(ValueError):
    """A contact detail that cannot be used, with a message that says how to fix it."""


def hidden_characters(value: str | None) -> list[str]:
    """The distinct hidden characters of ``value``, in order of appearance."""
    text = value or ""
    if text.isascii():
        return []
    return list(dict.fromkeys(c for c in text if c in HIDDEN_CHARACTERS))


def describe_characters(characters: list[str]) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``, joined with commas: what an administrator can look
    up (the characters themselves are invisible)."""
    return ", ".join(f"U+{ord(c):04X} ({unicodedata.name(c, 'unnamed')})" for c in characters)


def check_name(value: str | None) -> None:
    """Refuse a name typed by hand that holds hidden characters.

    Raises:
        ContactError: naming each hidden character found.
    """
    found = hidden_characters(value)
    if found:
        many = "characters" if len(found) > 1 else "character"
        raise ContactError(
            f"the name holds the invisible {many} {describe_characters(found)}, which can make "
            "a name display as something else; type the name again without it (copying a name "
            "from another program can bring such characters along)"
        )


def clean_name(value: str | None) -> str:
    """Unicode NFC, hidden characters removed, surrounding and repeated whitespace folded; the
    letters as written otherwise."""
    text = value or ""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text.translate(_WITHOUT_HIDDEN))
    return _SPACES.sub(" ", text).strip()


def name_key(value: str | None) -> str:
    """The form of a name used for comparison: ``clean_name``, case ignored (casefold, then NFC
    again: folding case can undo the composition)."""
    text = clean_name(value)
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFC", text.casefold())


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
        """Build a key from already-normalised email and phone and names as written (in any
        Unicode normal form: two spellings that look the same give equal keys)."""
        return cls(name_key(given_name), name_key(family_name), email, phone)
