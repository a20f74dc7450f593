"""The public Python API (CONTRACT §9); the command and the admin call only this."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.conf import settings

from schema_audit import db, ledger, plan, source
from schema_audit.exceptions import DatabaseUnavailable, InvalidMigration, MigrationFailed
from schema_audit.runner import Outcome, Progress, Runner

logger = logging.getLogger(__name__)


def migrations_dir(directory: Path | str | None = None) -> Path:
    """The migrations directory: the argument, else settings.UAP_MIGRATIONS_DIR."""
    return Path(directory or getattr(settings, "UAP_MIGRATIONS_DIR", "db/migrations"))


@contextmanager
def _connection(database: str, purpose: str = "") -> Iterator[psycopg.Connection]:
    conn = db.connect(database, purpose=purpose)
    try:
        yield conn
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"lost the connection to the database: {exc}") from exc
    finally:
        conn.close()


def initialize_tracking(database: str = "default") -> bool:
    """Create or upgrade the tracking tables (idempotent); True if anything changed."""
    with _connection(database, "init") as conn, db.advisory_lock(conn, _lock_wait(None)):
        return ledger.ensure_schema(conn)


def completed_migrations(database: str = "default") -> list[dict]:
    """Ledger rows whose status is completed, ordered by version."""
    with _connection(database, "read") as conn:
        rows = ledger.read_rows(conn)
    done = [row for row in rows.values() if row["status"] == "completed"]
    return sorted(done, key=lambda row: int(row["version"]))


def pending_migrations(
    directory: Path | str | None = None, database: str = "default"
) -> list[dict]:
    """Files on disk not yet applied (or whose last attempt failed), in order."""
    files = source.discover(migrations_dir(directory))
    with _connection(database, "read") as conn:
        rows = ledger.read_rows(conn)
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
    files = source.discover(migrations_dir(directory))
    with _connection(database, "read") as conn:
        rows = ledger.read_rows(conn)
    found = plan.build_plan(files, rows, target=target, out_of_order=out_of_order)
    result = _status(found)
    result["pending"] = [_file_dict(m, "pending") for m in found.pending]
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
    files = source.discover(migrations_dir(directory))
    with _connection(database, "lock") as lock_conn, _connection(database) as conn:
        with db.advisory_lock(lock_conn, _lock_wait(lock_wait)):
            # Read the ledger only under the lock: the runner before us may have applied files.
            ledger.ensure_schema(conn)
            rows = ledger.read_rows(conn)
            found = plan.build_plan(files, rows, target=target, out_of_order=out_of_order)
            plan.ensure_runnable(found)
            _check_runnable(found.pending)
            runner = Runner(
                conn,
                lock_timeout=lock_timeout or settings.UAP_LOCK_TIMEOUT,
                statement_timeout=statement_timeout or settings.UAP_STATEMENT_TIMEOUT,
                app_version=getattr(settings, "UAP_APP_VERSION", ""),
                progress=progress,
            )
            outcomes, errors = _apply_all(runner, found.pending)
            if outcomes:  # a no-op run has nothing new to read back
                rows = ledger.read_rows(conn)
    result = _status(plan.build_plan(files, rows, out_of_order=True))
    result.update(
        applied=[o.as_dict() for o in outcomes],
        successful=sum(o.status == "completed" for o in outcomes),
        failed=sum(o.status == "failed" for o in outcomes),
        errors=errors,
    )
    return result


def _apply_all(runner: Runner, pending: list[source.MigrationFile]):
    outcomes: list[Outcome] = []
    errors: list[dict] = []
    for migration in pending:
        try:
            outcomes.append(runner.apply(migration))
        except MigrationFailed as exc:
            failed = exc.outcome
            outcomes.append(failed)
            errors.append({**failed.as_dict(), "file": str(migration.path), "message": str(exc)})
            break  # later files may depend on this one: stop here
    return outcomes, errors


def _check_runnable(pending: list[source.MigrationFile]) -> None:
    for migration in pending:
        if not migration.transactional:
            raise InvalidMigration(
                "`-- Transaction: none` files are not supported by this version", migration.path
            )
        line = source.transaction_control_line(migration)
        if line:
            raise InvalidMigration(
                "BEGIN/COMMIT/ROLLBACK inside a migration would break its atomicity; the runner "
                "wraps every file in its own transaction, so remove it",
                migration.path,
                line,
            )


def _lock_wait(value: float | None) -> float:
    return float(value if value is not None else getattr(settings, "UAP_LOCK_WAIT", 60))


def _file_dict(migration: source.MigrationFile, status: str) -> dict:
    return {
        "version": migration.version,
        "name": migration.name,
        "status": status,
        "file": str(migration.path),
        "checksum": migration.checksum,
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
    """Run a plain SQL file (sample data) in one transaction; not recorded in the ledger."""
    try:
        text = source.decode(path.read_bytes(), path)
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
