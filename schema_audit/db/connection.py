"""Connections built from Django's DATABASES: their parameters, session settings and lock wait."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils.connection import ConnectionDoesNotExist
from psycopg import sql

from schema_audit import conf
from schema_audit.db import cancel
from schema_audit.db.lock import ledger_locked
from schema_audit.exceptions import DatabaseUnavailable, InvalidConfiguration, LockTimeout

logger = logging.getLogger(__name__)

APPLICATION_NAME = "uap_migrate"
MIN_LOCK_TIMEOUT_MS = 1000  # the shortest wait of a ledger statement (lock_timeout_sql)
_MAX_TIMEOUT_MS = 2**31 - 1  # the largest lock_timeout PostgreSQL accepts (about 24 days)
_DJANGO_ONLY = ("cursor_factory", "context", "prepare_threshold", "server_side_binding", "pool")


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
        reason = refusal(exc)
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {describe(params)}: {reason}"
        ) from exc
    # One round trip: every connection of a run pays it, a no-op run's two included.
    conn.execute(f"{session_settings(conn)}; {lock_timeout_sql(wait).as_string(conn)}")
    cancel.track_connection(conn)
    return conn


def refusal(exc: psycopg.OperationalError) -> str:
    """The server's (or libpq's) reason a connection was refused: the last line it gave."""
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


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
