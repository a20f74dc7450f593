"""SQL files in the test databases Django creates: applied once, recorded, silent, optional."""

from __future__ import annotations

import io
import uuid

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from schema_audit import conf, test_databases
from tests.conftest import migration, register_alias, server_params, unregister_alias

THINGS = "CREATE TABLE IF NOT EXISTS things (id bigint PRIMARY KEY, name text);"


@pytest.fixture(autouse=True)
def _django_connections(django_db_blocker):
    """These tests create databases through Django's connections, as a test runner does."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def test_alias():
    """An alias whose test database `create_test_db` makes; dropped afterwards."""
    alias = f"host_{uuid.uuid4().hex[:10]}"
    test = {"NAME": None, "CHARSET": None, "COLLATION": None, "MIGRATE": True, "MIRROR": None}
    register_alias(alias, {**settings.DATABASES["default"], "NAME": alias, "TEST": test})
    created = []

    def create(verbosity: int = 0, keepdb: bool = False) -> str:
        name = connections[alias].creation.create_test_db(
            verbosity=verbosity, autoclobber=True, keepdb=keepdb
        )
        created.append(name)
        return name

    yield alias, create
    unregister_alias(alias)
    with psycopg.connect(**server_params(), dbname="postgres", autocommit=True) as conn:
        # Also the test database of a create that failed part way (its name never returned).
        leftover = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = %s", (f"test_{alias}",)
        ).fetchall()
        for name in set(created) | {found for (found,) in leftover}:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(name: str, text: str) -> list[tuple]:
    with psycopg.connect(**server_params(), dbname=name, autocommit=True) as conn:
        return conn.execute(text).fetchall()


def ledger(name: str) -> list[tuple]:
    return query(name, "SELECT version, status FROM schema_migrations ORDER BY version")


@pytest.fixture
def sql_files(migrations_dir):
    """Two files: a table, then a row in it."""
    return migrations_dir(
        {
            "001_v1.0_create_things.sql": migration("001", THINGS),
            "002_v1.1_first_thing.sql": migration("002", "INSERT INTO things VALUES (1, 'a');"),
        }
    )


def test_test_database_gets_every_sql_file_after_djangos_migrations(test_alias, sql_files, capsys):
    """create_test_db (Django's runner, pytest-django): the files run after Django's
    migrations, the test database's ledger records them, and verbosity 1 prints nothing."""
    alias, create = test_alias
    with override_settings(UAP_TEST_DATABASES=True, UAP_MIGRATIONS_DIR=sql_files):
        name = create(verbosity=1)
    assert name == f"test_{alias}"
    assert ledger(name) == [("001", "completed"), ("002", "completed")]
    assert query(name, "SELECT name FROM things") == [("a",)]
    assert query(name, "SELECT count(*) FROM auth_user") == [(0,)]  # Django's tables too
    out, err = capsys.readouterr()
    assert "SQL" not in out + err and "things" not in out + err


def test_verbosity_two_says_what_was_applied(test_alias, sql_files, capsys):
    """`test -v 2` (migrate at verbosity 1) prints one line about the files."""
    alias, create = test_alias
    with override_settings(UAP_TEST_DATABASES=True, UAP_MIGRATIONS_DIR=sql_files):
        create(verbosity=2)
    assert "Applied 2 SQL files" in capsys.readouterr().out


def test_keepdb_applies_only_new_files_once_per_database(test_alias, sql_files):
    """--keepdb / --reuse-db: a kept database gets the files added since, nothing twice."""
    alias, create = test_alias
    with override_settings(UAP_TEST_DATABASES=True, UAP_MIGRATIONS_DIR=sql_files):
        name = create(keepdb=True)
        (sql_files / "003_v1.2_second_thing.sql").write_text(
            migration("003", "INSERT INTO things VALUES (2, 'b');")
        )
        # Same process, same database: a test's own migrate does not apply again.
        call_command("migrate", database=alias, verbosity=0)
        assert [v for v, _ in ledger(name)] == ["001", "002"]
        test_databases._applied.discard((alias, name))  # the next test run's process
        connections[alias].settings_dict["NAME"] = alias
        settings.DATABASES[alias]["NAME"] = alias
        assert create(keepdb=True) == name
    assert [v for v, _ in ledger(name)] == ["001", "002", "003"]
    applies = query(name, "SELECT version FROM schema_migration_events WHERE action = 'apply'")
    assert sorted(applies) == [("001",), ("002",), ("003",)]


def test_flush_keeps_working_and_does_not_reapply(test_alias, sql_files):
    """TransactionTestCase's flush and `manage.py flush`: Django's tables emptied, the
    append-only ledger untouched, no file applied again."""
    alias, create = test_alias
    with override_settings(UAP_TEST_DATABASES=True, UAP_MIGRATIONS_DIR=sql_files):
        name = create()
        with psycopg.connect(**server_params(), dbname=name, autocommit=True) as conn:
            conn.execute("INSERT INTO auth_group (name) VALUES ('flushed')")
        events = query(name, "SELECT count(*) FROM schema_migration_events")
        call_command("flush", database=alias, interactive=False, verbosity=0)
    assert query(name, "SELECT count(*) FROM auth_group") == [(0,)]
    assert query(name, "SELECT count(*) FROM schema_migration_events") == events
    assert ledger(name) == [("001", "completed"), ("002", "completed")]


def test_setting_off_leaves_test_databases_alone(test_alias, sql_files):
    """UAP_TEST_DATABASES = False: Django's migrations only, no ledger."""
    alias, create = test_alias
    with override_settings(UAP_TEST_DATABASES=False, UAP_MIGRATIONS_DIR=sql_files):
        name = create()
    assert query(name, "SELECT to_regclass('schema_migrations'), to_regclass('things')") == [
        (None, None)
    ]


def test_setting_is_a_strict_boolean():
    """A word outside the flag spellings is a configuration error (E002), not a guess."""
    with override_settings(UAP_TEST_DATABASES="enabled"):
        assert "UAP_TEST_DATABASES" in conf.problems()
    with override_settings(UAP_TEST_DATABASES="no"):
        assert "UAP_TEST_DATABASES" not in conf.problems()
    with override_settings(UAP_TEST_DATABASES=False):
        assert "UAP_TEST_DATABASES" not in conf.problems()


def test_failing_file_fails_test_database_setup_naming_it(test_alias, migrations_dir):
    """A file that fails in the test database stops the setup with its name and error."""
    alias, create = test_alias
    folder = migrations_dir({"001_v1.0_broken.sql": migration("001", "SELECT * FROM nowhere;")})
    with override_settings(UAP_TEST_DATABASES=True, UAP_MIGRATIONS_DIR=folder):
        with pytest.raises(test_databases.TestDatabaseSetupFailed, match="001_v1.0_broken.sql"):
            create()


def test_deploy_migrate_is_not_a_test_database(database, sql_files):
    """Django's migrate on an ordinary database never applies the files (that is a deploy's
    uap_migrate), even with the setting on and in a test process."""
    with override_settings(UAP_TEST_DATABASES=True, UAP_MIGRATIONS_DIR=sql_files):
        call_command("migrate", database=database.alias, verbosity=0, stdout=io.StringIO())
    assert "schema_migrations" not in database.tables()
