"""The session the appliers run files in: one autocommit connection with the run's timeouts,
what puts it back after a file, the guard of the runners' lock, progress, each attempt's
record, and the one way a failure is recorded.

The appliers (engine/transactional.py, stepwise.py, placeholder.py) and the dry run get a
Session and call only it and the layers below; nothing here calls them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from typing import NoReturn

import psycopg
from psycopg import pq, sql

from schema_audit import conf, db
from schema_audit.db import cancel
from schema_audit.engine import lock_retry
from schema_audit.engine.outcome import (
    Outcome,
    Progress,
    connection_lost,
    failure_text,
    first_line,
)
from schema_audit.exceptions import (
    ESCAPED,
    DatabaseUnavailable,
    InvalidMigration,
    LockTimeout,
    MigrationFailed,
    TransactionEscaped,
)
from schema_audit.files.discovery import MigrationFile
from schema_audit.integrity import ddl_capture, fingerprint
from schema_audit.ledger import provenance, store
from schema_audit.ledger.terms import Action, Status

# The session's transaction id; txid_* (PostgreSQL 10+): pg_current_xact_id needs 13.
XACT = "SELECT pg_catalog.txid_current()"


def _quote_free(text: str) -> str:
    """A SQL text literal without quote characters: hex in dollar quotes, decoded."""
    data = text.encode("utf-8").hex()
    # pg_catalog-qualified: a file may leave a schema of its own first in search_path.
    return (
        f"pg_catalog.convert_from(pg_catalog.decode($uap${data}$uap$, $uap$hex$uap$), "
        "$uap$UTF8$uap$)"
    )


def _set_config(name: str, value: str, local: bool = False) -> str:
    """`set_config(name, value, local)` without quote characters."""
    scope = "true" if local else "false"
    return f"pg_catalog.set_config({_quote_free(name)}, {_quote_free(value)}, {scope})"


def _set_local(conn: psycopg.Connection, settings: list[tuple[str, str]]) -> str:
    """`SET LOCAL name = 'value'; ` for each setting."""
    return "".join(
        sql.SQL("SET LOCAL {} = {}; ").format(sql.SQL(name), sql.Literal(value)).as_string(conn)
        for name, value in settings
    )


def last_row(cursor: psycopg.Cursor) -> tuple:
    """The first row of the last statement's result."""
    while cursor.nextset():
        pass
    return cursor.fetchone()


def check_duration(option: str, value: str) -> str:
    """Validate a PostgreSQL duration such as `10s`, `500ms` or `0`; InvalidMigration if not."""
    try:
        return conf.duration(value)
    except ValueError as exc:
        raise InvalidMigration(f"{option} {exc}") from exc


def file_attempt(migration: MigrationFile, started: datetime, duration, **extra) -> store.Attempt:
    """The ledger Attempt of `migration` (action apply, status completed unless given)."""
    header = migration.header
    # The deploy's ticket (--ticket, UAP_CHANGE_TICKET) wins over the file's `-- Ticket:`.
    extra.setdefault("ticket", provenance.ticket() or header.get("Ticket").strip() or None)
    return store.Attempt(
        version=migration.version,
        action=extra.pop("action", Action.APPLY),
        status=extra.pop("status", Status.COMPLETED),
        started_at=started,
        duration_ms=duration,
        name=migration.name,
        checksum=migration.checksum,
        sql_text=extra.pop("sql_text", migration.sql),
        description=header.description or header.migration or None,
        impact=header.impact or None,
        rollback_sql=header.rollback or None,
        **extra,
    )


class Session:
    """One autocommit connection set up for applying files; reports through `progress`."""

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        lock_timeout: str = "10s",
        statement_timeout: str = "0",
        app_version: str = "",
        progress: Progress | None = None,
        guard: Callable[[], None] | None = None,
        retry: lock_retry.RetryPolicy | None = None,
        retry_timeout: str = "100ms",
    ):
        self.conn = conn
        self.timeouts = {"lock_timeout": lock_timeout, "statement_timeout": statement_timeout}
        self.retry = retry or lock_retry.RetryPolicy()
        self.retry_timeout = retry_timeout
        # Called inside each file's transaction before it commits; raises to roll it back
        # (the runners' lock was lost, so committing could apply the file twice).
        self.guard = guard or (lambda: None)
        # Looked up once per run: it stats the migrations directory (and may run git).
        self.app_version = app_version or provenance.app_version()
        self.progress = progress or (lambda *args: None)
        timeouts = [
            ("lock_timeout", check_duration("--lock-timeout", lock_timeout)),
            ("statement_timeout", check_duration("--statement-timeout", statement_timeout)),
        ]
        self.prefix = _set_local(conn, timeouts)
        # Session-level twins for files that run outside a transaction.
        self.session_prefix = self.prefix.replace("SET LOCAL", "SET")
        self._init_restore(timeouts)
        # BEGIN, the timeouts and the transaction's id in one round trip, the file in the
        # next: after the file the id tells whether it still runs in the same transaction (a
        # file's COMMIT then BEGIN starts another), and after a failure the session's state
        # tells whether the file had ended it, since BEGIN certainly ran.
        # The DDL audit's mark goes with it: the transaction's DDL is the runner's.
        self.begin = "BEGIN; " + self.prefix + self.marks.transaction + XACT
        # A file that may be retried waits at most the short lock_timeout per attempt: an
        # ALTER queued behind a long reader then holds the writers behind it only that long.
        short = lock_retry.attempt_timeout(timeouts[0][1], check_duration("", retry_timeout))
        self.retry_local = _set_local(conn, [("lock_timeout", short)])
        self.retry_begin = (
            "BEGIN; "
            + _set_local(conn, [("lock_timeout", short), timeouts[1]])
            + self.marks.transaction
            + XACT
        )

    def on(self, conn: psycopg.Connection) -> Session:
        """A Session with this one's timeouts, guard and progress on another connection (a
        dry run's, logged in as its role)."""
        return Session(
            conn,
            **self.timeouts,
            app_version=self.app_version,
            progress=self.progress,
            guard=self.guard,
            retry=self.retry,
            retry_timeout=self.retry_timeout,
        )

    def _init_restore(self, timeouts: list[tuple[str, str]]) -> None:
        """Build `after_file`: what puts the session back after a file, then checks it.

        A file may change the session for good: pg_dump output empties search_path and sets
        the encoding; a file may SET ROLE, SET SESSION AUTHORIZATION, DateStyle, TimeZone,
        default_transaction_read_only, RESET ALL (dropping the runner's own settings), or
        create a temporary table named like the ledger's. Neither the file's record nor the
        next file may inherit any of it: psycopg would send the next file in the wrong
        encoding, dates and backslashes in it would parse differently, records could land
        in another table or fail. So after every file: RESET SESSION AUTHORIZATION and
        RESET ALL, then the runner's own settings and the search_path, encoding and role it
        started with; then the lock probe and where the ledger's two names lead.
        """
        conn = self.conn
        # Files are split and checked by a parser that reads strings this way (PostgreSQL's
        # default); a database or role set to `off` would read a backslash in a string as an
        # escape, so text the checks saw as a string could hide a COMMIT.
        conn.execute("SET standard_conforming_strings = on")
        # lock_timeout: the session's own bound (the lock wait) on the runner's ledger writes.
        names = ("search_path", "client_encoding", "standard_conforming_strings", "lock_timeout")
        *values, role = conn.execute(
            "SELECT current_setting(%s), current_setting(%s), current_setting(%s), "
            "current_setting(%s), current_user",
            names,
        ).fetchone()
        settings = [*zip(names, values, strict=True), *db.session_parameters(conn)]
        restore = ", ".join(
            [_set_config(name, value) for name, value in [*settings, ("role", role)]]
            + [_set_config(name, value, local=True) for name, value in timeouts]
        )
        tables = (store.qualified(store.MIGRATIONS_TABLE), store.qualified(store.EVENTS_TABLE))
        *ledger, mark, mark_session, unmark_session = conn.execute(
            "SELECT pg_catalog.to_regclass(%s)::oid, pg_catalog.to_regclass(%s)::oid, m.* "
            f"FROM (SELECT 1) AS one LEFT JOIN ({ddl_capture.MARKER_SQL}) AS m ON true",
            (*tables, *ddl_capture.marker_params()),
        ).fetchone()
        self.ledger = tuple(ledger)
        self.marks = ddl_capture.Marks.of((mark, mark_session, unmark_session))
        held = getattr(self.guard, "held_sql", None) or sql.SQL("NULL")
        probe = ", ".join(
            [held.as_string(conn)]
            + [f"pg_catalog.to_regclass({_quote_free(t)})::pg_catalog.oid" for t in tables]
            + ["pg_catalog.txid_current_if_assigned()"]
        )
        # Sent right after a file, in the same query. The newline ends a trailing `--`
        # comment, and the text holds no quote character, so a file ending inside a string,
        # identifier or comment still fails where it opened it; an unfinished last statement
        # is re-checked alone (transactional.py). A guard without `held_sql` is called alone.
        reset = f"RESET SESSION AUTHORIZATION; RESET ALL; SELECT {restore}; "
        self.restore_sql = f"{reset}SELECT {probe}"
        self.after_file = "\n;" + self.restore_sql
        # After SQL run statement by statement: the session's DDL is no longer the runner's.
        self.restore_unmarked_sql = f"{reset}{self.marks.end}SELECT {probe}"

    def restore(
        self, path: object = None, xact: int | None = None, *, unmark: bool = False
    ) -> None:
        """`after_file` on its own, with its checks: after a dry run's file, a patch, a
        rollback. `xact`: the id of the transaction the SQL had to stay in. `unmark`: end
        the session's DDL audit mark (Marks.session) as well."""
        text = self.restore_unmarked_sql if unmark else self.restore_sql
        row = last_row(self.conn.execute(text, prepare=False))
        self.check(row, path, xact)

    def reset(self) -> None:
        """Put the session back as it was set up, its DDL audit mark ended, without the
        checks: before a failure of SQL run statement by statement is recorded, since the
        statements that ran may have changed the session for good."""
        self.conn.execute(self.restore_unmarked_sql, prepare=False)

    def check(self, row: tuple, path: object, xact: int | None = None) -> None:
        """Raise unless the SQL stayed in transaction `xact` (if given), the ledger's names
        still lead to its tables and the lock is held (`row`: what `after_file` returned)."""
        held, *ledger, current = row
        if xact is not None and (
            current != xact or self.conn.info.transaction_status != pq.TransactionStatus.INTRANS
        ):
            raise TransactionEscaped(f"{path or 'the SQL'}: {ESCAPED}")
        if tuple(ledger) != self.ledger:
            raise InvalidMigration(
                "drops, renames or replaces the ledger's tables (schema_migrations or "
                "schema_migration_events in the ledger's schema), so its record has nowhere "
                "to go; leave them to uap_migrate",
                path,
            )
        if held is None:  # the guard has to ask itself
            self.guard()
        elif not held:
            raise DatabaseUnavailable(db.LOCK_LOST)

    def xact(self) -> int:
        """The id of the current transaction (assigned now if it had none), marked as the
        runner's for the DDL audit."""
        return last_row(self.conn.execute(self.marks.transaction + XACT))[0]

    def committed(self, xact: int) -> bool:
        """True when transaction `xact` committed (PostgreSQL remembers, 10+)."""
        row = self.conn.execute("SELECT pg_catalog.txid_status(%s)", (xact,)).fetchone()
        return row[0] == "committed"

    def still_in(self, xact: int) -> bool:
        """True when the session is still in transaction `xact`, without an error."""
        if self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            return False
        row = self.conn.execute("SELECT pg_catalog.txid_current_if_assigned()").fetchone()
        return row[0] == xact

    def roll_back(self) -> None:
        """ROLLBACK whatever is open, unless the session is gone (which rolled it back)."""
        if not self.conn.closed and not self.conn.broken:
            with suppress(psycopg.OperationalError):
                self.conn.rollback()

    def raise_if_lost(self, exc: psycopg.Error, migration: MigrationFile) -> None:
        """Raise DatabaseUnavailable when `exc` means the connection is gone."""
        cancel.raise_if_interrupted(exc)  # a statement the fleet cancelled is not a failure
        if connection_lost(self.conn, exc):
            raise DatabaseUnavailable(
                f"lost the connection while applying {migration.label}: {first_line(exc)}. "
                "Its transaction did not commit; run again once the database is back."
            ) from exc

    def attempt(self, migration: MigrationFile, started: datetime, duration, **extra):
        """The ledger Attempt of `migration` (action apply, status completed unless given)."""
        return file_attempt(migration, started, duration, **extra)

    def fail(
        self,
        attempt: store.Attempt,
        exc: BaseException,
        message: str,
        *,
        migration: MigrationFile | None = None,
        line: int | None = None,
    ) -> NoReturn:
        """Record `attempt` failed with `message`, then raise: every failure is recorded here.

        A file's failure (`migration` given) sets its row failed, and its event carries the
        schema's fingerprint: a failure may leave the schema changed (the committed statements
        of a non-transactional file, or of a file that ended the runner's transaction) and the
        record must say so. A failed operation on a version (a rollback's or patch's SQL) only
        appends its event. MigrationFailed, or TransactionEscaped when `exc` is one.
        """
        sqlstate = getattr(exc, "sqlstate", None)
        failed = dataclasses.replace(
            attempt, status=Status.FAILED, error_message=message, sqlstate=sqlstate
        )
        escaped = isinstance(exc, TransactionEscaped)
        if migration is None:
            store.record_event(self.conn, failed, self.app_version)
            action, label = attempt.action, attempt.version
            if escaped:
                raise TransactionEscaped(f"{action} {label}: the SQL {message}") from exc
            raise MigrationFailed(
                f"{action} {label} failed [SQLSTATE {sqlstate}]: {message}"
            ) from exc
        self._record_failed_file(failed, migration, exc)
        outcome = Outcome(
            migration.version,
            migration.name,
            Status.FAILED,
            attempt.duration_ms,
            message,
            sqlstate,
            line,
        )
        self.progress("failed", migration, outcome)
        if escaped:
            raise TransactionEscaped(f"{migration.path}: {migration.label} {message}", outcome)
        raise MigrationFailed(failure_text(migration, outcome), outcome) from exc

    def _record_failed_file(self, failed: store.Attempt, migration: MigrationFile, exc) -> None:
        try:
            with self.conn.transaction():
                value, text = fingerprint.take_for_event(self.conn)
                failed = dataclasses.replace(failed, fingerprint=value, schema_description=text)
                store.record(self.conn, failed, self.app_version)
        except psycopg.errors.LockNotAvailable as held:
            # The failure cannot wait for its record forever either (the lock wait bounds it).
            raise LockTimeout(
                f"{migration.label} failed and its failure could not be recorded: "
                + db.ledger_locked(self.conn, held)
            ) from exc
        except psycopg.OperationalError as lost:
            raise DatabaseUnavailable(f"lost the connection recording {migration.label}") from lost
