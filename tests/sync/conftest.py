from __future__ import annotations

import itertools

import pytest

from rollbook.directory.audit import Actor

from .bundles import Bundle

_counter = itertools.count()


@pytest.fixture
def bundle() -> Bundle:
    return Bundle()


@pytest.fixture
def run_sync(tmp_path, district, settings):
    """Write a bundle to a fresh folder and sync it; approve by default."""
    settings.ROLLBOOK_HOME = tmp_path / "home"
    from rollbook.sync import services

    source = services.get_source(district)

    def sync(b: Bundle, approve: bool = True, dry_run: bool = False, src=None):
        folder = b.write(tmp_path / f"bundle-{next(_counter)}")
        return services.sync_bundle(
            src or source, folder, Actor(label="test"), approve=approve, dry_run=dry_run
        )

    sync.source = source
    return sync


def family_bundle(n: int = 5) -> Bundle:
    """n students, each with one guardian of their own."""
    b = Bundle()
    for i in range(n):
        b.guardian(f"g-{i}", "Pat", f"Family{i}", email=f"pat{i}@example.org")
        b.student(f"s-{i}", "Kid", f"Family{i}", guardians=(f"g-{i}",))
    return b


def state_rows(states):
    return {e: sorted(t.to_pylist(), key=lambda r: r["sourced_id"]) for e, t in states.items()}


@pytest.fixture
def committed_source(tmp_path, district, settings):
    """A source whose first sync of :func:`family_bundle` committed (transactional tests)."""
    from rollbook.sync import services
    from rollbook.sync.models import SyncRun

    settings.ROLLBOOK_HOME = tmp_path / "home"
    source = services.get_source(district)
    run = services.sync_bundle(
        source, family_bundle().write(tmp_path / "day1"), Actor(label="test"), approve=True
    )
    assert run.status == SyncRun.Status.APPLIED
    return source
