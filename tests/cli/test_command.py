"""`uap_migrate` end to end on real PostgreSQL: exit codes, output and tables."""

from __future__ import annotations

import json

import pytest

from tests.conftest import UAP_MIGRATIONS, migration, numbered

EVENTS = "SELECT version, action, status, sqlstate FROM schema_migration_events ORDER BY id"


def test_apply_on_empty_database_creates_schema_rows_and_events(uap, database):
    """The four UAP migrations apply in order, each with a row and an apply event."""
    result = uap(directory=UAP_MIGRATIONS)
    assert result.code == 0, result.err
    assert "✓ 003 v1.2_add_user_preferences" in result.out
    assert "database at version 004" in result.out
    assert {"users", "goals", "audit_logs", "schema_migrations"} <= database.tables()
    rows = database.query(
        "SELECT version, name, status, duration_ms >= 0, length(checksum), applied_by "
        "FROM schema_migrations ORDER BY version"
    )
    assert [r[:5] for r in rows] == [
        ("001", "v1.0_initial_schema", "completed", True, 64),
        ("002", "v1.1_add_audit_logs", "completed", True, 64),
        ("003", "v1.2_add_user_preferences", "completed", True, 64),
        ("004", "v1.3_add_user_goals", "completed", True, 64),
    ]
    assert rows[0][5] == database.scalar("SELECT current_user")
    assert database.query(EVENTS) == [
        (v, "apply", "completed", None) for v in ("001", "002", "003", "004")
    ]
    impact, rollback = database.query(
        "SELECT impact, rollback_sql FROM schema_migrations WHERE version = '004'"
    )[0]
    assert impact.startswith("Non-breaking") and "DROP TABLE IF EXISTS goals" in rollback


def test_noop_rerun_writes_nothing(uap, database):
    """A second run applies nothing, adds no event and leaves the rows untouched."""
    assert uap(directory=UAP_MIGRATIONS).code == 0
    before = database.query("SELECT * FROM schema_migrations ORDER BY version")
    events = database.scalar("SELECT count(*) FROM schema_migration_events")
    result = uap(directory=UAP_MIGRATIONS)
    assert result.code == 0
    assert "Nothing to apply; database at version 004." in result.out
    assert database.query("SELECT * FROM schema_migrations ORDER BY version") == before
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == events


def test_failed_migration_is_atomic_recorded_and_retried(uap, database, migrations_dir):
    """A failing file leaves no trace, is recorded failed, stops the run and is retried later."""
    files = {
        "001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);"),
        "002_v1.0_b.sql": migration(
            "002", "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\nSELECT * FROM nope;"
        ),
        "003_v1.0_c.sql": migration("003", "CREATE TABLE c (id int);"),
    }
    folder = migrations_dir(files)
    result = uap(directory=folder)
    assert result.code == 1
    assert "✗ 002 v1.0_b" in result.out
    assert "002_v1.0_b.sql:13: 002 v1.0_b failed [SQLSTATE 42P01]" in result.err
    assert 'relation "nope" does not exist' in result.err
    ledger = {"schema_migrations", "schema_migration_events", "schema_audit_access"}
    assert database.tables() == {"a", *ledger}
    status, error = database.query(
        "SELECT status, error_message FROM schema_migrations WHERE version = '002'"
    )[0]
    assert status == "failed" and 'relation "nope" does not exist' in error
    assert database.scalar("SELECT count(*) FROM schema_migrations WHERE version = '003'") == 0

    (folder / "002_v1.0_b.sql").write_text(migration("002", "CREATE TABLE b (id int);"))
    assert uap(directory=folder).code == 0
    assert {"a", "b", "c"} <= database.tables()
    assert database.query(EVENTS) == [
        ("001", "apply", "completed", None),
        ("002", "apply", "failed", "42P01"),
        ("002", "apply", "completed", None),
        ("003", "apply", "completed", None),
    ]


def test_edited_applied_file_is_drift_and_nothing_runs(uap, database, migrations_dir):
    """Changing an applied file stops the run with exit 2 before any file executes."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    (folder / "001_v1.1_step_1.sql").write_text(migration("001", "CREATE TABLE t1 (id bigint);"))
    (folder / "003_v1.3_step_3.sql").write_text(migration("003", "CREATE TABLE t3 (id int);"))
    result = uap(directory=folder)
    assert result.code == 2
    assert "001 v1.1_step_1: file changed since it was applied" in result.err
    assert "--accept-checksum 001" in result.err
    assert "t3" not in database.tables()
    assert uap("--check", directory=folder).code == 2


def test_vanished_applied_file_is_drift(uap, database, migrations_dir):
    """An applied version whose file is gone stops the run with exit 2."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    (folder / "002_v1.2_step_2.sql").unlink()
    result = uap(directory=folder)
    assert result.code == 2
    assert "002 v1.2_step_2: applied, but its file is missing" in result.err


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"01_v1.0_a.sql": "SELECT 1;"}, "01_v1.0_a.sql: file name does not match"),
        ({"001_v1.0_a.sql": "SELECT 1;", "001_v1.0_b.sql": "SELECT 1;"}, "is also used by"),
        ({"002_v1.0_a.sql": "-- Version: 003\nSELECT 1;"}, "002_v1.0_a.sql:1: header says"),
        ({"001_v1.0_a.sql": b"SELECT '\xe9';"}, "001_v1.0_a.sql:1: not valid UTF-8"),
        ({"001_v1.0_a.sql": "SELECT 1;\n\\set x 1\n"}, "001_v1.0_a.sql:2: psql meta-command"),
        (
            {"001_v1.0_a.sql": "CREATE TABLE a (id int);\nCOMMIT;\n"},
            "001_v1.0_a.sql:2: BEGIN/COMMIT",
        ),
    ],
)
def test_invalid_input_exits_2_and_runs_nothing(uap, database, migrations_dir, files, fragment):
    """Malformed files stop the command before any SQL runs, naming the file."""
    files = {"000_v0.1_first.sql": "CREATE TABLE first_table (id int);", **files}
    result = uap(directory=migrations_dir(files))
    assert result.code == 2
    assert fragment in result.err
    assert "first_table" not in database.tables()


def test_missing_directory_exits_2(uap, tmp_path):
    """--dir to a folder that does not exist is invalid input."""
    result = uap(directory=tmp_path / "absent")
    assert result.code == 2
    assert "absent: migrations directory does not exist" in result.err


def test_unreachable_database_exits_3_naming_the_host(tmp_path, settings):
    """A refused connection exits 3 with the host named and no traceback."""
    import io

    from django.core.management import call_command
    from django.db import connections

    config = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "x",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "1",
        "PASSWORD": "",
        "OPTIONS": {},
    }
    settings.DATABASES["down"] = config
    connections.settings["down"] = {**connections.settings["default"], **config}
    err = io.StringIO()
    try:
        with pytest.raises(SystemExit) as excinfo:
            call_command(
                "uap_migrate",
                "--database",
                "down",
                "--dir",
                str(UAP_MIGRATIONS),
                stdout=io.StringIO(),
                stderr=err,
            )
    finally:
        del connections["down"]
        connections.settings.pop("down")
    assert excinfo.value.code == 3
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/x" in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_json_output_parses(uap, database):
    """--json gives one document with the contract's keys, for apply, plan and status."""
    plan = json.loads(uap("--plan", "--json", directory=UAP_MIGRATIONS).out)
    assert plan["total_pending"] == 4 and plan["current_version"] is None
    assert [m["version"] for m in plan["pending"]] == ["001", "002", "003", "004"]
    applied = json.loads(uap("--json", directory=UAP_MIGRATIONS).out)
    for key in (
        "current_version",
        "total_completed",
        "total_pending",
        "migrations",
        "successful",
        "failed",
        "errors",
    ):
        assert key in applied
    assert (applied["current_version"], applied["total_completed"]) == ("004", 4)
    assert (applied["successful"], applied["failed"], applied["total_pending"]) == (4, 0, 0)
    status = json.loads(uap("--status", "--json", directory=UAP_MIGRATIONS).out)
    assert status["migrations"][2]["status"] == "completed"


def test_json_failure_carries_the_error(uap, database, migrations_dir):
    """A failed file appears in errors with its SQLSTATE and line."""
    folder = migrations_dir({"001_v1.0_a.sql": "SELECT 1;\nSELECT 1/0;"})
    result = uap("--json", directory=folder)
    assert result.code == 1
    data = json.loads(result.out)
    assert data["failed"] == 1
    assert data["errors"][0]["sqlstate"] == "22012"
    assert data["errors"][0]["version"] == "001"


def test_target_stops_where_asked(uap, database, migrations_dir):
    """--target applies up to and including that version."""
    folder = migrations_dir(numbered(4))
    assert uap("--target", "002", directory=folder).code == 0
    assert database.tables() >= {"t1", "t2"} and "t3" not in database.tables()
    assert uap("--check", directory=folder).code == 1
    result = uap("--target", "009", directory=folder)
    assert result.code == 2 and "--target 009: no migration" in result.err
    assert uap(directory=folder).code == 0
    assert uap("--check", directory=folder).code == 0


def test_plan_and_status_change_nothing(uap, database):
    """--plan and --status read only: no tracking tables are created."""
    result = uap("--plan", directory=UAP_MIGRATIONS)
    assert result.code == 0
    assert "4 to apply" in result.out and "003 v1.2_add_user_preferences" in result.out
    status = uap("--status", directory=UAP_MIGRATIONS)
    assert status.code == 0 and "pending" in status.out
    assert database.tables() == set()


def test_check_exit_codes(uap, database, migrations_dir):
    """--check: 1 with pending files, 0 when up to date, 2 after a failure."""
    folder = migrations_dir(numbered(1))
    assert uap("--check", directory=folder).code == 1
    assert uap(directory=folder).code == 0
    assert uap("--check", directory=folder).code == 0
    (folder / "002_v1.0_bad.sql").write_text("SELECT * FROM nowhere;")
    assert uap(directory=folder).code == 1
    assert uap("--check", directory=folder).code == 2


def test_out_of_order_is_refused_unless_asked(uap, database, migrations_dir):
    """A new file numbered below the newest applied one needs --out-of-order."""
    folder = migrations_dir({"002_v1.0_b.sql": "CREATE TABLE b (id int);"})
    assert uap(directory=folder).code == 0
    (folder / "001_v1.0_a.sql").write_text("CREATE TABLE a (id int);")
    result = uap(directory=folder)
    assert result.code == 2 and "older than applied version 002" in result.err
    assert uap("--out-of-order", directory=folder).code == 0
    assert "a" in database.tables()


def test_lock_held_by_another_session_exits_3_naming_it(uap, database):
    """A runner that cannot get the lock within --lock-wait exits 3 and names the holder."""
    from schema_audit.engine.postgres import LOCK_KEY

    with database.connect(application_name="deploy-42") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        result = uap("--lock-wait", "0.3", directory=UAP_MIGRATIONS)
    assert result.code == 3
    assert "another migration run holds the lock" in result.err
    assert "deploy-42" in result.err
    assert "users" not in database.tables()


def test_invalid_timeout_is_refused(uap, database):
    """--lock-timeout must be a PostgreSQL duration."""
    result = uap("--lock-timeout", "10s'; DROP TABLE x; --", directory=UAP_MIGRATIONS)
    assert result.code == 2 and "is not a duration" in result.err


def test_statement_timeout_applies_inside_migrations(uap, database, migrations_dir):
    """--statement-timeout cancels a slow statement; the file is recorded failed (57014)."""
    folder = migrations_dir({"001_v1.0_slow.sql": "SELECT pg_sleep(5);"})
    result = uap("--statement-timeout", "200ms", directory=folder)
    assert result.code == 1
    assert database.query(EVENTS) == [("001", "apply", "failed", "57014")]


def test_header_ticket_is_recorded_unless_the_deploy_names_one(uap, database, migrations_dir):
    """`-- Ticket:` in a file's header is its events' ticket; --ticket wins when given."""
    text = migration("001", "CREATE TABLE t (id int);").replace(
        "-- Impact:", "-- Ticket: CHG-101\n-- Impact:"
    )
    other = migration("002", "CREATE TABLE u (id int);").replace(
        "-- Impact:", "-- Ticket: CHG-202\n-- Impact:"
    )
    folder = migrations_dir({"001_v1.0_t.sql": text})
    assert uap(directory=folder).code == 0
    folder = migrations_dir({"002_v1.1_u.sql": other}, name="migrations")
    assert uap("--ticket", "DEPLOY-7", directory=folder).code == 0
    tickets = database.query(
        "SELECT version, ticket FROM schema_migration_events WHERE action = 'apply' ORDER BY id"
    )
    assert tickets == [("001", "CHG-101"), ("002", "DEPLOY-7")]


def test_failing_statement_of_a_multi_statement_file_is_named(uap, database, migrations_dir):
    """A runtime error (no position from PostgreSQL) names the statement's line and words."""
    body = (
        "CREATE TABLE t (id int PRIMARY KEY);\n"
        "INSERT INTO t VALUES (1);\n"
        "\n"
        "-- the duplicate below fails while running\n"
        "INSERT INTO t VALUES (1);\n"
        "CREATE INDEX t_id ON t (id);\n"
    )
    folder = migrations_dir({"001_v1.0_dup.sql": migration("001", body)})
    result = uap(directory=folder)
    assert result.code == 1
    line = 11 + body.splitlines().index("INSERT INTO t VALUES (1);", 2)
    where = f"in the statement at line {line}: INSERT INTO t VALUES (1)"
    assert f"001_v1.0_dup.sql:{line}:" in result.err and where in result.err
    error = database.scalar(
        "SELECT error_message FROM schema_migration_events WHERE action = 'apply'"
    )
    assert "duplicate key" in error and where in error
    data = json.loads(uap("--json", directory=folder).out)
    assert data["errors"][0]["line"] == line


def test_a_dry_run_names_the_failing_statement_as_a_run_does(uap, database, migrations_dir):
    """A division by zero, found while running, has no position: the dry run names the
    statement by the count of results before it, in its text, JSON and event."""
    body = "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nSELECT 1 / 0;\n"
    folder = migrations_dir({"001_v1.0_zero.sql": migration("001", body)})
    line = 11 + body.splitlines().index("SELECT 1 / 0;")
    where = f"in the statement at line {line}: SELECT 1 / 0"
    result = uap("--dry-run", directory=folder)
    assert result.code == 1
    assert f"001_v1.0_zero.sql:{line}:" in result.err and where in result.err
    data = json.loads(uap("--dry-run", "--json", directory=folder).out)
    assert data["errors"][0]["line"] == line and where in data["errors"][0]["error"]
    assert where in database.scalar(
        "SELECT error_message FROM schema_migration_events WHERE action = 'dry_run' LIMIT 1"
    )
    assert "t" not in database.tables()
