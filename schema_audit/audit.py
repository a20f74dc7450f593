"""The auditor's checks on a live database: the event log's hash chain and schema drift."""

from __future__ import annotations

import json
import time

import psycopg

from schema_audit import chain, fingerprint, ledger


def verify_history(conn: psycopg.Connection, events: list[dict] | None = None) -> dict:
    """`{verified, events, chained, unchained, first_break, head, trigger}` of the event log."""
    events = ledger.read_events(conn) if events is None else events
    result = chain.verify(events)
    result["trigger"] = ledger.chain_trigger_state(conn)
    if result["verified"] and result["trigger"] != "enabled" and ledger.tables_exist(conn):
        # Events written while the trigger is off are unchained; say so before they exist.
        result["verified"] = False
        result["first_break"] = {
            "id": None,
            "problem": f"the hash-chain trigger is {result['trigger']}: new events are unchained",
        }
    return result


def verify_schema(conn: psycopg.Connection) -> dict:
    """Compare the live schema with the last recorded fingerprint.

    `{drift, current, recorded, changes, problem, elapsed_ms}`; `drift` is None when nothing
    was recorded yet (no migration applied since fingerprints were introduced).
    """
    clock = time.perf_counter()
    current_description = fingerprint.describe(conn)
    text = fingerprint.canonical(current_description)
    current = fingerprint.digest(text)
    elapsed_ms = round((time.perf_counter() - clock) * 1000, 1)
    last = ledger.last_fingerprint(conn)
    result = {
        "drift": None,
        "current": current,
        "recorded": None,
        "changes": [],
        "problem": None,
        "elapsed_ms": elapsed_ms,
    }
    if last is None:
        return result
    recorded = last["fingerprint"].strip()
    result["recorded"] = {
        "fingerprint": recorded,
        "event_id": last["id"],
        "version": last["version"],
        "action": last["action"],
        "started_at": last["started_at"].isoformat(),
    }
    result["drift"] = current != recorded
    stored = last["schema_description"]
    if stored is None or fingerprint.digest(stored) != recorded:
        result["problem"] = (
            f"event {last['id']}: the stored schema description does not hash to its "
            "fingerprint (edited or missing); no diff can be shown"
        )
    elif result["drift"]:
        result["changes"] = fingerprint.diff(json.loads(stored), current_description)
    return result
