"""Who-did-it fields come from the server: applied_by is session_user, dates are checked."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.conftest import numbered

_FORGED_SQL = """
INSERT INTO schema_migration_events (version, action, status, started_at, applied_by, host)
VALUES ('001', 'apply', 'completed', %s, 'dba_anna', 'other-host') RETURNING id
"""


@pytest.fixture
def forger(uap, database, migrations_dir):
    """A ledger with history, and a role that may only INSERT into the event log."""
    assert uap(directory=migrations_dir(numbered(2))).code == 0
    role = f"forger_{database.name}"
    with database.connect() as conn:
        conn.execute(f"CREATE ROLE {role}")
        conn.execute(f"GRANT SELECT, INSERT ON schema_migration_events TO {role}")
        conn.execute(f"GRANT USAGE ON SEQUENCE schema_migration_events_id_seq TO {role}")
    yield role
    with database.connect() as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def _insert_as(database, role: str, started_at: str):
    with database.connect() as conn:
        # Changes session_user, as logging in as the role would.
        conn.execute(f"SET SESSION AUTHORIZATION {role}")
        return conn.execute(_FORGED_SQL, (started_at,)).fetchone()[0]


def test_applied_by_is_the_session_user_whatever_the_insert_says(database, forger):
    """The forged name is replaced by the role that really wrote the row."""
    event = _insert_as(database, forger, "now")
    applied_by, host, recorded = database.query(
        "SELECT applied_by, host, recorded_at IS NOT NULL FROM schema_migration_events "
        "WHERE id = %s",
        (event,),
    )[0]
    assert applied_by == forger
    assert host == "other-host"  # client-claimed, and documented as such
    assert recorded


@pytest.mark.parametrize("started_at", ["2019-03-01 10:00+00", "now() + interval '1 day'"])
def test_a_date_outside_the_writers_session_is_refused(database, forger, started_at):
    """A 2019 date after 2026 events (or a future one) is rejected; nothing is written."""
    before = database.scalar("SELECT count(*) FROM schema_migration_events")
    value = started_at if not started_at.startswith("now") else "2999-01-01"
    with pytest.raises(psycopg.errors.CheckViolation, match="outside this session"):
        _insert_as(database, forger, value)
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == before


def test_verify_names_the_accepted_forgery_and_nothing_else(uap, database, forger):
    """The chain (recorded_at included) links; the unsigned row is named, the refused absent."""
    event = _insert_as(database, forger, "now")
    with pytest.raises(psycopg.errors.CheckViolation):
        _insert_as(database, forger, "2019-03-01 10:00+00")
    result = uap("--verify", "--json")
    history = json.loads(result.out)["history"]
    assert result.code == 2 and history["chained"] == 3
    assert history["signatures"]["missing"] == [event] and history["signatures"]["signed"] == 2


def test_recorded_at_is_covered_by_the_hash(uap, database, forger):
    """Changing recorded_at (with the append-only trigger off, as an owner could) breaks it."""
    _insert_as(database, forger, "now")
    with database.connect() as conn:
        conn.execute("ALTER TABLE schema_migration_events DISABLE TRIGGER USER")
        conn.execute(
            "UPDATE schema_migration_events SET recorded_at = recorded_at - interval '7 years' "
            "WHERE id = (SELECT max(id) FROM schema_migration_events)"
        )
        conn.execute("ALTER TABLE schema_migration_events ENABLE TRIGGER USER")
    result = uap("--verify")
    assert result.code == 2
    assert "hash does not match the event's content" in result.err
