"""SIGKILL of the runner at each phase: the ledger matches the schema and the next run finishes."""

from __future__ import annotations

import os
import signal
import subprocess
from functools import partial

import pytest

from schema_audit.engine.postgres import LOCK_KEY
from tests.conftest import migration, run_subprocess
from tests.pgserver import PrivateServer, wait_for_backend, wait_for_lock_waiter

pytestmark = pytest.mark.slow
SLEEP = "SELECT pg_sleep(60);"


@pytest.fixture(scope="module")
def server():
    """A private server for this module (killed runners leave backends behind on it)."""
    instance = PrivateServer()
    yield instance
    instance.destroy()


@pytest.fixture
def dbname(server):
    """A fresh database on the private server."""
    return server.create_database()


def files(*middles: str) -> dict[str, str]:
    """Version n creates t{n}a, runs its middle statement, then creates t{n}b."""
    return {
        f"{n:03d}_v1.{n}_step_{n}.sql": migration(
            f"{n:03d}", f"CREATE TABLE t{n}a (id int);\n{middle}\nCREATE TABLE t{n}b (id int);"
        )
        for n, middle in enumerate(middles, start=1)
    }


def start(server, dbname, folder, *args) -> subprocess.Popen:
    """A runner in its own process."""
    return run_subprocess(server.url(dbname), "--dir", str(folder), *args)


def connector(server, dbname):
    """A zero-argument function opening a connection to `dbname`."""
    return partial(server.connect, dbname)


def kill(runner: subprocess.Popen) -> None:
    """SIGKILL: no cleanup, no unlock, no rollback from the client side."""
    os.kill(runner.pid, signal.SIGKILL)
    assert runner.wait(timeout=10) == -signal.SIGKILL


def assert_backends_gone(server, dbname, runner) -> None:
    """The dead runner's sessions end promptly, even a backend sleeping or waiting on a lock."""
    server.wait_until(
        dbname,
        "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name LIKE %s)",
        (f"uap_migrate%pid={runner.pid}",),
        timeout=6,
    )
    with server.connect(dbname) as conn:
        # This database's locks only: tests running in parallel share the server.
        locks = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert locks.fetchone() == (0,)


def assert_consistent(server, dbname, count: int) -> set[str]:
    """Tables exist exactly for completed versions, each with one completed apply event."""
    with server.connect(dbname) as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        rows, events = {}, {}
        if "schema_migrations" in tables:
            rows = dict(conn.execute("SELECT version, status FROM schema_migrations"))
            events = dict(
                conn.execute(
                    "SELECT version, count(*) FROM schema_migration_events "
                    "WHERE action = 'apply' AND status = 'completed' GROUP BY version"
                )
            )
    done = set()
    for n in range(1, count + 1):
        version, pair = f"{n:03d}", {f"t{n}a", f"t{n}b"}
        if rows.get(version) == "completed":
            done.add(version)
            assert pair <= tables and events.get(version) == 1, version
        else:
            assert not pair & tables and version not in events, version
    assert "running" not in rows.values()
    return done


def finish(server, dbname, folder, count: int) -> None:
    """The next run gets the lock at once, applies the rest and exits 0."""
    for path in folder.iterdir():  # a pending file may change between attempts
        path.write_text(path.read_text().replace(SLEEP, "SELECT pg_sleep(0);"))
    runner = start(server, dbname, folder, "--lock-wait", "5", "--lock-timeout", "3s")
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, err
    assert "Traceback" not in err
    assert assert_consistent(server, dbname, count) == {f"{n:03d}" for n in range(1, count + 1)}


def test_kill_while_waiting_for_the_lock_leaves_nothing(server, dbname, migrations_dir):
    """Killed before it holds the lock: no table, no row; its queued lock request vanishes."""
    folder = migrations_dir(files("", ""))
    with server.connect(dbname) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        runner = start(server, dbname, folder)
        wait_for_lock_waiter(connector(server, dbname), runner)
        kill(runner)
        server.wait_until(
            dbname,
            "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name LIKE %s)",
            (f"uap_migrate%pid={runner.pid}",),
            timeout=6,
        )
    with server.connect(dbname) as conn:
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)
    finish(server, dbname, folder, 2)


def test_kill_while_holding_the_lock_before_any_change(server, dbname, migrations_dir):
    """Killed holding the lock, inside the first file before it changed anything."""
    folder = migrations_dir(files(""))
    folder.joinpath("001_v1.1_step_1.sql").write_text(
        migration("001", f"{SLEEP}\nCREATE TABLE t1a (id int);\nCREATE TABLE t1b (id int);")
    )
    runner = start(server, dbname, folder)
    wait_for_backend(connector(server, dbname), runner, state="active", query_contains="pg_sleep")
    kill(runner)
    assert_backends_gone(server, dbname, runner)
    assert assert_consistent(server, dbname, 1) == set()
    finish(server, dbname, folder, 1)


def test_kill_mid_file_rolls_the_file_back(server, dbname, migrations_dir):
    """Killed between two statements of a file: its first statement is not in the schema."""
    folder = migrations_dir(files("", SLEEP, ""))
    runner = start(server, dbname, folder)
    wait_for_backend(connector(server, dbname), runner, state="active", query_contains="t2a")
    kill(runner)
    # The dead runner's backend must not keep sleeping with t2a locked: the next run
    # creates t2a too, and would otherwise wait for it until lock_timeout.
    assert_backends_gone(server, dbname, runner)
    assert assert_consistent(server, dbname, 3) == {"001"}
    finish(server, dbname, folder, 3)


def test_kill_between_the_sql_and_its_record(server, dbname, migrations_dir):
    """Killed after the file's SQL ran but before its row was written: neither survives."""
    folder = migrations_dir(files(""))
    assert start(server, dbname, folder).wait(timeout=60) == 0
    folder.joinpath("002_v1.2_step_2.sql").write_text(
        migration("002", "CREATE TABLE t2a (id int);\nCREATE TABLE t2b (id int);")
    )
    with server.connect(dbname) as blocker:
        # Holding SHARE on the ledger lets the runner read it but parks its upsert, which
        # runs after the file's SQL in the same transaction.
        with blocker.transaction():
            blocker.execute("LOCK TABLE schema_migrations IN SHARE MODE")
            runner = start(server, dbname, folder)
            row = wait_for_backend(connector(server, dbname), runner, wait_event_type="Lock")
            assert 'INSERT INTO "public"."schema_migrations"' in row[3]
            kill(runner)
            assert_backends_gone(server, dbname, runner)
    assert assert_consistent(server, dbname, 2) == {"001"}
    finish(server, dbname, folder, 2)


def test_kill_between_two_files_keeps_the_first(server, dbname, migrations_dir):
    """Killed after file 1 committed, as file 2 starts: 1 stays applied, 2 runs next time."""
    folder = migrations_dir(files("", ""))
    folder.joinpath("002_v1.2_step_2.sql").write_text(
        migration("002", f"{SLEEP}\nCREATE TABLE t2a (id int);\nCREATE TABLE t2b (id int);")
    )
    runner = start(server, dbname, folder)
    wait_for_backend(connector(server, dbname), runner, state="active", query_contains="t2a")
    kill(runner)
    assert_backends_gone(server, dbname, runner)
    assert assert_consistent(server, dbname, 2) == {"001"}
    finish(server, dbname, folder, 2)
    with server.connect(dbname) as conn:
        assert conn.execute(
            "SELECT version, status FROM schema_migration_events ORDER BY id"
        ).fetchall() == [("001", "completed"), ("002", "completed")]


def test_sigterm_rolls_back_the_file_and_exits_130_like_ctrl_c(server, dbname, migrations_dir):
    """SIGTERM mid-file (a deploy tool stopping the job): rolled back, a message, exit 130."""
    folder = migrations_dir(files("", SLEEP))
    runner = start(server, dbname, folder)
    wait_for_backend(connector(server, dbname), runner, state="active", query_contains="t2a")
    os.kill(runner.pid, signal.SIGTERM)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, err
    assert "interrupted: the migration in progress was rolled back" in err
    assert "Traceback" not in err and "✓ 001 v1.1_step_1" in out
    assert_backends_gone(server, dbname, runner)
    assert assert_consistent(server, dbname, 2) == {"001"}
    finish(server, dbname, folder, 2)


def test_interrupt_rolls_back_the_file_and_exits_130(server, dbname, migrations_dir):
    """Ctrl-C (SIGINT) mid-file: the file rolls back, a message instead of a traceback."""
    folder = migrations_dir(files("", SLEEP))
    runner = start(server, dbname, folder)
    wait_for_backend(connector(server, dbname), runner, state="active", query_contains="t2a")
    os.kill(runner.pid, signal.SIGINT)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, err
    assert "interrupted: the migration in progress was rolled back" in err
    assert "Traceback" not in err and "✓ 001 v1.1_step_1" in out
    assert_backends_gone(server, dbname, runner)
    assert assert_consistent(server, dbname, 2) == {"001"}
    finish(server, dbname, folder, 2)
