"""The access log's time is the server's, and its rows are hash-chained like the event log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tests.conftest import numbered

WRITER = "uap_access_writer"


@pytest.fixture
def ledger(uap, database, migrations_dir):
    """A database whose tracking tables (the access log among them) uap_migrate created."""
    assert uap(directory=migrations_dir(numbered(1))).code == 0
    return database


def _insert_as_writer(database, *values: tuple) -> None:
    """Rows written by a role that may only INSERT (and SELECT) the access log."""
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {WRITER}_{database.name}")
        conn.execute(f"CREATE ROLE {WRITER}_{database.name}")
        conn.execute(f"GRANT SELECT, INSERT ON schema_audit_access TO {WRITER}_{database.name}")
        conn.execute(
            f"GRANT USAGE ON SEQUENCE schema_audit_access_id_seq TO {WRITER}_{database.name}"
        )
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL ROLE {WRITER}_{database.name}")
                for row in values:
                    conn.execute(
                        "INSERT INTO schema_audit_access (at, username, action, path, hash) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        row,
                    )
        finally:
            conn.execute(f"DROP OWNED BY {WRITER}_{database.name}")
            conn.execute(f"DROP ROLE {WRITER}_{database.name}")


def test_a_writer_cannot_backdate_an_access(ledger):
    """`at` given by the writer is replaced by the server's clock; a forged hash too."""
    old = datetime(2001, 1, 1, tzinfo=timezone.utc)
    _insert_as_writer(ledger, (old, "mallory", "view", "/admin/", "f" * 64))
    at, stored_hash = ledger.query("SELECT at, hash FROM schema_audit_access")[0]
    assert abs(at - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert stored_hash != "f" * 64


def test_verify_checks_the_access_log_chain(uap, ledger):
    """--verify re-hashes the access log: intact, then an edited row breaks it (exit 2)."""
    rows = [(None, f"user{n}", "view", f"/admin/{n}/", None) for n in range(3)]
    _insert_as_writer(ledger, *rows)
    verified = uap("--verify")
    assert verified.code == 0, verified.err
    assert "Access log verified: 3 records chained" in verified.out
    second = ledger.scalar("SELECT id FROM schema_audit_access ORDER BY id OFFSET 1 LIMIT 1")
    with ledger.connect() as conn:
        conn.execute("ALTER TABLE schema_audit_access DISABLE TRIGGER USER")
        conn.execute("UPDATE schema_audit_access SET username = 'nobody' WHERE id = %s", (second,))
        conn.execute("ALTER TABLE schema_audit_access ENABLE TRIGGER USER")
    broken = uap("--verify")
    assert broken.code == 2
    assert f"Access log NOT verified: record {second}: hash does not match" in broken.err


def test_verify_finds_a_removed_access_record(uap, ledger):
    """A record deleted with the triggers off leaves its successor pointing at nothing."""
    _insert_as_writer(ledger, *[(None, f"u{n}", "view", "/", None) for n in range(3)])
    first = ledger.scalar("SELECT min(id) FROM schema_audit_access")
    with ledger.connect() as conn:
        conn.execute("ALTER TABLE schema_audit_access DISABLE TRIGGER USER")
        conn.execute("DELETE FROM schema_audit_access WHERE id = %s", (first + 1,))
        conn.execute("ALTER TABLE schema_audit_access ENABLE TRIGGER USER")
    broken = uap("--verify")
    assert broken.code == 2
    assert "record removed or inserted" in broken.err
