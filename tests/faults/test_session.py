"""A file that changes its session for good: the change stays in that file.

Its record, and the next file, run in the session the runner started with: settings, role,
session user, search_path, and the ledger tables its names lead to.
"""

from __future__ import annotations

import uuid

import pytest
from psycopg import sql

from tests.conftest import migration

# The second file's result is what it would be alone, in a fresh session.
NEXT = migration(
    "002",
    "CREATE TABLE t2 (ts timestamptz, i interval, d date, stamp text);\n"
    "INSERT INTO t2 VALUES ('2020-01-01 00:00:00', '1 day 2 hours', '03/04/2020',\n"
    "    current_setting('DateStyle') || ' ' || current_setting('TimeZone'));",
)
SHADOW_SCHEMA = """
CREATE SCHEMA evil;
CREATE TABLE evil.schema_migrations (LIKE public.schema_migrations INCLUDING ALL);
CREATE TABLE evil.schema_migration_events (LIKE public.schema_migration_events INCLUDING ALL);
CREATE FUNCTION evil.set_config(text, text, boolean) RETURNS text LANGUAGE sql AS 'SELECT $2';
SET search_path = evil, pg_catalog;
"""


@pytest.mark.parametrize(
    "first",
    [
        "SET DateStyle = 'SQL, DMY';",
        "SET TimeZone = 'Asia/Tokyo';\nSET IntervalStyle = 'sql_standard';",
        "SET default_transaction_read_only = on;",
        "RESET ALL;",
        SHADOW_SCHEMA,
    ],
    ids=["datestyle", "timezone", "read-only", "reset-all", "shadowing-schema"],
)
def test_the_next_file_runs_as_it_would_alone(uap, database, migrations_dir, first):
    """Both files apply and are recorded in the ledger; the second sees none of the first's
    settings, and nothing reports drift afterwards."""
    folder = migrations_dir(
        {
            "001_v1.0_first.sql": migration("001", f"CREATE TABLE t1 (id int);\n{first}"),
            "002_v1.0_next.sql": NEXT,
        }
    )
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert database.query("SELECT version, status FROM schema_migrations ORDER BY 1") == [
        ("001", "completed"),
        ("002", "completed"),
    ]
    with database.connect() as conn:
        alone = conn.execute(
            "SELECT '2020-01-01 00:00:00'::timestamptz, '1 day 2 hours'::interval, "
            "'03/04/2020'::date, current_setting('DateStyle') || ' ' || "
            "current_setting('TimeZone')"
        ).fetchone()
        assert conn.execute("SELECT * FROM public.t2").fetchone() == alone
    check = uap("--check", directory=folder)
    assert check.code == 0, check.out + check.err


def test_ddl_after_a_reset_all_is_still_the_runners(uap, database, migrations_dir):
    """With the out-of-band DDL audit on, a file's RESET ALL does not make the next file's
    DDL look like someone else's."""
    assert uap("--install-ddl-audit").code == 0
    folder = migrations_dir(
        {"001_v1.0_first.sql": migration("001", "RESET ALL;"), "002_v1.0_next.sql": NEXT}
    )
    assert uap(directory=folder).code == 0
    assert (
        database.scalar(
            "SELECT count(*) FROM schema_migration_events WHERE action = %s", ("out_of_band_ddl",)
        )
        == 0
    )


def test_a_temporary_ledger_table_does_not_catch_the_record(uap, database, migrations_dir):
    """A file that puts a temporary schema_migrations first in search_path does not get the
    record: the ledger is named with its schema, so the record lands in the ledger."""
    shadow = (
        "CREATE TABLE t1 (id int);\n"
        "CREATE TEMP TABLE schema_migrations (LIKE public.schema_migrations INCLUDING ALL);"
    )
    folder = migrations_dir(
        {"001_v1.0_first.sql": migration("001", shadow), "002_v1.0_next.sql": NEXT}
    )
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert database.query("SELECT version FROM public.schema_migrations ORDER BY 1") == [
        ("001",),
        ("002",),
    ]


def test_a_file_dropping_the_ledger_is_refused(uap, database, migrations_dir):
    """A file that drops the ledger's table leaves its record nowhere: the run stops (exit 2)
    and the file rolls back."""
    uap(directory=migrations_dir({}))
    dropping = "CREATE TABLE t1 (id int);\nDROP TABLE public.schema_migrations;"
    folder = migrations_dir({"001_v1.0_first.sql": migration("001", dropping)})
    result = uap(directory=folder)
    assert result.code == 2, result.err
    assert "001_v1.0_first.sql: drops, renames or replaces the ledger's tables" in result.err
    assert "t1" not in database.tables()
    assert database.scalar("SELECT count(*) FROM schema_migrations") == 0


def test_session_authorization_stays_in_its_file(uap, database, migrations_dir):
    """SET SESSION AUTHORIZATION in one file: the next file and every record are the
    runner's."""
    role = f"uap_other_{uuid.uuid4().hex[:8]}"
    with database.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(role)))
    try:
        folder = migrations_dir(
            {
                "001_v1.0_first.sql": migration(
                    "001", f"CREATE TABLE t1 (id int);\nSET SESSION AUTHORIZATION {role};"
                ),
                "002_v1.0_next.sql": NEXT,
            }
        )
        result = uap(directory=folder)
        assert result.code == 0, result.err
        runner = database.scalar("SELECT current_user")
        assert database.query("SELECT DISTINCT applied_by FROM schema_migration_events") == [
            (runner,)
        ]
        assert database.scalar("SELECT tableowner FROM pg_tables WHERE tablename = 't2'") == (
            runner
        )
    finally:
        with database.connect() as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
