"""The public API for auditors and the admin: the chain and schema checks, the DDL audit,
evidence bundles and the fleet's state. Re-exported by `schema_audit.api`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from schema_audit.api.common import migration_files, migrations_dir
from schema_audit.engine import audits, fleet
from schema_audit.engine.fleet_status import survey
from schema_audit.engine.options import Options
from schema_audit.integrity import ddl_capture, verification
from schema_audit.ledger import store


def verify_history(database: str = "default") -> dict:
    """Hash-chain check of the event log for the admin summary.

    `{verified, events, chained, unchained, first_break: {...} | None, head, trigger}`.
    """
    return audits.on_connection(database, "verify", verification.verify_history)


def verify_schema(database: str = "default") -> dict:
    """The live schema against the last recorded fingerprint: `{drift, changes, ...}`."""
    return audits.on_connection(database, "verify", verification.verify_schema)


def verify(database: str = "default", *, incremental: bool = False) -> dict:
    """Both checks of `uap_migrate --verify`: `{ok, history, schema, out_of_band_ddl, ddl_audit}`.

    `out_of_band_ddl` lists the DDL events recorded after the last fingerprint; `ddl_audit` is
    `{installed, enabled}` of their capture. `incremental` (the admin's summary) re-hashes only
    the events added since this process last verified the log, unless an older one changed.
    """
    return audits.verify(database, incremental=incremental)


def install_ddl_audit(database: str = "default") -> dict:
    """Install the out-of-band DDL event triggers (superuser only); `{installed, enabled}`."""
    return audits.install_ddl_audit(database, Options.resolve(timeouts=False).lock_wait)


def ddl_audit_state(database: str = "default") -> dict:
    """`{installed, enabled}` of the out-of-band DDL audit."""
    return audits.on_connection(database, "read", ddl_capture.state)


def out_of_band_ddl(database: str = "default", limit: int = 1000) -> list[dict]:
    """Recorded out-of-band DDL events, newest first (the admin's problems filter)."""
    return audits.on_connection(database, "read", ddl_capture.out_of_band_events, limit)


def event_filter_choices(database: str = "default") -> dict:
    """Distinct operators (DB user, OS user) and tickets in the event log, for admin filters."""
    return audits.on_connection(database, "read", store.event_filter_choices)


def export_evidence(
    out: str | Path | BinaryIO, directory: Path | str | None = None, database: str = "default"
) -> dict:
    """Write the evidence bundle (zip) to a path or binary file; its manifest and checks."""
    folder = migrations_dir(directory)
    return audits.export_evidence(out, migration_files(folder), database, root=folder)


def evidence_bundle(directory: Path | str | None = None, database: str = "default") -> bytes:
    """The evidence bundle as bytes (for a download button)."""
    buffer = io.BytesIO()
    export_evidence(buffer, directory, database)
    return buffer.getvalue()


def verify_evidence(bundle: str | Path | BinaryIO) -> dict:
    """Re-verify an evidence bundle (one database's, or a fleet's) offline; no database used."""
    return audits.verify_evidence(bundle)


def fleet_databases() -> list[str]:
    """The aliases `--all-databases` covers: UAP_FLEET, else every PostgreSQL alias."""
    return fleet.resolve_targets(None, True)


def fleet_status(directory: Path | str | None = None) -> list[dict]:
    """Where every fleet database stands: `{alias, database, state, current_version, pending,
    failed, problems, last_rollout, error}`; an unreachable one says so within seconds."""
    return survey(migration_files(directory))
