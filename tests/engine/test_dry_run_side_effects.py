"""Dry runs execute the files for real: what outlasts their rollback is named by lint and the
trace, and a restricted role (UAP_DRY_RUN_ROLE / --dry-run-role) can keep it from acting."""

from __future__ import annotations

import json
import uuid

import pytest
from psycopg import sql

from tests.app.test_checks import run_check
from tests.conftest import migration

SIDE_EFFECTS = """SELECT setval('counter', 42);
COPY (SELECT 1) TO PROGRAM 'touch /tmp/x';
SELECT public.dblink_exec('host=elsewhere', 'DROP TABLE t');
ALTER SYSTEM SET work_mem = '1GB';
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app';
CREATE TABLE IF NOT EXISTS q (id bigint DEFAULT nextval('counter'));
"""


def _counter(database) -> int:
    return database.scalar("SELECT last_value FROM counter")


@pytest.fixture
def counter(database):
    """The test database with a sequence `counter` at 1."""
    with database.connect() as conn:
        conn.execute("CREATE SEQUENCE counter")
    return database


def test_lint_warns_of_statements_a_dry_run_cannot_take_back(uap, migrations_dir):
    """One `dry-run-side-effect` warning per acting statement, at its line; a DEFAULT that
    only names nextval() acts on nothing when the table is created."""
    folder = migrations_dir({"001_v1.0_effects.sql": migration("001", SIDE_EFFECTS)})
    result = uap("--lint", "--format", "json", directory=folder)
    found = [
        (f["line"], f["message"].split(":")[0])
        for f in json.loads(result.out)["findings"]
        if f["rule"] == "dry-run-side-effect"
    ]
    assert found == [
        (11, "setval()"),
        (12, "COPY ... PROGRAM"),
        (13, "dblink_exec()"),
        (14, "ALTER SYSTEM"),
        (15, "pg_terminate_backend()"),
    ]
    levels = {f["level"] for f in json.loads(result.out)["findings"]}
    assert "warning" in levels


def test_trace_notes_a_statement_whose_effect_outlasts_the_rollback(uap, counter, migrations_dir):
    """The trace names the setval() on the statement and among the file's reasons, and the
    effect is real: the sequence keeps the value after the dry run's rollback."""
    folder = migrations_dir(
        {"001_v1.0_bump.sql": migration("001", "SELECT setval('counter', 42);")}
    )
    text = uap("--trace", directory=folder)
    assert text.code == 0, text
    assert "statement 1 (line 11) setval(): sets a sequence" in text.out
    assert "the rollback did not undo it" in text.out
    assert _counter(counter) == 42
    result = uap("--trace", "--json", directory=folder)
    statement = json.loads(result.out)["dry_run"][0]["trace"]["statements"][0]
    assert statement["side_effects"] == ["setval(): sets a sequence, which no rollback resets"]
    assert json.loads(result.out)["dry_run"][0]["trace"]["verdict"] == "review"


@pytest.fixture
def restricted(database):
    """A LOGIN role with no rights on the test database's objects, dropped afterwards."""
    name = f"dry_{uuid.uuid4().hex[:8]}"
    with database.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    yield name
    with database.connect() as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.mark.parametrize("mode", ["--dry-run", "--trace"])
def test_dry_run_role_without_the_right_fails_the_statement_instead(
    uap, counter, migrations_dir, restricted, mode
):
    """As the restricted role, setval() is refused (42501): the file would fail, the sequence
    stays where it was, and the event is recorded by the runner's own role."""
    folder = migrations_dir(
        {"001_v1.0_bump.sql": migration("001", "SELECT setval('counter', 42);")}
    )
    result = uap(mode, "--dry-run-role", restricted, directory=folder)
    assert result.code == 1, result
    assert "permission denied for sequence counter" in result.out + result.err
    assert _counter(counter) == 1
    assert counter.query("SELECT status, sqlstate FROM schema_migration_events") == [
        ("failed", "42501")
    ]


def test_dry_run_role_from_the_setting(uap, counter, migrations_dir, restricted, settings):
    """UAP_DRY_RUN_ROLE does what --dry-run-role does."""
    settings.UAP_DRY_RUN_ROLE = restricted
    folder = migrations_dir(
        {"001_v1.0_bump.sql": migration("001", "SELECT setval('counter', 42);")}
    )
    assert uap("--dry-run", directory=folder).code == 1
    assert _counter(counter) == 1


def test_missing_dry_run_role_is_refused_before_anything_runs(uap, counter, migrations_dir):
    """A role that does not exist: exit 2 naming it; nothing runs, nothing is recorded."""
    folder = migrations_dir(
        {"001_v1.0_bump.sql": migration("001", "SELECT setval('counter', 42);")}
    )
    result = uap("--dry-run", "--dry-run-role", "no such role", directory=folder)
    assert result.code == 2, result
    assert "dry-run role 'no such role' (--dry-run-role / UAP_DRY_RUN_ROLE) does not exist" in (
        result.err
    )
    assert _counter(counter) == 1
    assert counter.scalar("SELECT count(*) FROM schema_migration_events") == 0


def test_file_that_leaves_the_dry_run_role_is_refused(uap, counter, migrations_dir, restricted):
    """RESET ROLE would take the file back to the runner's rights: exit 2, nothing runs."""
    body = "RESET ROLE;\nSELECT setval('counter', 42);"
    folder = migrations_dir({"001_v1.0_escape.sql": migration("001", body)})
    result = uap("--dry-run", "--dry-run-role", restricted, directory=folder)
    assert result.code == 2 and "001_v1.0_escape.sql:11: changes the role" in result.err, result
    assert _counter(counter) == 1


def test_unusable_dry_run_role_setting_is_a_check_error():
    """A value no role can be named (over 63 bytes) is schema_audit.E002."""
    assert "schema_audit.E002" in run_check(UAP_DRY_RUN_ROLE="r" * 64)


def test_dry_run_role_without_a_dry_run_is_refused(uap, counter, migrations_dir, restricted):
    """An apply does not take the flag silently: exit 2, nothing runs."""
    folder = migrations_dir(
        {"001_v1.0_bump.sql": migration("001", "SELECT setval('counter', 42);")}
    )
    result = uap("--dry-run-role", restricted, directory=folder)
    assert result.code == 2 and "--dry-run-role goes with --dry-run or --trace" in result.err
    assert _counter(counter) == 1
    # A rollback's dry run does not take the role either, and says so rather than that
    # --dry-run is missing.
    dry = uap("--rollback-to", "000", "--dry-run", "--dry-run-role", restricted, directory=folder)
    assert dry.code == 2 and "--dry-run-role does not go with --rollback-to" in dry.err
    assert _counter(counter) == 1
