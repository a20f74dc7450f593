"""Lock waits retried: a file queued behind a long reader waits one short lock_timeout per
attempt, rolls back, and runs again once the reader is gone; each failed attempt is an event
naming who held the lock. The blocker is released when the first retry is recorded, so
nothing here depends on timing."""

from __future__ import annotations

import json
import threading
import time

import pytest

from schema_audit.engine.lock_retry import RetryPolicy, attempt_timeout, milliseconds
from tests.conftest import migration

ALTER = "ALTER TABLE items ADD COLUMN note text;"


@pytest.fixture
def items(uap, database, migrations_dir):
    """A folder whose 001 (applied) made `items`; returns a function adding more files."""
    files = {"001_v1.0_items.sql": migration("001", "CREATE TABLE items (id int);")}
    folder = migrations_dir(files)
    assert uap(directory=folder).code == 0

    def add(name: str, text: str):
        (folder / name).write_text(text)
        return folder

    return add


def columns(database) -> set[str]:
    rows = database.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'items'"
    )
    return {name for (name,) in rows}


class Reader:
    """A session holding ACCESS SHARE on items (a long report) until released."""

    def __init__(self, database, release_after_retries: int | None = 1):
        self.conn = database.connect(application_name="long report")
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT count(*) FROM items").fetchone()
        self.database = database
        self.wanted = release_after_retries
        self.thread = threading.Thread(target=self._release_when_retried, daemon=True)
        self.thread.start()

    def _release_when_retried(self) -> None:
        if self.wanted is None:
            return
        with self.database.connect() as probe:
            for _ in range(6000):  # a minute at most; the test fails rather than hangs
                seen = probe.execute(
                    "SELECT count(*) FROM schema_migration_events WHERE sqlstate = '55P03' "
                    "AND status = 'failed' AND trace ? 'lock_retry'"
                ).fetchone()[0]
                if seen >= self.wanted:
                    break
                time.sleep(0.01)
        self.close()

    def close(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


def test_a_blocked_file_is_retried_and_applied_once_the_reader_ends(uap, database, items):
    folder = items("002_v1.1_note.sql", migration("002", ALTER))
    reader = Reader(database)
    try:
        result = uap("--lock-retries", "30", "--lock-retry-wait", "60", directory=folder)
    finally:
        reader.close()
    assert result.code == 0, result.err
    assert "retrying" in result.err and "long report" in result.err
    assert "note" in columns(database)
    events = database.query(
        "SELECT status, sqlstate, error_message, trace FROM schema_migration_events "
        "WHERE version = '002' AND action = 'apply' ORDER BY id"
    )
    *retried, last = events
    assert last[0] == "completed" and retried, events
    status, sqlstate, message, trace = retried[0]
    assert (status, sqlstate) == ("failed", "55P03")
    assert "attempt 1 of" in message and "long report" in message
    assert "AccessShareLock on items" in message
    record = trace["lock_retry"]
    assert record["attempt"] == 1 and record["attempts"] > 1
    assert record["holders"][0]["application"] == "long report"
    assert record["holders"][0]["mode"] == "AccessShareLock"
    # The file's outcome is one row, as for any file.
    assert database.query("SELECT status FROM schema_migrations WHERE version = '002'") == [
        ("completed",)
    ]


def test_retried_attempts_show_in_json_and_the_chain_verifies(uap, database, items):
    folder = items("002_v1.1_note.sql", migration("002", ALTER))
    reader = Reader(database)
    try:
        result = uap("--json", "--lock-retries", "30", directory=folder)
    finally:
        reader.close()
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["successful"] == 1
    assert uap("--verify").code == 0


@pytest.mark.parametrize(
    "how",
    [("header", "-- Lock-Retries: 0\n"), ("flag", "")],
    ids=["header", "flag"],
)
def test_a_file_that_must_not_run_twice_fails_at_the_first_timeout(how, uap, database, items):
    kind, header = how
    text = migration("002", ALTER).replace("-- Version: 002\n", "-- Version: 002\n" + header)
    folder = items("002_v1.1_note.sql", text)
    reader = Reader(database, release_after_retries=None)
    args = ["--lock-timeout", "100ms"] + (["--lock-retries", "0"] if kind == "flag" else [])
    try:
        result = uap(*args, directory=folder)
    finally:
        reader.close()
    assert result.code == 1, result.err
    assert "55P03" in result.err
    failed = database.query(
        "SELECT count(*) FROM schema_migration_events WHERE version = '002' AND status = 'failed'"
    )
    assert failed == [(1,)]  # the file's own failure, no retried attempt
    assert "note" not in columns(database)


@pytest.mark.parametrize(
    "value",
    ["some", "-1", "2.5", "²", "٣", "9" * 40, "1e9", "0x10"],
    ids=["word", "negative", "fraction", "superscript", "arabic-digit", "huge", "exp", "hex"],
)
def test_a_lock_retries_header_that_is_no_number_stops_the_run_before_anything_runs(
    value, uap, database, items
):
    text = migration("002", ALTER).replace(
        "-- Version: 002\n", f"-- Version: 002\n-- Lock-Retries: {value}\n"
    )
    folder = items("002_v1.1_note.sql", text)
    result = uap(directory=folder)
    assert result.code == 2, result.err
    assert "002_v1.1_note.sql" in result.err and "Lock-Retries" in result.err
    assert "Traceback" not in result.err
    assert "note" not in columns(database)


@pytest.mark.parametrize(
    "args, message",
    [(("--lock-retries", "-1"), "--lock-retries -1"), (("--lock-retry-wait", "nan"), "nan")],
    ids=["negative-retries", "nan-wait"],
)
def test_bad_retry_options_exit_2(args, message, uap, items):
    folder = items("002_v1.1_note.sql", migration("002", ALTER))
    result = uap(*args, directory=folder)
    assert result.code == 2 and message in result.err


@pytest.mark.parametrize(
    "lock_timeout, retry_timeout, expected",
    [("10s", "100ms", "100ms"), ("50ms", "100ms", "50ms"), ("0", "100ms", "100ms"),
     ("10s", "0", "10s"), ("1min", "2s", "2s"), ("200", "1s", "200")],
)  # fmt: skip
def test_each_attempt_waits_the_shorter_lock_timeout(lock_timeout, retry_timeout, expected):
    assert attempt_timeout(lock_timeout, retry_timeout) == expected


def test_waits_grow_jittered_within_the_budget():
    import random

    waits = list(RetryPolicy(20, 30.0).waits(random.Random(7)))
    assert sum(waits) <= 30.0 and 0 < len(waits) < 20
    assert waits[0] < waits[3]  # growing (the jitter is at most ±50%)
    assert list(RetryPolicy(0, 60.0).waits()) == []
    assert RetryPolicy(10, 60.0).for_file("2").retries == 2
    assert RetryPolicy(1, 60.0).for_file("5").retries == 1  # a header never raises it
    assert milliseconds("1.5s") == 1500.0


def outside(body: str) -> str:
    """A `-- Transaction: none` file of version 002."""
    return migration("002", body).replace(
        "-- Version: 002\n", "-- Version: 002\n-- Transaction: none\n"
    )


def test_a_statement_outside_a_transaction_is_retried_alone(uap, database, items):
    """In a `-- Transaction: none` file the waiting statement runs again, not the file: the
    statement before it committed once."""
    body = "CREATE TABLE side (id int);\nALTER TABLE items ADD COLUMN note text;\n"
    folder = items("002_v1.1_note.sql", outside(body))
    reader = Reader(database)
    try:
        result = uap("--lock-retries", "30", directory=folder)
    finally:
        reader.close()
    assert result.code == 0, result.err
    assert "note" in columns(database) and "side" in database.tables()
    retried = database.query(
        "SELECT trace->'lock_retry'->'holders'->0->>'application' FROM schema_migration_events "
        "WHERE version = '002' AND sqlstate = '55P03'"
    )
    assert retried and retried[0] == ("long report",)


def test_a_concurrent_index_build_is_not_retried(uap, database, items):
    """CREATE INDEX CONCURRENTLY may leave an INVALID index when it fails: it runs once, with
    the full lock_timeout, and fails the file."""
    folder = items("002_v1.1_index.sql", outside("CREATE INDEX CONCURRENTLY ix ON items (id);"))
    with database.connect() as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE items IN SHARE UPDATE EXCLUSIVE MODE")
        result = uap("--lock-timeout", "200ms", "--lock-retries", "30", directory=folder)
        holder.execute("ROLLBACK")
    assert result.code == 1 and "55P03" in result.err
    assert database.query(
        "SELECT count(*) FROM schema_migration_events WHERE version = '002' "
        "AND trace IS NOT NULL AND trace ? 'lock_retry'"
    ) == [(0,)]


WAITING_ALTER = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
    "AND query LIKE %s AND pid <> pg_backend_pid()"
)


def release_after_a_timed_out_wait(database, reader: Reader) -> threading.Thread:
    """Release `reader` once the ALTER was seen waiting in two attempts: the first attempt
    timed out and asked who held the lock before the second began."""

    def watch() -> None:
        with database.connect() as probe:
            attempts, waiting_before = 0, False
            for _ in range(12000):
                waiting = bool(
                    probe.execute(WAITING_ALTER, ("%ALTER TABLE items%",)).fetchone()[0]
                )
                attempts += waiting and not waiting_before
                waiting_before = waiting
                if attempts >= 2:
                    break
                time.sleep(0.005)
        reader.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_dry_run_retries_and_its_trace_names_whom_it_met(uap, database, items):
    folder = items("002_v1.1_note.sql", migration("002", ALTER))
    reader = Reader(database, release_after_retries=None)
    watcher = release_after_a_timed_out_wait(database, reader)
    try:
        result = uap("--trace", "--json", "--lock-retries", "30", directory=folder)
    finally:
        watcher.join(timeout=60)
        reader.close()
    assert result.code == 0, result.err
    trace = json.loads(result.out)["dry_run"][0]["trace"]
    met = [reason for reason in trace["reasons"] if "lock not available on attempt" in reason]
    assert met and "long report" in met[0] and "AccessShareLock on items" in met[0]
    assert "note" not in columns(database)  # a dry run: rolled back


def test_an_unknown_layout_is_refused_before_anything_runs(uap, database, items):
    from django.core.management import CommandError

    folder = items("002_v1.1_note.sql", migration("002", ALTER))
    with pytest.raises(CommandError, match="--layout: invalid choice: 'liquibase'"):
        uap("--layout", "liquibase", directory=folder)
    assert "note" not in columns(database)
