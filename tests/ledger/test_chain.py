"""Hash-chained event log: every writer chains, tampering is found, Python agrees with SQL."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from schema_audit import api, conf
from schema_audit.ledger import chain, signing, store
from tests.conftest import numbered


def tamper(database, statement: str, params: tuple = ()) -> None:
    """Edit the log as a superuser who switched its protecting triggers off."""
    with database.connect() as conn:
        conn.execute("ALTER TABLE schema_migration_events DISABLE TRIGGER USER")
        conn.execute(statement, params)
        conn.execute("ALTER TABLE schema_migration_events ENABLE TRIGGER USER")


def test_python_canonical_row_matches_the_trigger_for_awkward_values(database):
    """Unicode, separators, newlines, NULLs and microseconds hash the same in SQL and Python."""
    awkward = ["|~:1:", "ünïcødé ✓ 𝄞", "line\nbreak\ttab\\", "", "x" * 5000, None]
    with database.connect() as conn:
        store.ensure_schema(conn)
        for n, text in enumerate(awkward):
            moment = datetime(2026, 1, 2, 3, 4, 5, n * 7, tzinfo=timezone.utc)
            attempt = store.Attempt(
                version=text,
                action="patch",
                status="completed",
                started_at=moment,
                duration_ms=n,
                error_message=text,
                sql_text=text,
                reason=text,
                ticket=text,
            )
            store.record_event(conn, attempt)
        conn.execute("SET TIME ZONE 'Asia/Kolkata'")  # reading in another zone changes nothing
        events = store.read_events(conn)
    result = chain.verify(events)
    assert result["verified"], result["first_break"]
    assert result["chained"] == len(awkward)
    assert events[0]["prev_hash"] is None
    assert events[1]["prev_hash"] == events[0]["hash"]


def test_runner_events_are_chained_and_verified(uap, database, migrations_dir):
    """A run's events form an unbroken chain; --verify says so."""
    assert uap(directory=migrations_dir(numbered(3))).code == 0
    history = api.verify_history(database.alias)
    assert history == {
        "verified": True,
        "events": 3,
        "chained": 3,
        "unchained": 0,
        "first_break": None,
        "head": database.scalar("SELECT hash FROM schema_migration_events WHERE id = 3"),
        "signatures": {
            "configured": True,
            "keys": [signing.key_id(conf.get("UAP_SIGNING_KEY").public_key())],
            "signed": 3,
            "legacy": 0,
            "missing": [],
            "invalid": [],
            "first": None,
        },
        "trigger": "enabled",
    }
    result = uap("--verify")
    assert result.code == 0
    assert "History verified: 3 events chained" in result.out
    assert "Out-of-band DDL capture: not installed." in result.out


def test_edited_event_is_the_first_break(uap, database, migrations_dir):
    """Changing one field of an old event breaks the chain at that event."""
    assert uap(directory=migrations_dir(numbered(3))).code == 0
    tamper(database, "UPDATE schema_migration_events SET applied_by = 'someone' WHERE id = 2")
    history = api.verify_history(database.alias)
    assert history["verified"] is False
    assert history["first_break"]["id"] == 2
    assert "edited" in history["first_break"]["problem"]
    result = uap("--verify")
    assert result.code == 2
    assert "History NOT verified: event 2 (apply 002)" in result.err


def test_deleted_event_breaks_the_chain_at_the_next_one(uap, database, migrations_dir):
    """Removing an event leaves its successor pointing at a hash that is gone."""
    assert uap(directory=migrations_dir(numbered(3))).code == 0
    tamper(database, "DELETE FROM schema_migration_events WHERE id = 2")
    history = api.verify_history(database.alias)
    assert history["first_break"]["id"] == 3
    assert "removed" in history["first_break"]["problem"]


def test_forged_hash_cannot_be_supplied_by_the_writer(database):
    """The trigger computes prev_hash and hash; values the writer sends are replaced."""
    with database.connect() as conn:
        store.ensure_schema(conn)
        conn.execute(
            "INSERT INTO schema_migration_events (action, status, prev_hash, hash) "
            "VALUES ('patch', 'completed', repeat('a', 64), repeat('b', 64))"
        )
        (event,) = store.read_events(conn)
    assert event["prev_hash"] is None
    assert event["hash"] == chain.link_hash(None, event)


def test_event_with_a_stale_id_is_renumbered_so_id_order_is_chain_order(database):
    """A writer whose id predates the newest event gets a later id before it is chained."""
    with database.connect() as conn:
        store.ensure_schema(conn)
        for _ in range(3):
            conn.execute("INSERT INTO schema_migration_events (action, status) VALUES ('a', 'b')")
        conn.execute(
            "INSERT INTO schema_migration_events (id, action, status) VALUES (1, 'late', 'b')"
        )
        events = store.read_events(conn)
    assert [e["action"] for e in events] == ["a", "a", "a", "late"]
    assert events[-1]["id"] > 3
    assert chain.verify(events)["verified"]


def test_events_written_with_the_trigger_disabled_are_a_break(uap, database, migrations_dir):
    """A row inserted behind the trigger's back has no hash and breaks the chain."""
    assert uap(directory=migrations_dir(numbered(1))).code == 0
    tamper(
        database,
        "INSERT INTO schema_migration_events (action, status) VALUES ('apply', 'completed')",
    )
    history = api.verify_history(database.alias)
    assert history["first_break"]["problem"] == "event has no hash"


def test_disabled_chain_trigger_is_reported(uap, database, migrations_dir):
    """While the chain trigger is off, the history is not reported as verified."""
    assert uap(directory=migrations_dir(numbered(1))).code == 0
    with database.connect() as conn:
        conn.execute(
            "ALTER TABLE schema_migration_events DISABLE TRIGGER schema_migration_events_chain"
        )
    history = api.verify_history(database.alias)
    assert history["trigger"] == "disabled"
    assert history["verified"] is False


def test_events_from_before_the_upgrade_are_reported_unchained(uap, database, migrations_dir):
    """A log that predates chaining: old rows are unchained, the chain starts after them."""
    with database.connect() as conn:
        conn.execute(
            "CREATE TABLE schema_migration_events (id bigserial PRIMARY KEY, version text, "
            "action text NOT NULL, status text NOT NULL, "
            "started_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(
            "INSERT INTO schema_migration_events (version, action, status) "
            "VALUES ('000', 'apply', 'failed'), ('000', 'dry_run', 'completed')"
        )
    assert uap(directory=migrations_dir(numbered(2))).code == 0
    history = api.verify_history(database.alias)
    assert (history["verified"], history["unchained"], history["chained"]) == (True, 2, 2)
    assert "2 events chained (2 from before chaining)" in uap("--verify").out


def test_concurrent_writers_form_one_chain(database):
    """Writers on separate connections interleave; the chain still links in id order."""
    with database.connect() as conn:
        store.ensure_schema(conn)

    def write(worker: int) -> None:
        with database.connect() as conn:
            for n in range(25):
                attempt = store.Attempt(
                    version=f"{worker}-{n}",
                    action="patch",
                    status="completed",
                    started_at=datetime.now(timezone.utc),
                )
                store.record_event(conn, attempt)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = api.verify_history(database.alias)
    assert (history["verified"], history["chained"]) == (True, 100), history


def test_edited_schema_description_of_an_old_event_is_a_break(uap, database, migrations_dir):
    """Descriptions are outside the canonical row but bound to the chained fingerprint."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    migrations_dir({"002_v1.2_more.sql": numbered(2)["002_v1.2_step_2.sql"]})
    assert uap(directory=folder).code == 0
    tamper(
        database,
        "UPDATE schema_migration_events SET schema_description = '{\"tables\": {}}' WHERE id = 1",
    )
    history = api.verify_history(database.alias)
    assert history["first_break"]["id"] == 1
    assert "schema_description" in history["first_break"]["problem"]
