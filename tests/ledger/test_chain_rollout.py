"""The rollout column in the hash chain: hashed when set, old events keep their hashes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from schema_audit.ledger import chain, provenance, store
from tests.ledger.legacy import legacy_trigger_sql
from tests.ledger.test_chain import tamper


def event(conn, version: str, rollout: str | None = None) -> None:
    """Append a patch event, inside a rollout when one is given."""
    attempt = store.Attempt(
        version=version, action="patch", status="completed", started_at=datetime.now(timezone.utc)
    )
    with provenance.fleet_rollout(rollout):
        store.record_event(conn, attempt)


def test_rollout_is_hashed_the_same_in_sql_and_python(database):
    """Awkward rollout ids chain in the trigger exactly as chain.canonical_row renders them."""
    with database.connect() as conn:
        store.ensure_schema(conn)
        awkward = ["r-1", "|rollout=3:abc", "ünï\n" + "x" * 3000, None]
        for n, rollout in enumerate(awkward):
            event(conn, f"p{n}", rollout)
        events = store.read_events(conn)
    assert [e["rollout"] for e in events] == awkward
    assert chain.verify(events)["verified"]


def test_events_written_before_the_column_still_verify_after_the_upgrade(database, monkeypatch):
    """A log chained by the previous trigger upgrades in place and verifies end to end."""
    with database.connect() as conn:
        store.ensure_schema(conn)
        with monkeypatch.context() as old:
            old.setattr(chain, "OPTIONAL_FIELDS", ())
            conn.execute(f"ALTER TABLE {store.EVENTS_TABLE} DROP COLUMN rollout")
            conn.execute(legacy_trigger_sql(store.EVENTS_TABLE))
            for version in ("before-1", "before-2"):
                conn.execute(
                    f"INSERT INTO {store.EVENTS_TABLE} (version, action, status) "
                    "VALUES (%s, 'patch', 'completed')",
                    (version,),
                )
        assert store.ensure_schema(conn)  # adds the column and the new trigger
        event(conn, "after", "20260101T000000Z-abcdef")
        events = store.read_events(conn)
    result = chain.verify(events)
    assert result["verified"], result["first_break"]
    assert result["chained"] == 3


@pytest.mark.parametrize(
    ("version", "value"), [("plain", "forged-rollout"), ("fleet", None), ("fleet", "other")]
)
def test_setting_clearing_or_changing_a_rollout_breaks_the_chain(database, version, value):
    """A rollout added to, removed from or changed on a stored event is found."""
    with database.connect() as conn:
        store.ensure_schema(conn)
        event(conn, "plain")
        event(conn, "fleet", "r-1")
    tamper(
        database,
        "UPDATE schema_migration_events SET rollout = %s WHERE version = %s",
        (value, version),
    )
    with database.connect() as conn:
        result = chain.verify(store.read_events(conn))
    assert not result["verified"]
    assert result["first_break"]["version"] == version
