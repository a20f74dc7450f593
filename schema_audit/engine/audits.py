"""The checks an auditor runs, each on one connection: the event log's chain, the schema
against its fingerprint, the out-of-band DDL, and the evidence bundle built from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from schema_audit import db
from schema_audit.files.discovery import MigrationFile
from schema_audit.integrity import (
    ddl_capture,
    evidence,
    fingerprint,
    fleet_evidence,
    verification,
)
from schema_audit.ledger import authorship, store

T = TypeVar("T")


def on_connection(database: str, purpose: str, read: Callable[..., T], *args) -> T:
    """`read(conn, *args)` on a connection of its own to `database`."""
    with db.open_connection(database, purpose) as conn:
        return read(conn, *args)


def verify(database: str, *, incremental: bool = False) -> dict:
    """`{ok, access_log, history, schema, out_of_band_ddl, ddl_audit}` (api.verify)."""
    with db.open_connection(database, "verify") as conn:
        history = verification.verify_history(conn, incremental=incremental)
        schema = verification.verify_schema(conn)
        since = (schema["recorded"] or {}).get("event_id", 0)
        foreign = [e for e in ddl_capture.out_of_band_events(conn) if e["id"] > since]
        capture = ddl_capture.state(conn)
        # The whole access log is re-hashed by --verify; the summary page leaves it out.
        access_log = None if incremental else verification.verify_access_log(conn)
    ok = history["verified"] and not schema["drift"] and not schema["problem"]
    ok = ok and (access_log is None or access_log["verified"])
    return {
        "ok": ok,
        "access_log": access_log,
        "history": history,
        "schema": schema,
        "out_of_band_ddl": foreign,
        "ddl_audit": capture,
    }


def export_evidence(
    out: str | Path | BinaryIO,
    files: list[MigrationFile],
    database: str,
    *,
    root: Path | None = None,
) -> dict:
    """Write the evidence bundle (zip) to `out`; its manifest and checks. `root`: the
    migrations directory, which members are named from."""
    with db.open_connection(database, "evidence") as conn:
        rows = store.read_rows(conn)
        events = store.read_events(conn)
        history = verification.verify_history(conn, events)
        schema = verification.verify_schema(conn)
        schema["description"] = fingerprint.describe(conn)
        rules = authorship.Authorship.read(conn)
    bundle = evidence.members(rows, events, files, schema, history, rules, root=root)
    manifest = evidence.write(bundle, out, db.describe(db.connection_params(database)))
    return {**manifest, "history": history, "schema": schema}


def install_ddl_audit(database: str, lock_wait: float) -> dict:
    """Install the out-of-band DDL event triggers under the runners' lock; `{installed,
    enabled}`."""
    with db.open_connection(database, "install") as conn, db.advisory_lock(conn, lock_wait):
        ddl_capture.install(conn)
        return ddl_capture.state(conn)


def initialize_tracking(database: str, lock_wait: float) -> bool:
    """Create or upgrade the tracking tables under the runners' lock; True if anything changed."""
    with db.open_connection(database, "init") as conn, db.advisory_lock(conn, lock_wait):
        return store.ensure_schema(conn)


def verify_evidence(bundle: str | Path | BinaryIO) -> dict:
    """Re-verify an evidence bundle (one database's, or a fleet's) offline."""
    if fleet_evidence.is_fleet_bundle(bundle):
        return fleet_evidence.verify(bundle)
    return evidence.verify(bundle)
