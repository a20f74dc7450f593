"""Files with a header and no statements (placeholders kept for numbering): recorded, not run."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import psycopg

from schema_audit.engine.outcome import Outcome
from schema_audit.exceptions import DatabaseUnavailable
from schema_audit.files.discovery import MigrationFile
from schema_audit.integrity import fingerprint
from schema_audit.ledger import store

if TYPE_CHECKING:
    from schema_audit.engine.runner import Runner

# The reason on a placeholder's event: nothing ran, as psql, dbmate and Flyway run nothing.
NOTE = "no statements: recorded as applied"


def record(runner: Runner, migration: MigrationFile, *, take_fingerprint: bool = False) -> Outcome:
    """Record `migration` completed in 0 ms, its row and event in one transaction."""
    conn = runner.conn
    runner.progress("start", migration, None)
    started = datetime.now(timezone.utc)
    try:
        with conn.transaction():
            runner.guard()
            value, text = fingerprint.take_for_event(conn) if take_fingerprint else (None, None)
            attempt = runner.attempt(
                migration, started, 0, reason=NOTE, fingerprint=value, schema_description=text
            )
            store.record(conn, attempt, runner.app_version)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"lost the connection recording {migration.label}") from exc
    outcome = Outcome(migration.version, migration.name, "completed", 0)
    runner.progress("done", migration, outcome)
    return outcome
