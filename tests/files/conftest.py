"""Fixtures of the tests of migration folders: an empty folder, a second database."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.conftest import server_params


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "migrations"
    path.mkdir()
    return path


@pytest.fixture
def reference(database):
    """A second empty database, where psql applies the up parts."""
    params = server_params()
    name = f"{database.name}_psql"
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name, params
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
