"""The runs behind the public API, side by side: apply the pending files, or dry-run them.
Both run under the runners' advisory lock; so do the operations of engine/manual.py and
engine/patches.py, which share the helpers here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime, timezone

import psycopg

from schema_audit import conf, db
from schema_audit.engine import approvals, lock_retry, plan, rehearsal, runner
from schema_audit.engine.options import Options
from schema_audit.engine.outcome import Progress
from schema_audit.engine.results import DryRunResult, RunResult
from schema_audit.engine.session import Session
from schema_audit.exceptions import InvalidMigration, raise_all
from schema_audit.files import discovery
from schema_audit.files.statements import parse, transaction_control
from schema_audit.integrity import ddl_capture, fingerprint, verification
from schema_audit.ledger import audit_log, store


def run_pending(
    files: list[discovery.MigrationFile],
    database: str,
    options: Options,
    *,
    target: str | None = None,
    out_of_order: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Apply the pending files in order under the lock; a failing file ends the run, recorded
    and reported in the result, not raised.

    Raises InvalidMigration or RefusedRequest before anything runs, LockTimeout or
    DatabaseUnavailable when the database cannot be used.
    """
    with locked(database, options.lock_wait) as (conn, guard):
        # Read the ledger only under the lock: the runner before us may have applied files.
        rows = store.read_rows(conn)
        found = plan.build_plan(files, rows, target=target, out_of_order=out_of_order)
        plan.ensure_runnable(found)
        check_runnable(found.pending)
        check_depends(conn, found.pending)
        if conf.UAP_REQUIRE_APPROVAL:
            approvals.ensure_approved(conn, found.pending)
        outcomes, errors, drift = [], [], None
        if found.pending:  # a Session reads its settings and the app version: not for a no-op
            session = session_for(conn, guard, options, progress)
            drift = verification.record_drift(conn)
            outcomes, errors = runner.apply_all(session, found.pending)
        if outcomes:  # a no-op run has nothing new to read back
            rows = store.read_rows(conn)
    if outcomes or target is not None:
        # The report covers every version: a plan without the target, with what just ran.
        found = plan.build_plan(files, rows, out_of_order=True)
    return RunResult(found, outcomes, errors, drift)


def dry_run(
    files: list[discovery.MigrationFile],
    database: str,
    options: Options,
    *,
    target: str | None = None,
    out_of_order: bool = False,
    trace: bool = False,
    role: str = "",
) -> DryRunResult:
    """Run pending files in a transaction that is rolled back; one dry_run event per file.

    With `trace`, every statement's locks, rewrites and duration are measured (engine.trace),
    returned with each file and kept on its event. With `role`, the files run on a session of
    their own logged in as that role (engine.dry_run_role).
    """
    with locked(database, options.lock_wait) as (conn, guard):
        found = plan.build_plan(
            files, store.read_rows(conn), target=target, out_of_order=out_of_order
        )
        plan.ensure_runnable(found)
        check_runnable(found.pending)
        check_depends(conn, found.pending)
        session = session_for(conn, guard, options)
        with ExitStack() as stack:
            worker = conn
            if role:
                # Deferred: it reads the files with PostgreSQL's parser, which an apply never
                # needs.
                from schema_audit.engine import dry_run_role

                dry_run_role.check(conn, role, found.pending)
                worker = stack.enter_context(dry_run_role.session(database, role, conn))
            tracer = None
            if trace:
                # Deferred: the tracer brings PostgreSQL's parser, which an apply never needs.
                from schema_audit.engine.trace import Tracer

                tracer = Tracer(worker)
            sandbox = None if worker is conn else session.on(worker)
            outcomes = rehearsal.rehearse(session, found.pending, tracer, sandbox)
    return DryRunResult(found, outcomes, tracer)


def session_for(
    conn: psycopg.Connection,
    guard: Callable[[], None] | None,
    options: Options,
    progress: Progress | None = None,
) -> Session:
    """A Session with the run's timeouts; `guard` runs before each commit."""
    return Session(
        conn,
        lock_timeout=options.lock_timeout,
        statement_timeout=options.statement_timeout,
        progress=progress,
        guard=guard,
        retry=options.retry,
        retry_timeout=options.retry_timeout,
    )


def check_depends(conn: psycopg.Connection, pending: list[discovery.MigrationFile]) -> None:
    """Refuse, before anything runs, files whose `-- Depends:` names a Django migration that
    is unknown or not applied on this database (engine/depends.py). A retired file runs
    nothing, so it waits for nothing."""
    pending = [migration for migration in pending if not migration.retired]
    if any(migration.depends for migration in pending):
        # Deferred: Django's migration loader is read only when a file names a migration.
        from schema_audit.engine import depends

        depends.check_depends(conn, pending)


def check_runnable(pending: list[discovery.MigrationFile]) -> None:
    """Refuse, before anything runs, files the runner cannot execute safely; every one of
    them is named at once."""
    raise_all(runnable_problems(pending))


def runnable_problems(pending: list[discovery.MigrationFile]) -> list[InvalidMigration]:
    """What check_runnable refuses: transaction control, and syntax errors in files that run
    statement by statement. A retired file's SQL never runs: nothing in it is refused."""
    problems = []
    for migration in (m for m in pending if not m.retired):
        problems += transaction_problems(migration.sql, migration.path)
        try:  # `-- Lock-Retries:` must be a number before anything runs
            lock_retry.RetryPolicy().for_migration(migration)
        except InvalidMigration as exc:
            problems.append(exc)
        if not migration.transactional:
            try:
                parse(migration.sql, migration.path)  # a syntax error stops the run up front
            except InvalidMigration as exc:
                problems.append(exc)
    return problems


def transaction_problems(text: str, path=None, line: int | None = None) -> list[InvalidMigration]:
    """Each transaction control statement of `text` as an InvalidMigration (rule
    transaction-control); `line`: where `text` starts in its file, for header SQL."""
    return [
        InvalidMigration(
            f"BEGIN/COMMIT/ROLLBACK inside a migration would break its atomicity (found "
            f"{found.words}); the runner manages transactions itself, so remove it",
            path,
            found.line + (line - 1 if line else 0),
            rule="transaction-control",
        )
        for found in transaction_control(text)
    ]


@contextmanager
def locked(
    database: str, lock_wait: float | None
) -> Iterator[tuple[psycopg.Connection, Callable[[], None]]]:
    """A worker connection and its guard, with the runners' lock held on a second connection.

    The guard raises DatabaseUnavailable once the lock's session is gone: another runner may
    hold the lock by then, so nothing may commit after it fails.
    """
    wait = db.lock_wait_seconds(lock_wait)
    with (
        db.open_connection(database, "lock", lock_wait=wait) as lock_conn,
        db.open_connection(database, lock_wait=wait) as conn,
        db.advisory_lock(lock_conn, wait),
        audit_log.emitting(conn, database),
    ):
        store.ensure_schema(conn)
        ddl_capture.upgrade(conn)
        yield conn, db.LockSession(lock_conn)


def fingerprinted(conn, attempt: store.Attempt, duration: int | None) -> store.Attempt:
    """`attempt` with its duration and the schema's fingerprint, taken in its transaction.

    Every change the app records carries one, so `--verify` compares the live schema with
    what the last sanctioned change (a rollback, patch, repair, baseline) left.
    """
    value, text = fingerprint.take_for_event(conn)
    return replace(attempt, duration_ms=duration, fingerprint=value, schema_description=text)


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(timezone.utc)


def done(action: str, version: str, status: str, **details) -> dict:
    """The result dict of an operation."""
    return {"action": action, "version": version, "status": status, **details}
