"""Runners racing each other, and migrations blocked by other sessions' locks."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from schema_audit import embedded
from schema_audit.engine.postgres import LOCK_KEY
from tests.conftest import migration, run_subprocess, server_params, url_for
from tests.pgserver import wait_for_backend, wait_for_lock_waiter

LOG_FIRST = "CREATE TABLE applied_log (id serial, version text);\n"


def logged(count: int, first: int = 1) -> dict[str, str]:
    """Files first..count; each creates t{n} and appends its version to applied_log."""
    return {
        f"{n:03d}_v1.{n}_step_{n}.sql": migration(
            f"{n:03d}",
            (LOG_FIRST if n == 1 else "")
            + f"CREATE TABLE t{n} (id int);\n"
            + f"INSERT INTO applied_log (version) VALUES ('{n:03d}');",
        )
        for n in range(first, count + 1)
    }


class Scratch:
    """Databases created on the test server for one test, dropped at the end."""

    def __init__(self) -> None:
        self.params = server_params()
        self.names: list[str] = []

    def create(self) -> str:
        """A new empty database; its name."""
        name = f"sa_race_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(**self.params, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.names.append(name)
        return name

    def query(self, name: str, text: str) -> list[tuple]:
        """Rows of one query on database `name`."""
        with psycopg.connect(**self.params, dbname=name, autocommit=True) as conn:
            return conn.execute(text).fetchall()

    def drop_all(self) -> None:
        """Drop every database this instance created."""
        with psycopg.connect(**self.params, dbname="postgres", autocommit=True) as conn:
            for name in self.names:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


@pytest.fixture
def scratch():
    """Extra databases on the test server."""
    instance = Scratch()
    yield instance
    instance.drop_all()


@pytest.mark.slow
def test_eight_runners_ten_times_apply_each_version_exactly_once(scratch, migrations_dir):
    """10 rounds of 8 runners started together on 40 files: every version runs once, all exit 0."""
    folder = migrations_dir(logged(40))
    versions = [(f"{n:03d}",) for n in range(1, 41)]
    for _ in range(10):
        name = scratch.create()
        url = url_for(scratch.params, name)
        runners = [run_subprocess(url, "--dir", str(folder)) for _ in range(8)]
        results = [(p.wait(timeout=120), *p.communicate()) for p in runners]
        assert [code for code, _, _ in results] == [0] * 8, [err for _, _, err in results]
        assert sum(out.count("✓") for _, out, _ in results) == 40
        assert scratch.query(name, "SELECT version FROM applied_log ORDER BY id") == versions
        assert (
            scratch.query(
                name,
                "SELECT version FROM schema_migration_events WHERE action = 'apply' "
                "AND status = 'completed' ORDER BY id",
            )
            == versions
        )


def test_lock_wait_exceeded_names_the_running_holder(database, migrations_dir):
    """A second runner gives up after --lock-wait with exit 3, naming the first one's pid."""
    folder = migrations_dir({"001_v1.0_slow.sql": migration("001", "SELECT pg_sleep(60);")})
    first = run_subprocess(database.url, "--dir", str(folder))
    try:
        wait_for_backend(database.connect, first, state="active", query_contains="pg_sleep")
        holder = wait_for_backend(database.connect, first, "lock")
        clock = time.monotonic()
        second = run_subprocess(database.url, "--dir", str(folder), "--lock-wait", "0.5")
        out, err = second.communicate(timeout=60)
        elapsed = time.monotonic() - clock
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert second.returncode == 3, err
    assert f"another migration run holds the lock: pid {holder[0]} " in err
    assert f"(uap_migrate lock pid={first.pid}, user " in err
    assert "waited 0.5s" in err and "Traceback" not in err
    assert elapsed < 10
    assert out == ""


def test_runners_with_different_dirs_are_serialized(database, migrations_dir):
    """Two checkouts (--dir) on one database: the second waits, then applies only what is new."""
    gated = logged(2)
    # File 2 waits for a lock this test holds, so the first runner is mid-run for as long
    # as the test needs.
    gated["002_v1.2_step_2.sql"] = gated["002_v1.2_step_2.sql"].replace(
        "CREATE TABLE t2", "SELECT pg_advisory_xact_lock(77);\nCREATE TABLE t2"
    )
    first_dir = migrations_dir(gated, "checkout_a")
    second_dir = migrations_dir({**gated, **logged(3, first=3)}, "checkout_b")
    with database.connect() as gate:
        gate.execute("SELECT pg_advisory_lock(77)")
        first = run_subprocess(database.url, "--dir", str(first_dir))
        wait_for_backend(database.connect, first, wait_event_type="Lock")
        second = run_subprocess(database.url, "--dir", str(second_dir))
        wait_for_lock_waiter(database.connect, second)
        assert database.query("SELECT version FROM applied_log") == [("001",)]
    assert first.wait(timeout=60) == 0
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "✓ 001" not in out and "✓ 002" not in out and "✓ 003 v1.3_step_3" in out
    assert database.query("SELECT version FROM applied_log ORDER BY id") == [
        ("001",),
        ("002",),
        ("003",),
    ]


def test_blocked_migration_fails_on_lock_timeout_and_spares_the_holder(
    uap, database, migrations_dir
):
    """ALTER behind a reader's open transaction, retries off: 55P03 after --lock-timeout,
    recorded failed (tests/engine/test_lock_retry.py covers the retried path)."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE target (id int);")})
    assert uap(directory=folder).code == 0
    folder.joinpath("002_v1.0_b.sql").write_text(
        migration("002", "CREATE TABLE side (id int);\nALTER TABLE target ADD COLUMN x int;")
    )
    with database.connect() as holder:
        holder.execute("BEGIN")
        holder.execute("INSERT INTO target VALUES (7)")
        clock = time.monotonic()
        result = uap("--lock-timeout", "300ms", "--lock-retries", "0", directory=folder)
        elapsed = time.monotonic() - clock
        assert holder.execute("SELECT id FROM target").fetchall() == [(7,)]
        holder.execute("COMMIT")
    assert result.code == 1
    assert 0.3 <= elapsed < 5
    assert "002_v1.0_b.sql:12: 002 v1.0_b failed [SQLSTATE 55P03]" in result.err
    assert "in the statement at line 12: ALTER TABLE target ADD COLUMN x" in result.err
    assert "canceling statement due to lock timeout" in result.err
    assert database.query(
        "SELECT status, error_message LIKE '%%lock timeout%%' FROM schema_migrations "
        "WHERE version = '002'"
    ) == [("failed", True)]
    assert database.query(
        "SELECT status, sqlstate FROM schema_migration_events WHERE version = '002'"
    ) == [("failed", "55P03")]
    assert database.query("SELECT id FROM target") == [(7,)]
    assert "side" not in database.tables()
    assert (
        database.scalar(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'target' AND column_name = 'x'"
        )
        == 0
    )


def test_first_connections_racing_to_create_the_embedded_database(scratch):
    """Commands started together on a fresh embedded server all find its database created."""
    params = scratch.params
    if "port" in params and str(params["port"]) != "5432":
        pytest.skip("ensure_database targets the embedded server's default port")
    for _ in range(5):
        name = f"sa_race_{uuid.uuid4().hex[:10]}"
        scratch.names.append(name)
        barrier, errors = threading.Barrier(8), []

        def first_connection(name=name, barrier=barrier, errors=errors):
            barrier.wait()
            try:
                embedded.ensure_database(params["host"], params.get("user") or "postgres", name)
            except psycopg.Error as exc:
                errors.append(exc)

        threads = [threading.Thread(target=first_connection) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert scratch.query(name, "SELECT current_database()") == [(name,)]


def test_runner_that_lost_its_lock_session_does_not_commit(database, migrations_dir):
    """Lock session killed mid-file: that runner rolls back (exit 3); the next applies it once."""
    with database.connect() as conn:
        conn.execute("CREATE TABLE applied_log (id serial, version text)")
    folder = migrations_dir(
        {
            "001_v1.0_a.sql": migration(
                "001",
                "INSERT INTO applied_log (version) VALUES ('001');\n"
                "SELECT pg_advisory_xact_lock(77);",
            )
        }
    )
    with database.connect() as gate:
        gate.execute("SELECT pg_advisory_lock(77)")
        first = run_subprocess(database.url, "--dir", str(folder))
        wait_for_backend(database.connect, first, wait_event_type="Lock")
        lock_backend = wait_for_backend(database.connect, first, "lock")[0]
        gate.execute("SELECT pg_terminate_backend(%s)", (lock_backend,))
        second = run_subprocess(database.url, "--dir", str(folder))
        wait_for_backend(database.connect, second, wait_event_type="Lock")
    first_out, first_err = first.communicate(timeout=60)
    second_out, second_err = second.communicate(timeout=60)
    assert second.returncode == 0, second_err
    assert first.returncode == 3, first_err
    assert "lost the connection holding the migration lock, so another runner" in first_err
    assert "the migration in progress was rolled back" in first_err
    assert database.query("SELECT version FROM applied_log") == [("001",)]
    # The second runner's attempts that waited on the gate past the short lock_timeout are
    # retried attempts (55P03); the file itself completed once.
    assert database.query(
        "SELECT version, status FROM schema_migration_events WHERE action = 'apply' "
        "AND NOT (trace IS NOT NULL AND trace ? 'lock_retry')"
    ) == [("001", "completed")]


def test_idle_session_timeout_does_not_cut_the_runner_sessions(database, migrations_dir):
    """A server-wide idle_session_timeout shorter than the lock wait and the file: exit 0."""
    with database.connect() as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET idle_session_timeout = '300ms'").format(
                sql.Identifier(database.name)
            )
        )
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "SELECT pg_sleep(1);")})
    with database.connect() as holder:
        holder.execute("SET idle_session_timeout = 0")
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        runner = run_subprocess(database.url, "--dir", str(folder))
        wait_for_lock_waiter(database.connect, runner)
        time.sleep(1)  # the runner's working connection idles meanwhile
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, err
    assert database.query("SELECT version, status FROM schema_migrations") == [
        ("001", "completed")
    ]
