"""Shared fixtures. Tests run on a real database: SQLite by default, PostgreSQL when
DATABASE_URL points at one (CI runs the suite on both)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("ROLLBOOK_SAMPLES", REPO.parent / "shared" / "oneroster-samples"))


@pytest.fixture
def samples() -> Path:
    """The shared third-party OneRoster samples (never copied into this repository)."""
    if not SAMPLES.is_dir():
        pytest.skip(f"shared OneRoster samples not found at {SAMPLES}")
    return SAMPLES


@pytest.fixture
def actor():
    from rollbook.directory.audit import Actor

    return Actor(label="test")


@pytest.fixture
def district(db):
    from rollbook.directory.models import District

    return District.objects.create(name="Test District", default_region="US")


@pytest.fixture
def school(district):
    from rollbook.directory.models import School

    return School.objects.create(district=district, name="Lincoln Elementary")


@pytest.fixture
def other_school(district):
    from rollbook.directory.models import School

    return School.objects.create(district=district, name="Jefferson Middle")


@pytest.fixture(autouse=True)
def kept_state_is_the_directory_s(monkeypatch):
    """Every sync in every test: the state it keeps for the next run (sync/kept_state.py) is
    exactly what the directory holds once it has applied — so the next run finds it valid."""
    from rollbook.sync import kept_state

    keep = kept_state.keep

    def checked(source_pk, states):
        from rollbook.sync.models import SyncSource
        from rollbook.sync.state import load_states

        if states:
            read = load_states(SyncSource.objects.get(pk=source_pk))
            for entity, table in read.items():
                assert _state_rows(states[entity]) == _state_rows(table), entity
        keep(source_pk, states)

    monkeypatch.setattr(kept_state, "keep", checked)


def _state_rows(table) -> list[tuple]:
    return sorted(tuple(r.values()) for r in table.to_pylist())
