"""Files with a header and no statements (placeholders kept for numbering): recorded, not run."""

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


def record(
    session: Session, migration: MigrationFile, *, take_fingerprint: bool = False
) -> Outcome:
    """Record `migration` completed in 0 ms, its row and event in one transaction."""
    conn = session.conn
    session.progress("start", migration, None)
    started = datetime.now(timezone.utc)
    try:
        with conn.transaction():
            session.guard()
            value, text = fingerprint.take_for_event(conn) if take_fingerprint else (None, None)
            attempt = session.attempt(
                migration, started, 0, reason=NOTE, fingerprint=value, schema_description=text
            )
            store.record(conn, attempt, session.app_version)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"lost the connection recording {migration.label}") from exc
    outcome = Outcome(migration.version, migration.name, Status.COMPLETED, 0)
    session.progress("done", migration, outcome)
    return outcome
