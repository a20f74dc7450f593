"""What real migration histories hold: placeholders, several bad files, extra header keys."""

from __future__ import annotations

import json

from tests.conftest import migration

PLACEHOLDER = (
    "-- Migration: Replaced upstream\n-- Version: 002\n-- Description: kept for numbering\n"
    "-- Rollback: SELECT 1;\n--\n-- The SQL moved to 004; this version stays so that the\n"
    "-- numbering matches upstream.\n/* nothing to run */\n"
)
HISTORY = {
    "001_v1.0_a.sql": migration("001", "CREATE TABLE IF NOT EXISTS a (id int);"),
    "002_v1.0_replaced.sql": PLACEHOLDER,
    "003_v1.0_c.sql": migration("003", "CREATE TABLE IF NOT EXISTS c (id int);"),
}
BAD = {
    "001_v1.0_a.sql": migration("001", "CREATE TABLE IF NOT EXISTS a (id int);"),
    "002_v1.0_meta.sql": "SELECT 1;\n\\i other.sql\n",
    "003_v1.0_mismatch.sql": "-- Version: 004\nSELECT 1;\n",
    "04_v1.0_short.sql": "SELECT 1;\n",
    "005_v1.0_bytes.sql": b"SELECT '\xe9';\n",
    "006_v1.0_empty.sql": "",
}
BAD_LINES = [
    "002_v1.0_meta.sql:2: psql meta-command",
    "003_v1.0_mismatch.sql:1: header says Version: 004",
    "005_v1.0_bytes.sql:1: not valid UTF-8",
    "006_v1.0_empty.sql: contains no SQL statements and no header",
    "04_v1.0_short.sql: file name does not match",
]


def test_placeholder_applies_as_a_recorded_noop(uap, database, migrations_dir):
    """A header with no statements: row completed in 0 ms, its event says why; rerun is a no-op."""
    folder = migrations_dir(HISTORY)
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert "✓ 002 v1.0_replaced  0 ms" in result.out
    assert "database at version 003" in result.out
    rows = database.query("SELECT version, status, duration_ms FROM schema_migrations ORDER BY 1")
    assert rows == [("001", "completed", rows[0][2]), ("002", "completed", 0), rows[2]]
    event = database.query(
        "SELECT action, status, duration_ms, reason, sql_text FROM schema_migration_events "
        "WHERE version = '002'"
    )
    assert event == [("apply", "completed", 0, "no statements: recorded as applied", PLACEHOLDER)]
    again = uap(directory=folder)
    assert again.code == 0 and "Nothing to apply" in again.out
    assert uap("--check", directory=folder).code == 0


def test_placeholder_outside_a_transaction_and_in_a_dry_run(uap, database, migrations_dir):
    """`-- Transaction: none` on a placeholder changes nothing; a dry run passes it too."""
    text = PLACEHOLDER.replace("-- Rollback:", "-- Transaction: none\n-- Rollback:")
    folder = migrations_dir({**HISTORY, "002_v1.0_replaced.sql": text})
    dry = uap("--dry-run", directory=folder)
    assert dry.code == 0, dry.err
    assert "3 would apply, 0 would fail, 0 skipped" in dry.out
    assert uap(directory=folder).code == 0
    assert database.scalar("SELECT status FROM schema_migrations WHERE version = '002'") == (
        "completed"
    )


def test_lint_warns_about_a_placeholder_and_passes(uap, migrations_dir):
    """`empty-migration` is a warning: lint exits 0 and names the file."""
    result = uap("--lint", directory=migrations_dir(HISTORY))
    assert result.code == 0, result.out
    assert "002_v1.0_replaced.sql:1: empty-migration: no statements" in result.out


def test_every_bad_file_is_named_in_one_run_and_nothing_runs(uap, database, migrations_dir):
    """Five bad files: one run names each (file, line, reason), exits 2, runs nothing."""
    folder = migrations_dir(BAD)
    result = uap(directory=folder)
    assert result.code == 2
    errors = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 5
    shown = [e.removeprefix(f"error: {folder}/") for e in errors]
    assert [e[: len(b)] for e, b in zip(shown, BAD_LINES, strict=True)] == BAD_LINES
    assert "5 problems; nothing was run" in result.err
    assert database.tables() == set()


def test_plan_and_check_report_the_same_list(uap, database, migrations_dir):
    """--plan and --check exit 2 with the same five problems; --json carries them as a list."""
    folder = migrations_dir(BAD)
    run_errors = [e for e in uap(directory=folder).err.splitlines() if e.startswith("error: ")]
    for mode in ("--plan", "--check"):
        result = uap(mode, directory=folder)
        assert result.code == 2
        assert [e for e in result.err.splitlines() if e.startswith("error: ")] == run_errors
    data = json.loads(uap("--plan", "--json", directory=folder).out)
    found = [(e["file"].rsplit("/", 1)[-1], e["line"], e["exit_code"]) for e in data["errors"]]
    assert found == [
        ("002_v1.0_meta.sql", 2, 2),
        ("003_v1.0_mismatch.sql", 1, 2),
        ("005_v1.0_bytes.sql", 1, 2),
        ("006_v1.0_empty.sql", None, 2),
        ("04_v1.0_short.sql", None, 2),
    ]
    assert data["errors"][0]["reason"].startswith("psql meta-command `\\i` is not SQL")
    assert database.tables() == set()


def test_lint_reports_every_file_the_runner_refuses_as_an_error(uap, migrations_dir):
    """Lint and the runner share one validation: each refused file is a lint error."""
    folder = migrations_dir(BAD)
    lint = json.loads(uap("--lint", "--json", directory=folder).out)
    errors = {(f["path"].rsplit("/", 1)[-1], f["line"]) for f in lint["findings"]}
    errors = {e for e in errors if e[0] != "001_v1.0_a.sql"}
    assert {
        ("002_v1.0_meta.sql", 2),
        ("003_v1.0_mismatch.sql", 1),
        ("005_v1.0_bytes.sql", 1),
        ("006_v1.0_empty.sql", 1),
        ("04_v1.0_short.sql", 1),
    } <= errors
    assert lint["exit_code"] == 2


def test_every_pending_file_with_transaction_control_is_named(uap, database, migrations_dir):
    """Two files with their own COMMIT/END: both named with their lines; nothing runs."""
    folder = migrations_dir(
        {
            "001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);\nCOMMIT;"),
            "002_v1.0_b.sql": migration("002", "CREATE TABLE b (id int); END;"),
        }
    )
    result = uap(directory=folder)
    assert result.code == 2
    assert f"{folder}/001_v1.0_a.sql:12: BEGIN/COMMIT/ROLLBACK" in result.err
    assert f"{folder}/002_v1.0_b.sql:11: BEGIN/COMMIT/ROLLBACK" in result.err
    assert database.tables() <= {
        "schema_migrations",
        "schema_migration_events",
        "schema_audit_access",
    }
    assert database.scalar("SELECT count(*) FROM schema_migrations") == 0


HEADER_AFTER_ROLLBACK = (
    "-- Migration: Add invoices\n-- Version: 001\n-- Description: invoices\n"
    "-- Rollback: DROP INDEX IF EXISTS invoices_due;\n-- DROP TABLE IF EXISTS invoices;\n"
    "-- Source: upstream db/migrate/0001_invoices.sql\n-- Author: Dana Smith\n"
    "-- Ticket: OPS-1234\n--\n"
    "CREATE TABLE invoices (id int, due date);\n"
    "CREATE INDEX invoices_due ON invoices (due);\n"
)


def test_keys_after_a_multiline_rollback_are_not_rollback_sql(uap, database, migrations_dir):
    """`-- Source:`/`Author:`/`Ticket:` end the Rollback: it is stored clean and runs."""
    folder = migrations_dir({"001_v1.0_invoices.sql": HEADER_AFTER_ROLLBACK})
    assert uap(directory=folder).code == 0
    stored = database.scalar("SELECT rollback_sql FROM schema_migrations")
    assert stored == "DROP INDEX IF EXISTS invoices_due;\nDROP TABLE IF EXISTS invoices;"
    result = uap("--rollback", "001", directory=folder)
    assert result.code == 0, result.err
    assert "invoices" not in database.tables()
