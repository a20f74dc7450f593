"""The database at the bottom of the package: connections, the runners' lock, cancellation.

Everything above (ledger, integrity, engine, admin, command) reaches PostgreSQL through these;
nothing here imports from above.
"""

from schema_audit.db.connection import (
    APPLICATION_NAME,
    MIN_LOCK_TIMEOUT_MS,
    connect,
    connection_params,
    describe,
    lock_timeout_sql,
    lock_wait_seconds,
    open_connection,
    refusal,
    run_lock_wait,
    server_major,
    session_parameters,
    session_settings,
)
from schema_audit.db.lock import (
    LOCK_KEY,
    LOCK_LOST,
    LockSession,
    advisory_lock,
    ensure_lock_held,
    ledger_locked,
)

__all__ = [
    "APPLICATION_NAME",
    "LOCK_KEY",
    "LOCK_LOST",
    "MIN_LOCK_TIMEOUT_MS",
    "LockSession",
    "advisory_lock",
    "connect",
    "connection_params",
    "describe",
    "ensure_lock_held",
    "ledger_locked",
    "lock_timeout_sql",
    "lock_wait_seconds",
    "open_connection",
    "refusal",
    "run_lock_wait",
    "server_major",
    "session_parameters",
    "session_settings",
]
