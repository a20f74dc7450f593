"""Fast tests of pure code: no PostgreSQL server, no Django database, no embedded server."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# Fixtures that create, open or migrate a database; a test here asking for one is misplaced.
_DATABASE_FIXTURES = frozenset(
    {"database", "uap", "uap_fleet", "fleet", "db", "transactional_db", "django_db_setup"}
)


@pytest.fixture(scope="session", autouse=True)
def _fast_embedded_server():
    """Overrides the suite's fixture of the same name: these tests never start a server."""


def pytest_collection_modifyitems(config, items):
    """Refuse a test of this folder that asks for a database fixture."""
    for item in items:
        if HERE in Path(item.path).parents and _DATABASE_FIXTURES & set(item.fixturenames):
            used = sorted(_DATABASE_FIXTURES & set(item.fixturenames))
            raise pytest.UsageError(f"{item.nodeid} needs no database, yet asks for {used}")
