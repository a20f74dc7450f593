"""The database goes away mid-run, or refuses us: exit 3, a clear message, a clean resume."""

from __future__ import annotations

from functools import partial

import pytest
from psycopg import sql

from schema_audit.engine.postgres import LOCK_KEY
from tests.conftest import migration, run_subprocess
from tests.faults.test_crash import assert_consistent, files
from tests.pgserver import (
    PASSWORD_ROLE,
    PrivateServer,
    runner_backend,
    wait_for_lock_waiter,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server():
    """A private server this module stops and starts."""
    instance = PrivateServer()
    yield instance
    instance.destroy()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_server_stopped_mid_file_exits_3_then_resumes(server, migrations_dir, mode):
    """pg_ctl stop during file 2: exit 3 naming it, no traceback; after restart 2 and 3 run."""
    dbname = server.create_database()
    folder = migrations_dir(files("", "SELECT pg_sleep(60);", ""))
    runner = run_subprocess(server.url(dbname), "--dir", str(folder))
    with server.connect(dbname) as conn:
        server.wait_until(
            dbname,
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
            "AND state = 'active' AND query LIKE '%%t2a%%')",
            (f"uap_migrate pid={runner.pid}",),
        )
        assert runner_backend(conn, runner.pid, "lock") is not None
    server.stop(mode)
    try:
        out, err = runner.communicate(timeout=30)
        assert runner.returncode == 3, err
        assert "lost the connection while applying 002 v1.2_step_2" in err
        assert "did not commit; run again once the database is back" in err
        assert "Traceback" not in err
        assert "✓ 001 v1.1_step_1" in out
    finally:
        server.start()
    assert assert_consistent(server, dbname, 3) == {"001"}
    folder.joinpath("002_v1.2_step_2.sql").write_text(
        migration("002", "CREATE TABLE t2a (id int);\nCREATE TABLE t2b (id int);")
    )
    rerun = run_subprocess(server.url(dbname), "--dir", str(folder))
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert "✓ 001" not in out and "✓ 002" in out and "✓ 003" in out
    assert assert_consistent(server, dbname, 3) == {"001", "002", "003"}


def test_server_down_at_start_exits_3(server, migrations_dir):
    """No server listening: a run and --check exit 3 naming where they tried."""
    dbname = server.create_database()
    server.stop("fast")
    folder = migrations_dir(files(""))
    try:
        runner = run_subprocess(server.url(dbname), "--dir", str(folder))
        out, err = runner.communicate(timeout=60)
        check = run_subprocess(server.url(dbname), "--dir", str(folder), "--check")
        _, check_err = check.communicate(timeout=60)
    finally:
        server.start()
    assert runner.returncode == 3, err
    assert f"cannot connect to PostgreSQL at {server.root}:5432/{dbname}" in err
    assert "Traceback" not in err
    assert check.returncode == 3 and "cannot connect to PostgreSQL" in check_err


def test_wrong_password_exits_3_without_echoing_it(server, migrations_dir):
    """A role whose password is checked (scram-sha-256): exit 3, the reason, not the password."""
    folder = migrations_dir(files(""))
    url = server.url("postgres", user=PASSWORD_ROLE, password="wrong-password")
    runner = run_subprocess(url, "--dir", str(folder))
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 3, err
    assert f'password authentication failed for user "{PASSWORD_ROLE}"' in err
    assert "wrong-password" not in err + out
    assert "Traceback" not in err


def test_missing_database_exits_3(server, migrations_dir):
    """A database that does not exist: exit 3 naming it; nothing is created."""
    runner = run_subprocess(server.url("no_such_db"), "--dir", str(migrations_dir(files(""))))
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 3, err
    assert 'database "no_such_db" does not exist' in err
    assert "Traceback" not in err
    with server.connect() as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = 'no_such_db'"
        ).fetchone() == (0,)


def test_server_stopped_while_waiting_for_the_lock_exits_3(server, migrations_dir):
    """Stopped while the runner queues for the lock: exit 3, nothing applied, clean resume."""
    dbname = server.create_database()
    folder = migrations_dir(files(""))
    holder = server.connect(dbname)
    holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    runner = run_subprocess(server.url(dbname), "--dir", str(folder))
    wait_for_lock_waiter(partial(server.connect, dbname), runner)
    server.stop("fast")
    try:
        out, err = runner.communicate(timeout=30)
    finally:
        holder.close()
        server.start()
    assert runner.returncode == 3, err
    assert "lost the connection to the database" in err and "Traceback" not in err
    assert assert_consistent(server, dbname, 1) == set()
    rerun = run_subprocess(server.url(dbname), "--dir", str(folder))
    assert rerun.wait(timeout=60) == 0
    assert assert_consistent(server, dbname, 1) == {"001"}


@pytest.fixture
def deploy_role(server):
    """A login role that owns nothing, on a database whose public schema it may not create in."""
    dbname = server.create_database()
    with server.connect(dbname) as conn:
        conn.execute("CREATE ROLE deployer LOGIN")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    yield dbname
    with server.connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))
        conn.execute("DROP ROLE deployer")


def test_role_that_cannot_create_the_ledger_exits_2(server, deploy_role, migrations_dir):
    """No CREATE on the schema: exit 2 saying so, not a traceback read as a failed migration."""
    runner = run_subprocess(
        server.url(deploy_role, user="deployer"), "--dir", str(migrations_dir(files("")))
    )
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 2, err
    assert "cannot create or upgrade the tracking tables as deployer: permission denied" in err
    assert "Traceback" not in err


def test_role_that_cannot_write_the_ledger_exits_2_before_any_file(
    server, deploy_role, migrations_dir
):
    """Tables owned by another role and no grants: exit 2 before the file runs."""
    folder = migrations_dir(files(""))
    owner = run_subprocess(server.url(deploy_role), "--dir", str(folder), "--target", "001")
    assert owner.wait(timeout=60) == 0
    folder.joinpath("002_v1.2_step_2.sql").write_text(
        migration("002", "CREATE TABLE t2a (id int);\nCREATE TABLE t2b (id int);")
    )
    with server.connect(deploy_role) as conn:
        conn.execute("GRANT CREATE ON SCHEMA public TO deployer")
        conn.execute("GRANT SELECT ON schema_migrations, schema_migration_events TO deployer")
    runner = run_subprocess(server.url(deploy_role, user="deployer"), "--dir", str(folder))
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 2, err
    assert "role deployer may not write schema_migrations" in err
    assert assert_consistent(server, deploy_role, 2) == {"001"}
    with server.connect(deploy_role) as conn:
        conn.execute(
            "GRANT INSERT, UPDATE ON schema_migrations TO deployer; "
            "GRANT INSERT ON schema_migration_events TO deployer; "
            "GRANT USAGE ON SEQUENCE schema_migration_events_id_seq TO deployer"
        )
    rerun = run_subprocess(server.url(deploy_role, user="deployer"), "--dir", str(folder))
    assert rerun.wait(timeout=60) == 0, rerun.communicate()
    assert assert_consistent(server, deploy_role, 2) == {"001", "002"}
