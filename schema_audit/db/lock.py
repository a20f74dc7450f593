"""The advisory lock that serialises runners, the probe that it is still held, and who holds
what a ledger statement waited for."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from schema_audit.db import cancel, names
from schema_audit.exceptions import DatabaseUnavailable, Interrupted, LockTimeout

logger = logging.getLogger(__name__)

LOCK_KEY = names.RUNNERS_LOCK_KEY
_FIRST_POLL, _LAST_POLL = 0.02, 0.25  # seconds between lock attempts, doubling

# Who holds a lock the runner's own statements wait for: a ledger table, or the event log's
# chain lock (taken by every event write).
_LEDGER_HOLDERS_SQL = """
SELECT DISTINCT a.pid, a.application_name, a.usename, a.client_addr::text, l.mode,
       coalesce(l.relation::regclass::text, 'the event log chain lock')
FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.pid <> pg_catalog.pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_catalog.pg_database
                    WHERE datname = pg_catalog.current_database())
  AND (l.relation = ANY(ARRAY[pg_catalog.to_regclass(%s), pg_catalog.to_regclass(%s),
                              pg_catalog.to_regclass(%s)])
       OR (l.locktype = 'advisory' AND l.objsubid = 1
           AND ((l.classid::bigint << 32) | l.objid::bigint) = %s))
ORDER BY 1
LIMIT 5
"""
_HOLDER_SQL = """
SELECT a.pid, a.application_name, a.usename, a.client_addr::text, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.classid::bigint << 32) | l.objid::bigint) = %s
"""


LOCK_LOST = (
    "lost the connection holding the migration lock, so another runner may hold it "
    "now; the migration in progress was rolled back. Run again."
)


class LockSession:
    """The session holding the runners' lock; calling it checks the session is still alive.

    The session also holds a lock on a key of its own, random per run, that no other session
    knows. `held_sql` asks from the working connection whether anyone still holds that key:
    a cheap probe of one lock (pg_locks would copy the whole lock table), sent in a query
    that goes anyway instead of costing a round trip. While the key is held, its session is
    alive, and a live session still holds the runners' lock; once the session is gone, the
    probe takes the key itself (a shared lock, released when the transaction ends) and
    answers false.
    """

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.key = secrets.randbits(63)
        conn.execute("SELECT pg_advisory_lock(%s)", (self.key,))
        # No quote characters: sent right after a file's text (engine/session.py).
        self.held_sql = sql.SQL("NOT pg_catalog.pg_try_advisory_xact_lock_shared({})").format(
            sql.Literal(self.key)
        )

    def __call__(self) -> None:
        ensure_lock_held(self.conn)


def ensure_lock_held(conn: psycopg.Connection) -> None:
    """DatabaseUnavailable unless the session holding the advisory lock on `conn` is alive.

    A session lock lasts as long as its session, so a live session still holds it; once the
    session is gone another runner may hold the lock, and the caller must not commit.
    """
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(LOCK_LOST) from exc


@contextmanager
def advisory_lock(conn: psycopg.Connection, wait_seconds: float) -> Iterator[None]:
    """Hold the runners' session-level advisory lock on `conn`, waiting at most `wait_seconds`.

    The lock lives on its own idle connection so that `CREATE INDEX CONCURRENTLY`, which waits
    for every open transaction, never waits for the lock's holder. Waiters poll with
    pg_try_advisory_lock instead of blocking in pg_advisory_lock: a blocked waiter sits in an
    open transaction that the holder's `CREATE INDEX CONCURRENTLY` would wait for, a deadlock.
    """
    deadline = time.monotonic() + max(wait_seconds, 0)
    delay = _FIRST_POLL
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeout(_holder_message(conn, wait_seconds))
        if cancel.interrupted():
            raise Interrupted()  # Ctrl-C during a fleet run: a waiting target gives up
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, _LAST_POLL)
    try:
        yield
    finally:
        if not conn.closed:
            try:
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
            except psycopg.OperationalError:
                logger.warning("lost the connection holding the migration lock; it is released")


def ledger_locked(conn: psycopg.Connection, exc: psycopg.Error) -> str:
    """The message of a ledger statement that gave up waiting for a lock, naming holders."""
    holders = []
    if not conn.closed and not conn.broken:
        try:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            tables = [
                names.qualified(table)
                for table in (names.MIGRATIONS_TABLE, names.EVENTS_TABLE, names.ACCESS_TABLE)
            ]
            holders = conn.execute(_LEDGER_HOLDERS_SQL, (*tables, names.CHAIN_LOCK_KEY)).fetchall()
        except psycopg.Error:
            logger.info("could not read who holds the ledger's locks")
    who = "; ".join(
        f"pid {pid} ({app or 'no application_name'}, user {user}, client {client or 'local'}) "
        f"holds {mode} on {what}"
        for pid, app, user, client, mode, what in holders
    )
    reason = (exc.diag.message_primary or str(exc)).strip()
    return (
        f"gave up waiting for a lock on the ledger ({reason}): "
        f"{who or 'another session held it'}. Nothing more was done; end that session or "
        "raise --lock-wait (UAP_LOCK_WAIT), then run again."
    )


def _holder_message(conn: psycopg.Connection, wait_seconds: float) -> str:
    holder = conn.execute(_HOLDER_SQL, (LOCK_KEY,)).fetchone()
    who = (
        f"pid {holder[0]} ({holder[1] or 'no application_name'}, user {holder[2]}, "
        f"client {holder[3] or 'local socket'}, connected {holder[4]:%Y-%m-%d %H:%M:%S%z})"
        if holder
        else "a session that has since released it"
    )
    return (
        f"another migration run holds the lock: {who}; waited {wait_seconds:g}s. "
        "Retry when it finishes, or raise --lock-wait."
    )
