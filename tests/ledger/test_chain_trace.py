"""The trace column in the hash chain: hashed when present, older events keep their hashes."""

from __future__ import annotations

from datetime import datetime, timezone

from schema_audit.ledger import chain, store
from tests.conftest import migration
from tests.ledger.legacy import create_older_ledger


def _attempt(trace=None, version="001") -> store.Attempt:
    return store.Attempt(
        version=version,
        action="dry_run",
        status="completed",
        started_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
        trace=trace,
    )


AWKWARD = {
    "verdict": "review",
    "reasons": ['quote " backslash \\ tab\t newline\n', "ünïcødé ✓ 𝄞", "\u0001 control"],
    "nested": {"b": [1, -2, 3_000_000_000], "aa": None, "a": True, "é": False, "": {}},
    "empty": [],
}


def test_python_renders_jsonb_exactly_as_postgresql(database):
    """Key order, separators, escapes and Unicode: Python's text equals jsonb::text."""
    with database.connect() as conn:
        store.ensure_schema(conn)
        store.record_event(conn, _attempt(AWKWARD))
        text, stored = conn.execute(
            "SELECT trace::text, trace FROM schema_migration_events"
        ).fetchone()
        events = store.read_events(conn)
    assert chain.jsonb_text(stored) == text
    assert chain.verify(events)["verified"]


def test_editing_a_trace_breaks_the_chain(database):
    """A trace softened after the fact (dangerous to safe) is found."""
    with database.connect() as conn:
        store.ensure_schema(conn)
        store.record_event(conn, _attempt({"verdict": "dangerous"}))
        store.record_event(conn, _attempt(None, "002"))
        conn.execute("ALTER TABLE schema_migration_events DISABLE TRIGGER USER")
        conn.execute('UPDATE schema_migration_events SET trace = \'{"verdict": "safe"}\'')
        conn.execute("ALTER TABLE schema_migration_events ENABLE TRIGGER USER")
        result = chain.verify(store.read_events(conn))
    assert not result["verified"] and result["first_break"]["version"] == "001"


def test_ledger_from_before_the_trace_column_upgrades_and_still_verifies(
    database, monkeypatch, uap, migrations_dir
):
    """Events chained without the column keep their hashes; traced ones chain after them."""
    create_older_ledger(database, monkeypatch, {"trace"})
    columns = database.query(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'schema_migration_events'::regclass"
    )
    assert ("trace",) not in columns
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE t (id int);")})
    assert uap("--trace", directory=folder).code == 0
    with database.connect() as conn:
        events = store.read_events(conn)
    assert [e["trace"] is not None for e in events] == [False, True]
    assert chain.verify(events)["verified"]
