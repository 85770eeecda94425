"""The schedule part of a source's settings page (``views_sync.source_settings``): when the
source syncs by itself, from which folder of the district's import folder, and its pauses.

The form reads what people type into a ``sync.schedules.Change``; the change itself (and its
audit entries) is ``sync.schedules.change``, the same as ``rollbook source schedule``.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

from django import forms

from rollbook.errors import UserError
from rollbook.sync import schedules
from rollbook.sync.models import SyncSchedule, SyncSource

from . import bundles

NO_SCHEDULE = "none"


def _zones() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ScheduleForm(forms.Form):
    kind = forms.ChoiceField(label="Sync by itself", widget=forms.RadioSelect)
    time_of_day = forms.TimeField(
        label="At (the first of the day's times when every few hours)",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    every_hours = forms.TypedChoiceField(
        label="Every (hours)", coerce=int, choices=[(h, str(h)) for h in schedules.HOURS]
    )
    time_zone = forms.ChoiceField(label="In the district's time zone (all its schedules)")
    folder = forms.CharField(
        required=False,
        max_length=500,
        label="Folder the scheduled runs read, in this district's import folder",
    )
    paused = forms.BooleanField(required=False, label="Paused: no run starts")
    additions_only = forms.BooleanField(
        required=False,
        label="Additions only: create and update, never archive (for rollover weeks)",
    )
    blackouts = forms.CharField(
        required=False,
        label="Blackout dates: no run starts on these days (one range a line, FIRST..LAST, "
        "e.g. 2026-12-24..2027-01-02)",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    rollover = forms.CharField(
        required=False,
        max_length=30,
        label="Rollover pause, FIRST..LAST (e.g. the summer; empty: none)",
    )
    alert_after_hours = forms.IntegerField(
        min_value=1,
        max_value=24 * 365,
        label="Alert the district's administrators after this many hours without a successful run",
    )

    def __init__(self, *args, source: SyncSource, **kwargs):
        self.source = source
        self.schedule = SyncSchedule.objects.filter(source=source).first()
        kwargs.setdefault("initial", self.initial_values())
        super().__init__(*args, **kwargs)
        choices = [
            (SyncSchedule.Kind.DAILY, "Every day"),
            (SyncSchedule.Kind.EVERY, "Every few hours"),
        ]
        if self.schedule is None:
            choices.insert(0, (NO_SCHEDULE, "No: only when someone starts a sync"))
        self.fields["kind"].choices = choices
        self.fields["time_zone"].choices = _zones()

    def initial_values(self) -> dict:
        schedule, source = self.schedule, self.source
        values = {
            "kind": NO_SCHEDULE,
            "time_of_day": "02:30",
            "every_hours": 6,
            "time_zone": source.district.time_zone,
            "folder": self.folder_name(),
            "additions_only": source.additions_only,
            "alert_after_hours": 36,
        }
        if schedule is not None:
            values |= {
                "kind": schedule.kind,
                "time_of_day": schedule.time_of_day.strftime("%H:%M"),
                "every_hours": schedule.every_hours,
                "paused": schedule.paused,
                "blackouts": "\n".join(f"{a}..{b}" for a, b in schedule.blackouts),
                "rollover": f"{schedule.rollover_start}..{schedule.rollover_end}"
                if schedule.rollover_start
                else "",
                "alert_after_hours": schedule.alert_after_hours,
            }
        return values

    def folder_name(self) -> str:
        """The source's folder by its name in the district's import folder ("" otherwise: a
        server path is never shown)."""
        if not self.source.location:
            return ""
        kind, name = bundles._short(self.source.district_id, Path(self.source.location))
        return name if kind == "folder" else ""

    def current_folder(self) -> str:
        return bundles.describe(self.source.district_id, self.source.location)

    def shown(self) -> dict | None:
        """The schedule as the page shows it: its slots' notes name the folder as the page
        does, never by its server path."""
        if self.schedule is None:
            return None
        record = schedules.record(self.schedule)
        location = self.source.location
        if location:
            for slot in record["slots"]:
                for path in {location, str(Path(location).resolve())}:
                    slot["note"] = slot["note"].replace(path, self.current_folder())
        return record

    def clean(self):
        data = super().clean()
        for name, parse in (("blackouts", self._ranges), ("rollover", self._rollover)):
            try:
                data[f"{name}_parsed"] = parse(data.get(name) or "")
            except UserError as exc:
                self.add_error(name, str(exc))
        folder = (data.get("folder") or "").strip()
        data["location"] = None
        if folder and folder != self.folder_name():
            try:
                data["location"] = str(bundles.resolve_folder(self.source.district_id, folder))
            except UserError as exc:
                self.add_error("folder", str(exc))
        scheduled = data.get("kind") not in (None, NO_SCHEDULE)
        if scheduled and self.schedule is None and not folder:
            self.add_error("folder", "name the folder of the import folder the runs read")
        return data

    @staticmethod
    def _ranges(text: str) -> list:
        return [schedules.parse_range(line) for line in text.splitlines() if line.strip()]

    @staticmethod
    def _rollover(text: str):
        return schedules.parse_range(text) if text.strip() else ()

    def change(self) -> schedules.Change:
        """The change to make (without a schedule: the mode and time zone only)."""
        data = self.cleaned_data
        kind = data["kind"]
        if kind == NO_SCHEDULE:
            return schedules.Change(
                additions_only=data["additions_only"], time_zone=data["time_zone"]
            )
        daily = kind == SyncSchedule.Kind.DAILY
        return schedules.Change(
            daily=data["time_of_day"] if daily else None,
            every_hours=None if daily else data["every_hours"],
            starting=None if daily else data["time_of_day"],
            paused=data["paused"],
            blackouts=data["blackouts_parsed"],
            rollover=data["rollover_parsed"],
            additions_only=data["additions_only"],
            location=data["location"],
            alert_after_hours=data["alert_after_hours"],
            time_zone=data["time_zone"],
        )
