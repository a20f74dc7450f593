"""The public Python API: what `uap_migrate`, the admin and a host project's code call.

Every function takes plain values and returns plain dicts (JSON-ready); errors are the
SchemaAuditError subclasses of schema_audit.exceptions, each with the command's exit code.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from schema_audit import conf
from schema_audit.engine import audits, fleet, manual, operations, patches, reading
from schema_audit.engine.fleet_status import survey
from schema_audit.engine.options import Options, dry_run_role, lint_pg_version
from schema_audit.engine.outcome import Progress
from schema_audit.files import discovery
from schema_audit.integrity import ddl_capture, verification
from schema_audit.ledger import store

# fmt: off
__all__ = [
    "accept_checksum", "approval_states", "approve", "revoke", "apply_patch", "baseline",
    "completed_migrations", "ddl_audit_state", "dry_run", "event_filter_choices",
    "evidence_bundle", "export_evidence", "fleet_databases", "fleet_status", "initialize_tracking",
    "install_ddl_audit", "lint_migrations", "load_sql", "migration_status", "migrations_dir",
    "out_of_band_ddl", "pending_migrations", "repair", "rollback", "run_pending", "verify",
    "verify_evidence", "verify_history", "verify_schema",
]
# fmt: on


def migrations_dir(directory: Path | str | None = None) -> Path:
    """The migrations directory: the argument, else the UAP_MIGRATIONS_DIR setting."""
    return Path(directory) if directory else conf.UAP_MIGRATIONS_DIR


def _files(directory: Path | str | None) -> list[discovery.MigrationFile]:
    return discovery.discover(migrations_dir(directory))


def initialize_tracking(database: str = "default") -> bool:
    """Create or upgrade the tracking tables (idempotent); True if anything changed."""
    return audits.initialize_tracking(database, Options.resolve(timeouts=False).lock_wait)


def completed_migrations(database: str = "default") -> list[dict]:
    """Ledger rows whose status is completed, ordered by version."""
    return reading.completed(database)


def pending_migrations(
    directory: Path | str | None = None, database: str = "default"
) -> list[dict]:
    """Files on disk not yet applied (or whose last attempt failed), in order."""
    return reading.pending(_files(directory), database)


def migration_status(
    directory: Path | str | None = None,
    database: str = "default",
    *,
    target: str | None = None,
    out_of_order: bool = False,
) -> dict:
    """`{current_version, total_completed, total_pending, migrations, pending, problems}`.

    `pending` lists what a run with the same target would apply; `problems` what would stop it.
    Reads only: the tracking tables are not created.
    """
    files = _files(directory)
    return reading.status(files, database, target=target, out_of_order=out_of_order).as_dict()


def run_pending(
    directory: Path | str | None = None,
    database: str = "default",
    *,
    target: str | None = None,
    out_of_order: bool = False,
    lock_wait: float | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    progress: Progress | None = None,
    lock_retries: int | None = None,
    lock_retry_wait: float | None = None,
) -> dict:
    """Apply pending migrations in order; `{successful, failed, errors, migrations, ...}`.

    A file whose lock is not available within UAP_LOCK_RETRY_TIMEOUT runs again after a
    growing wait, up to `lock_retries` more times (default UAP_LOCK_RETRIES) and
    `lock_retry_wait` seconds of waiting (default UAP_LOCK_RETRY_WAIT); each failed attempt
    is an event. Raises InvalidMigration or RefusedRequest before anything runs, LockTimeout
    or DatabaseUnavailable when the database cannot be used; a failing file is reported in
    the result (and recorded), not raised.
    """
    options = Options.resolve(
        lock_wait,
        lock_timeout,
        statement_timeout,
        lock_retries=lock_retries,
        lock_retry_wait=lock_retry_wait,
    )
    result = operations.run_pending(
        _files(directory),
        database,
        options,
        target=target,
        out_of_order=out_of_order,
        progress=progress,
    )
    return result.as_dict()


def approve(
    version: str,
    approved_by: object,
    directory: Path | str | None = None,
    database: str = "default",
    comment: str | None = None,
    ticket: str | None = None,
    checksum: str | None = None,
) -> dict:
    """Approve pending `version`'s current file as Django user `approved_by` (user or name).

    A patch is approved by its path (`db/patches/patch_x.sql`): its version is its file name.
    RefusedRequest when the user is not an active "Schema approvers" member, is the file's
    Author, the file names no Author who is a Django user, the version is not pending on
    disk, or `checksum` (what the approver reviewed) is not the file's checksum now.
    """
    return patches.consent_to(
        "approve", version, approved_by, lambda: _files(directory), database,
        checksum=checksum, comment=comment, ticket=ticket,
    )  # fmt: skip


def revoke(
    version: str,
    revoked_by: object,
    directory: Path | str | None = None,
    database: str = "default",
    comment: str | None = None,
    ticket: str | None = None,
    checksum: str | None = None,
) -> dict:
    """Revoke the approvals of pending `version`'s current file (a `revoke` event);
    `checksum` as for approve()."""
    return patches.consent_to(
        "revoke", version, revoked_by, lambda: _files(directory), database,
        checksum=checksum, comment=comment, ticket=ticket,
    )  # fmt: skip


def approval_states(
    directory: Path | str | None = None,
    database: str = "default",
    *,
    pending: list[discovery.MigrationFile] | None = None,
) -> dict:
    """`{version: {state, approved_by, approved_at, event_id}}` of every pending file.

    A caller that already knows the pending files passes them as `pending`: only their
    approve and revoke events are read, not every ledger row and a plan of the directory.
    """
    files = None if pending is not None else _files(directory)
    return reading.approval_states(files, database, pending)


def load_sql(path: Path, database: str = "default") -> None:
    """Run a plain SQL file (sample data) in one transaction; not recorded in the ledger.

    Any readable path will do, a pipe included (`uap_seed /dev/stdin`).
    """
    manual.load_sql(path, database)


def dry_run(
    directory: Path | str | None = None,
    database: str = "default",
    *,
    target: str | None = None,
    out_of_order: bool = False,
    lock_wait: float | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    trace: bool = False,
    role: str | None = None,
) -> dict:
    """Run every pending file in a transaction that is rolled back; `{dry_run: [...], ...}`.

    With `trace`, each file also carries `trace` (locks, rewrites, durations and a verdict per
    statement and file) and the result the worst `verdict`; the dry_run events keep the traces.
    `role` (default UAP_DRY_RUN_ROLE): the files run on a session logged in as that role.
    """
    options = Options.resolve(lock_wait, lock_timeout, statement_timeout)
    result = operations.dry_run(
        _files(directory),
        database,
        options,
        target=target,
        out_of_order=out_of_order,
        trace=trace,
        role=dry_run_role(role),
    )
    return result.as_dict()


def rollback(
    version: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    force: bool = False,
    lock_wait: float | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
) -> dict:
    """Run `version`'s Rollback SQL and mark it rolled_back (`force`: not the newest)."""
    options = Options.resolve(lock_wait, lock_timeout, statement_timeout)
    return manual.rollback(
        _files(directory), database, version, options, reason=reason, force=force
    )


def baseline(
    version: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    force: bool = False,
    lock_wait: float | None = None,
) -> dict:
    """Mark versions up to `version` as baseline on a database without history."""
    options = Options.resolve(lock_wait, timeouts=False)
    return manual.baseline(
        _files(directory), database, version, options, reason=reason, force=force
    )


def repair(
    version: str,
    mark: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    lock_wait: float | None = None,
) -> dict:
    """Resolve a `running` row as completed or failed, with a repair event."""
    options = Options.resolve(lock_wait, timeouts=False)
    return manual.repair(_files(directory), database, version, mark, options, reason=reason)


def accept_checksum(
    version: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    lock_wait: float | None = None,
) -> dict:
    """Record the current checksum of an applied version's changed file."""
    options = Options.resolve(lock_wait, timeouts=False)
    return manual.accept_checksum(_files(directory), database, version, options, reason=reason)


def apply_patch(
    path: Path | str,
    database: str = "default",
    *,
    reason: str | None = None,
    force: bool = False,
    lock_wait: float | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
) -> dict:
    """Run an emergency patch file in one transaction, recorded as a `patch` event."""
    options = Options.resolve(lock_wait, lock_timeout, statement_timeout)
    return patches.apply_patch(path, database, options, reason=reason, force=force)


def lint_migrations(
    paths: list[Path | str] | None = None,
    directory: Path | str | None = None,
    database: str = "default",
) -> dict:
    """The pre-deploy checklist over the given files, or the whole directory.

    Needs no database: the PostgreSQL version the rules assume is UAP_LINT_PG_VERSION, else
    the server of `database` if it is reachable at once, else lint.DEFAULT_PG_VERSION
    (`pg_version_source` says which).
    """
    files = [Path(p) for p in paths] if paths else None
    return reading.lint(files, migrations_dir(directory), lint_pg_version(database))


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
    return audits.export_evidence(out, _files(directory), database)


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
    return survey(_files(directory))
