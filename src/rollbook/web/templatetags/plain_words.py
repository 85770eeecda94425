"""Counts in words: ``{{ total|counted:"student" }}`` → "1 student", "2,000 students";
``{{ n|counted:"class,classes" }}`` for a plural that is not the word and an "s"."""

from __future__ import annotations

from django import template

from rollbook.directory.audit import plural

register = template.Library()


@register.filter
def counted(count, words: str) -> str:
    one, _, many = words.partition(",")
    return plural(int(count or 0), one, many or None)


@register.filter
def thousands(count) -> str:
    """2000 → "2,000"."""
    return f"{int(count or 0):,}"
