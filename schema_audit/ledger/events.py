"""Reads of the event log: its events, the newest fingerprint, approvals, patches and
rollouts, and the chain trigger's state. Writes are in store.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from schema_audit.db import names
from schema_audit.ledger.schema import (
    EVENTS_TABLE,
    ledger_sql,
    ledger_tables,
    qualified,
    tables_exist,
)
from schema_audit.ledger.terms import (
    APPROVE_ACTION,
    REVOKE_ACTION,
    SCHEMA_ACTIONS,
    Action,
    Status,
)

_LAST_PATCH_SQL = f"""
SELECT max(started_at) FROM {{events}}
WHERE action = '{Action.PATCH}' AND status = '{Status.COMPLETED}' AND checksum = %s
HAVING count(*) > 0
"""


_LAST_APPLY_SQL = f"""
SELECT id, started_at, applied_by, checksum, sql_text FROM {{events}}
WHERE version = %s AND action = '{Action.APPLY}' AND status = '{Status.COMPLETED}'
ORDER BY id DESC LIMIT 1
"""


def last_apply(conn: psycopg.Connection, version: str) -> dict | None:
    """The newest completed apply event of `version` (id, started_at, applied_by, checksum,
    sql_text), or None; one index probe (version, id), whatever the log's size."""
    if not ledger_tables(conn)[1]:
        return None  # a guide-shaped table with no event log yet
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(ledger_sql(_LAST_APPLY_SQL), (version,)).fetchone()


def last_patch(conn: psycopg.Connection, checksum: str) -> datetime | None:
    """When a patch with this checksum last completed, or None."""
    row = conn.execute(ledger_sql(_LAST_PATCH_SQL), (checksum,)).fetchone()
    return row[0] if row else None


def read_events(
    conn: psycopg.Connection,
    *,
    action: str | None = None,
    newest_first: bool = False,
    limit: int | None = None,
) -> list[dict]:
    """Events (all columns) in id order, optionally of one action; [] before the log exists."""
    if not conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (qualified(EVENTS_TABLE),)
    ).fetchone()[0]:
        return []
    query = sql.SQL(
        "SELECT * FROM {} WHERE %(action)s::text IS NULL OR action = %(action)s "
        "ORDER BY id {} LIMIT %(limit)s"
    ).format(names.identifier(EVENTS_TABLE), sql.SQL("DESC" if newest_first else "ASC"))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {"action": action, "limit": limit}).fetchall()


_FINGERPRINTS_SQL = """
SELECT * FROM {events}
WHERE fingerprint IS NOT NULL AND action = ANY(%(actions)s)
  AND (%(before)s::bigint IS NULL OR id < %(before)s)
ORDER BY id DESC LIMIT 20
"""


def last_fingerprint(
    conn: psycopg.Connection,
    trusted: Callable[[dict], bool] | None = None,
    skipped: list[int] | None = None,
) -> dict | None:
    """The newest event of SCHEMA_ACTIONS carrying a fingerprint, all columns, that `trusted`
    accepts (events the app wrote: ledger/authorship.py); None if none. The ids of newer
    candidates it refused are appended to `skipped`."""
    if not tables_exist(conn):
        return None
    before = None
    with conn.cursor(row_factory=dict_row) as cur:
        while True:
            params = {"actions": list(SCHEMA_ACTIONS), "before": before}
            batch = cur.execute(ledger_sql(_FINGERPRINTS_SQL), params).fetchall()
            for event in batch:
                if trusted is None or trusted(event):
                    return event
                if skipped is not None:
                    skipped.append(event["id"])
            if len(batch) < 20:
                return None
            before = batch[-1]["id"]


def chain_trigger_state(conn: psycopg.Connection) -> str:
    """`enabled`, `disabled` or `missing`: the BEFORE INSERT trigger that chains events."""
    row = conn.execute(
        "SELECT tgenabled FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s",
        (qualified(EVENTS_TABLE), f"{EVENTS_TABLE}_chain"),
    ).fetchone()
    return "missing" if row is None else "disabled" if row[0] == "D" else "enabled"


def event_filter_choices(conn: psycopg.Connection) -> dict:
    """Distinct `operators` ({applied_by, os_user}) and `tickets` in the event log."""
    if not tables_exist(conn):
        return {"operators": [], "tickets": []}
    operators = conn.execute(
        ledger_sql("SELECT DISTINCT applied_by, os_user FROM {events} ORDER BY 1, 2")
    ).fetchall()
    tickets = conn.execute(
        ledger_sql("SELECT DISTINCT ticket FROM {events} WHERE ticket IS NOT NULL ORDER BY 1")
    ).fetchall()
    return {
        "operators": [{"applied_by": a, "os_user": o} for a, o in operators],
        "tickets": [t for (t,) in tickets],
    }


# The newest event of a fleet run walks the primary key backwards; no index on rollout needed.
_LAST_ROLLOUT_SQL = """
SELECT rollout, started_at FROM {events}
WHERE rollout IS NOT NULL ORDER BY id DESC LIMIT 1
"""


def last_rollout(conn: psycopg.Connection) -> dict | None:
    """`{rollout, started_at}` of the newest event written by a fleet run; None if none."""
    has_column = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) "
        "AND attname = 'rollout' AND NOT attisdropped)",
        (qualified(EVENTS_TABLE),),
    ).fetchone()[0]
    if not has_column:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(ledger_sql(_LAST_ROLLOUT_SQL)).fetchone()


# Every column: the signature is checked against the whole row (ledger/signing.py).
_APPROVALS_SQL = f"""
SELECT * FROM {{events}}
WHERE action IN ('{APPROVE_ACTION}', '{REVOKE_ACTION}') AND version = ANY(%s)
ORDER BY id
"""


def read_approvals(conn: psycopg.Connection, versions: list[str]) -> list[dict]:
    """The approve and revoke events of `versions`, oldest first; [] before the log exists."""
    found = conn.execute(
        "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'actor'",
        (qualified(EVENTS_TABLE),),
    ).fetchone()
    if not versions or found is None:  # no log yet, or one from before approvals existed
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(ledger_sql(_APPROVALS_SQL), (versions,)).fetchall()
