"""``{% held_runs place as n %}``: how many of the place's district's sync runs wait for
approval, shown on the Sync tab of every page of a district or a school (so a held run is
seen beyond the overview page)."""

from __future__ import annotations

from django import template

from rollbook.sync.models import SyncRun

register = template.Library()


@register.simple_tag
def held_runs(place) -> int:
    return SyncRun.objects.filter(
        source__district_id=place.district.pk, status=SyncRun.Status.HELD
    ).count()
