"""The public Python API: what `uap_migrate`, the admin and a host project's code call.

Every function takes plain values and returns plain dicts (JSON-ready); errors are the
SchemaAuditError subclasses of schema_audit.exceptions, each with the command's exit code.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import BinaryIO

import psycopg

from schema_audit import conf
from schema_audit.engine import approvals, fleet, operations, patches, plan, postgres
from schema_audit.engine.fleet_status import survey
from schema_audit.engine.runner import Outcome, Progress, Runner
from schema_audit.exceptions import InvalidMigration, MigrationFailed
from schema_audit.files import discovery
from schema_audit.integrity import (
    ddl_capture,
    evidence,
    fingerprint,
    fleet_evidence,
    verification,
)
from schema_audit.ledger import authorship, store

__all__ = [
    "accept_checksum",
    "approval_states",
    "approve",
    "revoke",
    "apply_patch",
    "baseline",
    "completed_migrations",
    "ddl_audit_state",
    "dry_run",
    "event_filter_choices",
    "evidence_bundle",
    "export_evidence",
    "fleet_databases",
    "fleet_status",
    "initialize_tracking",
    "install_ddl_audit",
    "lint_migrations",
    "load_sql",
    "migration_status",
    "migrations_dir",
    "out_of_band_ddl",
    "pending_migrations",
    "repair",
    "rollback",
    "run_pending",
    "verify",
    "verify_evidence",
    "verify_history",
    "verify_schema",
]

logger = logging.getLogger(__name__)


def migrations_dir(directory: Path | str | None = None) -> Path:
    """The migrations directory: the argument, else the UAP_MIGRATIONS_DIR setting."""
    return Path(directory) if directory else conf.UAP_MIGRATIONS_DIR


def _connection(database: str, purpose: str = ""):
    return postgres.open_connection(database, purpose)


def initialize_tracking(database: str = "default") -> bool:
    """Create or upgrade the tracking tables (idempotent); True if anything changed."""
    with _connection(database, "init") as conn, postgres.advisory_lock(conn, _lock_wait(None)):
        return store.ensure_schema(conn)


def completed_migrations(database: str = "default") -> list[dict]:
    """Ledger rows whose status is completed, ordered by version."""
    with _connection(database, "read") as conn:
        rows = store.read_rows(conn)
    done = [row for row in rows.values() if row["status"] == "completed"]
    return sorted(done, key=lambda row: int(row["version"]))


def pending_migrations(
    directory: Path | str | None = None, database: str = "default"
) -> list[dict]:
    """Files on disk not yet applied (or whose last attempt failed), in order."""
    files = discovery.discover(migrations_dir(directory))
    with _connection(database, "read") as conn:
        rows = store.read_rows(conn)
    found = plan.build_plan(files, rows, out_of_order=True)
    return [_file_dict(m, "pending") for m in found.pending]


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
    files = discovery.discover(migrations_dir(directory))
    with _connection(database, "read") as conn:
        rows = store.read_rows(conn)
        found = plan.build_plan(files, rows, target=target, out_of_order=out_of_order)
        consent = approvals.states(conn, found.pending)
    result = _status(found)
    result["pending"] = [
        {**_file_dict(m, "pending"), "approval": consent[m.version].as_dict()}
        for m in found.pending
    ]
    # What a run would refuse up front (transaction control), so --plan and --check say it.
    result["problems"] = result["problems"] + [
        str(problem) for problem in operations.runnable_problems(found.pending)
    ]
    result["approval_required"] = conf.UAP_REQUIRE_APPROVAL
    if conf.UAP_REQUIRE_APPROVAL:
        result["problems"] = result["problems"] + [
            f"{m.label}: not approved ({consent[m.version].state}: "
            f"{approvals.reason(consent[m.version].state)}); an apply would be refused"
            for m in found.pending
            if not consent[m.version].valid
        ]
    return result


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
) -> dict:
    """Apply pending migrations in order; `{successful, failed, errors, migrations, ...}`.

    Raises InvalidMigration or RefusedRequest before anything runs, LockTimeout or
    DatabaseUnavailable when the database cannot be used; a failing file is reported in the
    result (and recorded), not raised.
    """
    operations.check_timeouts(lock_timeout, statement_timeout)  # refused even with nothing to do
    files = discovery.discover(migrations_dir(directory))
    with operations.locked(database, lock_wait) as (conn, guard):
        # Read the ledger only under the lock: the runner before us may have applied files.
        rows = store.read_rows(conn)
        found = plan.build_plan(files, rows, target=target, out_of_order=out_of_order)
        plan.ensure_runnable(found)
        operations.check_runnable(found.pending)
        if conf.UAP_REQUIRE_APPROVAL:
            approvals.ensure_approved(conn, found.pending)
        outcomes, errors, drift = [], [], None
        if found.pending:  # a Runner reads its session and the app version: not for a no-op
            runner = operations.runner_for(
                conn,
                guard,
                lock_timeout=lock_timeout,
                statement_timeout=statement_timeout,
                progress=progress,
            )
            drift = verification.record_drift(conn)
            outcomes, errors = _apply_all(runner, found.pending)
        if outcomes:  # a no-op run has nothing new to read back
            rows = store.read_rows(conn)
    if outcomes or target is not None:
        # The report covers every version: a plan without the target, with what just ran.
        found = plan.build_plan(files, rows, out_of_order=True)
    result = _status(found)
    result.update(
        applied=[o.as_dict() for o in outcomes],
        successful=sum(o.status == "completed" for o in outcomes),
        failed=sum(o.status == "failed" for o in outcomes),
        errors=errors,
        schema_drift=drift,
    )
    return result


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
    if patches.is_patch_name(version):
        return patches.consent(
            "approve", version, approved_by, database, comment=comment, ticket=ticket
        )
    files = discovery.discover(migrations_dir(directory))
    return approvals.consent(
        "approve", files, version, approved_by, database,
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
    if patches.is_patch_name(version):
        return patches.consent(
            "revoke", version, revoked_by, database, comment=comment, ticket=ticket
        )
    files = discovery.discover(migrations_dir(directory))
    return approvals.consent(
        "revoke", files, version, revoked_by, database,
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
    with _connection(database, "read") as conn:
        if pending is None:
            files = discovery.discover(migrations_dir(directory))
            pending = plan.build_plan(files, store.read_rows(conn), out_of_order=True).pending
        return {v: s.as_dict() for v, s in approvals.states(conn, pending).items()}


def _apply_all(runner: Runner, pending: list[discovery.MigrationFile]):
    outcomes: list[Outcome] = []
    errors: list[dict] = []
    for number, migration in enumerate(pending, 1):
        if fleet.halt_requested():
            break  # another target of the rollout failed or it was interrupted: start no file
        try:
            # One fingerprint per run, on its last event: taking it costs ~15 ms per 100 tables.
            outcomes.append(runner.apply(migration, take_fingerprint=number == len(pending)))
        except MigrationFailed as exc:
            failed = exc.outcome
            outcomes.append(failed)
            errors.append({**failed.as_dict(), "file": str(migration.path), "message": str(exc)})
            break  # later files may depend on this one: stop here
    return outcomes, errors


def _lock_wait(value: float | None) -> float:
    return postgres.lock_wait_seconds(value)


def _file_dict(migration: discovery.MigrationFile, status: str) -> dict:
    return {
        "version": migration.version,
        "name": migration.name,
        "status": status,
        "file": str(migration.path),
        "checksum": migration.checksum,
        "transactional": migration.transactional,
        "author": migration.header.author or None,
    }


def _status(found: plan.Plan) -> dict:
    migrations = []
    for entry in found.entries:
        row = entry.row or {}
        migrations.append(
            {
                "version": entry.version,
                "name": entry.name,
                "status": entry.status,
                "on_disk": entry.file is not None,
                "applied_at": row["applied_at"].isoformat() if row.get("applied_at") else None,
                "duration_ms": row.get("duration_ms"),
                "checksum": (row.get("checksum") or "").strip()
                or (entry.file.checksum if entry.file else None),
                "drift": entry.drift or None,
                "error_message": row.get("error_message"),
            }
        )
    return {
        "current_version": found.current_version,
        "total_completed": sum(e.status == "completed" for e in found.entries),
        "total_pending": len(found.pending),
        "migrations": migrations,
        "problems": found.problems,
        "successful": 0,
        "failed": 0,
        "errors": [],
    }


def load_sql(path: Path, database: str = "default") -> None:
    """Run a plain SQL file (sample data) in one transaction; not recorded in the ledger.

    Any readable path will do, a pipe included (`uap_seed /dev/stdin`).
    """
    try:
        text = discovery.decode(path.read_bytes(), path)
    except OSError as exc:
        raise InvalidMigration(f"cannot read file: {exc.strerror or exc}", path) from exc
    with _connection(database, "seed") as conn:
        try:
            with conn.transaction():
                conn.execute(text)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            raise MigrationFailed(f"{path}: [SQLSTATE {exc.sqlstate}] {exc}") from exc


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
    return operations.dry_run(
        discovery.discover(migrations_dir(directory)),
        database,
        target=target,
        out_of_order=out_of_order,
        lock_wait=lock_wait,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        trace=trace,
        role=role,
    )


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
    return operations.rollback(
        discovery.discover(migrations_dir(directory)),
        database,
        version,
        reason=reason,
        force=force,
        lock_wait=lock_wait,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
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
    files = discovery.discover(migrations_dir(directory))
    return operations.baseline(
        files, database, version, reason=reason, force=force, lock_wait=lock_wait
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
    files = discovery.discover(migrations_dir(directory))
    return operations.repair(files, database, version, mark, reason=reason, lock_wait=lock_wait)


def accept_checksum(
    version: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    lock_wait: float | None = None,
) -> dict:
    """Record the current checksum of an applied version's changed file."""
    files = discovery.discover(migrations_dir(directory))
    return operations.accept_checksum(files, database, version, reason=reason, lock_wait=lock_wait)


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
    return patches.apply_patch(
        path,
        database,
        reason=reason,
        force=force,
        lock_wait=lock_wait,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
    )


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
    from schema_audit.files import lint  # PostgreSQL's parser: loaded only to lint

    version, source = conf.UAP_LINT_PG_VERSION, "setting"
    if version is None:
        version, source = postgres.server_major(database), "server"
    if version is None:
        version, source = lint.DEFAULT_PG_VERSION, "default"
    result = lint.check(
        files, migrations_dir(directory), pg_version=version, type_rules=conf.UAP_LINT_TYPE_RULES
    )
    return {**result, "pg_version_source": source}


def verify_history(database: str = "default") -> dict:
    """Hash-chain check of the event log for the admin summary.

    `{verified, events, chained, unchained, first_break: {...} | None, head, trigger}`.
    """
    with _connection(database, "verify") as conn:
        return verification.verify_history(conn)


def verify_schema(database: str = "default") -> dict:
    """The live schema against the last recorded fingerprint: `{drift, changes, ...}`."""
    with _connection(database, "verify") as conn:
        return verification.verify_schema(conn)


def verify(database: str = "default", *, incremental: bool = False) -> dict:
    """Both checks of `uap_migrate --verify`: `{ok, history, schema, out_of_band_ddl, ddl_audit}`.

    `out_of_band_ddl` lists the DDL events recorded after the last fingerprint; `ddl_audit` is
    `{installed, enabled}` of their capture. `incremental` (the admin's summary) re-hashes only
    the events added since this process last verified the log, unless an older one changed.
    """
    with _connection(database, "verify") as conn:
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


def install_ddl_audit(database: str = "default") -> dict:
    """Install the out-of-band DDL event triggers (superuser only); `{installed, enabled}`."""
    with _connection(database, "install") as conn, postgres.advisory_lock(conn, _lock_wait(None)):
        ddl_capture.install(conn)
        return ddl_capture.state(conn)


def ddl_audit_state(database: str = "default") -> dict:
    """`{installed, enabled}` of the out-of-band DDL audit."""
    with _connection(database, "read") as conn:
        return ddl_capture.state(conn)


def out_of_band_ddl(database: str = "default", limit: int = 1000) -> list[dict]:
    """Recorded out-of-band DDL events, newest first (the admin's problems filter)."""
    with _connection(database, "read") as conn:
        return ddl_capture.out_of_band_events(conn, limit)


def event_filter_choices(database: str = "default") -> dict:
    """Distinct operators (DB user, OS user) and tickets in the event log, for admin filters."""
    with _connection(database, "read") as conn:
        return store.event_filter_choices(conn)


def export_evidence(
    out: str | Path | BinaryIO, directory: Path | str | None = None, database: str = "default"
) -> dict:
    """Write the evidence bundle (zip) to a path or binary file; its manifest and checks."""
    files = discovery.discover(migrations_dir(directory))
    with _connection(database, "evidence") as conn:
        rows = store.read_rows(conn)
        events = store.read_events(conn)
        history = verification.verify_history(conn, events)
        schema = verification.verify_schema(conn)
        schema["description"] = fingerprint.describe(conn)
        rules = authorship.Authorship.read(conn)
    bundle = evidence.members(rows, events, files, schema, history, rules)
    manifest = evidence.write(bundle, out, postgres.describe(postgres.connection_params(database)))
    return {**manifest, "history": history, "schema": schema}


def evidence_bundle(directory: Path | str | None = None, database: str = "default") -> bytes:
    """The evidence bundle as bytes (for a download button)."""
    buffer = io.BytesIO()
    export_evidence(buffer, directory, database)
    return buffer.getvalue()


def verify_evidence(bundle: str | Path | BinaryIO) -> dict:
    """Re-verify an evidence bundle (one database's, or a fleet's) offline; no database used."""
    if fleet_evidence.is_fleet_bundle(bundle):
        return fleet_evidence.verify(bundle)
    return evidence.verify(bundle)


def fleet_databases() -> list[str]:
    """The aliases `--all-databases` covers: UAP_FLEET, else every PostgreSQL alias."""
    return fleet.resolve_targets(None, True)


def fleet_status(directory: Path | str | None = None) -> list[dict]:
    """Where every fleet database stands: `{alias, database, state, current_version, pending,
    failed, problems, last_rollout, error}`; an unreachable one says so within seconds."""
    files = discovery.discover(migrations_dir(directory))
    return survey(files)
