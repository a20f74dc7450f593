"""`--dry-run`: every pending file runs and is rolled back; only dry_run events remain."""

from __future__ import annotations

import json

from tests.conftest import UAP_MIGRATIONS, migration

CATALOG = """
SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relname NOT LIKE 'schema_migration%%'
ORDER BY 1, 3
"""


def test_dry_run_leaves_catalog_and_tracking_rows_unchanged(uap, database):
    """All four UAP files would apply; no table, column or ledger row appears."""
    assert uap("--target", "001", directory=UAP_MIGRATIONS).code == 0
    catalog = database.query(CATALOG)
    rows = database.query("SELECT * FROM schema_migrations ORDER BY version")
    result = uap("--dry-run", directory=UAP_MIGRATIONS)
    assert result.code == 0, result.err
    assert "✓ 003 v1.2_add_user_preferences" in result.out
    assert "Dry run: 3 would apply, 0 would fail, 0 skipped" in result.out
    assert database.query(CATALOG) == catalog
    assert database.query("SELECT * FROM schema_migrations ORDER BY version") == rows
    events = database.query(
        "SELECT version, action, status, checksum IS NOT NULL FROM schema_migration_events "
        "WHERE action = 'dry_run' ORDER BY id"
    )
    assert events == [(v, "dry_run", "completed", True) for v in ("002", "003", "004")]
    assert uap(directory=UAP_MIGRATIONS).code == 0  # the real run still has all three to apply
    assert "goals" in database.tables()


def test_dry_run_reports_the_failing_file_and_exits_1(uap, database, migrations_dir):
    """A file sees earlier pending files' changes; the broken one is named with its line."""
    folder = migrations_dir(
        {
            "001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);"),
            "002_v1.0_b.sql": migration("002", "INSERT INTO a VALUES (1);\nSELECT * FROM nope;"),
            "003_v1.0_c.sql": migration("003", "CREATE TABLE c (id int);"),
        }
    )
    result = uap("--dry-run", directory=folder)
    assert result.code == 1
    assert "✓ 001 v1.0_a" in result.out and "✗ 002 v1.0_b" in result.out
    assert "- 003 v1.0_c  skipped: not tried: an earlier file failed" in result.out
    assert "002_v1.0_b.sql:12: 002 v1.0_b would fail [SQLSTATE 42P01]" in result.err
    assert database.tables() == {
        "schema_migrations",
        "schema_migration_events",
        "schema_audit_access",
    }
    assert database.scalar("SELECT count(*) FROM schema_migrations") == 0
    assert database.query(
        "SELECT version, status, sqlstate FROM schema_migration_events ORDER BY id"
    ) == [("001", "completed", None), ("002", "failed", "42P01"), ("003", "skipped", None)]


def test_dry_run_json_marks_non_transactional_files_not_dry_runnable(uap, migrations_dir):
    """A `-- Transaction: none` file is skipped and said to be not dry-runnable."""
    body = "-- Transaction: none\n" + migration(
        "002", "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON a (id);"
    )
    folder = migrations_dir(
        {"001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);"), "002_v1.0_i.sql": body}
    )
    result = uap("--dry-run", "--json", directory=folder)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [(d["version"], d["status"]) for d in data["dry_run"]] == [
        ("001", "completed"),
        ("002", "skipped"),
    ]
    assert "not dry-runnable" in data["dry_run"][1]["error"]
    assert (data["successful"], data["failed"], data["skipped"]) == (1, 0, 1)
