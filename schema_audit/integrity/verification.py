"""The auditor's checks on a live database: the event log's hash chain and schema drift."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from schema_audit.db import names
from schema_audit.integrity import fingerprint, verified_head
from schema_audit.ledger import access_chain, authorship, chain, store
from schema_audit.ledger.schema import ACCESS_TABLE, qualified

ACCESS_VERIFIED_COLUMNS = (*(name for name, _ in access_chain.FIELDS), "prev_hash", "hash")

DRIFT_ACTION = store.DRIFT_ACTION


def verify_history(
    conn: psycopg.Connection, events: list[dict] | None = None, *, incremental: bool = False
) -> dict:
    """`{verified, events, chained, unchained, first_break, head, trigger}` of the event log.

    `incremental` re-hashes only the events after the last head this process verified, as
    long as no event before it changed (verified_head).
    """
    rules = authorship.Authorship.read(conn)
    if incremental and events is None:
        result = verified_head.verify(conn, rules)
    else:
        events = store.read_events(conn) if events is None else events
        result = chain.verify(events)
        result["signatures"] = authorship.audit(events, rules)
    _signature_break(result)
    result["trigger"] = store.chain_trigger_state(conn)
    if result["verified"] and result["trigger"] != "enabled" and store.tables_exist(conn):
        # Events written while the trigger is off are unchained; say so before they exist.
        result["verified"] = False
        result["first_break"] = {
            "id": None,
            "problem": f"the hash-chain trigger is {result['trigger']}: new events are unchained",
        }
    return result


def _signature_break(result: dict) -> None:
    """Fail `result` when an event after signing began is unsigned, or a signature is bad."""
    signatures = result["signatures"]
    bad = sorted(signatures["missing"] + signatures["invalid"])
    if not bad:
        return
    result["verified"] = False
    if result["first_break"] is not None:
        return  # the chain's own break is reported first; the ids stay in `signatures`
    shown = ", ".join(str(i) for i in bad[:20]) + (
        f" and {len(bad) - 20} more" if bad[20:] else ""
    )
    result["first_break"] = {
        **signatures["first"],
        "problem": f"events not written by this app (signature missing or invalid): {shown}",
    }
    result["head"] = None


def _trusted(conn: psycopg.Connection):
    """The test an event must pass to be the drift reference (ledger/authorship.py)."""
    return authorship.Authorship.read(conn).may_be_trusted


def verify_access_log(conn: psycopg.Connection) -> dict:
    """`{verified, records, chained, unchained, first_break}` of the access log's hash chain,
    read in id order a batch at a time; `{verified: True, records: 0, ...}` before it exists."""
    if not conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (qualified(ACCESS_TABLE),)
    ).fetchone()[0]:
        return access_chain.verify([])
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in ACCESS_VERIFIED_COLUMNS)
    query = sql.SQL("SELECT {} FROM {} ORDER BY id").format(
        columns, names.identifier(ACCESS_TABLE)
    )
    # A server-side cursor: the log grows with every page view and is never read whole.
    with conn.transaction(), conn.cursor(name="uap_access_chain", row_factory=dict_row) as cur:
        cur.itersize = 5000
        return access_chain.verify(cur.execute(query))


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
    skipped: list[int] = []
    last = store.last_fingerprint(conn, _trusted(conn), skipped)
    result = {
        "drift": None,
        "current": current,
        "recorded": None,
        "changes": [],
        "problem": None,
        "elapsed_ms": elapsed_ms,
    }
    if skipped:
        shown = ", ".join(str(i) for i in skipped[:20])
        result["problem"] = (
            f"events {shown} carry a fingerprint but no valid signature of this app (inserted "
            "or edited outside it); they are not used as the reference"
        )
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


def record_drift(conn: psycopg.Connection) -> list[dict] | None:
    """Before a run: if the schema moved since the last fingerprint, record a `schema_drift`
    event (with the fingerprint and a summary) so the run's new fingerprint cannot hide it.

    The changes, or None when there is no drift or nothing to compare with.
    """
    last = store.last_fingerprint(conn, _trusted(conn))
    if last is None or last["schema_description"] is None:
        return None
    current, text = fingerprint.take_for_event(conn)
    if current is None or current == last["fingerprint"].strip():
        return None
    changes = fingerprint.diff(json.loads(last["schema_description"]), json.loads(text))
    summary = "; ".join(f"{c['change']} {c['kind']} {c['name']}" for c in changes)
    attempt = store.Attempt(
        version=None,
        action=DRIFT_ACTION,
        status=store.DETECTED,
        started_at=datetime.now(timezone.utc),
        error_message=f"schema changed since event {last['id']}: {summary}",
        fingerprint=current,
        schema_description=text,
    )
    store.record_event(conn, attempt)
    return changes
