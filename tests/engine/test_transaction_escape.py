"""Transaction control a file hides from a text filter: found by PostgreSQL's parser in every
mode before anything runs, and caught at run time if it gets through anyway."""

from __future__ import annotations

import pytest

from schema_audit.engine import operations, patches
from tests.conftest import migration

# Each hides a COMMIT (and a BEGIN) from a filter that does not read SQL as PostgreSQL does.
HIDDEN = {
    # A `--` comment ends at a bare carriage return, not only at a newline.
    "carriage-return": "CREATE TABLE t (a int); --\rCOMMIT; --\rBEGIN;\nSELECT 1;",
    # Block comments nest: the first `*/` does not end the comment.
    "nested-comment": "CREATE TABLE t (a int); /* /* */ */COMMIT; /*x*/BEGIN;\nSELECT 1;",
    # `t$$` is an identifier, so what follows is no dollar-quoted string.
    "dollar-identifier": "CREATE TABLE t$$ (a int); COMMIT; BEGIN; SELECT 1 AS x$$;\n",
    # In E'' a backslash escapes the quote: the string ends one quote later.
    "escape-string": "CREATE TABLE t (a int); SELECT E'\\''; COMMIT; BEGIN; --';\n",
}
TABLES = {"t", "t$$"}


def _folder(migrations_dir, body: str):
    return migrations_dir({"001_v1.0_hidden.sql": migration("001", body)})


def _ledger(database) -> tuple[list, list]:
    rows = database.query("SELECT version, status FROM schema_migrations")
    events = database.query("SELECT action, status FROM schema_migration_events ORDER BY id")
    return rows, events


@pytest.mark.parametrize("body", HIDDEN.values(), ids=HIDDEN.keys())
@pytest.mark.parametrize("mode", [(), ("--dry-run",), ("--trace",)], ids=["apply", "dry", "trace"])
def test_hidden_transaction_control_is_refused_before_anything_runs(
    uap, database, migrations_dir, body, mode
):
    """Exit 2 naming the file and line; no table left behind, nothing recorded."""
    folder = _folder(migrations_dir, body)
    result = uap(*mode, directory=folder)
    assert result.code == 2, result
    assert "001_v1.0_hidden.sql:11: BEGIN/COMMIT/ROLLBACK" in result.err
    assert "found COMMIT" in result.err
    assert not TABLES & database.tables()
    assert _ledger(database) == ([], [])


@pytest.mark.parametrize("body", HIDDEN.values(), ids=HIDDEN.keys())
def test_lint_plan_and_check_agree_with_the_runner(uap, database, migrations_dir, body):
    """Lint reports the same statements as errors; --plan and --check exit 2."""
    folder = _folder(migrations_dir, body)
    lint = uap("--lint", "--format", "json", directory=folder)
    assert lint.code == 2
    assert "transaction-control" in lint.out and "COMMIT" in lint.out and "BEGIN" in lint.out
    for mode in ("--plan", "--check"):
        result = uap(mode, directory=folder)
        assert result.code == 2 and "found COMMIT" in result.out + result.err, result
    assert not TABLES & database.tables()


@pytest.mark.parametrize("body", HIDDEN.values(), ids=HIDDEN.keys())
def test_patch_with_hidden_transaction_control_is_refused(uap, database, tmp_path, body):
    """`--patch` refuses it before it runs: exit 2, no table, no event."""
    patch = tmp_path / "patch_hidden.sql"
    patch.write_text(body, newline="")
    result = uap("--patch", str(patch))
    assert result.code == 2 and "COMMIT: the patch already runs in one transaction" in result.err
    assert not TABLES & database.tables()
    assert "schema_migration_events" not in database.tables()  # refused before connecting


def test_rollback_sql_with_hidden_commit_is_refused(uap, database, migrations_dir):
    """A Rollback header whose SQL hides a COMMIT is refused; the version stays completed."""
    body = "CREATE TABLE IF NOT EXISTS kept (a int);"
    text = migration("001", body, rollback="DROP TABLE kept; /* /* */ */COMMIT;")
    folder = migrations_dir({"001_v1.0_kept.sql": text})
    assert uap(directory=folder).code == 0
    result = uap("--rollback", "001", directory=folder)
    assert result.code == 2 and "found COMMIT" in result.err, result
    assert "kept" in database.tables()
    assert database.query("SELECT status FROM schema_migrations") == [("completed",)]


def test_savepoints_and_plpgsql_bodies_are_not_transaction_control(uap, database, migrations_dir):
    """SAVEPOINT / ROLLBACK TO / RELEASE and BEGIN ... END of a function body run."""
    body = (
        "SAVEPOINT s; CREATE TABLE IF NOT EXISTS a (id int); ROLLBACK TO SAVEPOINT s;\r"
        "RELEASE s;\nCREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN RETURN 1; END $$;\n"
    )
    result = uap(directory=_folder(migrations_dir, body))
    assert result.code == 0, result
    assert "a" not in database.tables()


@pytest.mark.parametrize(
    "body",
    [
        "CREATE TABLE t (a int);\nDO $$ BEGIN COMMIT; END $$;\n",
        "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$;\n"
        "CREATE TABLE t (a int);\nCALL p();\n",
    ],
    ids=["do", "call"],
)
@pytest.mark.parametrize("mode", [(), ("--dry-run",), ("--trace",)], ids=["apply", "dry", "trace"])
def test_commit_inside_do_or_a_procedure_commits_nothing(
    uap, database, migrations_dir, body, mode
):
    """PostgreSQL refuses a COMMIT inside the runner's transaction block: exit 1, recorded
    failed (2D000), nothing left behind."""
    result = uap(*mode, directory=_folder(migrations_dir, body))
    assert result.code == 1, result
    assert "t" not in database.tables()
    assert database.query("SELECT sqlstate FROM schema_migration_events") == [("2D000",)]


@pytest.fixture
def unchecked(monkeypatch):
    """The checks before the run miss the statement (as a parser older than the server
    could): only the run-time check stands."""
    monkeypatch.setattr(operations, "transaction_control", lambda text: [])
    monkeypatch.setattr(patches, "transaction_control", lambda text: [])


@pytest.mark.parametrize(
    "body",
    [
        "CREATE TABLE t (a int); COMMIT; BEGIN; SELECT 1;",
        "CREATE TABLE t (a int); COMMIT; CREATE TABLE u (a int); ROLLBACK;",
        "CREATE TABLE t (a int); COMMIT; SELECT 1/0;",
        "CREATE TABLE t (a int); COMMIT; BEGIN; SELECT 1/0;",
    ],
    ids=["commit-begin", "commit-rollback", "commit-fail", "commit-begin-fail"],
)
def test_apply_that_escapes_its_transaction_is_recorded_truthfully(
    uap, database, migrations_dir, unchecked, body
):
    """Exit 2; the table the file committed stays, and row and event say the file failed
    because it ended the runner's transaction."""
    result = uap(directory=_folder(migrations_dir, body))
    assert result.code == 2, result
    assert "ended the runner's transaction" in result.err
    assert "t" in database.tables() and "u" not in database.tables()
    rows, events = _ledger(database)
    assert rows == [("001", "failed")] and events == [("apply", "failed")]
    message = database.scalar("SELECT error_message FROM schema_migrations")
    assert message.startswith("ended the runner's transaction")


@pytest.mark.parametrize("mode", ["--dry-run", "--trace"])
def test_dry_run_that_escapes_its_transaction_says_so(
    uap, database, migrations_dir, unchecked, mode
):
    """Exit 2 and a failed dry_run event saying the transaction escaped; the next file is
    not tried."""
    folder = migrations_dir(
        {
            "001_v1.0_hidden.sql": migration("001", "CREATE TABLE t (a int); COMMIT; BEGIN;"),
            "002_v1.1_next.sql": migration("002", "CREATE TABLE u (a int);"),
        }
    )
    result = uap(mode, directory=folder)
    assert result.code == 2, result
    assert "001_v1.0_hidden.sql: 001 v1.0_hidden ended the runner's transaction" in result.err
    assert "u" not in database.tables()
    events = database.query(
        "SELECT version, action, status, error_message FROM schema_migration_events"
    )
    assert [e[:3] for e in events] == [("001", "dry_run", "failed")]
    assert events[0][3].startswith("ended the runner's transaction")


def test_patch_that_escapes_its_transaction_is_recorded(uap, database, tmp_path, unchecked):
    """A patch failing after its own COMMIT: exit 2, a failed patch event saying why."""
    patch = tmp_path / "patch_escape.sql"
    patch.write_text("CREATE TABLE t (a int); COMMIT; SELECT 1/0;")
    result = uap("--patch", str(patch))
    assert result.code == 2 and "ended the runner's transaction" in result.err, result
    assert database.query("SELECT action, status FROM schema_migration_events") == [
        ("patch", "failed")
    ]


def test_statement_opening_a_transaction_in_a_stepwise_file_is_caught(
    uap, database, migrations_dir, unchecked
):
    """A `-- Transaction: none` statement that leaves a transaction open: the run rolls it
    back after that statement, records the file failed and runs nothing more."""
    body = "-- Transaction: none\nBEGIN;\nCREATE TABLE t (a int);\n"
    result = uap(directory=migrations_dir({"001_v1.0_opens.sql": body}))
    assert result.code == 2, result
    assert "statement 1 of 2 (line 2) opened a transaction of its own" in result.err
    assert "t" not in database.tables()
    assert _ledger(database) == ([("001", "failed")], [("apply", "running"), ("apply", "failed")])


def test_stepwise_file_stops_once_it_turns_standard_conforming_strings_off(
    uap, database, migrations_dir
):
    """With standard_conforming_strings off, PostgreSQL reads `'a\\' || '` as one string, so
    what the parser split as one statement would hide a CREATE TABLE (or a BEGIN): it is not
    sent; the file is recorded failed at that statement."""
    body = (
        "-- Transaction: none\nSET standard_conforming_strings = off;\n"
        "SELECT 'a\\' || '; CREATE TABLE t (a int); --';\nCREATE TABLE u (a int);\n"
    )
    result = uap(directory=migrations_dir({"001_v1.0_unsplit.sql": body}))
    assert result.code == 2, result
    assert "statement 2 of 3 (line 3) was not run" in result.err
    assert not {"t", "u"} & database.tables()
    assert _ledger(database) == ([("001", "failed")], [("apply", "running"), ("apply", "failed")])


def test_trace_stops_once_a_file_turns_standard_conforming_strings_off(
    uap, database, migrations_dir
):
    """Statement by statement, a file that turns standard_conforming_strings off could hide a
    COMMIT in what the parser split as one statement: the trace refuses to go on."""
    body = (
        "CREATE TABLE t (a int);\nSET standard_conforming_strings = off;\n"
        "SELECT 'a\\' || '; COMMIT; --';\n"
    )
    result = uap("--trace", directory=_folder(migrations_dir, body))
    assert result.code == 2 and "turns standard_conforming_strings off" in result.err, result
    assert "t" not in database.tables()
