"""Deploy-safety operations behind the public API: dry run, rollback, baseline, repair and
accept-checksum. Each runs under the runners' advisory lock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime, timezone

import psycopg

from schema_audit import conf
from schema_audit.engine import plan, postgres
from schema_audit.engine.outcome import connection_lost, describe_error
from schema_audit.engine.runner import Runner, check_duration
from schema_audit.engine.stepwise import run_outside_transaction
from schema_audit.exceptions import (
    ESCAPED,
    DatabaseUnavailable,
    InvalidMigration,
    MigrationFailed,
    RefusedRequest,
    TransactionEscaped,
    raise_all,
)
from schema_audit.files import discovery, redact
from schema_audit.files.statements import parse, transaction_control
from schema_audit.integrity import ddl_capture, fingerprint
from schema_audit.ledger import audit_log, store

ROLLBACK_FROM = ("completed", "baseline")
# Tables a user created: anything outside the catalogs except the ledger's own two tables.
_USER_TABLES_SQL = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%%' AND c.relname <> ALL(%s)
"""


def check_runnable(pending: list[discovery.MigrationFile]) -> None:
    """Refuse, before anything runs, files the runner cannot execute safely; every one of
    them is named at once."""
    raise_all(runnable_problems(pending))


def runnable_problems(pending: list[discovery.MigrationFile]) -> list[InvalidMigration]:
    """What check_runnable refuses: transaction control, and syntax errors in files that run
    statement by statement."""
    problems = []
    for migration in pending:
        problems += transaction_problems(migration.sql, migration.path)
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
    wait = postgres.lock_wait_seconds(lock_wait)
    with (
        postgres.open_connection(database, "lock", lock_wait=wait) as lock_conn,
        postgres.open_connection(database, lock_wait=wait) as conn,
        postgres.advisory_lock(lock_conn, wait),
        audit_log.emitting(conn, database),
    ):
        store.ensure_schema(conn)
        ddl_capture.upgrade(conn)
        yield conn, postgres.LockSession(lock_conn)


def check_timeouts(lock_timeout: str | None = None, statement_timeout: str | None = None) -> None:
    """InvalidMigration unless the timeouts a runner would use are PostgreSQL durations."""
    check_duration("--lock-timeout", lock_timeout or conf.UAP_LOCK_TIMEOUT)
    check_duration("--statement-timeout", statement_timeout or conf.UAP_STATEMENT_TIMEOUT)


def runner_for(
    conn, guard=None, *, lock_timeout=None, statement_timeout=None, progress=None
) -> Runner:
    """A Runner with the configured timeouts; `guard` runs before each commit."""
    return Runner(
        conn,
        lock_timeout=lock_timeout or conf.UAP_LOCK_TIMEOUT,
        statement_timeout=statement_timeout or conf.UAP_STATEMENT_TIMEOUT,
        progress=progress,
        guard=guard,
    )


def dry_run(
    files,
    database,
    *,
    target=None,
    out_of_order=False,
    lock_wait=None,
    trace=False,
    role=None,
    **timeouts,
):
    """Run pending files in a transaction that is rolled back; one dry_run event per file.

    With `trace`, every statement's locks, rewrites and duration are measured (engine.trace),
    returned with each file and kept on its event. `role` (default UAP_DRY_RUN_ROLE): the
    files run on a session of their own logged in as that role (engine.dry_run_role).
    """
    role = conf.UAP_DRY_RUN_ROLE if role is None else role
    with locked(database, lock_wait) as (conn, guard):
        found = plan.build_plan(
            files, store.read_rows(conn), target=target, out_of_order=out_of_order
        )
        plan.ensure_runnable(found)
        check_runnable(found.pending)
        runner = runner_for(conn, guard, **timeouts)
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
            sandbox = None if worker is conn else runner.on(worker)
            outcomes = runner.dry_run(found.pending, tracer, sandbox)
    paths = {m.version: str(m.path) for m in found.pending}
    results = [{**o.as_dict(), "file": paths[o.version]} for o in outcomes]
    return {
        "action": "dry_run",
        "current_version": found.current_version,
        "dry_run": results,
        "successful": sum(o.status == "completed" for o in outcomes),
        "failed": sum(o.status == "failed" for o in outcomes),
        "skipped": sum(o.status == "skipped" for o in outcomes),
        "errors": [r for r in results if r["status"] == "failed"],
        **(tracer.attach(results) if tracer else {}),
    }


def rollback(files, database, version, *, reason=None, force=False, lock_wait=None, **timeouts):
    """Run a version's Rollback SQL in one transaction and mark it rolled_back."""
    with locked(database, lock_wait) as (conn, guard):
        entries = plan.reconcile(files, store.read_rows(conn))
        entry = _entry(entries, version)
        _refuse_if_dirty(entries, allow=())
        if entry.status not in ROLLBACK_FROM:
            raise RefusedRequest(
                f"--rollback {version}: it is {entry.status}; only a completed or baseline "
                "version can be rolled back"
            )
        newest = max((e for e in entries if e.status in ROLLBACK_FROM), key=lambda e: e.number)
        if entry is not newest and not force:
            raise RefusedRequest(
                f"--rollback {version}: {newest.version} was applied after it and may depend on "
                f"it; roll back {newest.version} first, or pass --force"
            )
        text = _rollback_text(entry)
        if not text or not discovery.has_statements(text):
            raise RefusedRequest(
                f"--rollback {entry.version}: its header has no Rollback SQL; undo it by hand "
                "with --patch, or ship a new migration that reverts it"
            )
        where = entry.file.path if entry.file else None
        line = entry.file.header.lines.get("rollback") if entry.file else None
        try:
            statements = parse(text)
        except InvalidMigration as exc:
            raise InvalidMigration(f"the Rollback header is not SQL: {exc}", where, line) from exc
        raise_all(transaction_problems(text, where or f"Rollback of {entry.version}", line))
        attempt = store.Attempt(
            version=entry.version,
            action="rollback",
            status="rolled_back",
            started_at=utcnow(),
            name=entry.name,
            sql_text=text,
            error_message=f"rolled back: {reason}" if reason else "rolled back",
            reason=reason,
        )
        runner = runner_for(conn, guard, **timeouts)

        def record(duration: int) -> None:
            store.update(conn, fingerprinted(conn, attempt, duration), runner.app_version)

        if entry.file and not entry.file.transactional:
            # CONCURRENTLY in the rollback of a `-- Transaction: none` file needs autocommit too.
            duration = run_outside_transaction(runner, statements, attempt, record)
        else:
            duration = run_recorded_or_fail(runner, text, attempt, record, entry.version)
    return done(
        "rollback", entry.version, "rolled_back", duration_ms=duration, sql=redact.redact(text)
    )


def _rollback_text(entry) -> str:
    """The Rollback SQL to run: the ledger's copy, or the file's where the ledger's is masked.

    The ledger keeps rollback_sql with password literals masked (it is shown to auditors); a
    masked copy would set the password to the mask, so the real text comes from the file,
    whose checksum the drift check has matched with the applied one.
    """
    stored = (entry.row.get("rollback_sql") or "").strip()
    from_file = entry.file.header.rollback.strip() if entry.file else ""
    if not stored:
        return from_file
    if not redact.has_masked_secret(stored):
        return stored
    if from_file and redact.redact(from_file).strip() == stored:
        return from_file
    raise RefusedRequest(
        f"--rollback {entry.version}: its recorded Rollback SQL holds a masked password and "
        "the file with the real text is not on disk (or differs); restore the file, or undo "
        "it by hand with --patch"
    )


def fingerprinted(conn, attempt: store.Attempt, duration: int | None) -> store.Attempt:
    """`attempt` with its duration and the schema's fingerprint, taken in its transaction.

    Every change the app records carries one, so `--verify` compares the live schema with
    what the last sanctioned change (a rollback, patch, repair, baseline) left.
    """
    value, text = fingerprint.take_for_event(conn)
    return replace(attempt, duration_ms=duration, fingerprint=value, schema_description=text)


def baseline(files, database, version, *, reason=None, force=False, lock_wait=None):
    """Mark every version up to `version` as baseline without running it (adopting a DB)."""
    chosen = [m for m in files if m.number <= _number(version)]
    if not any(m.number == _number(version) for m in files):
        raise RefusedRequest(f"--baseline {version}: no migration with that version on disk")
    with locked(database, lock_wait) as (conn, guard):
        rows = store.read_rows(conn)
        applied = [r for r in rows.values() if r["status"] in (*store.APPLIED, "running")]
        if applied:
            newest = max(applied, key=lambda r: int(r["version"]))
            raise RefusedRequest(
                f"--baseline {version}: this database already has history (version "
                f"{newest['version']} is {newest['status']}); baseline only adopts a database "
                "that has no applied versions"
            )
        user_tables = (store.MIGRATIONS_TABLE, store.EVENTS_TABLE, store.ACCESS_TABLE)
        if not force and not conn.execute(_USER_TABLES_SQL, (list(user_tables),)).fetchone()[0]:
            raise RefusedRequest(
                f"--baseline {version}: the database has no tables, so nothing is there to "
                "adopt; run the migrations instead (or pass --force)"
            )
        started = utcnow()
        with conn.transaction():
            for m in chosen:
                attempt = runner_for(conn, guard).attempt(
                    m, started, None, status="baseline", action="baseline", reason=reason
                )
                if m is chosen[-1]:  # the schema the baseline adopts
                    attempt = fingerprinted(conn, attempt, None)
                store.record(conn, attempt, "")
    return done("baseline", version, "baseline", versions=[m.version for m in chosen])


def repair(files, database, version, mark, *, reason=None, lock_wait=None):
    """Resolve a running (dirty) row, or mark a failed one completed after a manual fix."""
    if mark not in ("completed", "failed"):
        raise RefusedRequest(f"--mark {mark!r}: choose completed or failed")
    with locked(database, lock_wait) as (conn, guard):
        entry = _entry(plan.reconcile(files, store.read_rows(conn)), version)
        if not (entry.status == "running" or entry.status == "failed" and mark == "completed"):
            raise RefusedRequest(
                f"--repair {version}: it is {entry.status}, not running; repair resolves a row "
                "a crashed run left running (or marks a failed one completed)"
            )
        message = None if mark == "completed" else f"marked failed by repair: {reason or ''}"
        attempt = store.Attempt(
            version=entry.version,
            action="repair",
            status=mark,
            started_at=utcnow(),
            error_message=message.rstrip(": ") if message else None,
            reason=reason,
        )
        # A repair follows a fix by hand: the schema it leaves is the new reference.
        store.update(conn, fingerprinted(conn, attempt, None), "")
    return done("repair", entry.version, mark, previous=entry.status)


def accept_checksum(files, database, version, *, reason=None, lock_wait=None):
    """Record the file's current checksum for an applied version whose file changed."""
    with locked(database, lock_wait) as (conn, guard):
        entry = _entry(plan.reconcile(files, store.read_rows(conn)), version)
        if entry.status not in store.APPLIED:
            raise RefusedRequest(
                f"--accept-checksum {version}: it is {entry.status}; only an applied version "
                "has a checksum to accept"
            )
        if entry.file is None:
            raise RefusedRequest(
                f"--accept-checksum {version}: its file is missing; restore it first"
            )
        old = (entry.row.get("checksum") or "").strip()
        if old == entry.file.checksum:
            return done("accept_checksum", entry.version, "unchanged", checksum=old)
        attempt = store.Attempt(
            version=entry.version,
            action="accept_checksum",
            status=entry.status,
            started_at=utcnow(),
            checksum=entry.file.checksum,
            sql_text=entry.file.sql,
            reason=reason,
        )
        store.update(conn, attempt, "", keep_message=True)
    return done(
        "accept_checksum", entry.version, "accepted", previous=old, checksum=entry.file.checksum
    )


def run_recorded_or_fail(runner: Runner, text: str, attempt, record, label: str) -> int:
    """Run `text` atomically with its record; on failure record a failed event and raise."""
    try:
        return runner.run_recorded(text, record)
    except TransactionEscaped as exc:
        failed = replace(attempt, status="failed", error_message=ESCAPED)
        store.record_event(runner.conn, failed, runner.app_version)
        raise TransactionEscaped(f"{attempt.action} {label}: the SQL {ESCAPED}") from exc
    except psycopg.Error as exc:
        if connection_lost(runner.conn, exc):
            raise DatabaseUnavailable(f"lost the connection during {label}: {exc}") from exc
        message = describe_error(exc)
        failed = replace(attempt, status="failed", error_message=message, sqlstate=exc.sqlstate)
        store.record_event(runner.conn, failed, runner.app_version)
        raise MigrationFailed(
            f"{attempt.action} {label} failed [SQLSTATE {exc.sqlstate}]: {message}"
        ) from exc


def _entry(entries: list[plan.Entry], version: str) -> plan.Entry:
    number = _number(version)
    for entry in entries:
        if entry.number == number and entry.row:
            return entry
    raise RefusedRequest(f"version {version} has no row in schema_migrations")


def _refuse_if_dirty(entries: list[plan.Entry], allow: tuple = ()) -> None:
    for entry in entries:
        if entry.status == "running" and entry.version not in allow:
            raise RefusedRequest(
                f"{entry.version} {entry.name} is marked running (a run stopped inside it); "
                f"check the schema, then run --repair {entry.version} --mark completed (or failed)"
            )


def _number(version: str) -> int:
    if not str(version).isdigit():
        raise RefusedRequest(f"{version!r} is not a version number such as 003")
    return int(version)


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(timezone.utc)


def done(action: str, version: str, status: str, **details) -> dict:
    """The result dict of an operation."""
    return {"action": action, "version": version, "status": status, **details}
