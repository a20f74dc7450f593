"""`--repair`, `--accept-checksum` and `--patch`: operator actions, each with its own event."""

from __future__ import annotations

import json

from tests.conftest import migration

LAST_EVENT = (
    "SELECT version, action, status, reason, checksum FROM schema_migration_events "
    "ORDER BY id DESC LIMIT 1"
)


def test_repair_marks_a_failed_version_completed_after_a_manual_fix(uap, database, migrations_dir):
    """An operator who applied 001 by hand records it completed; it is not run again."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);")})
    with database.connect() as conn:
        conn.execute("CREATE TABLE a (id int)")
    assert uap(directory=folder).code == 1
    result = uap("--repair", "001", "--mark", "completed", "--reason", "INC-7", directory=folder)
    assert result.code == 0, result.err
    assert "001: failed -> completed." in result.out
    assert database.query("SELECT status, error_message FROM schema_migrations") == [
        ("completed", None)
    ]
    assert database.query(LAST_EVENT)[0][:4] == ("001", "repair", "completed", "INC-7")
    assert uap("--check", directory=folder).code == 0


def test_repair_refuses_rows_that_are_not_dirty(uap, database, migrations_dir):
    """A completed row, an unknown version, or a missing --mark: exit 2, no event."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);")})
    assert uap(directory=folder).code == 0
    events = database.scalar("SELECT count(*) FROM schema_migration_events")
    completed = uap("--repair", "001", "--mark", "failed", directory=folder)
    assert completed.code == 2 and "it is completed, not running" in completed.err
    assert uap("--repair", "007", "--mark", "failed", directory=folder).code == 2
    no_mark = uap("--repair", "001", directory=folder)
    assert no_mark.code == 2 and "--mark completed or --mark failed" in no_mark.err
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == events


def test_accept_checksum_records_the_new_checksum_and_unblocks_runs(uap, database, migrations_dir):
    """An edited applied file blocks runs (exit 2) until --accept-checksum records it."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);")})
    assert uap(directory=folder).code == 0
    path = folder / "001_v1.0_a.sql"
    path.write_text(migration("001", "-- a table\nCREATE TABLE a (id int);"))
    assert uap(directory=folder).code == 2
    result = uap(
        "--accept-checksum", "001", "--reason", "comment only", "--json", directory=folder
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["status"] == "accepted" and data["previous"] != data["checksum"]
    assert database.scalar("SELECT checksum FROM schema_migrations") == data["checksum"]
    assert database.query(LAST_EVENT) == [
        ("001", "accept_checksum", "completed", "comment only", data["checksum"])
    ]
    assert uap(directory=folder).code == 0
    again = uap("--accept-checksum", "001", directory=folder)
    assert again.code == 0 and "checksum unchanged" in again.out
    assert database.query(LAST_EVENT)[0][1] == "accept_checksum"  # no second event
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == 2


def test_accept_checksum_refuses_a_version_that_was_never_applied(uap, migrations_dir):
    """Nothing applied under 002: exit 2."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);")})
    assert uap(directory=folder).code == 0
    assert uap("--accept-checksum", "002", directory=folder).code == 2


def test_patch_runs_once_and_is_recorded_only_as_an_event(uap, database, tmp_path):
    """The patch's SQL runs; its event has action patch, the file name, checksum and SQL."""
    patch = tmp_path / "patch_add_flag.sql"
    patch.write_text(
        "-- Description: emergency flag\nCREATE TABLE IF NOT EXISTS flag (on_ boolean);\n"
    )
    result = uap("--patch", str(patch), "--reason", "INC-9")
    assert result.code == 0, result.err
    assert "Applied patch patch_add_flag.sql" in result.out
    assert "flag" in database.tables()
    assert database.scalar("SELECT count(*) FROM schema_migrations") == 0
    version, action, status, reason, checksum = database.query(LAST_EVENT)[0]
    assert (version, action, status, reason) == (
        "patch_add_flag.sql",
        "patch",
        "completed",
        "INC-9",
    )
    assert len(checksum) == 64
    assert "CREATE TABLE IF NOT EXISTS flag" in database.scalar(
        "SELECT sql_text FROM schema_migration_events WHERE action = 'patch'"
    )
    twice = uap("--patch", str(patch))
    assert twice.code == 2 and "already completed" in twice.err
    assert uap("--patch", str(patch), "--force").code == 0


def test_patch_switching_client_encoding_is_recorded_as_written(uap, database, tmp_path):
    """A patch that moves the session to LATIN1 is still recorded in full, € and all."""
    patch = tmp_path / "patch_latin.sql"
    text = "SET client_encoding = 'LATIN1';\nCREATE TABLE prices (label text DEFAULT '€');\n"
    patch.write_text(text, encoding="utf-8")
    result = uap("--patch", str(patch))
    assert result.code == 0, result.err
    assert database.scalar("SELECT sql_text FROM schema_migration_events") == text


def test_failing_patch_changes_nothing_and_records_a_failed_event(uap, database, tmp_path):
    """A patch whose second statement fails leaves no trace but its failed event: exit 1."""
    patch = tmp_path / "patch_broken.sql"
    patch.write_text("CREATE TABLE p (id int);\nINSERT INTO nope VALUES (1);\n")
    result = uap("--patch", str(patch))
    assert result.code == 1 and "42P01" in result.err
    assert "p" not in database.tables()
    assert database.query(LAST_EVENT)[0][:3] == ("patch_broken.sql", "patch", "failed")


def test_patch_file_must_be_named_patch_and_hold_no_begin(uap, tmp_path):
    """A misnamed file or one with its own BEGIN/COMMIT is refused before it runs: exit 2."""
    wrong = tmp_path / "fix.sql"
    wrong.write_text("SELECT 1;")
    assert uap("--patch", str(wrong)).code == 2
    begin = tmp_path / "patch_txn.sql"
    begin.write_text("BEGIN;\nSELECT 1;\nCOMMIT;\n")
    result = uap("--patch", str(begin))
    assert result.code == 2 and "patch_txn.sql:1:" in result.err
