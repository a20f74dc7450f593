"""`--show VERSION`: a file's SQL as the runner will send it, or what it ran once applied.
Reads only."""

from __future__ import annotations

import json

from tests.conftest import migration

CONCURRENT = migration(
    "002",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_id ON a (id);\nVACUUM a;\n"
    "ALTER TABLE a ADD COLUMN IF NOT EXISTS note text;",
    rollback="DROP INDEX CONCURRENTLY IF EXISTS a_id;",
).replace("-- Impact:", "-- Transaction: none\n-- Impact:")


def folder_of(migrations_dir, **extra: str):
    files = {
        "001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);", rollback="DROP TABLE a;")
    }
    return migrations_dir({**files, **extra})


def test_a_pending_file_shows_the_transaction_the_runner_sends(uap, database, migrations_dir):
    """BEGIN, the SET LOCAL timeouts of each attempt, the file, COMMIT; nothing is created."""
    folder = folder_of(migrations_dir)
    result = uap("--show", "001", "--statement-timeout", "5min", directory=folder)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("-- 001 v1.0_a: pending (")
    begin = lines.index("BEGIN;")
    assert lines[begin + 1].startswith("SET LOCAL lock_timeout = '")
    assert "SET LOCAL statement_timeout = '5min';" in lines[begin + 1]
    assert lines[lines.index("CREATE TABLE a (id int);") + 1] == "COMMIT;"
    assert "on 55P03 the file rolls back and runs again" in result.out
    assert lines[-2:] == ["-- Rollback:", "DROP TABLE a;"]
    assert database.tables() == set()  # read only: not even the ledger's tables


def test_lock_retries_header_and_timeouts_are_what_the_file_gets(uap, migrations_dir):
    """`-- Lock-Retries: 0`: the full lock_timeout, not retried; JSON says the same."""
    text = migration("001", "CREATE TABLE a (id int);").replace(
        "-- Impact:", "-- Lock-Retries: 0\n-- Impact:"
    )
    folder = migrations_dir({"001_v1.0_a.sql": text})
    result = uap("--show", "001", "--lock-timeout", "3s", directory=folder)
    assert result.code == 0, result.err
    assert "SET LOCAL lock_timeout = '3s';" in result.out
    assert "-- Lock waits: up to 3s per lock, not retried (-- Lock-Retries: 0)." in result.out
    document = json.loads(
        uap("--show", "001", "--lock-timeout", "3s", "--json", directory=folder).out
    )
    assert document["lock_retry"] == {
        "retries": 0,
        "wait_seconds": 0.0,
        "attempt_lock_timeout": "3s",
        "lock_timeout": "3s",
        "header": "0",
    }
    assert document["session_prefix"].startswith("SET LOCAL lock_timeout = '3s';")
    assert document["transactional"] is True and document["ran"] is None


def test_a_non_transactional_file_lists_each_statement(uap, migrations_dir):
    """`-- Transaction: none`: session SETs, then each statement with its line; one that can
    run in a transaction block gets the short SET LOCAL lock_timeout and is retried."""
    folder = folder_of(migrations_dir, **{"002_v1.1_idx.sql": CONCURRENT})
    result = uap("--show", "002", directory=folder)
    assert result.code == 0, result.err
    assert "outside a transaction (-- Transaction: none)" in result.out
    assert "BEGIN;" not in result.out
    assert "SET lock_timeout = '" in result.out
    assert "-- statement 1, line 12 (runs once)" in result.out
    assert "-- statement 2, line 13 (runs once)" in result.out
    lines = result.out.splitlines()
    third = lines.index("-- statement 3, line 14 (retried on 55P03)")
    assert lines[third + 1].startswith("SET LOCAL lock_timeout = '")
    assert lines[third + 2] == "ALTER TABLE a ADD COLUMN IF NOT EXISTS note text;"
    document = json.loads(uap("--show", "002", "--json", directory=folder).out)
    assert [(s["line"], s["retried"]) for s in document["statements"]] == [
        (12, False),
        (13, False),
        (14, True),
    ]
    retries = uap("--show", "002", "--lock-retries", "0", directory=folder)
    assert "SET LOCAL" not in retries.out and "not retried" in retries.out


def test_an_applied_version_shows_what_it_ran_and_whether_the_file_drifted(
    uap, database, migrations_dir
):
    """After the apply: the event's SQL; after an edit of the file: the drift, exit 0."""
    folder = folder_of(migrations_dir)
    assert uap(directory=folder).code == 0
    event = database.scalar("SELECT id FROM schema_migration_events WHERE action = 'apply'")
    result = uap("--show", "001", directory=folder)
    assert result.code == 0, result.err
    assert f"-- As it ran: event #{event} at " in result.out
    assert "CREATE TABLE a (id int);" in result.out
    assert "-- The file on disk matches what ran." in result.out
    path = folder / "001_v1.0_a.sql"
    path.write_text(path.read_text().replace("(id int)", "(id bigint)"))
    drifted = uap("--show", "001", "--json", directory=folder)
    assert drifted.code == 0, drifted.err
    document = json.loads(drifted.out)
    assert document["status"] == "completed" and document["ran"]["event_id"] == event
    assert "(id int)" in document["ran"]["sql_text"] and "(id bigint)" in document["sql"]
    assert "file changed since it was applied" in document["drift"]
    assert (
        "-- DRIFT: file changed since it was applied" in uap("--show", "001", directory=folder).out
    )


def test_a_placeholder_rollback_is_flagged(uap, migrations_dir):
    """The Rollback a new file starts with is shown as one --rollback refuses."""
    text = migration("001", "CREATE TABLE a (id int);", rollback="TODO: the SQL that undoes it")
    folder = migrations_dir({"001_v1.0_a.sql": text})
    result = uap("--show", "001", directory=folder)
    assert result.code == 0, result.err
    assert "a placeholder Rollback ('TODO: the SQL that undoes it'), not SQL: --rollback" in (
        result.out
    )


def test_an_unknown_version_is_refused(uap, migrations_dir):
    """No such version, or not a version: exit 2, in JSON too."""
    folder = folder_of(migrations_dir)
    result = uap("--show", "009", directory=folder)
    assert result.code == 2 and "--show 009: no migration with that version" in result.err
    document = json.loads(uap("--show", "x1", "--json", directory=folder).out)
    assert document["errors"][0]["exit_code"] == 2
    assert "--show x1: no migration with that version" in document["errors"][0]["message"]
