"""A run's entities, people outcomes and plan columns in the words people read
(``sync.report.words``): ``{{ entity|run_words:"entity" }}``."""

from __future__ import annotations

from django import template

from rollbook.sync.report import words

register = template.Library()


@register.filter
def run_words(key, kind: str = "entity") -> str:
    return words(kind, str(key))
