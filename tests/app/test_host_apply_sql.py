"""ApplySQL in a fresh `django-admin startproject`: a `shop` migration applies SQL files 001-002
during `manage.py migrate`, `sqlmigrate` prints them, reversing is refused, and Django's test
database gets them from the migration and the rest after it. The app is imported from this
checkout (the wheel's own project test is tests/app/test_host_project.py)."""

from __future__ import annotations

import sys
import textwrap

from tests.app.conftest import run
from tests.app.test_host_project import _write_project, databases, query  # noqa: F401
from tests.conftest import ROOT, migration

APPLY_SQL = """
from django.db import migrations

from schema_audit.operations import ApplySQL


class Migration(migrations.Migration):
    atomic = False  # each SQL file commits on its own
    dependencies = [("shop", "0001_initial")]
    operations = [ApplySQL("002")]
"""
SHOP_TESTS = """
from django.db import connection
from django.test import TestCase


class SqlFiles(TestCase):
    def test_every_file_in_the_test_database(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT version, status FROM schema_migrations ORDER BY version")
            self.assertEqual(
                cursor.fetchall(),
                [("001", "completed"), ("002", "completed"), ("003", "completed")],
            )
            cursor.execute(
                "SELECT version FROM schema_migration_events WHERE action = 'apply' "
                "AND reason = 'Django migration shop.0002_things' ORDER BY version"
            )
            self.assertEqual(cursor.fetchall(), [("001",), ("002",)])
"""
# A foreign key to the table Django's shop.0001_initial makes.
LATER = "CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, item_id bigint REFERENCES "
LATER += "shop_item (id) ON DELETE CASCADE);"


def test_migrate_applies_the_files_of_a_django_migration(databases, tmp_path):  # noqa: F811
    """migrate -> 001-002 in the ledger with the migration's name; 003 left for uap_migrate."""
    project = tmp_path / "project"
    project.mkdir()
    admin = [sys.executable, "-m", "django", "startproject", "host", project]
    assert run(admin, tmp_path).returncode == 0
    home = databases()
    _write_project(project, home)
    folder = project / "db" / "migrations"
    (folder / "003_v1.2_orders.sql").write_text(migration("003", LATER, "orders"))
    (project / "shop" / "tests.py").write_text(textwrap.dedent(SHOP_TESTS))

    def host(*args, code: int = 0):
        done = run(
            [sys.executable, project / "manage.py", *args],
            project,
            env={"HOST_DB": home, "PYTHONPATH": str(ROOT)},
        )
        assert done.returncode == code, f"{args}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
        return done

    host("makemigrations", "shop", "-v0")
    (project / "shop" / "migrations" / "0002_things.py").write_text(APPLY_SQL)
    shown = host("sqlmigrate", "shop", "0002").stdout
    assert "001_v1.0_create_things.sql, in a transaction of its own" in shown
    assert "INSERT INTO things VALUES (1, 'seeded');" in shown and "orders" not in shown

    host("migrate", "-v0")
    assert query(home, "SELECT version, status FROM schema_migrations ORDER BY 1") == [
        ("001", "completed"),
        ("002", "completed"),
    ]
    reasons = query(
        home, "SELECT DISTINCT reason FROM schema_migration_events WHERE action = 'apply'"
    )
    assert reasons == [("Django migration shop.0002_things",)]
    assert "No migrations to apply" in host("migrate").stdout
    assert "003 v1.2_orders" in host("uap_migrate").stdout
    host("uap_migrate", "--verify")

    refused = host("migrate", "shop", "zero", code=1)
    assert "IrreversibleError" in refused.stderr and "ApplySQL" in refused.stderr
    assert query(home, "SELECT count(*) FROM things") == [(1,)]

    # The test database: 001-002 from the migration, 003 after Django's migrations.
    tested = host("test", "shop", "-v", "1")
    assert "Ran 1 test" in tested.stderr
