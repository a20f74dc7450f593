"""Files recorded without running: placeholders (a header and no statements) and retired files
(`-- Retired:`, rolled back where they ran)."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg

from schema_audit.engine.outcome import Outcome
from schema_audit.engine.session import Session
from schema_audit.exceptions import DatabaseUnavailable
from schema_audit.files.discovery import MigrationFile
from schema_audit.integrity import fingerprint
from schema_audit.ledger import store
from schema_audit.ledger.terms import Status

# The reason on a placeholder's event: nothing ran, as psql, dbmate and Flyway run nothing.
NOTE = "no statements: recorded as applied"
# A retired file ends where production's did: rolled_back, so it never runs and nothing
# counts it as applied (current version, --rollback).
RETIRED_NOTE = "retired, not run: {why}"


def record(
    session: Session, migration: MigrationFile, *, take_fingerprint: bool = False
) -> Outcome:
    """Record `migration` in 0 ms without running it, its row and event in one transaction:
    completed for a placeholder, rolled_back for a retired file."""
    conn = session.conn
    status, note, ran = Status.COMPLETED, NOTE, {}
    if migration.retired:
        status, note = Status.ROLLED_BACK, RETIRED_NOTE.format(why=migration.retired)
        # The row says why, as a rolled-back row does; the event holds no SQL: none ran.
        ran = {"error_message": note, "sql_text": None}
    session.progress("start", migration, None)
    started = datetime.now(timezone.utc)
    try:
        with conn.transaction():
            session.guard()
            value, text = fingerprint.take_for_event(conn) if take_fingerprint else (None, None)
            attempt = session.attempt(
                migration,
                started,
                0,
                status=status,
                reason=note,
                **ran,
                fingerprint=value,
                schema_description=text,
            )
            store.record(conn, attempt, session.app_version)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"lost the connection recording {migration.label}") from exc
    outcome = Outcome(migration.version, migration.name, status, 0)
    session.progress("done", migration, outcome)
    return outcome
