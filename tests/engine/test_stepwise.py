"""`-- Transaction: none` files: statement by statement in autocommit, `running` until done."""

from __future__ import annotations

import signal
import time

from tests.conftest import migration, run_subprocess

TABLE = migration(
    "001",
    "CREATE TABLE IF NOT EXISTS m (a int, b int, c int);\n"
    "INSERT INTO m SELECT g, g % 3, g FROM generate_series(1, 500) g;",
)
ROW = "SELECT status, error_message FROM schema_migrations WHERE version = %s"
SLEEPING = "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE %s"
VALID = """
SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'm'::regclass ORDER BY 1
"""


def stepwise(version: str, body: str) -> str:
    """A migration whose header carries `-- Transaction: none`."""
    return migration(version, body).replace("-- Impact:", "-- Transaction: none\n-- Impact:")


def wait_for(database, query: str, params: tuple = (), timeout: float = 30) -> None:
    """Poll until `query` returns a true first column."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if database.query(query, params)[0][0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {query}")


def test_three_concurrent_indexes_apply_outside_a_transaction(uap, database, migrations_dir):
    """Three CREATE INDEX CONCURRENTLY statements run; the row ends completed."""
    body = "\n".join(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS m_{c} ON m ({c});" for c in ("a", "b", "c")
    )
    folder = migrations_dir({"001_v1.0_m.sql": TABLE, "002_v1.1_idx.sql": stepwise("002", body)})
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert "✓ 002 v1.1_idx" in result.out
    assert database.query(VALID) == [("m_a", True), ("m_b", True), ("m_c", True)]
    assert database.query(ROW, ("002",)) == [("completed", None)]
    assert database.query(
        "SELECT status FROM schema_migration_events WHERE version = '002' ORDER BY id"
    ) == [("running",), ("completed",)]


def test_failing_second_statement_leaves_first_index_and_reports_the_invalid_one(
    uap, database, migrations_dir
):
    """The row is failed, m_a stays, the INVALID unique index is named; the retry re-runs."""
    body = (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS m_a ON m (a);\n"
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS m_b ON m (b);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS m_c ON m (c);"
    )
    folder = migrations_dir({"001_v1.0_m.sql": TABLE, "002_v1.1_idx.sql": stepwise("002", body)})
    result = uap(directory=folder)
    assert result.code == 1
    assert "002_v1.1_idx.sql:13: 002 v1.1_idx failed [SQLSTATE 23505]" in result.err
    assert "at statement 2 of 3; statements 1-1 were committed" in result.err
    assert "left INVALID index public.m_b" in result.err
    assert database.query(VALID) == [("m_a", True), ("m_b", False)]
    status, error = database.query(ROW, ("002",))[0]
    assert status == "failed" and "INVALID index public.m_b" in error

    with database.connect() as conn:
        conn.execute("DROP INDEX CONCURRENTLY m_b")
        conn.execute("UPDATE m SET b = a")
    retry = uap(directory=folder)
    assert retry.code == 0, retry.err
    assert database.query(VALID) == [("m_a", True), ("m_b", True), ("m_c", True)]
    assert database.query(ROW, ("002",)) == [("completed", None)]


def test_killed_runner_leaves_running_and_blocks_until_repair(uap, database, migrations_dir):
    """SIGKILL between statements: the row stays running, runs exit 2 until --repair."""
    body = (
        "CREATE TABLE IF NOT EXISTS k1 (id int);\nSELECT pg_sleep(20);\n"
        "CREATE TABLE IF NOT EXISTS k2 (id int);"
    )
    folder = migrations_dir({"001_v1.0_m.sql": TABLE, "002_v1.1_slow.sql": stepwise("002", body)})
    runner = run_subprocess(database.url, "--dir", str(folder))
    try:
        wait_for(database, "SELECT to_regclass('k1') IS NOT NULL")
        wait_for(database, SLEEPING, ("%SELECT pg_sleep(20)%",))
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    assert database.query(ROW, ("002",)) == [("running", None)]

    blocked = uap(directory=folder)
    assert blocked.code == 2
    assert "002 v1.1_slow: marked running" in blocked.err
    assert "--repair 002 --mark completed (or failed)" in blocked.err
    assert uap("--dry-run", directory=folder).code == 2
    assert uap("--check", directory=folder).code == 2

    (folder / "002_v1.1_slow.sql").write_text(stepwise("002", body.replace("20", "0")))
    repaired = uap(
        "--repair", "002", "--mark", "failed", "--reason", "runner killed", directory=folder
    )
    assert repaired.code == 0, repaired.err
    assert "002: running -> failed." in repaired.out
    assert database.query(
        "SELECT action, status, reason FROM schema_migration_events ORDER BY id DESC LIMIT 1"
    ) == [("repair", "failed", "runner killed")]
    assert uap(directory=folder).code == 0
    assert {"k1", "k2"} <= database.tables()
    assert database.query(ROW, ("002",)) == [("completed", None)]


def test_lost_connection_mid_file_exits_3_and_leaves_running(database, migrations_dir):
    """The server ends the runner's session between statements: exit 3, row running, hint."""
    body = "CREATE TABLE IF NOT EXISTS k1 (id int);\nSELECT pg_sleep(20);"
    folder = migrations_dir({"001_v1.0_m.sql": TABLE, "002_v1.1_slow.sql": stepwise("002", body)})
    runner = run_subprocess(database.url, "--dir", str(folder))
    wait_for(database, SLEEPING, ("%SELECT pg_sleep(20)%",))
    database.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE query LIKE '%%SELECT pg_sleep(20)%%' AND datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    code, err = runner.wait(timeout=30), runner.stderr.read()
    assert code == 3, err
    assert "Statement 2 of 2 (line 13) was running" in err
    assert "--repair 002 --mark failed (or completed)" in err
    assert database.query(ROW, ("002",)) == [("running", None)]


# The file itself waits until a second runner's lock connection exists, so that runner is
# certainly waiting for the lock when CREATE INDEX CONCURRENTLY starts.
AWAIT_SECOND_RUNNER = """
DO $$
BEGIN
    FOR attempt IN 1..200 LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN (SELECT count(*) FROM pg_stat_activity
                   WHERE application_name LIKE 'uap_migrate lock%') >= 2;
        PERFORM pg_sleep(0.05);
    END LOOP;
    PERFORM pg_sleep(0.5);
END
$$;
"""


def test_waiting_runner_does_not_deadlock_with_create_index_concurrently(database, migrations_dir):
    """A second runner waiting for the lock must not block the first one's CONCURRENTLY build."""
    body = AWAIT_SECOND_RUNNER + (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS m_a ON m (a);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS m_b ON m (b);"
    )
    folder = migrations_dir({"001_v1.0_m.sql": TABLE, "002_v1.1_idx.sql": stepwise("002", body)})
    first = run_subprocess(database.url, "--dir", str(folder))
    wait_for(database, SLEEPING, ("%pg_stat_clear_snapshot%",))
    started = time.monotonic()
    second = run_subprocess(database.url, "--dir", str(folder), "--lock-wait", "20")
    results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in (first, second)]
    assert [code for code, _, _ in results] == [0, 0], results
    assert time.monotonic() - started < 15, "the index build waited for the waiting runner"
    assert "Nothing to apply" in results[1][1]
    assert database.query(VALID) == [("m_a", True), ("m_b", True)]


def test_syntax_error_in_a_non_transactional_file_stops_before_anything_runs(
    uap, database, migrations_dir
):
    """The file is parsed up front: exit 2 with its line, no row, no statement run."""
    body = "CREATE TABLE IF NOT EXISTS s1 (id int);\nCREATE INDEX CONCURRENTLY ON;"
    folder = migrations_dir({"001_v1.0_s.sql": stepwise("001", body)})
    result = uap(directory=folder)
    assert result.code == 2
    assert "001_v1.0_s.sql:13: SQL does not parse" in result.err
    assert "s1" not in database.tables()
    assert database.scalar("SELECT count(*) FROM schema_migrations") == 0


def test_a_files_own_set_does_not_leak_into_later_files(uap, database, migrations_dir):
    """`SET search_path` in a non-transactional file is reset before the next file runs."""
    with database.connect() as conn:
        conn.execute("CREATE SCHEMA side")
    first = stepwise("001", "SET search_path = side;\nCREATE TABLE IF NOT EXISTS s1 (id int);")
    folder = migrations_dir(
        {"001_v1.0_s.sql": first, "002_v1.0_t.sql": migration("002", "CREATE TABLE t2 (id int);")}
    )
    assert uap(directory=folder).code == 0
    assert database.query(
        "SELECT schemaname, tablename FROM pg_tables WHERE tablename IN ('s1', 't2') ORDER BY 2"
    ) == [("side", "s1"), ("public", "t2")]


def test_plan_says_which_files_run_outside_a_transaction(uap, migrations_dir):
    """--plan marks `-- Transaction: none` files."""
    folder = migrations_dir({"001_v1.0_i.sql": stepwise("001", "VACUUM;")})
    result = uap("--plan", directory=folder)
    assert result.code == 0 and "001_v1.0_i.sql, outside a transaction)" in result.out


def test_rollback_of_a_non_transactional_file_runs_outside_a_transaction(
    uap, database, migrations_dir
):
    """DROP INDEX CONCURRENTLY in the Rollback header works; the version is rolled_back."""
    index = stepwise("002", "CREATE INDEX CONCURRENTLY IF NOT EXISTS m_a ON m (a);").replace(
        "-- Rollback: SELECT 1;", "-- Rollback: DROP INDEX CONCURRENTLY IF EXISTS m_a;"
    )
    folder = migrations_dir({"001_v1.0_m.sql": TABLE, "002_v1.1_idx.sql": index})
    assert uap(directory=folder).code == 0
    result = uap("--rollback", "002", directory=folder)
    assert result.code == 0, result.err
    assert database.query(VALID) == []
    assert database.query(ROW, ("002",)) == [("rolled_back", "rolled back")]
