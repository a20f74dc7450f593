"""One version's SQL as the runner sends it: the session's timeouts, one transaction or
statement by statement, the lock-retry policy and its Rollback; and, once it is applied, the
SQL its last completed apply ran, with whether the file on disk still matches. Reads only."""

from __future__ import annotations

from schema_audit import db
from schema_audit.engine import lock_retry, plan, stepwise
from schema_audit.engine.manual import not_sql, rollback_text
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
    with db.open_connection(database, "read") as conn:
        entries = plan.reconcile(files, store.read_rows(conn))
        entry = plan.find(entries, str(version))
        if entry is None:
            raise RefusedRequest(
                f"--show {version}: no migration with that version on disk or in schema_migrations"
            )
        migration = entry.file
        transactional = migration.transactional if migration else True
        retry = _retry(migration, transactional, options)
        # The runner's own Session builds the text it sends: a transactional file's attempt
        # waits its lock_timeout; statement by statement, the session's is the full one and a
        # statement that is retried gets the short one (`retry_local`) in front of it.
        session = Session(
            conn,
            lock_timeout=retry["attempt_lock_timeout"] if transactional else options.lock_timeout,
            statement_timeout=options.statement_timeout,
            app_version="-",
            retry_timeout=options.retry_timeout,
        )
        ran = _ran(conn, entry.version) if entry.row else None
        steps = None if transactional or not migration else _statements(migration, retry, session)
    rollback = _rollback(entry)
    return {
        "version": entry.version,
        "name": entry.name,
        "file": str(migration.path) if migration else None,
        "checksum": migration.checksum if migration else None,
        "retired": (migration.retired or None) if migration else None,
        "status": entry.status,
        "transactional": transactional,
        # Outside a transaction the timeouts are set for the session (SET, not SET LOCAL).
        "session_prefix": session.prefix if transactional else session.session_prefix,
        "lock_retry": retry,
        # Password literals masked, as the ledger keeps them: this goes to deploy logs.
        "sql": redact.redact(migration.sql) if migration else None,
        "statements": steps,
        "rollback": redact.redact(rollback) or None,
        "rollback_problem": not_sql(rollback) or None,
        "ran": ran,
        "drift": entry.drift or None,
    }


def _retry(migration, transactional: bool, options: Options) -> dict:
    """The lock-retry policy that applies to the file (to each statement that may run in a
    transaction block, for one run statement by statement), and each attempt's lock_timeout."""
    header = migration.header.get(lock_retry.HEADER).strip() if migration else ""
    policy = options.retry.for_file(header, migration.path if migration else None)
    retried = policy.retries > 0 and policy.budget > 0
    short = lock_retry.attempt_timeout(options.lock_timeout, options.retry_timeout)
    return {
        "retries": policy.retries if retried else 0,
        "wait_seconds": policy.budget if retried else 0.0,
        "attempt_lock_timeout": short if retried else options.lock_timeout,
        "lock_timeout": options.lock_timeout,
        "header": header or None,
    }


def _statements(migration: discovery.MigrationFile, retry: dict, session: Session):
    """`[{line, text, retried, prefix}]` of a file run statement by statement (`prefix`: what
    goes in front of a retried one); None when it does not parse (a run refuses it)."""
    try:
        statements = parse(migration.sql, migration.path)
    except InvalidMigration:
        return None
    first = migration.first_line - 1
    shown = []
    for statement in statements:
        retried = bool(retry["retries"]) and stepwise.retriable(statement)
        shown.append(
            {"line": statement.line + first, "text": redact.redact(statement.text),
             "retried": retried, "prefix": session.retry_local if retried else ""}
        )  # fmt: skip
    return shown


def _rollback(entry: plan.Entry) -> str:
    """The Rollback SQL `--rollback` would run (the file's header for a version not applied)."""
    if not entry.row:
        return entry.file.header.rollback.strip()
    try:
        return rollback_text(entry)
    except RefusedRequest:  # masked in the ledger, and the file with the real text is gone
        return (entry.row.rollback_sql or "").strip()


def _ran(conn, version: str) -> dict | None:
    """The last completed apply event of `version`: what it ran, when, with what checksum."""
    event = store.last_apply(conn, version)
    if event is None:
        return None
    started = event["started_at"]
    return {
        "event_id": event["id"],
        "started_at": started.isoformat() if started else None,
        "applied_by": event["applied_by"],
        "checksum": (event["checksum"] or "").strip() or None,
        "sql_text": event["sql_text"],
    }
