"""The audit stream: every ledger event and access record as one JSON line on a logger.

The lines go to the logger `schema_audit.audit`; the host project's LOGGING decides where
(syslog, a file, a collector). The library never attaches a handler. Events are emitted after
they are committed, read back from the event log, so a rolled-back attempt is never streamed
and what is streamed carries the hash the database computed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from schema_audit.ledger.schema import EVENTS_TABLE, LARGE_EVENT_COLUMNS, ledger_sql, qualified

audit_logger = logging.getLogger("schema_audit.audit")
logger = logging.getLogger(__name__)

# Big columns stay in the database; the line keeps their hash through the chain's `hash`.
OMITTED = (*LARGE_EVENT_COLUMNS, "trace")
_NEWEST_SQL = "SELECT coalesce(max(id), 0) FROM {events}"
_SINCE_SQL = (
    "SELECT * FROM {events} WHERE id > %s AND application = current_setting('application_name') "
    "ORDER BY id"
)


def _default(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def line(kind: str, record: dict, database: str) -> str:
    """One record as a compact JSON object: `kind`, `database`, then its columns."""
    fields = {key: value for key, value in record.items() if key not in OMITTED}
    for key in ("checksum", "fingerprint", "hash", "prev_hash"):
        if isinstance(fields.get(key), str):
            fields[key] = fields[key].strip()  # char(64) padding
    return json.dumps(
        {"kind": kind, "database": database, **fields}, default=_default, sort_keys=False
    )


def emit(kind: str, record: dict, database: str = "default") -> None:
    """Log one record on `schema_audit.audit` at INFO."""
    if audit_logger.isEnabledFor(logging.INFO):
        audit_logger.info("%s", line(kind, record, database))


def _newest(conn: psycopg.Connection) -> int | None:
    if not conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (qualified(EVENTS_TABLE),)
    ).fetchone()[0]:
        return 0
    return conn.execute(ledger_sql(_NEWEST_SQL)).fetchone()[0]


@contextmanager
def emitting(conn: psycopg.Connection, database: str = "default") -> Iterator[None]:
    """Stream the events this session commits inside the block, once it ends.

    The session's events are told apart by its application_name, which the chain trigger
    copies into `application` (it carries the process id).
    """
    try:
        start = _newest(conn)
    except psycopg.Error as exc:
        logger.warning("audit stream: cannot read the event log: %s", exc)
        start = None
    try:
        yield
    finally:
        if start is not None:
            _emit_since(conn, start, database)


def _emit_since(conn: psycopg.Connection, start: int, database: str) -> None:
    try:
        # A log that held events when the block began still does (it is append-only), so
        # only one that was empty or missing is looked at again: two round trips fewer.
        if conn.closed or not (start or _newest(conn)):
            return
        with conn.cursor(row_factory=dict_row) as cur:
            events = cur.execute(ledger_sql(_SINCE_SQL), (start,)).fetchall()
    except psycopg.Error as exc:
        # The operation's own error, if any, is what the caller must see; the events stay in
        # the database and are in the evidence bundle.
        logger.warning("audit stream: events after #%s not streamed: %s", start, exc)
        return
    for event in events:
        emit("event", event, database)
