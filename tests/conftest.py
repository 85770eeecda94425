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
