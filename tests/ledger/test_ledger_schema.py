"""UAP_LEDGER_SCHEMA: the ledger in a schema of its own, beside another runner's table."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings

from schema_audit import api
from schema_audit.integrity import fingerprint
from schema_audit.ledger import chain, store
from tests.conftest import migration
from tests.ledger import foreign_tables

DBMATE_TABLE = "public.schema_migrations"
LEDGER_OBJECTS_SQL = """
SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = to_regnamespace(%s)
UNION ALL
SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = to_regnamespace(%s)
"""


@pytest.fixture
def files(migrations_dir):
    """Two migration files, neither applied."""
    return migrations_dir(
        {
            "001_v1.0_first.sql": migration("001", "CREATE TABLE first (id int);"),
            "002_v1.1_second.sql": migration("002", "CREATE TABLE second (id int);"),
        }
    )


@pytest.fixture
def dbmate(database):
    """dbmate's table with its rows in public; its shape and rows as they were."""
    with database.connect() as conn:
        conn.execute(foreign_tables.DBMATE)
    return foreign_tables.shape(database.query, DBMATE_TABLE)


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_a_run_beside_dbmates_table_leaves_it_untouched(uap, database, files, dbmate):
    """The schema is created, the files run and are recorded there; dbmate's table is as it
    was, and public holds no table of the runner's."""
    result = uap(directory=files)
    assert result.code == 0, result.err
    assert {"first", "second"} <= database.tables()
    assert foreign_tables.shape(database.query, DBMATE_TABLE) == dbmate
    assert database.tables() & {"schema_migration_events", "schema_audit_access"} == set()
    rows = database.query("SELECT version, status FROM uap.schema_migrations ORDER BY 1")
    assert rows == [("001", "completed"), ("002", "completed")]
    assert database.scalar("SELECT count(*) FROM uap.schema_migration_events") == 2

    status = uap("--status", directory=files)
    assert status.code == 0, status.err
    assert "001" in status.out and "002" in status.out
    assert uap("--check", directory=files).code == 0
    verified = uap("--verify", directory=files)
    assert verified.code == 0, verified.err
    again = uap(directory=files)
    assert again.code == 0 and "Nothing to apply" in again.out
    assert foreign_tables.shape(database.query, DBMATE_TABLE) == dbmate


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_the_api_reads_the_ledger_in_its_schema(uap, database, files, dbmate):
    """migration_status and completed_migrations read uap's ledger, not dbmate's table."""
    assert uap(directory=files).code == 0
    status = api.migration_status(files, database.alias)
    assert status["current_version"] == "002" and status["total_pending"] == 0


@override_settings(UAP_LEDGER_SCHEMA='Ledger "Q"')
def test_a_schema_name_needing_quotes_is_quoted_everywhere(uap, database, files):
    """Mixed case, a space and a double quote: the runner quotes the name, never pastes it."""
    assert uap(directory=files).code == 0
    assert uap("--verify", directory=files).code == 0
    rows = database.query('SELECT count(*) FROM "Ledger ""Q""".schema_migrations')
    assert rows == [(2,)]


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_every_function_of_the_ledger_is_in_its_schema_with_a_pinned_path(uap, database, files):
    """The chain and append-only functions live beside their tables and pin search_path."""
    assert uap(directory=files).code == 0
    functions = database.query(
        "SELECT proname, proconfig FROM pg_proc WHERE pronamespace = 'uap'::regnamespace"
    )
    assert {name for name, _ in functions} >= {
        "schema_migration_events_chain",
        "schema_migration_events_append_only",
        "schema_audit_access_chain",
        "schema_audit_access_append_only",
    }
    for name, config in functions:
        assert f"search_path={chain.PINNED_SEARCH_PATH}" in (config or []), name
    public = database.query(
        "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
        "AND proname LIKE 'schema_%%'"
    )
    assert public == []


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_the_fingerprint_leaves_the_ledger_schema_out(uap, database, files):
    """Neither the schema nor its tracking objects are part of the application's schema."""
    assert uap(directory=files).code == 0
    with database.connect() as conn:
        description = fingerprint.describe(conn)
    assert "uap" not in description["schemas"]
    described = " ".join(name for kind in description.values() for name in kind)
    assert "uap." not in described
    assert "public.first" in description["tables"]


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_an_unchanged_ledger_in_public_is_not_read(uap, database, files):
    """A public ledger left from before the switch is not the ledger any more: nothing is
    read from it or written to it."""
    with override_settings(UAP_LEDGER_SCHEMA="public"):
        assert uap(directory=files).code == 0
    before = database.query("SELECT * FROM public.schema_migration_events ORDER BY id")
    result = uap("--status", directory=files)
    assert result.code == 0
    assert database.query("SELECT * FROM public.schema_migration_events ORDER BY id") == before
    assert database.query(LEDGER_OBJECTS_SQL, ("uap", "uap")) == []


def test_the_admins_models_follow_the_setting():
    """The unmanaged models' tables are schema-qualified, and follow a changed setting."""
    from schema_audit.models import MigrationEvent, SchemaMigration

    assert SchemaMigration._meta.db_table == '"public"."schema_migrations"'
    with override_settings(UAP_LEDGER_SCHEMA="uap"):
        assert MigrationEvent._meta.db_table == '"uap"."schema_migration_events"'
        assert store.qualified(store.EVENTS_TABLE) == MigrationEvent._meta.db_table
    assert SchemaMigration._meta.db_table == '"public"."schema_migrations"'
    assert SchemaMigration._meta.original_attrs["db_table"] == "schema_migrations"


def test_a_ledger_moved_as_documented_keeps_its_chain(uap, database, migrations_dir):
    """docs/how-to/switching.md's ALTER … SET SCHEMA: --verify passes, nothing is re-run, and
    the next file's event links to the last one moved."""
    first = {"001_v1.0_first.sql": migration("001", "CREATE TABLE first (id int);")}
    assert uap(directory=migrations_dir(first)).code == 0
    guide = (Path(__file__).parents[2] / "docs" / "how-to" / "switching.md").read_text()
    move = guide.split("```sql\nBEGIN;", 1)[1].split("```", 1)[0]
    with database.connect() as conn:
        conn.execute("BEGIN;" + move)
    assert database.tables() & {"schema_migrations", "schema_migration_events"} == set()
    second = {**first, "002_v1.1_second.sql": migration("002", "CREATE TABLE second (id int);")}
    with override_settings(UAP_LEDGER_SCHEMA="uap"):
        folder = migrations_dir(second)
        verified = uap("--verify", directory=folder)
        assert verified.code == 0, verified.err
        result = uap(directory=folder)
        assert result.code == 0, result.err
        assert "002" in result.out and "001 " not in result.out
        verified = uap("--verify", directory=folder)
        assert verified.code == 0, verified.err
    linked = database.scalar(
        "SELECT b.prev_hash = a.hash FROM uap.schema_migration_events a, "
        "uap.schema_migration_events b WHERE a.version = '001' AND b.version = '002'"
    )
    assert linked is True


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_ddl_capture_and_evidence_follow_the_schema(uap, database, files, tmp_path):
    """The DDL audit records out-of-band DDL in uap's event log and not the runner's own;
    the evidence bundle is read from there and verifies offline."""
    assert uap("--install-ddl-audit").code == 0
    marks = database.scalar("SELECT to_regclass('uap.schema_migration_events_ddl_marks')::text")
    assert marks == "uap.schema_migration_events_ddl_marks"
    with database.connect() as conn:
        conn.execute("CREATE TABLE by_hand (id int)")
    assert uap(directory=files).code == 0
    out_of_band = database.query(
        "SELECT ddl_objects FROM uap.schema_migration_events WHERE action = 'out_of_band_ddl'"
    )
    assert len(out_of_band) == 1 and "by_hand" in out_of_band[0][0]
    bundle = tmp_path / "evidence.zip"
    assert uap("--evidence", str(bundle), directory=files).code == 0
    checked = uap("--verify-evidence", str(bundle))
    assert checked.code == 0, checked.err


def test_a_query_built_after_the_setting_changed_names_one_table(database):
    """Columns and FROM name the same table after the schema changes back and forth (a field
    remembers its table for its column)."""
    from schema_audit.models import SchemaMigration

    with database.connect() as conn:
        store.ensure_schema(conn)
    with override_settings(UAP_LEDGER_SCHEMA="uap"):
        text, _ = SchemaMigration.objects.values_list("version").query.sql_with_params()
        assert text.count('"uap"."schema_migrations"') == 2
    text, params = SchemaMigration.objects.values_list("version").query.sql_with_params()
    assert '"uap"' not in text
    assert database.query(text, params) == []
