"""A file, its record and its COMMIT: the record travels with the COMMIT, and the lock guard
is a probe of a key only the run's lock session holds."""

from __future__ import annotations

from schema_audit.engine import postgres
from tests.conftest import migration, numbered

# Advisory locks in the test's own database: pg_locks spans the server, which tests running
# in parallel share.
ADVISORY_LOCKS_HERE = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database
                                            WHERE datname = current_database())
"""
REFUSE_RECORDS = """
CREATE TABLE made_by_001 (id int);
CREATE FUNCTION refuse_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'records refused by 001';
END
$$;
CREATE TRIGGER refuse_record BEFORE INSERT ON schema_migrations
    FOR EACH ROW EXECUTE FUNCTION refuse_record();
"""


def test_a_record_that_fails_rolls_the_file_back_with_it(uap, database, migrations_dir):
    """The file makes its own record fail: nothing of the file stays, and it is recorded failed."""
    folder = migrations_dir({"001_v1.0_refuse.sql": migration("001", REFUSE_RECORDS)})
    result = uap(directory=folder)
    assert result.code == 1, result.err
    assert "records refused by 001" in result.err
    assert "made_by_001" not in database.tables()
    assert database.scalar("SELECT count(*) FROM pg_trigger WHERE tgname = 'refuse_record'") == 0
    assert database.query("SELECT version, status FROM schema_migrations") == [("001", "failed")]
    assert database.query("SELECT action, status FROM schema_migration_events ORDER BY id") == [
        ("apply", "failed")
    ]


def test_files_after_a_refused_record_apply_once_fixed(uap, database, migrations_dir):
    """Fixed after its failure, 001 and the 19 files after it each commit with their records,
    and no session is left inside a transaction."""
    folder = migrations_dir({"001_v1.0_refuse.sql": migration("001", REFUSE_RECORDS)})
    assert uap(directory=folder).code == 1
    folder.joinpath("001_v1.0_refuse.sql").write_text(migration("001", "SELECT 1;"))
    migrations_dir({k: v for k, v in numbered(20).items() if not k.startswith("001")})
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert database.query(
        "SELECT count(*), count(DISTINCT version) FROM schema_migrations "
        "WHERE status = 'completed'"
    ) == [(20, 20)]
    assert (
        database.scalar(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND state = 'idle in transaction'"
        )
        == 0
    )


def test_lock_session_probe_follows_the_session(database):
    """The probe says held while the lock session lives and not held once it is gone; the key
    is not the runners' shared key, so another runner's lock cannot answer for it."""
    lock_conn = postgres.connect(database.alias, purpose="lock")
    session = postgres.LockSession(lock_conn)
    assert session.key != postgres.LOCK_KEY
    probe = "SELECT " + session.held_sql.as_string(lock_conn)
    with database.connect() as worker:
        with worker.transaction():
            assert worker.execute(probe).fetchone()[0] is True
        lock_conn.close()
        for _ in range(100):  # the backend exits just after the socket closes
            with worker.transaction():
                if worker.execute(probe).fetchone()[0] is False:
                    break
        else:
            raise AssertionError("the probe still reports the closed session's key as held")
        # The probe's own shared lock ended with its transaction: nothing is left behind.
        assert worker.execute(ADVISORY_LOCKS_HERE).fetchone()[0] == 0


def test_a_run_leaves_no_advisory_lock_behind(uap, database, migrations_dir):
    """After a run, neither the runners' lock nor the run's probe key is held by anyone."""
    assert uap(directory=migrations_dir(numbered(3))).code == 0
    assert database.scalar(ADVISORY_LOCKS_HERE) == 0
