"""Where every database of the fleet stands, read concurrently with a short connect timeout."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import psycopg

from schema_audit import db
from schema_audit.engine import fleet, plan
from schema_audit.exceptions import SchemaAuditError
from schema_audit.files import discovery
from schema_audit.ledger import store
from schema_audit.ledger.terms import Status

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2  # seconds; libpq's minimum. An unreachable database must not stall a page.
LOCK_WAIT = 2  # seconds; nor may a session holding a lock on its ledger
MAX_READERS = 8


def survey(files: list[discovery.MigrationFile], aliases: list[str] | None = None) -> list[dict]:
    """One dict per alias: version, pending, failed, problems, last rollout or `unreachable`."""
    targets = aliases if aliases is not None else fleet.resolve_targets(None, True)
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_READERS, len(targets))) as pool:
        return list(pool.map(lambda alias: database_status(alias, files), targets))


def database_status(alias: str, files: list[discovery.MigrationFile]) -> dict:
    """Where one database stands; `state` is ok, pending, failed, drift or unreachable."""
    entry = {"alias": alias, "database": _where(alias), "error": None}
    try:
        with db.open_connection(
            alias, "read", connect_timeout=CONNECT_TIMEOUT, lock_wait=LOCK_WAIT
        ) as conn:
            rows = store.read_rows(conn)
            last = store.last_rollout(conn)
    except (SchemaAuditError, psycopg.Error) as exc:
        logger.info("fleet status: %s unreachable: %s", alias, exc)
        return {**entry, "state": "unreachable", "error": str(exc)}
    found = plan.build_plan(files, rows, out_of_order=True)
    failed = sum(e.status == Status.FAILED for e in found.entries)
    state = (
        "drift" if found.problems else "failed" if failed else "pending" if found.pending else "ok"
    )
    return {
        **entry,
        "state": state,
        "tracked": bool(rows),
        "current_version": found.current_version,
        "pending": len(found.pending),
        "failed": failed,
        "problems": found.problems,
        "last_rollout": last,
    }


def _where(alias: str) -> str:
    try:
        return db.describe(db.connection_params(alias))
    except SchemaAuditError:
        return "misconfigured"
