"""Operations an operator asks for by version: rollback, baseline, repair and
accept-checksum, each under the runners' advisory lock with its event; and loading sample
data, which is not recorded."""

from __future__ import annotations

from pathlib import Path

import psycopg

from schema_audit import db
from schema_audit.db.names import ledger_schema
from schema_audit.engine import plan, stepwise, transactional
from schema_audit.engine.operations import (
    done,
    fingerprinted,
    locked,
    session_for,
    transaction_problems,
    utcnow,
)
from schema_audit.engine.options import Options
from schema_audit.engine.session import file_attempt
from schema_audit.exceptions import InvalidMigration, MigrationFailed, RefusedRequest, raise_all
from schema_audit.files import discovery, redact
from schema_audit.files.header import is_placeholder
from schema_audit.files.statements import parse
from schema_audit.ledger import store
from schema_audit.ledger.terms import Action, Status
from schema_audit.remedies import Fix, Remedy

ROLLBACK_FROM = (Status.COMPLETED, Status.BASELINE)
MARKS = (Status.COMPLETED, Status.FAILED)  # what a repair may set
# Tables a user created: anything outside the catalogs except the ledger's own two tables.
_USER_TABLES_SQL = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%%' AND NOT (n.nspname = %s AND c.relname = ANY(%s))
"""


def rollback(files, database, version, options: Options, *, reason=None, force=False):
    """Run a version's Rollback SQL in one transaction and mark it rolled_back."""
    with locked(database, options.lock_wait) as (conn, guard):
        entries = plan.reconcile(files, store.read_rows(conn))
        entry = _entry(entries, version)
        refuse_if_dirty(entries, allow=())
        if entry.status not in ROLLBACK_FROM:
            raise RefusedRequest(
                f"--rollback {version}: it is {entry.status}; only a completed or baseline "
                "version can be rolled back"
            )
        newest = max(
            (e for e in plan.versions(entries) if e.status in ROLLBACK_FROM), key=lambda e: e.key
        )
        if entry is not newest and not force:
            raise RefusedRequest(
                f"--rollback {version}: {newest.version} was applied after it and may depend on "
                f"it; roll back {newest.version} first",
                remedy=Remedy(Fix.FORCE, ", or pass {fix}"),
            )
        text = rollback_text(entry)
        missing = not_sql(text)
        if missing:
            raise RefusedRequest(
                f"--rollback {entry.version}: its header has {missing}",
                remedy=Remedy(
                    Fix.PATCH,
                    "; undo it by hand with {fix}, or ship a new migration that reverts it",
                ),
            )
        statements = rollback_statements(entry, text)
        session = session_for(conn, guard, options)
        duration = run_rollback(session, entry, text, statements, reason)
    return done(
        Action.ROLLBACK,
        entry.version,
        Status.ROLLED_BACK,
        duration_ms=duration,
        sql=redact.redact(text),
    )


def not_sql(text: str) -> str:
    """Why Rollback text cannot run ('no Rollback SQL', a placeholder), or '' when it can."""
    if not text or not discovery.has_statements(text):
        return "no Rollback SQL"
    if is_placeholder(text):
        return f"a placeholder Rollback ({text.splitlines()[0].strip()!r}), not SQL"
    return ""


def rollback_statements(entry: plan.Entry, text: str) -> list:
    """The Rollback's statements; InvalidMigration when it is not SQL or holds transaction
    control, before anything runs."""
    where = entry.file.path if entry.file else None
    line = entry.file.header.lines.get("rollback") if entry.file else None
    try:
        statements = parse(text)
    except InvalidMigration as exc:
        raise InvalidMigration(f"the Rollback header is not SQL: {exc}", where, line) from exc
    raise_all(transaction_problems(text, where or f"Rollback of {entry.version}", line))
    return statements


def run_rollback(session, entry: plan.Entry, text: str, statements: list, reason) -> int:
    """Run one version's Rollback SQL and mark it rolled_back with its event; its duration.
    MigrationFailed (recorded as a failed rollback event) when the SQL fails."""
    conn = session.conn
    attempt = store.Attempt(
        version=entry.version,
        action=Action.ROLLBACK,
        status=Status.ROLLED_BACK,
        started_at=utcnow(),
        name=entry.name,
        sql_text=text,
        error_message=f"rolled back: {reason}" if reason else "rolled back",
        reason=reason,
    )

    def record(duration: int) -> None:
        store.update(conn, fingerprinted(conn, attempt, duration), session.app_version)

    if entry.file and not entry.file.transactional:
        # CONCURRENTLY in the rollback of a `-- Transaction: none` file needs autocommit too.
        return stepwise.run_outside_transaction(session, statements, attempt, record)
    return transactional.run_recorded(session, text, attempt, record)


def rollback_text(entry) -> str:
    """The Rollback SQL to run: the ledger's copy, or the file's where the ledger's is masked.

    The ledger keeps rollback_sql with password literals masked (it is shown to auditors); a
    masked copy would set the password to the mask, so the real text comes from the file,
    whose checksum the drift check has matched with the applied one.
    """
    stored = (entry.row.rollback_sql or "").strip()
    from_file = entry.file.header.rollback.strip() if entry.file else ""
    if not stored:
        return from_file
    if not redact.has_masked_secret(stored):
        return stored
    if from_file and redact.redact(from_file).strip() == stored:
        return from_file
    raise RefusedRequest(
        f"--rollback {entry.version}: its recorded Rollback SQL holds a masked password and "
        "the file with the real text is not on disk (or differs); restore the file",
        remedy=Remedy(Fix.PATCH, ", or undo it by hand with {fix}"),
    )


def baseline(files, database, version, options: Options, *, reason=None, force=False):
    """Mark every version up to `version` as baseline without running it (adopting a DB)."""
    up_to = plan.find(files, version)
    if up_to is None:
        raise RefusedRequest(f"--baseline {version}: no migration with that version on disk")
    if up_to.repeatable:
        raise RefusedRequest(
            f"--baseline {version}: a repeatable migration is not a version to baseline up "
            "to; give the newest version the database holds"
        )
    chosen = [m for m in files if m.key <= up_to.key and not m.repeatable]
    with locked(database, options.lock_wait) as (conn, guard):
        rows = store.read_rows(conn)
        applied = [r for r in rows.values() if r.status in (*store.APPLIED, Status.RUNNING)]
        if applied:
            key_of = plan.keys_of(files)
            newest = max(applied, key=lambda r: key_of(r.version))
            raise RefusedRequest(
                f"--baseline {version}: this database already has history (version "
                f"{newest.version} is {newest.status}); baseline only adopts a database "
                "that has no applied versions"
            )
        user_tables = (store.MIGRATIONS_TABLE, store.EVENTS_TABLE, store.ACCESS_TABLE)
        if (
            not force
            and not conn.execute(
                _USER_TABLES_SQL, (ledger_schema(), list(user_tables))
            ).fetchone()[0]
        ):
            raise RefusedRequest(
                f"--baseline {version}: the database has no tables, so nothing is there to "
                "adopt; run the migrations instead",
                remedy=Remedy(Fix.FORCE, " (or pass {fix})"),
            )
        started = utcnow()
        with conn.transaction():
            for m in chosen:
                attempt = file_attempt(
                    m, started, None, status=Status.BASELINE, action=Action.BASELINE, reason=reason
                )
                if m is chosen[-1]:  # the schema the baseline adopts
                    attempt = fingerprinted(conn, attempt, None)
                store.record(conn, attempt, "")
    return done(Action.BASELINE, version, Status.BASELINE, versions=[m.version for m in chosen])


def repair(files, database, version, mark, options: Options, *, reason=None):
    """Resolve a running (dirty) row, or mark a failed one completed after a manual fix."""
    if mark not in MARKS:
        raise RefusedRequest(f"--mark {mark!r}: choose completed or failed")
    with locked(database, options.lock_wait) as (conn, guard):
        entry = _entry(plan.reconcile(files, store.read_rows(conn)), version)
        fixed_by_hand = entry.status == Status.FAILED and mark == Status.COMPLETED
        if not (entry.status == Status.RUNNING or fixed_by_hand):
            raise RefusedRequest(
                f"--repair {version}: it is {entry.status}, not running; repair resolves a row "
                "a crashed run left running (or marks a failed one completed)"
            )
        message = None if mark == Status.COMPLETED else f"marked failed by repair: {reason or ''}"
        attempt = store.Attempt(
            version=entry.version,
            action=Action.REPAIR,
            status=mark,
            started_at=utcnow(),
            error_message=message.rstrip(": ") if message else None,
            reason=reason,
        )
        # A repair follows a fix by hand: the schema it leaves is the new reference.
        store.update(conn, fingerprinted(conn, attempt, None), "")
    return done(Action.REPAIR, entry.version, Status(mark), previous=entry.status)


def accept_checksum(files, database, version, options: Options, *, reason=None):
    """Record the file's current checksum for an applied version whose file changed."""
    with locked(database, options.lock_wait) as (conn, guard):
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
        old = (entry.row.checksum or "").strip()
        if old == entry.file.checksum:
            return done(Action.ACCEPT_CHECKSUM, entry.version, "unchanged", checksum=old)
        attempt = store.Attempt(
            version=entry.version,
            action=Action.ACCEPT_CHECKSUM,
            status=entry.status,
            started_at=utcnow(),
            checksum=entry.file.checksum,
            sql_text=entry.file.sql,
            reason=reason,
        )
        store.update(conn, attempt, "", keep_message=True)
    return done(
        Action.ACCEPT_CHECKSUM,
        entry.version,
        "accepted",
        previous=old,
        checksum=entry.file.checksum,
    )


def _entry(entries: list[plan.Entry], version: str) -> plan.Entry:
    entry = plan.find([e for e in entries if e.row], version)
    if entry:
        return entry
    raise RefusedRequest(f"version {version} has no row in schema_migrations")


def refuse_if_dirty(entries: list[plan.Entry], allow: tuple = ()) -> None:
    for entry in entries:
        if entry.status == Status.RUNNING and entry.version not in allow:
            raise RefusedRequest(
                f"{entry.version} {entry.name} is marked running (a run stopped inside it)",
                remedy=Remedy(
                    Fix.REPAIR,
                    "; check the schema, then run {fix} (or failed)",
                    entry.version,
                    Status.COMPLETED,
                ),
            )


def load_sql(path: Path, database: str) -> None:
    """Run a plain SQL file (sample data) in one transaction; not recorded in the ledger."""
    try:
        text = discovery.decode(path.read_bytes(), path)
    except OSError as exc:
        raise InvalidMigration(f"cannot read file: {exc.strerror or exc}", path) from exc
    with db.open_connection(database, "seed") as conn:
        try:
            with conn.transaction():
                conn.execute(text)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            raise MigrationFailed(f"{path}: [SQLSTATE {exc.sqlstate}] {exc}") from exc
