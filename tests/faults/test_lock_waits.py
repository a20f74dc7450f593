"""Every wait is bounded: a session holding the ledger or its chain lock ends a run with exit 3."""

from __future__ import annotations

import pytest

from schema_audit.engine.postgres import LOCK_KEY
from schema_audit.ledger import chain
from tests.conftest import migration, numbered, run_subprocess
from tests.faults.test_fleet import environment

TIMEOUT = 120  # the test's own bound; the runs below give up after about a second


def _run(url: str, *args: str, env: dict | None = None) -> tuple[int, str, str]:
    child = run_subprocess(url, *args, env=env)
    out, err = child.communicate(timeout=TIMEOUT)
    return child.returncode, out, err


def test_chain_lock_held_elsewhere_ends_the_run_with_exit_3(database, migrations_dir):
    """The file and then its failure record wait for the chain lock; both waits are bounded."""
    folder = migrations_dir(numbered(1))
    with database.connect() as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (chain.LOCK_KEY,))
        pid = holder.info.backend_pid
        code, _, err = _run(
            database.url, "--dir", str(folder), "--lock-wait", "1", "--lock-timeout", "1s"
        )
    assert code == 3, err
    assert "gave up waiting for a lock on the ledger" in err
    assert f"pid {pid}" in err and "the event log chain lock" in err
    assert "Traceback" not in err
    assert database.query("SELECT count(*) FROM schema_migration_events") == [(0,)]


def test_locked_ledger_table_ends_the_run_with_exit_3(database, uap, migrations_dir):
    """LOCK TABLE schema_migrations in another session: exit 3 naming it, nothing applied."""
    folder = migrations_dir(numbered(2))
    assert uap("--target", "001", directory=folder).code == 0
    with database.connect() as holder, holder.transaction():
        holder.execute("LOCK TABLE schema_migrations")
        pid = holder.info.backend_pid
        code, _, err = _run(database.url, "--dir", str(folder), "--lock-wait", "1")
    assert code == 3, err
    assert f"pid {pid}" in err and "AccessExclusiveLock on schema_migrations" in err
    assert "Traceback" not in err
    assert database.query("SELECT version FROM schema_migrations") == [("001",)]


@pytest.mark.slow
def test_fleet_rollout_with_a_locked_target_ends(fleet, migrations_dir):
    """One target's ledger locked: that target exits 3, the other is applied."""
    dbs = fleet(2)
    folder = migrations_dir(numbered(1))
    env = environment(dbs)
    assert _run(env["DATABASE_URL"], "--all-databases", "--dir", str(folder), env=env)[0] == 0
    migrations_dir({"002_v1.2_more.sql": migration("002", "CREATE TABLE t2 (id int);")})
    with dbs[1].connect() as holder, holder.transaction():
        holder.execute("LOCK TABLE schema_migrations")
        code, out, err = _run(
            env["DATABASE_URL"],
            *("--all-databases", "--dir", str(folder), "--lock-wait", "1"),
            *("--on-error", "continue"),
            env=env,
        )
    assert code == 3, err
    assert "gave up waiting for a lock on the ledger" in out + err
    assert dbs[0].query("SELECT max(version) FROM schema_migrations") == [("002",)]
    assert dbs[1].query("SELECT max(version) FROM schema_migrations") == [("001",)]


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_lock_wait_that_is_not_a_finite_number_is_refused(database, migrations_dir, value):
    """`--lock-wait nan` would wait forever: exit 2 naming the value, even while a runner waits."""
    folder = migrations_dir(numbered(1))
    with database.connect() as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        code, _, err = _run(database.url, "--dir", str(folder), f"--lock-wait={value}")
    assert code == 2, err
    assert f"--lock-wait {float(value)!r}: give a finite number of seconds, 0 or more" in err


@pytest.mark.parametrize("mode", ["--status", "--plan", "--check", "--verify"])
def test_read_modes_on_a_locked_ledger_end_with_exit_3(database, uap, migrations_dir, mode):
    """The read-only modes honour --lock-wait too: exit 3 naming the lock, never a hang."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    with database.connect() as holder, holder.transaction():
        holder.execute("LOCK TABLE schema_migrations, schema_migration_events")
        code, _, err = _run(database.url, mode, "--dir", str(folder), "--lock-wait", "1")
    assert code == 3, err
    assert "gave up waiting for a lock on the ledger" in err
    assert "Traceback" not in err


def test_a_huge_lock_wait_is_accepted(database, uap, migrations_dir):
    """A lock wait beyond PostgreSQL's largest lock_timeout still runs (capped, no error)."""
    result = uap("--lock-wait", "1e12", directory=migrations_dir(numbered(1)))
    assert result.code == 0, result.err
