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
