"""A dry run's files: run in one transaction that is rolled back, then a dry_run event each."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import psycopg

from schema_audit.engine import lock_retry
from schema_audit.engine.outcome import (
    Outcome,
    StatementCounter,
    describe_error,
    elapsed_ms,
    error_line,
    located,
)
from schema_audit.engine.session import Session
from schema_audit.exceptions import ESCAPED, TransactionEscaped
from schema_audit.files.discovery import MigrationFile
from schema_audit.ledger import store
from schema_audit.ledger.terms import Action, Status


def rehearse(
    session: Session,
    migrations: list[MigrationFile],
    tracer=None,
    sandbox: Session | None = None,
    *,
    reason: str | None = None,
) -> list[Outcome]:
    """Run the files in one transaction that is rolled back, then record a dry_run event each.

    One transaction with a savepoint per file, so a file sees the changes of the pending
    files before it, exactly as in a real run; it stops at the first failure. With a
    `trace.Tracer` each file runs statement by statement and its event keeps the trace.
    With `sandbox` (a Session on a connection logged in as the dry-run role) the files run
    there; `session` records the events after that transaction rolled back. `reason` goes on
    each event (a rehearsed rollback says so).
    """
    conn = session.conn
    started = datetime.now(timezone.utc)
    outcomes, escaped = _run_files(sandbox or session, migrations, tracer)
    traces = tracer.traces if tracer else {}
    by_version = {m.version: m for m in migrations}
    for outcome in outcomes:
        attempt = session.attempt(
            by_version[outcome.version],
            started,
            outcome.duration_ms,
            action=Action.DRY_RUN,
            status=outcome.status,
            error_message=outcome.error,
            sqlstate=outcome.sqlstate,
            trace=traces.get(outcome.version),
            reason=reason,
        )
        store.record_event(conn, attempt, session.app_version)
    if escaped:
        raise TransactionEscaped(f"{escaped.path}: {escaped.label} {ESCAPED}", outcomes[-1])
    return outcomes


def _run_files(
    session: Session, migrations: list[MigrationFile], tracer
) -> tuple[list[Outcome], MigrationFile | None]:
    """The outcome of each file, in one transaction rolled back; the file that escaped it."""
    conn = session.conn
    outcomes: list[Outcome] = []
    escaped = None
    with conn.transaction(force_rollback=True):
        conn.execute(session.prefix)
        xact = session.xact()
        for migration in migrations:
            clock = time.perf_counter()
            try:
                outcome = _in_savepoint(session, migration, outcomes, tracer, xact)
                if not session.still_in(xact):
                    raise TransactionEscaped(ESCAPED)
            except TransactionEscaped:
                # Rolling back the dry run's transaction undoes only what is still open.
                escaped = migration
                outcome = Outcome(
                    migration.version, migration.name, Status.FAILED, elapsed_ms(clock), ESCAPED
                )
            outcomes.append(outcome)
            if escaped:
                break
    return outcomes, escaped


def _in_savepoint(
    session: Session,
    migration: MigrationFile,
    earlier: list[Outcome],
    tracer,
    xact: int,
) -> Outcome:
    conn = session.conn
    version, name = migration.version, migration.name
    if any(o.status == Status.FAILED for o in earlier):
        return Outcome(version, name, Status.SKIPPED, 0, "not tried: an earlier file failed")
    if migration.retired:  # a real run records it without running it
        return Outcome(version, name, Status.SKIPPED, 0, f"retired, not run: {migration.retired}")
    if migration.empty:
        return Outcome(version, name, Status.COMPLETED, 0)
    if not migration.transactional:
        if tracer:
            # Traced where a transaction allows it; still not a dry run of the file.
            try:
                with conn.transaction():
                    tracer.run_file(migration)
            except psycopg.Error as exc:
                session.raise_if_lost(exc, migration)
                raise
        return Outcome(
            version, name, Status.SKIPPED, 0, "not dry-runnable: `-- Transaction: none` file"
        )
    # A lock not available within the short lock_timeout rolls the file's savepoint back and
    # runs it again after a growing wait, as a real run would; a trace lists whom it met.
    attempts = session.retry.for_migration(migration).attempts()
    met: list[str] = []
    for attempt in attempts:
        clock = time.perf_counter()
        counter = StatementCounter(conn)  # which statement failed, as a real run tells
        try:
            with conn.transaction():
                if attempt.retried:
                    conn.execute(session.retry_local)
                if tracer:
                    duration = tracer.run_file(migration)
                else:
                    counter.execute(migration.sql)
                session.restore(migration.path, xact)  # as after_file does in a real run
            break
        except psycopg.Error as exc:
            session.raise_if_lost(exc, migration)
            failed = tracer.failed if tracer else None
            if attempt.wait is not None and lock_retry.is_lock_timeout(exc):
                holders = lock_retry.holders(conn, failed.text if failed else migration.sql)
                met.append(lock_retry.describe(attempt, holders))
                lock_retry.pause(attempt.wait, exc)
                continue
            if failed:  # the tracer ran the file statement by statement
                first = failed.line + migration.first_line - 1  # another runner's up part
                line, message = error_line(exc, failed.text, first), describe_error(exc)
            else:
                line, message = located(exc, migration, counter.failed_at)
            return Outcome(
                version,
                name,
                Status.FAILED,
                elapsed_ms(clock),
                "\n".join([*met, message]),
                exc.sqlstate,
                line,
            )
    if tracer and met and migration.version in tracer.traces:
        tracer.traces[migration.version]["reasons"] += met
    return Outcome(version, name, Status.COMPLETED, duration if tracer else elapsed_ms(clock))
