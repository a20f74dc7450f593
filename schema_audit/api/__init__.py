"""The public Python API: what `uap_migrate`, the admin and a host project's code call.

Every function takes plain values and returns plain dicts (JSON-ready); errors are the
SchemaAuditError subclasses of schema_audit.exceptions, each with the command's exit code.
"""

from __future__ import annotations

from pathlib import Path

from schema_audit.api.auditing import (  # the auditors' half of the API
    ddl_audit_state,
    event_filter_choices,
    evidence_bundle,
    export_evidence,
    fleet_databases,
    fleet_status,
    install_ddl_audit,
    out_of_band_ddl,
    verify,
    verify_evidence,
    verify_history,
    verify_schema,
)
from schema_audit.api.common import migration_files, migrations_dir
from schema_audit.api.versions import (  # one version at a time, and approvals
    accept_checksum,
    apply_patch,
    approval_states,
    approve,
    baseline,
    import_history,
    repair,
    revoke,
    rollback,
    rollback_to,
    show,
)
from schema_audit.engine import (
    audits,
    manual,
    operations,
    reading,
)
from schema_audit.engine.options import Options, dry_run_role, lint_pg_version
from schema_audit.engine.outcome import Progress

# fmt: off
__all__ = [
    "accept_checksum", "approval_states", "approve", "revoke", "apply_patch", "baseline",
    "completed_migrations", "ddl_audit_state", "dry_run", "event_filter_choices",
    "evidence_bundle", "export_evidence", "fleet_databases", "fleet_status", "import_history",
    "initialize_tracking",
    "install_ddl_audit", "lint_migrations", "load_sql", "migration_status", "migrations_dir",
    "out_of_band_ddl", "pending_migrations", "repair", "rollback", "rollback_to", "run_pending",
    "show", "verify", "verify_evidence", "verify_history", "verify_schema",
]
# fmt: on


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
    return reading.pending(migration_files(directory), database)


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
    files = migration_files(directory)
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
        migration_files(directory),
        database,
        options,
        target=target,
        out_of_order=out_of_order,
        progress=progress,
    )
    return result.as_dict()


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
    lock_retries: int | None = None,
    lock_retry_wait: float | None = None,
) -> dict:
    """Run every pending file in a transaction that is rolled back; `{dry_run: [...], ...}`.

    With `trace`, each file also carries `trace` (locks, rewrites, durations and a verdict per
    statement and file) and the result the worst `verdict`; the dry_run events keep the traces.
    `role` (default UAP_DRY_RUN_ROLE): the files run on a session logged in as that role.
    A lock not available is retried as run_pending does (`lock_retries`, `lock_retry_wait`).
    """
    options = Options.resolve(
        lock_wait,
        lock_timeout,
        statement_timeout,
        lock_retries=lock_retries,
        lock_retry_wait=lock_retry_wait,
    )
    result = operations.dry_run(
        migration_files(directory),
        database,
        options,
        target=target,
        out_of_order=out_of_order,
        trace=trace,
        role=dry_run_role(role),
    )
    return result.as_dict()


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
