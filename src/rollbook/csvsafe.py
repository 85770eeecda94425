"""CSV cells that a spreadsheet will not run as formulas.

A cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is read as a
formula by Excel and LibreOffice; such cells get a leading apostrophe (OWASP's advice). This
applies to every CSV Rollbook writes for people to open, including phone numbers in E.164.
"""

from __future__ import annotations

from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_row(row: dict[str, Any]) -> dict[str, Any]:
    return {key: safe_cell(value) for key, value in row.items()}
