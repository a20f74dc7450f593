"""Applies migration files: one transaction per file, timeouts, its record in the same commit."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg
from psycopg import pq, sql

from schema_audit import ledger
from schema_audit.exceptions import DatabaseUnavailable, InvalidMigration, MigrationFailed
from schema_audit.source import MigrationFile

logger = logging.getLogger(__name__)

_DURATION_RE = re.compile(r"^\s*\d+(\.\d+)?\s*(us|ms|s|min|h|d)?\s*$")
Progress = Callable[[str, MigrationFile, "Outcome | None"], None]


@dataclass(frozen=True)
class Outcome:
    """The result of one file: its status, duration and, on failure, where and why."""

    version: str
    name: str
    status: str
    duration_ms: int
    error: str | None = None
    sqlstate: str | None = None
    line: int | None = None

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return dict(self.__dict__)


def check_duration(option: str, value: str) -> str:
    """Validate a PostgreSQL duration such as `10s`, `500ms` or `0`; InvalidMigration if not."""
    if not _DURATION_RE.match(str(value)):
        raise InvalidMigration(f"{option} {value!r} is not a duration like 10s, 500ms or 0")
    return str(value).strip()


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
        # Called inside each file's transaction before it commits; raises to roll it back
        # (the runners' lock was lost, so committing could apply the file twice).
        self.guard = guard or (lambda: None)
        self.app_version = app_version
        self.progress = progress or (lambda *args: None)
        settings = sql.SQL("SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {};\n")
        self.prefix = settings.format(
            sql.Literal(check_duration("--lock-timeout", lock_timeout)),
            sql.Literal(check_duration("--statement-timeout", statement_timeout)),
        ).as_string(conn)
        # A file may change search_path or role for the session (pg_dump output empties
        # search_path); the ledger write after it, and the next file, must not inherit that.
        search_path, role = conn.execute(
            "SELECT current_setting('search_path'), current_user"
        ).fetchone()
        self.restore = sql.SQL(
            "SELECT set_config('search_path', {}, false), set_config('role', {}, false)"
        ).format(sql.Literal(search_path), sql.Literal(role))

    def apply(self, migration: MigrationFile) -> Outcome:
        """Run one file atomically and record it; MigrationFailed after recording a failure."""
        self.progress("start", migration, None)
        started = datetime.now(timezone.utc)
        clock = time.perf_counter()
        try:
            with self.conn.transaction():
                self.conn.execute(self.prefix + migration.sql)
                if self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
                    raise InvalidMigration(
                        "the file ended the runner's transaction", migration.path
                    )
                duration = _elapsed_ms(clock)
                self.conn.execute(self.restore)
                self.guard()
                ledger.record(
                    self.conn, self._attempt(migration, started, duration), self.app_version
                )
        except psycopg.Error as exc:
            return self._fail(migration, started, _elapsed_ms(clock), exc)
        outcome = Outcome(migration.version, migration.name, "completed", duration)
        self.progress("done", migration, outcome)
        return outcome

    def _attempt(self, migration: MigrationFile, started: datetime, duration: int, **extra):
        header = migration.header
        return ledger.Attempt(
            version=migration.version,
            action="apply",
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
        self, migration: MigrationFile, started: datetime, duration: int, exc: psycopg.Error
    ):
        if (
            self.conn.broken
            or self.conn.closed
            or isinstance(exc, psycopg.OperationalError)
            and (exc.sqlstate is None or exc.sqlstate.startswith(("08", "57P")))
        ):
            raise DatabaseUnavailable(
                f"lost the connection while applying {migration.label}: {_first_line(exc)}. "
                "Its transaction did not commit; run again once the database is back."
            ) from exc
        line = _error_line(exc, migration.sql, len(self.prefix))
        message = _describe(exc)
        attempt = self._attempt(
            migration,
            started,
            duration,
            status="failed",
            error_message=message,
            sqlstate=exc.sqlstate,
        )
        try:
            ledger.record(self.conn, attempt, self.app_version)
        except psycopg.OperationalError as lost:
            raise DatabaseUnavailable(f"lost the connection recording {migration.label}") from lost
        outcome = Outcome(
            migration.version, migration.name, "failed", duration, message, exc.sqlstate, line
        )
        self.progress("failed", migration, outcome)
        raise MigrationFailed(_failure_text(migration, outcome), outcome) from exc


def _elapsed_ms(clock: float) -> int:
    return int(round((time.perf_counter() - clock) * 1000))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _describe(exc: psycopg.Error) -> str:
    diag = exc.diag
    parts = [diag.message_primary or _first_line(exc)]
    if diag.message_detail:
        parts.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"HINT: {diag.message_hint}")
    if exc.sqlstate == "25001":
        parts.append(
            "HINT: this statement cannot run in a transaction; add the header "
            "directive `-- Transaction: none` to run the file statement by statement"
        )
    return "\n".join(parts)


def _error_line(exc: psycopg.Error, text: str, prefix_length: int) -> int | None:
    position = exc.diag.statement_position
    if not position or not position.isdigit():
        return None
    offset = int(position) - 1 - prefix_length
    return text.count("\n", 0, offset) + 1 if offset >= 0 else None


def _failure_text(migration: MigrationFile, outcome: Outcome) -> str:
    where = f"{migration.path}:{outcome.line}" if outcome.line else str(migration.path)
    return f"{where}: {migration.label} failed [SQLSTATE {outcome.sqlstate}]: {outcome.error}"
