"""``{{ run.bundle|bundle_name:place.district.pk }}``: a bundle by its name, never its server
path (``web/bundles.py``, ``describe``)."""

from __future__ import annotations

from django import template

from rollbook.web import bundles

register = template.Library()


@register.filter
def bundle_name(bundle, district_id) -> str:
    return bundles.describe(int(district_id), bundle or "")
