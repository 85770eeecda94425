"""Rendering names, e-mail addresses and phone numbers as string arrays, and planted variants."""

from __future__ import annotations

import math
import random
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from . import names
from .arrays import INT, mod

_PHONE_MULT = 2_654_435_761  # scatters consecutive slots over area codes and lines
_PHONE_ADD = 1_234_567
assert math.gcd(_PHONE_MULT, names.PHONE_SLOTS) == 1

_AREA = pa.array([str(a) for a in names.AREA_CODES])
PHONE_FORMATS = 6  # (AAA) 555-LLLL | AAA-555-LLLL | AAA.555.LLLL | +1 AAA 555 LLLL | ...
PHONE_FORMAT_WEIGHTS = (40, 20, 10, 15, 10, 5)
EMAIL_STYLES = 4


def fold_array(values: list[str]) -> pa.Array:
    """ASCII e-mail forms aligned with a name list."""
    return pa.array([names.ascii_fold(v) for v in values])


def phone(slot: pa.Array, fmt: pa.Array) -> pa.Array:
    """Render unique fictional US numbers: ``slot`` (0 ≤ slot < PHONE_SLOTS) ↦ a 555 number."""
    scattered = mod(
        pc.add(pc.multiply(pc.cast(slot, INT), _PHONE_MULT), _PHONE_ADD), names.PHONE_SLOTS
    )
    area = pc.take(_AREA, pc.divide(scattered, 10_000))
    line = pc.utf8_lpad(pc.cast(mod(scattered, 10_000), pa.string()), 4, "0")

    def j(*parts: object) -> pa.Array:
        return pc.binary_join_element_wise(*parts, "")

    variants = [
        j("(", area, ") 555-", line),
        j(area, "-555-", line),
        j(area, ".555.", line),
        j("+1 ", area, " 555 ", line),
        j("+1", area, "555", line),
        j("1-", area, "-555-", line),
    ]
    return pc.choose(pc.cast(fmt, pa.int8()), *variants)


def email(
    given: pa.Array, family: pa.Array, key: pa.Array, style: pa.Array, domain: pa.Array
) -> pa.Array:
    """Render ``local@domain`` from folded names, a unique number ``key`` and a style index."""
    k = pc.cast(key, pa.string())
    initial = pc.utf8_slice_codeunits(given, 0, 1)

    def j(*parts: object) -> pa.Array:
        return pc.binary_join_element_wise(*parts, "")

    local = pc.choose(
        pc.cast(style, pa.int8()),
        j(given, ".", family, k),
        j(initial, family, k),
        j(family, ".", given, k),
        j(given, "_", family, k),
    )
    return j(local, "@", domain)


def typo(name: str, rng: random.Random) -> str:
    """Return ``name`` with one realistic typing error (lost accent, swapped or doubled letter)."""
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
    )
    if stripped != name:
        return unicodedata.normalize("NFC", stripped)
    letters = [
        i
        for i in range(1, len(name) - 1)
        if name[i].isalpha() and name[i + 1].isalpha() and name[i] != name[i + 1]
    ]
    if letters:
        i = rng.choice(letters)
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name + name[-1]


def email_case_variant(address: str) -> str:
    """Return the same mailbox written with capitals (``Maria.Garcia12@Example.com``)."""
    local, _, domain = address.partition("@")
    local2 = ".".join(p[:1].upper() + p[1:] for p in local.split("."))
    if local2 == local:
        local2 = local.upper()
    return f"{local2}@{domain[:1].upper()}{domain[1:]}"
