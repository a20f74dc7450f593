"""Files and SQL that run in one transaction of their own, committed with their record.

A file costs its round trips and no more: BEGIN with the timeouts and the transaction's id,
the file with `after_file`, the chain head when signing, the record with COMMIT.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone

import psycopg
from psycopg import pq

from schema_audit.engine import lock_retry
from schema_audit.engine.outcome import (
    Outcome,
    StatementCounter,
    connection_lost,
    describe_error,
    elapsed_ms,
    located,
)
from schema_audit.engine.session import Session, last_row
from schema_audit.exceptions import (
    ESCAPED,
    DatabaseUnavailable,
    InvalidMigration,
    TransactionEscaped,
)
from schema_audit.files.discovery import MigrationFile
from schema_audit.files.statements import parse
from schema_audit.integrity import fingerprint
from schema_audit.ledger import store
from schema_audit.ledger.terms import Status


@dataclasses.dataclass
class _Guarded:
    """The id of the session's transaction around the SQL, once it has one."""

    xact: int | None = None


def apply(
    session: Session, migration: MigrationFile, *, take_fingerprint: bool = False
) -> Outcome:
    """Run one file atomically and record it; MigrationFailed after recording a failure.

    With `take_fingerprint` (the last file of a run) the event carries the schema
    fingerprint taken in the same transaction; a failure's event always carries one.

    A lock not available within the attempt's short lock_timeout (55P03) rolls the file
    back; it runs again after a growing, jittered wait while the session's RetryPolicy
    (and the file's `-- Lock-Retries:` header) allow, each failed attempt an event of its
    own (engine/lock_retry.py). The last attempt's failure is the file's.
    """
    attempts = session.retry.for_migration(migration).attempts()
    begin = session.retry_begin if attempts[0].retried else session.begin
    session.progress("start", migration, None)
    started = datetime.now(timezone.utc)
    for attempt in attempts:
        try:
            retry = attempt.wait is not None
            return _attempt(session, migration, take_fingerprint, begin, started, retry)
        except lock_retry.Retry as met:
            lock_retry.record(session, migration, started, met, attempt)
            lock_retry.pause(attempt.wait, met.error)
            started = datetime.now(timezone.utc)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _attempt(
    session: Session,
    migration: MigrationFile,
    take_fingerprint: bool,
    begin: str,
    started: datetime,
    retry: bool,
) -> Outcome:
    """One attempt of the file; lock_retry.Retry when it met 55P03 and `retry` allows more."""
    conn = session.conn
    clock = time.perf_counter()
    guarded = _Guarded()
    counter = StatementCounter(conn)
    try:
        with _rolled_back_on_error(session, guarded):
            guarded.xact = last_row(conn.execute(begin, prepare=False))[0]
            last = last_row(counter.execute(migration.sql + session.after_file, prepare=False))
            # Only the last row is kept, and the cursor is let go: it holds the query (a big
            # file's text, twice), and the record below binds the text again.
            counter = StatementCounter(conn)
            duration = elapsed_ms(clock)
            session.check(last, migration.path, guarded.xact)
            schema = fingerprint.take_for_event(conn) if take_fingerprint else (None, None)
            attempt = session.attempt(
                migration, started, duration, fingerprint=schema[0], schema_description=schema[1]
            )
            store.record_and_commit(conn, attempt, session.app_version)
    except psycopg.Error as exc:
        if retry and lock_retry.is_lock_timeout(exc) and not connection_lost(conn, exc):
            raise lock_retry.Retry(
                exc, _statement(migration, counter.failed_at), elapsed_ms(clock)
            ) from exc
        _fail(session, migration, started, elapsed_ms(clock), exc, counter.failed_at)
    except TransactionEscaped as exc:
        attempt = session.attempt(migration, started, elapsed_ms(clock))
        session.fail(attempt, exc, ESCAPED, migration=migration)
    outcome = Outcome(migration.version, migration.name, Status.COMPLETED, duration)
    session.progress("done", migration, outcome)
    return outcome


@contextmanager
def _rolled_back_on_error(session: Session, guarded: _Guarded) -> Iterator[None]:
    """ROLLBACK the transaction on any error; the block sends BEGIN and COMMIT.

    A failure after the SQL ended the session's transaction (its own COMMIT or ROLLBACK,
    then more SQL) is TransactionEscaped, not a plain failure: the session is idle instead
    of in a failed transaction, or the session's transaction id committed.
    """
    try:
        yield
    except psycopg.Error as exc:
        idle = session.conn.info.transaction_status == pq.TransactionStatus.IDLE
        session.roll_back()
        if guarded.xact is not None and not connection_lost(session.conn, exc):
            if idle or session.committed(guarded.xact):
                raise TransactionEscaped(ESCAPED) from exc
        raise
    except BaseException:
        session.roll_back()
        raise


def _fail(
    session: Session,
    migration: MigrationFile,
    started: datetime,
    duration: int,
    exc: psycopg.Error,
    failed_at: int | None = None,
):
    """Say where and why the file failed, then record it (Session.fail)."""
    session.raise_if_lost(exc, migration)
    position = int(exc.diag.statement_position or 0)
    unfinished = position > len(migration.sql) or (
        (exc.diag.message_primary or "").startswith("unterminated ")
    )
    if exc.sqlstate == "42601" and unfinished:
        # A syntax error past the file's end, or a string, identifier or comment the file
        # leaves open (PostgreSQL's scanner quotes everything after it, the session's own
        # SQL included): its last statement is unfinished. Parsing failed before anything
        # ran, so parsing the file alone runs nothing either and gives PostgreSQL's own
        # message (`syntax error at end of input`, `unterminated ...`) and line.
        exc = _alone(session.conn, migration) or exc
    line, message = located(exc, migration, failed_at)
    attempt = session.attempt(migration, started, duration)
    session.fail(attempt, exc, message, migration=migration, line=line)


def _statement(migration: MigrationFile, index: int | None) -> str:
    """The text of the file's `index`-th statement (the one that waited), else the file."""
    if index is not None:
        with suppress(InvalidMigration):
            statements = parse(migration.sql)
            if index < len(statements):
                return statements[index].text
    return migration.sql


def _alone(conn: psycopg.Connection, migration: MigrationFile) -> psycopg.Error | None:
    """The error of the file sent without `after_file` (rolled back in any case)."""
    try:
        conn.execute("BEGIN")
        conn.execute(migration.sql, prepare=False)
    except psycopg.Error as exc:
        return exc
    finally:
        conn.rollback()
    return None


def run_recorded(
    session: Session, text: str, attempt: store.Attempt, record: Callable[[int], None]
) -> int:
    """Run `text` in one transaction with the timeouts; `record(duration)` commits with it.

    A failure is recorded as `attempt`'s failed event and raised (Session.fail).
    """
    conn = session.conn
    clock = time.perf_counter()
    guarded = _Guarded()
    try:
        with conn.transaction():
            guarded.xact = session.xact()
            conn.execute(session.prefix + text)
            duration = elapsed_ms(clock)
            session.restore(xact=guarded.xact)
            record(duration)
    except TransactionEscaped as exc:
        session.fail(attempt, exc, ESCAPED)
    except psycopg.Error as exc:
        if connection_lost(conn, exc):
            raise DatabaseUnavailable(
                f"lost the connection during {attempt.version}: {exc}"
            ) from exc
        # A failure after the SQL's own COMMIT: what ran before it stays committed.
        if guarded.xact is not None and session.committed(guarded.xact):
            escaped = TransactionEscaped(ESCAPED)
            escaped.__cause__ = exc
            session.fail(attempt, escaped, ESCAPED)
        session.fail(attempt, exc, describe_error(exc))
    return duration
