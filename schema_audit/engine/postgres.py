"""Connections built from Django's DATABASES, and the advisory lock that serialises runners."""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils.connection import ConnectionDoesNotExist
from psycopg import sql

from schema_audit import conf
from schema_audit.engine import fleet
from schema_audit.exceptions import (
    DatabaseUnavailable,
    Interrupted,
    InvalidConfiguration,
    LockTimeout,
)

logger = logging.getLogger(__name__)

# One key for every runner on a database, whatever its --dir: two deploys never interleave.
LOCK_KEY = 0x5541505F4D494752  # "UAP_MIGR"
APPLICATION_NAME = "uap_migrate"
_FIRST_POLL, _LAST_POLL = 0.02, 0.25  # seconds between lock attempts, doubling
MIN_LOCK_TIMEOUT_MS = 1000  # the shortest wait of a ledger statement (lock_timeout_sql)
_MAX_TIMEOUT_MS = 2**31 - 1  # the largest lock_timeout PostgreSQL accepts (about 24 days)
_DJANGO_ONLY = ("cursor_factory", "context", "prepare_threshold", "server_side_binding", "pool")

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


def connection_params(database: str = "default") -> dict:
    """libpq keywords for a Django database alias (starts the embedded server if it is one)."""
    try:
        params = connections[database].get_connection_params()
    except ConnectionDoesNotExist as exc:
        raise InvalidConfiguration(f"--database {database}: no such alias in DATABASES") from exc
    except ImproperlyConfigured as exc:
        raise InvalidConfiguration(f"database {database!r}: {exc}") from exc
    for key in _DJANGO_ONLY:
        params.pop(key, None)
    params.setdefault("connect_timeout", 10)
    return params


def server_major(database: str = "default", timeout: int = 2) -> int | None:
    """The major version of a plain PostgreSQL alias's server if it answers within `timeout`
    seconds; None otherwise. Never starts an embedded server: lint must not need one."""
    engine = connections.settings.get(database, {}).get("ENGINE")
    if engine != "django.db.backends.postgresql":
        return None
    try:
        params = {**connection_params(database), "connect_timeout": timeout}
        with psycopg.connect(**params, autocommit=True) as conn:
            return conn.info.server_version // 10000
    except (psycopg.Error, InvalidConfiguration):
        logger.info("no server answered for %s; lint assumes its default version", database)
        return None


def describe(params: dict) -> str:
    """`host:port/dbname` for messages; never the password."""
    host = params.get("host") or "localhost"
    port = params.get("port") or 5432
    return f"{host}:{port}/{params.get('dbname', '')}"


# The lock wait a command run chose (--lock-wait), for every connection it opens; the fleet
# copies it into each target's thread with the rest of the context.
_RUN_LOCK_WAIT: ContextVar[float | None] = ContextVar("uap_run_lock_wait", default=None)


@contextmanager
def run_lock_wait(value: object = None) -> Iterator[None]:
    """Within the block, `value` (when given) is the lock wait of every connection."""
    token = _RUN_LOCK_WAIT.set(None if value is None else lock_wait_seconds(value))
    try:
        yield
    finally:
        _RUN_LOCK_WAIT.reset(token)


def lock_wait_seconds(value: object = None) -> float:
    """`value` (else the run's, else UAP_LOCK_WAIT) as seconds; InvalidConfiguration unless
    finite and >= 0."""
    if value is None:
        chosen = _RUN_LOCK_WAIT.get()
        return conf.UAP_LOCK_WAIT if chosen is None else chosen
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidConfiguration(f"--lock-wait {value!r}: give a number of seconds") from exc
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidConfiguration(
            f"--lock-wait {value!r}: give a finite number of seconds, 0 or more"
        )
    return seconds


def lock_timeout_sql(seconds: float) -> sql.Composed:
    """SET the session's lock_timeout to `seconds`, at least one second.

    0 would mean forever; and `--lock-wait 0` (do not queue behind another runner) must not
    fail a record on the chain lock another event's writer holds for a few milliseconds.
    """
    millis = min(max(MIN_LOCK_TIMEOUT_MS, math.ceil(seconds * 1000)), _MAX_TIMEOUT_MS)
    return sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{millis}ms"))


def connect(
    database: str = "default",
    *,
    purpose: str = "",
    connect_timeout: int | None = None,
    lock_wait: float | None = None,
) -> psycopg.Connection:
    """An autocommit connection tagged with application_name; DatabaseUnavailable if refused.

    Its statements wait at most `lock_wait` seconds (else UAP_LOCK_WAIT) for a lock: a
    session holding a ledger table or the event log's chain lock cannot hang the caller.
    """
    wait = lock_wait_seconds(lock_wait)
    params = connection_params(database)
    if connect_timeout is not None:
        params["connect_timeout"] = connect_timeout
    name = f"{APPLICATION_NAME} {purpose} pid={os.getpid()}".replace("  ", " ")
    try:
        conn = psycopg.connect(**params, autocommit=True, application_name=name[:63])
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {describe(params)}: {reason}"
        ) from exc
    conn.execute(session_settings(conn))
    conn.execute(lock_timeout_sql(wait))
    fleet.track_connection(conn)
    return conn


def session_settings(conn: psycopg.Connection) -> str:
    """The SET statements every runner session carries (re-applied after a RESET ALL)."""
    return "; ".join(
        # The names are this module's constants (a dotted custom name is no identifier).
        sql.SQL("SET {} = {}").format(sql.SQL(name), sql.Literal(value)).as_string(conn)
        for name, value in session_parameters(conn)
    )


def session_parameters(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """`(name, value)` of the settings in session_settings."""
    # Trusted only by DDL audit functions older versions installed (ddl_capture.upgrade).
    parameters = [("uap.migrating", "on")]
    if conn.info.server_version >= 140000:
        # A backend only notices its client died when it next reads or writes; until then a
        # killed runner's backend keeps sleeping, or waiting in the lock queue, holding the
        # locks its migration took, and the retry fails on lock_timeout. Polling the socket
        # ends such a backend (and rolls it back) within a second.
        parameters.append(("client_connection_check_interval", "1s"))
        # The lock's connection sits idle for the whole run, and the working one while it
        # waits for the lock: a server-wide idle_session_timeout must not close either.
        parameters.append(("idle_session_timeout", "0"))
    return parameters


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
        # No quote characters: the runner sends this right after a file's text (see Runner).
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
def open_connection(
    database: str = "default",
    purpose: str = "",
    *,
    connect_timeout: int | None = None,
    lock_wait: float | None = None,
) -> Iterator[psycopg.Connection]:
    """`connect()` as a context manager; a connection lost inside becomes DatabaseUnavailable,
    a lock waited for past the lock wait LockTimeout."""
    conn = connect(database, purpose=purpose, connect_timeout=connect_timeout, lock_wait=lock_wait)
    try:
        yield conn
    except psycopg.errors.LockNotAvailable as exc:
        raise LockTimeout(ledger_locked(conn, exc)) from exc
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"lost the connection to the database: {exc}") from exc
    finally:
        conn.close()


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
        if fleet.interrupted():
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
    from schema_audit.ledger import chain, store  # the ledger's names; it imports no engine

    holders = []
    if not conn.closed and not conn.broken:
        try:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            tables = (store.MIGRATIONS_TABLE, store.EVENTS_TABLE, store.ACCESS_TABLE)
            holders = conn.execute(_LEDGER_HOLDERS_SQL, (*tables, chain.LOCK_KEY)).fetchall()
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
