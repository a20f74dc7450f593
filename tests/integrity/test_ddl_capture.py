"""Out-of-band DDL capture: foreign DDL is recorded and chained, the runner's own is not."""

from __future__ import annotations

import io
import uuid

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from psycopg import sql

from schema_audit import api
from tests.conftest import migration, numbered


@pytest.fixture
def audited(uap, database, migrations_dir):
    """A database with two applied migrations and the DDL audit installed."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    result = uap("--install-ddl-audit")
    assert result.code == 0, result.err
    assert "Out-of-band DDL audit installed" in result.out
    return folder


@pytest.fixture
def plain_role(database):
    """A login role without superuser, allowed to create tables in the test database."""
    role = f"plain_{uuid.uuid4().hex[:8]}"
    with database.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
    alias = f"{database.alias}_plain"
    config = {**settings.DATABASES[database.alias], "USER": role}
    settings.DATABASES[alias] = config
    connections.settings[alias] = config
    yield role, alias
    connections[alias].close()
    del connections[alias]
    connections.settings.pop(alias, None)
    settings.DATABASES.pop(alias, None)
    with database.connect() as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_out_of_band_alter_table_is_recorded_with_who_and_what(audited, database):
    """ALTER TABLE from another client becomes an out_of_band_ddl event."""
    with database.connect(application_name="psql") as conn:
        conn.execute("ALTER TABLE t1 ADD COLUMN note text")
    (event,) = api.out_of_band_ddl(database.alias)
    assert event["action"] == "out_of_band_ddl"
    assert event["status"] == "detected"
    assert event["applied_by"] == database.params.get("user", "postgres")
    assert event["application"] == "psql"
    assert event["ddl_objects"] == "ALTER TABLE: table public.t1"
    assert event["sql_text"] == "ALTER TABLE t1 ADD COLUMN note text"
    assert api.verify_history(database.alias)["verified"] is True


def test_runners_own_ddl_is_not_flagged(audited, uap, database, migrations_dir):
    """Migrations applied by uap_migrate after installation produce no out-of-band events."""
    migrations_dir({"003_v1.3_more.sql": migration("003", "CREATE TABLE t3 (id int);")})
    assert uap(directory=audited).code == 0
    assert "t3" in database.tables()
    assert api.out_of_band_ddl(database.alias) == []


def test_ddl_after_a_non_transactional_file_is_not_flagged(audited, uap, database, migrations_dir):
    """A `-- Transaction: none` file resets its session; the files after it stay the runner's."""
    migrations_dir(
        {
            "003_v1.3_index.sql": "-- Transaction: none\n"
            + migration("003", "CREATE INDEX CONCURRENTLY IF NOT EXISTS t1_id ON t1 (id);"),
            "004_v1.4_more.sql": migration("004", "CREATE TABLE t4 (id int);"),
        }
    )
    result = uap(directory=audited)
    assert result.code == 0, result.err
    assert "t4" in database.tables()
    assert api.out_of_band_ddl(database.alias) == []


def test_drop_is_recorded_once_with_the_dropped_object(audited, database):
    """DROP fires two event triggers but is one event naming what was dropped."""
    with database.connect() as conn:
        conn.execute("DROP TABLE t2")
    (event,) = api.out_of_band_ddl(database.alias)
    assert event["ddl_objects"] == "DROP TABLE: table public.t2"


def test_temporary_objects_are_not_schema_changes(audited, database):
    """A session's temporary table is not recorded."""
    with database.connect() as conn:
        conn.execute("CREATE TEMP TABLE scratch (id int)")
        conn.execute("DROP TABLE scratch")
    assert api.out_of_band_ddl(database.alias) == []


def test_rolled_back_ddl_leaves_no_event(audited, database):
    """DDL whose transaction rolls back changed nothing and records nothing."""
    with database.connect() as conn:
        with pytest.raises(psycopg.errors.DivisionByZero), conn.transaction():
            conn.execute("CREATE TABLE gone (id int)")
            conn.execute("SELECT 1 / 0")
    assert api.out_of_band_ddl(database.alias) == []


def test_non_superuser_cannot_install_and_gets_exit_2(uap, database, plain_role):
    """Event triggers need a superuser: a clear refusal with exit 2."""
    role, alias = plain_role
    code, err = _uap_as(alias, "--install-ddl-audit")
    assert code == 2
    assert f"--install-ddl-audit needs a superuser: role '{role}'" in err
    assert api.ddl_audit_state(database.alias) == {"installed": False, "enabled": False}


def test_non_superuser_ddl_is_recorded_under_their_name(audited, database, plain_role):
    """The audit function runs with its owner's rights, so any role's DDL is recorded."""
    role, _ = plain_role
    params = {**database.params, "user": role}
    with psycopg.connect(**params, dbname=database.name, autocommit=True) as conn:
        conn.execute("CREATE TABLE mine (id int)")
    newest, grant = api.out_of_band_ddl(database.alias)  # the fixture's GRANT came first
    assert (newest["applied_by"], newest["ddl_objects"]) == (
        role,
        "CREATE TABLE: table public.mine",
    )
    assert grant["ddl_objects"] == "GRANT: SCHEMA"
    assert grant["sql_text"].startswith("GRANT CREATE ON SCHEMA")


def test_out_of_band_ddl_makes_verify_report_drift(audited, uap, database):
    """The recorded DDL and the fingerprint drift tell the same story."""
    with database.connect() as conn:
        conn.execute("CREATE INDEX t1_id ON t1 (id)")
    result = uap("--verify")
    assert result.code == 2
    assert "+ index public.t1_id added" in result.err
    assert "by postgres (uap_migrate" not in result.err
    assert "): CREATE INDEX: index public.t1_id" in result.err
    assert "Out-of-band DDL capture: on." in result.out
    with database.connect() as conn:
        conn.execute("ALTER EVENT TRIGGER schema_migration_events_ddl_end DISABLE")
    assert "Out-of-band DDL capture: DISABLED." in uap("--verify").out


def _uap_as(alias: str, *args: str) -> tuple[int, str]:
    """Run uap_migrate against another alias; (exit code, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("uap_migrate", "--database", alias, *args, stdout=out, stderr=err)
        return 0, err.getvalue()
    except SystemExit as exc:
        return exc.code, err.getvalue()


def test_marks_end_with_their_transactions_and_files(audited, uap, database, migrations_dir):
    """A committed file's mark goes at its commit, a failed file's with its rollback, a
    statement-by-statement file's with the file: none is left, none is flagged."""
    migrations_dir(
        {
            "003_v1.3_index.sql": "-- Transaction: none\n"
            + migration("003", "CREATE INDEX CONCURRENTLY IF NOT EXISTS t1_id ON t1 (id);"),
            "004_v1.4_more.sql": migration("004", "CREATE TABLE t4 (id int);"),
            "005_v1.5_bad.sql": migration("005", "CREATE TABLE t5 (id int);\nSELECT 1 / 0;"),
        }
    )
    assert uap(directory=audited).code == 1
    assert {"t4"} <= set(database.tables()) and "t5" not in database.tables()
    assert database.scalar("SELECT count(*) FROM schema_migration_events_ddl_marks") == 0
    assert api.out_of_band_ddl(database.alias) == []


def test_ledger_owner_runs_stay_its_own_after_a_superuser_installs_the_audit(
    uap, database, migrations_dir, plain_role
):
    """The usual deployment: the migration role owns the ledger, a superuser installs the
    audit, and the role's later runs (in a transaction or not) are still not out of band."""
    _, alias = plain_role
    folder = migrations_dir(numbered(1))
    assert _uap_as(alias, "--dir", str(folder)) == (0, "")
    assert uap("--install-ddl-audit").code == 0
    migrations_dir(
        {
            "002_v1.2_more.sql": migration("002", "CREATE TABLE t2 (id int);"),
            "003_v1.3_index.sql": "-- Transaction: none\n"
            + migration("003", "CREATE INDEX CONCURRENTLY IF NOT EXISTS t2_id ON t2 (id);"),
        }
    )
    code, err = _uap_as(alias, "--dir", str(folder))
    assert code == 0, err
    assert api.out_of_band_ddl(database.alias) == []
