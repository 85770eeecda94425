"""Fixtures of the tests with real worker processes: a site — a fresh database (SQLite in its
own ROLLBOOK_HOME, or a PostgreSQL database made for it) copied from a template made once per
module with ``rollbook init`` — and the processes working on it (``processes.Site``)."""

from __future__ import annotations

import secrets
import shutil

import pytest

from .processes import ON_POSTGRES, Db, Site, base_env, init_site, pg_admin, pg_url

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not ON_POSTGRES, reason="DATABASE_URL is not a PostgreSQL URL"),
        ],
    ),
]


@pytest.fixture(scope="module", params=BACKENDS)
def template(request, tmp_path_factory):
    """A migrated database with a district and its administrator, copied for each test."""
    home = tmp_path_factory.mktemp(f"template-{request.param}")
    env = base_env(home)
    if request.param == "postgres":
        name = f"rollbook_workers_{secrets.token_hex(4)}"
        with pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = pg_url(name)
        try:
            init_site(env)
            yield request.param, home, name
        finally:
            with pg_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    init_site(env)
    yield request.param, home, None


@pytest.fixture
def site(template, tmp_path):
    backend, template_home, template_db = template
    home = tmp_path / "home"
    shutil.copytree(template_home, home)
    shutil.rmtree(home / "workers", ignore_errors=True)
    env = base_env(home)
    name = None
    if backend == "postgres":
        name = f"{template_db}_{secrets.token_hex(3)}"
        with pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
        env["DATABASE_URL"] = pg_url(name)
        db = Db(url=pg_url(name))
    else:
        db = Db(sqlite_path=home / "rollbook.sqlite3")
    here = Site(backend, home, env, db)
    here.start_driver()  # Django starts while the test begins
    try:
        yield here
    finally:
        here.stop_all()
        db.close()
        if name:
            with pg_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
