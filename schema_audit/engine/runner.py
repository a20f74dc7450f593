"""Applies migration files: one transaction per file, timeouts, its record in the same commit."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone

import psycopg
from psycopg import pq, sql

from schema_audit import conf
from schema_audit.engine import fleet, placeholder, postgres, stepwise
from schema_audit.engine.outcome import (
    Outcome,
    Progress,
    StatementCounter,
    connection_lost,
    describe_error,
    elapsed_ms,
    error_line,
    failed_statement,
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

logger = logging.getLogger(__name__)


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


# The runner's transaction id; txid_* (PostgreSQL 10+): pg_current_xact_id needs 13.
_XACT = "SELECT pg_catalog.txid_current()"


@dataclasses.dataclass
class _Guarded:
    """The id of the runner's transaction around a file, once it has one."""

    xact: int | None = None


def _last_row(cursor: psycopg.Cursor) -> tuple:
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


class Runner:
    """Executes files on one autocommit connection; reports through an optional callback."""

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        lock_timeout: str = "10s",
        statement_timeout: str = "0",
        app_version: str = "",
        progress: Progress | None = None,
        guard: Callable[[], None] | None = None,
    ):
        self.conn = conn
        self.timeouts = {"lock_timeout": lock_timeout, "statement_timeout": statement_timeout}
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
        self.prefix = "".join(
            sql.SQL("SET LOCAL {} = {}; ")
            .format(sql.SQL(name), sql.Literal(value))
            .as_string(conn)
            for name, value in timeouts
        )
        # Session-level twins for files that run outside a transaction.
        self.session_prefix = self.prefix.replace("SET LOCAL", "SET")
        self._init_session_restore(timeouts)
        # BEGIN, the timeouts and the transaction's id in one round trip, the file in the
        # next: after the file the id tells whether it still runs in the same transaction (a
        # file's COMMIT then BEGIN starts another), and after a failure the session's state
        # tells whether the file had ended it, since BEGIN certainly ran.
        # The DDL audit's mark goes with it: the transaction's DDL is the runner's.
        self.begin = "BEGIN; " + self.prefix + self.marks.transaction + _XACT

    def on(self, conn: psycopg.Connection) -> Runner:
        """A Runner with this one's timeouts and guard on another session (a dry run's)."""
        return Runner(
            conn,
            **self.timeouts,
            app_version=self.app_version,
            progress=self.progress,
            guard=self.guard,
        )

    def _init_session_restore(self, timeouts: list[tuple[str, str]]) -> None:
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
        settings = [*zip(names, values, strict=True), *postgres.session_parameters(conn)]
        restore = ", ".join(
            [_set_config(name, value) for name, value in [*settings, ("role", role)]]
            + [_set_config(name, value, local=True) for name, value in timeouts]
        )
        tables = (store.MIGRATIONS_TABLE, store.EVENTS_TABLE)
        *ledger, mark, mark_session, unmark_session = conn.execute(
            "SELECT pg_catalog.to_regclass(%s)::oid, pg_catalog.to_regclass(%s)::oid, m.* "
            f"FROM (SELECT 1) AS one LEFT JOIN ({ddl_capture.MARKER_SQL}) AS m ON true",
            (*tables, *ddl_capture.MARKER_PARAMS),
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
        # is re-checked alone (_fail). A guard without `held_sql` is called on its own.
        reset = f"RESET SESSION AUTHORIZATION; RESET ALL; SELECT {restore}; "
        self.restore_sql = f"{reset}SELECT {probe}"
        self.after_file = "\n;" + self.restore_sql
        # After a file run statement by statement: the session's DDL is no longer the runner's.
        self.restore_unmarked_sql = f"{reset}{self.marks.end}SELECT {probe}"

    def restore_session(
        self, path: object = None, xact: int | None = None, *, unmark: bool = False
    ) -> None:
        """`after_file` on its own, with its checks: after a dry run's file, a patch, a
        rollback. `xact`: the id of the transaction the SQL had to stay in. `unmark`: end
        the session's DDL audit mark (Marks.session) as well."""
        text = self.restore_unmarked_sql if unmark else self.restore_sql
        row = _last_row(self.conn.execute(text, prepare=False))
        self._check_session(row, path, xact)

    def xact(self) -> int:
        """The id of the current transaction (assigned now if it had none), marked as the
        runner's for the DDL audit."""
        return _last_row(self.conn.execute(self.marks.transaction + _XACT))[0]

    def _check_session(self, row: tuple, path: object, xact: int | None = None) -> None:
        """Raise unless the SQL stayed in transaction `xact` (if given), the ledger's names
        still lead to its tables and the lock is held."""
        held, *ledger, current = row
        if xact is not None and (
            current != xact or self.conn.info.transaction_status != pq.TransactionStatus.INTRANS
        ):
            raise TransactionEscaped(f"{path or 'the SQL'}: {ESCAPED}")
        if tuple(ledger) != self.ledger:
            raise InvalidMigration(
                "leaves a table named schema_migrations or schema_migration_events (a "
                "temporary one, or one in a schema of its own) in front of the ledger's, "
                "so its record would go there; drop it before the file ends",
                path,
            )
        self._guard_with(held)

    def apply(self, migration: MigrationFile, *, take_fingerprint: bool = False) -> Outcome:
        """Run one file atomically and record it; MigrationFailed after recording a failure.

        With `take_fingerprint` (the last file of a run) the event carries the schema
        fingerprint taken in the same transaction; a failure's event always carries one.
        """
        if migration.empty:
            return placeholder.record(self, migration, take_fingerprint=take_fingerprint)
        if not migration.transactional:
            return stepwise.apply_stepwise(self, migration, take_fingerprint=take_fingerprint)
        self.progress("start", migration, None)
        started = datetime.now(timezone.utc)
        clock = time.perf_counter()
        guarded = _Guarded()
        counter = StatementCounter(self.conn)
        try:
            with self._rolled_back_on_error(guarded):
                guarded.xact = _last_row(self.conn.execute(self.begin, prepare=False))[0]
                last = _last_row(counter.execute(migration.sql + self.after_file, prepare=False))
                # Only the last row is kept, and the cursor is let go: it holds the query (a
                # big file's text, twice), and the record below binds the text again.
                counter = StatementCounter(self.conn)
                duration = elapsed_ms(clock)
                self._check_session(last, migration.path, guarded.xact)
                schema = (
                    fingerprint.take_for_event(self.conn) if take_fingerprint else (None, None)
                )
                attempt = self.attempt(
                    migration,
                    started,
                    duration,
                    fingerprint=schema[0],
                    schema_description=schema[1],
                )
                store.record_and_commit(self.conn, attempt, self.app_version)
        except psycopg.Error as exc:
            return self._fail(migration, started, elapsed_ms(clock), exc, counter.failed_at)
        except TransactionEscaped as exc:
            self.record_failure(migration, started, elapsed_ms(clock), exc, ESCAPED, None)
        outcome = Outcome(migration.version, migration.name, "completed", duration)
        self.progress("done", migration, outcome)
        return outcome

    @contextmanager
    def _rolled_back_on_error(self, guarded: _Guarded) -> Iterator[None]:
        """ROLLBACK the file's transaction on any error; the block sends BEGIN and COMMIT.

        A failure after the file ended the runner's transaction (its own COMMIT or ROLLBACK,
        then more SQL) is TransactionEscaped, not a plain failure: the session is idle
        instead of in a failed transaction, or the runner's transaction id committed.
        """
        try:
            yield
        except psycopg.Error as exc:
            idle = self.conn.info.transaction_status == pq.TransactionStatus.IDLE
            self._roll_back()
            if guarded.xact is not None and not connection_lost(self.conn, exc):
                if idle or self._committed(guarded.xact):
                    raise TransactionEscaped(ESCAPED) from exc
            raise
        except BaseException:
            self._roll_back()
            raise

    def _committed(self, xact: int) -> bool:
        """True when transaction `xact` committed (PostgreSQL remembers, 10+)."""
        row = self.conn.execute("SELECT pg_catalog.txid_status(%s)", (xact,)).fetchone()
        return row[0] == "committed"

    def _roll_back(self) -> None:
        if not self.conn.closed and not self.conn.broken:
            with suppress(psycopg.OperationalError):  # a lost session rolls back anyway
                self.conn.rollback()

    def _guard_with(self, held: bool | None) -> None:
        """Raise unless the lock is still held (`held` None: the guard has to ask itself)."""
        if held is None:
            self.guard()
        elif not held:
            raise DatabaseUnavailable(postgres.LOCK_LOST)

    def dry_run(
        self, migrations: list[MigrationFile], tracer=None, sandbox: Runner | None = None
    ) -> list[Outcome]:
        """Run the files in one transaction that is rolled back, then record a dry_run event each.

        One transaction with a savepoint per file, so a file sees the changes of the pending
        files before it, exactly as in a real run; it stops at the first failure. With a
        `trace.Tracer` each file runs statement by statement and its event keeps the trace.
        With `sandbox` (a Runner on a session logged in as the dry-run role) the files run
        there; this runner's session records the events after that transaction rolled back.
        """
        started = datetime.now(timezone.utc)
        outcomes, escaped = (sandbox or self)._dry_run_files(migrations, tracer)
        traces = tracer.traces if tracer else {}
        by_version = {m.version: m for m in migrations}
        for outcome in outcomes:
            migration = by_version[outcome.version]
            attempt = self.attempt(
                migration,
                started,
                outcome.duration_ms,
                action="dry_run",
                status=outcome.status,
                error_message=outcome.error,
                sqlstate=outcome.sqlstate,
                trace=traces.get(outcome.version),
            )
            store.record_event(self.conn, attempt, self.app_version)
        if escaped:
            raise TransactionEscaped(f"{escaped.path}: {escaped.label} {ESCAPED}", outcomes[-1])
        return outcomes

    def _dry_run_files(
        self, migrations: list[MigrationFile], tracer
    ) -> tuple[list[Outcome], MigrationFile | None]:
        """The outcome of each file, in one transaction rolled back; the file that escaped it."""
        outcomes: list[Outcome] = []
        escaped = None
        with self.conn.transaction(force_rollback=True):
            self.conn.execute(self.prefix)
            xact = self.xact()
            for migration in migrations:
                clock = time.perf_counter()
                try:
                    outcome = self._try_in_savepoint(migration, outcomes, tracer, xact)
                    if not self._still_in(xact):
                        raise TransactionEscaped(ESCAPED)
                except TransactionEscaped:
                    # Rolling back the dry run's transaction undoes only what is still open.
                    escaped = migration
                    outcome = Outcome(
                        migration.version, migration.name, "failed", elapsed_ms(clock), ESCAPED
                    )
                outcomes.append(outcome)
                if escaped:
                    break
        return outcomes, escaped

    def _still_in(self, xact: int) -> bool:
        """True when the session is still in transaction `xact`, without an error."""
        if self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            return False
        row = self.conn.execute("SELECT pg_catalog.txid_current_if_assigned()").fetchone()
        return row[0] == xact

    def _try_in_savepoint(
        self, migration: MigrationFile, earlier: list[Outcome], tracer, xact: int
    ) -> Outcome:
        version, name = migration.version, migration.name
        if any(o.status == "failed" for o in earlier):
            return Outcome(version, name, "skipped", 0, "not tried: an earlier file failed")
        if migration.empty:
            return Outcome(version, name, "completed", 0)
        if not migration.transactional:
            if tracer:
                # Traced where a transaction allows it; still not a dry run of the file.
                try:
                    with self.conn.transaction():
                        tracer.run_file(migration)
                except psycopg.Error as exc:
                    self.raise_if_lost(exc, migration)
                    raise
            return Outcome(
                version, name, "skipped", 0, "not dry-runnable: `-- Transaction: none` file"
            )
        clock = time.perf_counter()
        try:
            with self.conn.transaction():
                if tracer:
                    duration = tracer.run_file(migration)
                else:
                    self.conn.execute(migration.sql)
                self.restore_session(migration.path, xact)  # as after_file does in a real run
        except psycopg.Error as exc:
            self.raise_if_lost(exc, migration)
            failed = tracer.failed if tracer else None
            text, first = (failed.text, failed.line) if failed else (migration.sql, 1)
            return Outcome(
                version,
                name,
                "failed",
                elapsed_ms(clock),
                describe_error(exc),
                exc.sqlstate,
                error_line(exc, text, first),
            )
        return Outcome(version, name, "completed", duration if tracer else elapsed_ms(clock))

    def run_recorded(self, text: str, record: Callable[[int], None]) -> int:
        """Run `text` in one transaction with the timeouts; `record(duration)` commits with it."""
        clock = time.perf_counter()
        guarded = _Guarded()
        try:
            with self.conn.transaction():
                guarded.xact = self.xact()
                self.conn.execute(self.prefix + text)
                duration = elapsed_ms(clock)
                self.restore_session(xact=guarded.xact)
                record(duration)
        except psycopg.Error as exc:
            # A failure after the SQL's own COMMIT: what ran before it stays committed.
            if guarded.xact is not None and not connection_lost(self.conn, exc):
                if self._committed(guarded.xact):
                    raise TransactionEscaped(ESCAPED) from exc
            raise
        return duration

    def raise_if_lost(self, exc: psycopg.Error, migration: MigrationFile) -> None:
        """Raise DatabaseUnavailable when `exc` means the connection is gone."""
        fleet.raise_if_interrupted(exc)  # a statement the fleet cancelled is not a failure
        if connection_lost(self.conn, exc):
            raise DatabaseUnavailable(
                f"lost the connection while applying {migration.label}: {first_line(exc)}. "
                "Its transaction did not commit; run again once the database is back."
            ) from exc

    def attempt(self, migration: MigrationFile, started: datetime, duration: int, **extra):
        """The ledger Attempt of `migration` (action apply, status completed unless given)."""
        header = migration.header
        # The deploy's ticket (--ticket, UAP_CHANGE_TICKET) wins over the file's `-- Ticket:`.
        extra.setdefault("ticket", provenance.ticket() or header.get("Ticket").strip() or None)
        return store.Attempt(
            version=migration.version,
            action=extra.pop("action", "apply"),
            status=extra.pop("status", "completed"),
            started_at=started,
            duration_ms=duration,
            name=migration.name,
            checksum=migration.checksum,
            sql_text=migration.sql,
            description=header.description or header.migration or None,
            impact=header.impact or None,
            rollback_sql=header.rollback or None,
            **extra,
        )

    def _fail(
        self,
        migration: MigrationFile,
        started: datetime,
        duration: int,
        exc: psycopg.Error,
        failed_at: int | None = None,
    ):
        self.raise_if_lost(exc, migration)
        position = int(exc.diag.statement_position or 0)
        unfinished = position > len(migration.sql) or (
            (exc.diag.message_primary or "").startswith("unterminated ")
        )
        if exc.sqlstate == "42601" and unfinished:
            # A syntax error past the file's end, or a string, identifier or comment the file
            # leaves open (PostgreSQL's scanner quotes everything after it, the runner's own
            # SQL included): its last statement is unfinished. Parsing failed before anything
            # ran, so parsing the file alone runs nothing either and gives PostgreSQL's own
            # message (`syntax error at end of input`, `unterminated ...`) and line.
            exc = self._alone(migration) or exc
        line = error_line(exc, migration.sql)
        message = describe_error(exc)
        if line is None and failed_at is not None:
            # An error found while running names no position: the count of results before
            # it says which of the file's statements it was.
            found = failed_statement(migration.sql, failed_at)
            if found:
                line = found[0]
                message = f"{message}\nin the statement at line {found[0]}: {found[1]}"
        self.record_failure(migration, started, duration, exc, message, line)

    def _alone(self, migration: MigrationFile) -> psycopg.Error | None:
        """The error of the file sent without `after_file` (rolled back in any case)."""
        try:
            self.conn.execute("BEGIN")
            self.conn.execute(migration.sql, prepare=False)
        except psycopg.Error as exc:
            return exc
        finally:
            self.conn.rollback()
        return None

    def record_failure(
        self,
        migration: MigrationFile,
        started: datetime,
        duration: int,
        exc: psycopg.Error | TransactionEscaped,
        message: str,
        line: int | None,
    ):
        """Record `migration` failed (row, event and the schema's fingerprint); raise it.

        The fingerprint comes along because a failure may leave the schema changed (the
        committed statements of a non-transactional file, or of a file that ended the
        runner's transaction) and the record must say so.
        """
        sqlstate = getattr(exc, "sqlstate", None)
        attempt = self.attempt(
            migration,
            started,
            duration,
            status="failed",
            error_message=message,
            sqlstate=sqlstate,
        )
        try:
            with self.conn.transaction():
                value, text = fingerprint.take_for_event(self.conn)
                attempt = dataclasses.replace(attempt, fingerprint=value, schema_description=text)
                store.record(self.conn, attempt, self.app_version)
        except psycopg.errors.LockNotAvailable as held:
            # The failure cannot wait for its record forever either (the lock wait bounds it).
            raise LockTimeout(
                f"{migration.label} failed and its failure could not be recorded: "
                + postgres.ledger_locked(self.conn, held)
            ) from exc
        except psycopg.OperationalError as lost:
            raise DatabaseUnavailable(f"lost the connection recording {migration.label}") from lost
        outcome = Outcome(
            migration.version, migration.name, "failed", duration, message, sqlstate, line
        )
        self.progress("failed", migration, outcome)
        if isinstance(exc, TransactionEscaped):
            raise TransactionEscaped(f"{migration.path}: {migration.label} {message}", outcome)
        raise MigrationFailed(failure_text(migration, outcome), outcome) from exc
