"""The only code that writes `schema_migrations` and `schema_migration_events`, and reads
the rows; the event log's reads are in events.py, its words in terms.py, the typed row in
rows.py (all re-exported here, as the ledger's public names).

The tables are described in docs/reference.md, "Tables"; creating and upgrading them lives in
ledger/schema.py.
"""

from __future__ import annotations

import getpass
import os
import socket
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import pq
from psycopg.types.json import Jsonb

from schema_audit import conf
from schema_audit.files import redact
from schema_audit.ledger import chain, provenance, signing
from schema_audit.ledger.events import (  # noqa: F401 (the ledger's public names)
    chain_trigger_state,
    event_filter_choices,
    last_apply,
    last_fingerprint,
    last_patch,
    last_rollout,
    read_approvals,
    read_events,
)
from schema_audit.ledger.rows import LastEvent, LedgerRow  # noqa: F401 (the ledger's public names)
from schema_audit.ledger.schema import (  # noqa: F401 (the ledger's public names)
    ACCESS_TABLE,
    DDL_AUDIT_FUNCTION,
    DDL_AUDIT_TRIGGERS,
    DDL_MARK_FUNCTIONS,
    DDL_MARKS_TABLE,
    EVENT_COLUMNS,
    EVENTS_TABLE,
    MIGRATION_COLUMNS,
    MIGRATIONS_TABLE,
    TRACKING_OBJECTS,
    ensure_schema,
    ledger_sql,
    ledger_tables,
    qualified,
    tables_exist,
)
from schema_audit.ledger.terms import (  # noqa: F401 (the ledger's public names)
    ACTIONS,
    APPLIED,
    APPROVE_ACTION,
    DELETED,
    DETECTED,
    DJANGO_MIGRATE_ACTION,
    DRIFT_ACTION,
    EVENT_STATUSES,
    OUT_OF_BAND_ACTION,
    REVOKE_ACTION,
    ROW_ACTIONS,
    ROW_NEUTRAL_ACTIONS,
    SCHEMA_ACTIONS,
    STATUSES,
    Action,
    Status,
)

# The event columns a writer fills (the trigger sets applied_by, prev_hash and hash).
EVENT_FIELDS = (
    "version",
    "action",
    "status",
    "started_at",
    "duration_ms",
    "error_message",
    "sqlstate",
    "os_user",
    "host",
    "app_version",
    "checksum",
    "sql_text",
    "reason",
    "ticket",
    "fingerprint",
    "schema_description",
    "trace",
    "rollout",
    "actor",
    "signature",
)


def _insert_event(taken: tuple[str, ...] = ()) -> str:
    """INSERT of one event from the Attempt's parameters; `taken` columns come from `row`."""
    values = ", ".join(name if name in taken else f"%({name})s" for name in EVENT_FIELDS)
    source = "\nFROM row" if taken else ""
    return f"INSERT INTO {{events}} ({', '.join(EVENT_FIELDS)})\nSELECT {values}{source}"


_UPSERT_SQL = f"""
WITH row AS (
    INSERT INTO {{migrations}} AS m (version, name, checksum, status, applied_at, duration_ms,
        error_message, applied_by, description, impact, rollback_sql)
    VALUES (%(version)s, %(name)s, %(checksum)s, %(status)s, %(started_at)s, %(duration_ms)s,
        %(error_message)s, current_user, %(description)s, %(impact)s, %(rollback_sql)s)
    ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum,
        status = EXCLUDED.status, applied_at = EXCLUDED.applied_at,
        duration_ms = EXCLUDED.duration_ms, error_message = EXCLUDED.error_message,
        applied_by = EXCLUDED.applied_by, description = EXCLUDED.description,
        impact = EXCLUDED.impact, rollback_sql = EXCLUDED.rollback_sql
    RETURNING version
)
{_insert_event(("version",))}
"""

_EVENT_SQL = _insert_event()

# Operations on an existing row change its status, message or checksum but keep applied_at,
# duration and the header fields of the apply that created it.
_UPDATE_SQL = f"""
WITH row AS (
    UPDATE {{migrations}}
    SET status = %(status)s,
        error_message = CASE WHEN %(keep_message)s THEN error_message ELSE %(error_message)s END,
        checksum = COALESCE(%(checksum)s, checksum)
    WHERE version = %(version)s
    RETURNING version, checksum
)
{_insert_event(("version", "checksum"))}
"""

_RECORD_AND_COMMIT_SQL = _UPSERT_SQL + ";\nCOMMIT"
# Above this much SQL text, the record is bound by the server (record_and_commit).
CLIENT_BIND_MAX_CHARS = 1024 * 1024

_ROWS_SQL = """
SELECT version, name, checksum, status, applied_at, duration_ms, error_message, applied_by,
       description, impact, rollback_sql
FROM {migrations}
"""

# Each row with the last event that changed it (dry runs and patches leave rows alone), so the
# planner can tell a row edited by hand from one the runner wrote. LATERAL + LIMIT 1 walks the
# (version, id) index backwards: one index probe per row. The second half finds versions the
# log says were applied whose row is gone (DELETE by hand), so they are not run again.
_ROWS_WITH_EVENT_SQL = f"""
SELECT m.version, m.name, m.checksum, m.status, m.applied_at, m.duration_ms, m.error_message,
       m.applied_by, m.description, m.impact, m.rollback_sql,
       e.id AS event_id, e.action AS event_action, e.status AS event_status,
       e.checksum AS event_checksum
FROM {{migrations}} m
LEFT JOIN LATERAL (
    SELECT id, action, status, checksum FROM {{events}}
    WHERE version = m.version AND action <> ALL(%(neutral)s)
    ORDER BY id DESC LIMIT 1
) e ON true
UNION ALL
SELECT version, NULL, NULL, '{DELETED}', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       id, action, status, checksum
FROM (
    SELECT DISTINCT ON (version) version, id, action, status, checksum FROM {{events}} e
    WHERE action <> ALL(%(neutral)s)
      AND NOT EXISTS (SELECT 1 FROM {{migrations}} m WHERE m.version = e.version)
    ORDER BY version, id DESC
) orphan
WHERE status = '{Status.COMPLETED}' AND action IN ('{Action.APPLY}', '{Action.BASELINE}')
"""


@dataclass(frozen=True)
class Attempt:
    """What the runner observed about one attempt, to be written as a row and an event."""

    version: str
    action: str
    status: str
    started_at: datetime
    duration_ms: int | None = None
    name: str | None = None
    checksum: str | None = None
    sql_text: str | None = None
    error_message: str | None = None
    sqlstate: str | None = None
    description: str | None = None
    impact: str | None = None
    rollback_sql: str | None = None
    reason: str | None = None
    ticket: str | None = None
    fingerprint: str | None = None
    schema_description: str | None = None
    trace: dict | None = None
    rollout: str | None = None
    actor: str | None = None


def _identity() -> dict[str, str]:
    """Who and where, for every event: OS user and host (the DB user is current_user)."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):
        os_user = str(os.getuid())
    return {"os_user": os_user, "host": socket.gethostname()}


_IDENTITY = _identity()


def read_rows(conn: psycopg.Connection) -> dict[str, LedgerRow]:
    """Every ledger row keyed by version, each with its `last_event` (or None); {} before setup.

    A version whose row was deleted by hand after it was applied comes back with status DELETED.
    """
    rows_exist, events_exist = ledger_tables(conn)
    if not rows_exist:
        return {}
    if events_exist:
        query, params = _ROWS_WITH_EVENT_SQL, {"neutral": ROW_NEUTRAL_ACTIONS}
    else:  # a guide-shaped table not yet upgraded: no event log to join
        query, params = _ROWS_SQL, None
    with conn.cursor() as cur:
        records = cur.execute(ledger_sql(query), params).fetchall()
    rows = map(LedgerRow.from_record, records)
    return {row.version: row for row in rows}


def record(conn: psycopg.Connection, attempt: Attempt, app_version: str = "") -> None:
    """Upsert the version's row and append its event, in one statement."""
    with _signing(conn, attempt, app_version) as params:
        conn.execute(ledger_sql(_UPSERT_SQL), params)


def record_and_commit(conn: psycopg.Connection, attempt: Attempt, app_version: str = "") -> None:
    """`record`, then COMMIT, in one query: one round trip ends the file's transaction. If
    the record fails, PostgreSQL skips the rest of the query, so the COMMIT is not run and
    the transaction is left for the caller to roll back.

    psycopg binds the values on the client (ClientCursor; libpq quotes them), which keeps
    this statement out of psycopg's prepared-statement cache. Migrations would keep clearing
    that cache: psycopg empties it (DEALLOCATE ALL, an extra command) after any ALTER, DROP
    or ROLLBACK, so the statement was mostly planned afresh anyway, and the churn cost more
    than the planning (about 5% of applying 3000 files).
    """
    with _signing(conn, attempt, app_version) as params:
        if len(params["sql_text"] or "") > CLIENT_BIND_MAX_CHARS:
            # Quoting on the client copies a big file's text several times over (a 100 MB file
            # took 774 MB to apply); bound by the server, it is encoded once.
            conn.execute(ledger_sql(_UPSERT_SQL), params)
            conn.execute("COMMIT")
            return
        psycopg.ClientCursor(conn).execute(ledger_sql(_RECORD_AND_COMMIT_SQL), params)


def record_event(conn: psycopg.Connection, attempt: Attempt, app_version: str = "") -> None:
    """Append an event without touching `schema_migrations` (dry runs, patches)."""
    with _signing(conn, attempt, app_version) as params:
        conn.execute(ledger_sql(_EVENT_SQL), params)


def update(
    conn: psycopg.Connection, attempt: Attempt, app_version: str = "", *, keep_message=False
) -> bool:
    """Set an existing row's status, message (and checksum if given) and append its event."""
    with _signing(conn, attempt, app_version, row_checksum=True) as params:
        return (
            conn.execute(
                ledger_sql(_UPDATE_SQL), {**params, "keep_message": keep_message}
            ).rowcount
            == 1
        )


# Under the chain's lock (the trigger takes it too, held to commit): the head the next event
# links to cannot move before the INSERT, so the writer can sign its place in the chain. Two
# statements: one that read the head would see the snapshot taken before it got the lock.
_CHAIN_LOCK_SQL = f"SELECT pg_advisory_xact_lock({chain.LOCK_KEY})"
# The head the chain trigger will link to: the newest hashed row among the ids the sequence
# has issued (a row set above them by hand stays out of the chain's order, chain.py).
_CHAIN_HEAD_SQL = """
SELECT current_database(), session_user, current_setting('application_name', true),
       (SELECT hash FROM {events} WHERE hash IS NOT NULL AND id <= coalesce(
            pg_catalog.pg_sequence_last_value(
                pg_catalog.pg_get_serial_sequence({events_name}, 'id')::regclass), 0)
        ORDER BY id DESC LIMIT 1)
"""
_ROW_CHECKSUM_SQL = "SELECT checksum FROM {migrations} WHERE version = %s"


@contextmanager
def _signing(conn: psycopg.Connection, attempt: Attempt, app_version: str, *, row_checksum=False):
    """The INSERT's parameters, signed (ledger/signing.py) when UAP_SIGNING_KEY is set.

    Yields inside a transaction that holds the chain lock from the head's read to the INSERT
    (the caller's own, or one opened here on an autocommit connection).
    """
    params = _params(attempt, app_version)
    key = conf.get("UAP_SIGNING_KEY")
    if key is None:
        yield {**params, "signature": None}
        return
    idle = conn.info.transaction_status == pq.TransactionStatus.IDLE
    with conn.transaction() if idle and conn.autocommit else nullcontext():
        # One round trip, two statements: the head is read after the lock is granted, in a
        # snapshot of its own (a single statement's snapshot would predate the lock).
        cursor = conn.execute(ledger_sql(f"{_CHAIN_LOCK_SQL};\n{_CHAIN_HEAD_SQL}"), prepare=False)
        cursor.nextset()
        database, applied_by, application, head = cursor.fetchone()
        if row_checksum and params["checksum"] is None:
            # The UPDATE's event takes the row's checksum: sign the value it will store.
            row = conn.execute(ledger_sql(_ROW_CHECKSUM_SQL), (attempt.version,)).fetchone()
            params["checksum"] = row[0].strip() if row and row[0] else None
        head = head.strip() if head else None
        # What the trigger will store: the trace's value (not its Jsonb wrapper), the session.
        signed = {
            **params,
            "trace": attempt.trace,
            "applied_by": applied_by,
            "application": application,
        }
        yield {**params, "signature": signing.sign(key, signed, database, head)}


def _params(attempt: Attempt, app_version: str) -> dict:
    params = dict(attempt.__dict__)
    params["trace"] = Jsonb(attempt.trace) if attempt.trace is not None else None
    params.update(
        _IDENTITY,
        app_version=app_version or provenance.app_version() or None,
        ticket=attempt.ticket or provenance.ticket(),
        reason=attempt.reason or provenance.reason(),
        rollout=attempt.rollout or provenance.rollout(),
        actor=attempt.actor or provenance.actor(),
        # Stored SQL is shown to auditors: no password literal reaches the ledger.
        sql_text=redact.redact(attempt.sql_text),
        rollback_sql=redact.redact(attempt.rollback_sql),
        description=redact.redact(attempt.description),
        impact=redact.redact(attempt.impact),
    )
    return params
