"""The tracking tables: created idempotently, upgraded in place, the event log append-only."""

from __future__ import annotations

import psycopg
import pytest
from django.db.models import Q

from schema_audit import api
from schema_audit.ledger import store
from tests.conftest import UAP_MIGRATIONS

DOCUMENTED_COLUMNS = {
    "schema_migrations": [
        "version",
        "name",
        "checksum",
        "status",
        "applied_at",
        "duration_ms",
        "error_message",
        "applied_by",
        "description",
        "impact",
        "rollback_sql",
    ],
    "schema_migration_events": [
        "id",
        "version",
        "action",
        "status",
        "started_at",
        "duration_ms",
        "error_message",
        "sqlstate",
        "applied_by",
        "os_user",
        "host",
        "app_version",
        "checksum",
        "sql_text",
    ],
}


def columns(database, table):
    return [
        r[0]
        for r in database.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position",
            (table,),
        )
    ]


def test_tables_have_the_contract_columns(database):
    """Both tables carry every column docs/reference.md lists."""
    assert api.initialize_tracking(database.alias) is True
    for table, expected in DOCUMENTED_COLUMNS.items():
        assert set(expected) <= set(columns(database, table))
    assert api.initialize_tracking(database.alias) is False


def test_guide_shaped_table_is_upgraded_keeping_rows(uap, database):
    """An older 7-column schema_migrations gains the new columns; its rows survive and count."""
    with database.connect() as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version VARCHAR(50) PRIMARY KEY, name VARCHAR(255),"
            " applied_at TIMESTAMP DEFAULT now(), duration_ms INT, status VARCHAR(20),"
            " error_message TEXT, checksum VARCHAR(64))"
        )
        conn.execute(
            "INSERT INTO schema_migrations (version, name, duration_ms, status) VALUES "
            "('001', 'v1.0_initial_schema', 1200, 'completed'),"
            "('002', 'v1.1_add_audit_logs', 245, 'completed')"
        )
        conn.execute(open(UAP_MIGRATIONS / "001_v1.0_initial_schema.sql").read())
        conn.execute(open(UAP_MIGRATIONS / "002_v1.1_add_audit_logs.sql").read())
    result = uap(directory=UAP_MIGRATIONS)
    assert result.code == 0, result.err
    assert "✓ 001" not in result.out and "✓ 003 v1.2_add_user_preferences" in result.out
    assert set(DOCUMENTED_COLUMNS["schema_migrations"]) <= set(
        columns(database, "schema_migrations")
    )
    assert database.query(
        "SELECT version, duration_ms, status FROM schema_migrations ORDER BY version"
    )[:2] == [("001", 1200, "completed"), ("002", 245, "completed")]


def test_table_without_a_key_on_version_gets_one(database):
    """Upserts need a unique version; an unkeyed legacy table is given a primary key."""
    with database.connect() as conn:
        conn.execute("CREATE TABLE schema_migrations (version text, name text, status text)")
        assert store.ensure_schema(conn) is True
        conn.execute("INSERT INTO schema_migrations (version) VALUES ('001')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO schema_migrations (version) VALUES ('001')")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE schema_migration_events SET status = 'completed'",
        "DELETE FROM schema_migration_events",
        "TRUNCATE schema_migration_events",
    ],
)
def test_event_log_rejects_edits(uap, database, statement):
    """UPDATE, DELETE and TRUNCATE on the event log are refused by its trigger."""
    assert uap(directory=UAP_MIGRATIONS).code == 0
    with database.connect() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == 4


def test_version_sort_key_is_indexed_and_used_by_the_admin_ordering(database):
    """The ledger indexes the version order key; the admin's newest-first query reads that
    index, and a ledger made with the earlier lpad(version) index gets the new one (and
    loses the old) on the next run."""
    from schema_audit.admin.filters import version_key
    from schema_audit.models import SchemaMigration

    with database.connect() as conn:
        assert store.ensure_schema(conn)
        conn.execute("DROP INDEX schema_migrations_version_order_idx")
        conn.execute(
            "CREATE INDEX schema_migrations_version_key_idx "
            "ON schema_migrations (lpad(version, 20, '0'))"
        )
        assert store.ensure_schema(conn), "a missing sort index is an upgrade"
        assert not store.ensure_schema(conn)
        conn.execute(
            "INSERT INTO schema_migrations (version, status) "
            "SELECT lpad(g::text, 4 + g % 3, '0'), 'completed' FROM generate_series(1, 3000) g"
        )
        conn.execute("ANALYZE schema_migrations")
        indexes = database.query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'schema_migrations'"
        )
    assert ("schema_migrations_version_key_idx",) not in indexes
    query = SchemaMigration.objects.alias(version_key=version_key()).order_by("-version_key")
    text, params = query.values_list("version")[:20].query.sql_with_params()
    with database.connect() as conn:
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + text, params))
        newest = [row[0] for row in conn.execute(text, params)]
    assert "schema_migrations_version_order_idx" in plan and "Sort" not in plan, plan
    assert newest[:3] == ["3000", "002999", "02998"]


def test_the_drift_filter_hashes_its_versions(database):
    """The admin's filter on a list of versions (100,000 on a ledger whose files are gone) is
    a hashed sub-select, probed once per row, never an array searched from its start."""
    from schema_audit.admin.queries import _VersionIn
    from schema_audit.models import SchemaMigration

    with database.connect() as conn:
        store.ensure_schema(conn)
        conn.execute(
            "INSERT INTO schema_migrations (version, status) "
            "SELECT g::text, 'completed' FROM generate_series(1, 2000) g"
        )
    wanted = [str(n) for n in range(1, 2000, 2)] + ["a,b"]
    query = SchemaMigration.objects.filter(Q(_VersionIn(wanted)) | Q(status="failed"))
    text, params = query.values_list("version").query.sql_with_params()
    with database.connect() as conn:
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + text, params))
        found = {row[0] for row in conn.execute(text, params)}
    assert "hashed SubPlan" in plan, plan
    assert found == set(wanted) - {"a,b"}


@pytest.mark.parametrize(
    "versions",
    [
        pytest.param(
            ["0.9", "1", "1.2", "1.2.3", "1.10", "2", "9", "010", "20240101000000", "1" * 25],
            id="flyway-parts-and-widths",
        ),
        pytest.param(["99999999999999999999", "100000000000000000000"], id="20-then-21-digits"),
        pytest.param(["200000000000000000000", "1000000000000000000000"], id="21-then-22-digits"),
        pytest.param(["1.99999999999999999999", "1.100000000000000000000"], id="dotted-part"),
        pytest.param(["9", "0000000000000000000000010"], id="zeros-before-a-small-number"),
        pytest.param(["99999999999999999999.5", "100000000000000000000"], id="dotted-then-long"),
        pytest.param(["1_10", "2", "1a", "R__view"], id="words-after-numbers"),
    ],
)
def test_the_admin_orders_versions_as_the_planner_does(database, versions):
    """Given in the runner's order (naming.version_key: by value, part by part for dotted
    versions, every number before other text), the admin's key lists them the same way."""
    from schema_audit.admin.filters import version_key
    from schema_audit.files.naming import version_key as planner_key
    from schema_audit.models import SchemaMigration

    with database.connect() as conn:
        store.ensure_schema(conn)
        for version in versions:
            conn.execute(
                "INSERT INTO schema_migrations (version, status) VALUES (%s, 'completed')",
                (version,),
            )
    ordered = SchemaMigration.objects.alias(key=version_key()).order_by("key")
    text, params = ordered.values_list("version").query.sql_with_params()
    with database.connect() as conn:
        shown = [row[0] for row in conn.execute(text, params)]
    assert shown == sorted(versions, key=planner_key) == versions
