"""Files marked `-- Transaction: none`: one statement at a time in autocommit, in a Session."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import psycopg
from psycopg import pq

from schema_audit.engine import lock_retry
from schema_audit.engine.outcome import (
    Outcome,
    connection_lost,
    describe_error,
    elapsed_ms,
    error_line,
)
from schema_audit.engine.session import Session
from schema_audit.exceptions import DatabaseUnavailable, TransactionEscaped
from schema_audit.files.discovery import MigrationFile
from schema_audit.files.statements import Statement, outside_transaction, parse
from schema_audit.integrity import fingerprint
from schema_audit.ledger import store
from schema_audit.ledger.terms import Status

logger = logging.getLogger(__name__)

_INVALID_INDEXES_SQL = """
SELECT format('%%I.%%I', n.nspname, c.relname)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE NOT i.indisvalid AND t.relname = %s AND (%s::text IS NULL OR tn.nspname = %s)
ORDER BY 1
"""


def apply(
    session: Session, migration: MigrationFile, *, take_fingerprint: bool = False
) -> Outcome:
    """Mark the row running, run each statement in autocommit, then mark completed or failed.

    A run killed between statements leaves the row `running`, which blocks later runs until an
    operator checks the schema and runs `--repair`. The completed event carries the schema
    fingerprint when `take_fingerprint`; a failed one always does (statements stay applied).
    """
    statements = parse(migration.sql, migration.path)
    conn = session.conn
    session.progress("start", migration, None)
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    try:
        session.guard()
        store.record(conn, session.attempt(migration, started, None, status=Status.RUNNING))
        # Statements outside a transaction: the DDL audit's mark covers the session until
        # the file ends (Session.restore with unmark, Session.reset end it).
        conn.execute(session.session_prefix + session.marks.session)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"lost the connection starting {migration.label}") from exc
    policy = session.retry.for_migration(migration)
    for index, statement in enumerate(statements, start=1):
        # A statement that may run in a transaction block waits the short lock_timeout and is
        # run again on 55P03 (it took no effect); one that may not (CONCURRENTLY, VACUUM), a
        # CALL or a DO (either may COMMIT) runs once, with the file's full lock_timeout.
        attempts = (policy if retriable(statement) else lock_retry.RetryPolicy()).attempts()
        prefix = session.retry_local if attempts[0].retried else ""
        for attempt in attempts:
            try:
                # Each statement commits by itself: check before each one that no other runner
                # can have taken the lock in the meantime.
                _guard_between(session, migration, index)
                if conn.info.parameter_status("standard_conforming_strings") == "off":
                    _stop(session, migration, statements, index, started, clock, _UNSPLIT)
                conn.execute(prefix + statement.text)
                break
            except psycopg.Error as exc:
                if attempt.wait is None or not lock_retry.is_lock_timeout(exc):
                    return _fail(
                        session, migration, statements, index, started, clock, exc, len(prefix)
                    )
                retry = lock_retry.Retry(exc, statement.text, elapsed_ms(clock))
                lock_retry.record(session, migration, started, retry, attempt)
                lock_retry.pause(attempt.wait, exc)
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            _stop(session, migration, statements, index, started, clock, _OPENED)
    duration = elapsed_ms(clock)
    try:
        session.restore(migration.path, unmark=True)  # timeouts, anything it SET
        value, text = fingerprint.take_for_event(conn) if take_fingerprint else (None, None)
        attempt = session.attempt(
            migration, started, duration, fingerprint=value, schema_description=text
        )
        store.record(conn, attempt, session.app_version)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"lost the connection after every statement of {migration.label} ran; its row "
            f"stays running: run --repair {migration.version} --mark completed"
        ) from exc
    outcome = Outcome(migration.version, migration.name, Status.COMPLETED, duration)
    session.progress("done", migration, outcome)
    return outcome


def retriable(statement: Statement) -> bool:
    """Whether a statement may be sent after `SET LOCAL lock_timeout` in one query (an
    implicit transaction block) and run again after 55P03."""
    kind = type(statement.node).__name__
    return kind not in ("CallStmt", "DoStmt") and not outside_transaction(statement.text)


def _guard_between(session: Session, migration: MigrationFile, index: int) -> None:
    try:
        session.guard()
    except DatabaseUnavailable as lost:
        if index == 1:
            raise
        raise DatabaseUnavailable(
            f"{lost} Statements 1-{index - 1} of {migration.label} are committed and its row "
            f"stays running: check the schema, then run --repair {migration.version} "
            "--mark failed (or completed)"
        ) from lost


def _fail(
    session: Session,
    migration: MigrationFile,
    statements: list[Statement],
    index: int,
    started: datetime,
    clock: float,
    exc: psycopg.Error,
    skip: int = 0,
):
    duration = elapsed_ms(clock)
    statement = statements[index - 1]
    try:
        session.raise_if_lost(exc, migration)
    except DatabaseUnavailable as lost:
        raise DatabaseUnavailable(
            f"{lost} Statement {index} of {len(statements)} (line {statement.line}) was "
            f"running and the earlier ones are committed; the row stays running: check the "
            f"schema, then run --repair {migration.version} --mark failed (or completed)"
        ) from exc
    first = statement.line + migration.first_line - 1  # from the top of the file
    line = error_line(exc, statement.text, first, skip) or first
    done = f"statements 1-{index - 1} were committed and stay applied" if index > 1 else ""
    parts = [
        describe_error(exc),
        f"at statement {index} of {len(statements)}" + (f"; {done}" if done else ""),
    ]
    invalid = _invalid_indexes(session.conn, statement)
    if invalid:
        parts.append(
            f"left INVALID index {', '.join(invalid)}: drop it (DROP INDEX CONCURRENTLY IF "
            "EXISTS ...) before retrying, since IF NOT EXISTS would keep the broken index"
        )
    if index > 1:
        parts.append("the retry re-runs the whole file: keep its statements idempotent")
    try:
        session.reset()
    except psycopg.OperationalError as lost:
        raise DatabaseUnavailable(f"lost the connection recording {migration.label}") from lost
    attempt = session.attempt(migration, started, duration)
    session.fail(attempt, exc, "\n".join(parts), migration=migration, line=line)


# Why _stop stopped a file: a statement left a transaction open (a BEGIN the checks before
# the run did not see), or the file turned standard_conforming_strings off, after which
# PostgreSQL reads a backslash in a string as an escape, unlike the parser that split the
# file, so the next "statement" could hold others.
_OPENED = "opened a transaction of its own, which was rolled back"
_UNSPLIT = (
    "was not run: the file turned standard_conforming_strings off, so PostgreSQL would not "
    "read it as it was split"
)


def _stop(session, migration, statements, index, started, clock, why: str) -> None:
    """Roll back what is open, record the file failed at statement `index` because `why`,
    and raise TransactionEscaped."""
    duration = elapsed_ms(clock)
    try:
        session.conn.rollback()
        session.reset()
    except psycopg.OperationalError as lost:
        raise DatabaseUnavailable(f"lost the connection recording {migration.label}") from lost
    statement = statements[index - 1]
    done = f"; statements 1-{index - 1} were committed and stay applied" if index > 1 else ""
    message = f"statement {index} of {len(statements)} (line {statement.line}) {why}{done}"
    attempt = session.attempt(migration, started, duration)
    session.fail(
        attempt, TransactionEscaped(message), message, migration=migration, line=statement.line
    )


def _invalid_indexes(conn: psycopg.Connection, statement: Statement) -> list[str]:
    """Indexes a failed CREATE INDEX CONCURRENTLY left behind with indisvalid = false."""
    from pglast import ast  # already loaded: the statements came from its parser

    node = statement.node
    if not (isinstance(node, ast.IndexStmt) and node.concurrent):
        return []
    schema = node.relation.schemaname
    try:
        rows = conn.execute(_INVALID_INDEXES_SQL, (node.relation.relname, schema, schema))
        return [row[0] for row in rows]
    except psycopg.Error:
        logger.warning("could not look for invalid indexes after %s failed", statement.text)
        return []


def run_outside_transaction(session: Session, statements: list[Statement], attempt, record) -> int:
    """Run SQL such as a non-transactional file's Rollback one statement at a time.

    `record(duration)` runs after the last statement; a failure records `attempt` as a failed
    event naming the statement and raises MigrationFailed (Session.fail).
    """
    conn = session.conn
    clock = time.perf_counter()
    conn.execute(session.session_prefix + session.marks.session)
    for index, statement in enumerate(statements, start=1):
        try:
            conn.execute(statement.text)
        except psycopg.Error as exc:
            if connection_lost(conn, exc):
                raise DatabaseUnavailable(f"lost the connection during {attempt.action}") from exc
            message = f"{describe_error(exc)}\nat statement {index} of {len(statements)}"
            if index > 1:
                message += f"; statements 1-{index - 1} were committed and stay applied"
            session.reset()
            session.fail(attempt, exc, message)
    session.restore(unmark=True)
    duration = elapsed_ms(clock)
    record(duration)
    return duration
