"""One version's SQL as the runner sends it: the session's timeouts, one transaction or
statement by statement, the lock-retry policy and its Rollback; and, once it is applied, the
SQL its last completed apply ran, with whether the file on disk still matches. Reads only."""

from __future__ import annotations

from schema_audit import db
from schema_audit.engine import lock_retry, plan
from schema_audit.engine.manual import not_sql, rollback_text, version_number
from schema_audit.engine.options import Options
from schema_audit.engine.session import Session
from schema_audit.exceptions import InvalidMigration, RefusedRequest
from schema_audit.files import discovery, redact
from schema_audit.files.statements import parse
from schema_audit.ledger import store


def show(files: list[discovery.MigrationFile], database: str, version: str, options: Options):
    """`{version, name, file, status, transactional, session_prefix, lock_retry, sql,
    statements, rollback, rollback_problem, ran, drift}` of `version`.

    RefusedRequest when no file on disk and no ledger row has that version.
    """
    number = version_number(version)
    with db.open_connection(database, "read") as conn:
        entries = plan.reconcile(files, store.read_rows(conn))
        entry = next((e for e in entries if e.number == number), None)
        if entry is None:
            raise RefusedRequest(
                f"--show {version}: no migration with that version on disk or in schema_migrations"
            )
        migration = entry.file
        retry = _retry(migration, options)
        # The runner's own Session builds the text it sends before each file.
        session = Session(
            conn,
            lock_timeout=retry["attempt_lock_timeout"],
            statement_timeout=options.statement_timeout,
            app_version="-",
        )
        ran = _ran(conn, entry.version) if entry.row else None
    transactional = migration.transactional if migration else True
    rollback = _rollback(entry)
    return {
        "version": entry.version,
        "name": entry.name,
        "file": str(migration.path) if migration else None,
        "checksum": migration.checksum if migration else None,
        "status": entry.status,
        "transactional": transactional,
        # Outside a transaction the timeouts are set for the session (SET, not SET LOCAL).
        "session_prefix": session.prefix if transactional else session.session_prefix,
        "lock_retry": retry,
        # Password literals masked, as the ledger keeps them: this goes to deploy logs.
        "sql": redact.redact(migration.sql) if migration else None,
        "statements": None if transactional or not migration else _statements(migration),
        "rollback": redact.redact(rollback) or None,
        "rollback_problem": not_sql(rollback) or None,
        "ran": ran,
        "drift": entry.drift or None,
    }


def _retry(migration: discovery.MigrationFile | None, options: Options) -> dict:
    """The lock-retry policy that applies to the file, and each attempt's lock_timeout."""
    header = migration.header.get(lock_retry.HEADER).strip() if migration else ""
    transactional = migration.transactional if migration else True
    policy = options.retry.for_file(header, migration.path if migration else None)
    # Only a transactional file runs again: one run statement by statement has committed some.
    retried = transactional and policy.retries > 0 and policy.budget > 0
    short = lock_retry.attempt_timeout(options.lock_timeout, options.retry_timeout)
    return {
        "retries": policy.retries if retried else 0,
        "wait_seconds": policy.budget if retried else 0.0,
        "attempt_lock_timeout": short if retried else options.lock_timeout,
        "header": header or None,
    }


def _statements(migration: discovery.MigrationFile) -> list[dict] | None:
    """`[{line, text}]` of a file run statement by statement; None when it does not parse
    (a run refuses it before anything runs)."""
    try:
        statements = parse(migration.sql, migration.path)
    except InvalidMigration:
        return None
    first = migration.first_line - 1
    return [{"line": s.line + first, "text": redact.redact(s.text)} for s in statements]


def _rollback(entry: plan.Entry) -> str:
    """The Rollback SQL `--rollback` would run (the file's header for a version not applied)."""
    if not entry.row:
        return entry.file.header.rollback.strip()
    try:
        return rollback_text(entry)
    except RefusedRequest:  # masked in the ledger, and the file with the real text is gone
        return (entry.row.get("rollback_sql") or "").strip()


def _ran(conn, version: str) -> dict | None:
    """The last completed apply event of `version`: what it ran, when, with what checksum."""
    for event in store.read_events(conn, action="apply", newest_first=True):
        if event["version"] == version and event["status"] == "completed":
            started = event["started_at"]
            return {
                "event_id": event["id"],
                "started_at": started.isoformat() if started else None,
                "applied_by": event.get("applied_by"),
                "checksum": (event.get("checksum") or "").strip() or None,
                "sql_text": event.get("sql_text"),
            }
    return None
