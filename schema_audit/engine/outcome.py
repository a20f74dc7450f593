"""What applying a file produced, and how PostgreSQL's errors are told: a leaf of the engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import pq

from schema_audit.exceptions import InvalidMigration
from schema_audit.files import redact
from schema_audit.files.discovery import MigrationFile, line_of
from schema_audit.files.statements import parse

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

    def as_dict_in(self, migration: MigrationFile) -> dict:
        """as_dict with the file and line its error comes from (MigrationFile.locate: a
        sqitch change's verify script's own), as `--json` reports a failure."""
        where, line = migration.locate(self.line)
        return {**self.as_dict(), "file": str(where), "line": line}


def elapsed_ms(clock: float) -> int:
    """Milliseconds since the perf_counter value `clock`."""
    return int(round((time.perf_counter() - clock) * 1000))


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, or its class name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connection_lost(conn: psycopg.Connection, exc: psycopg.Error) -> bool:
    """True when `exc` means the session is gone, not that the SQL failed.

    A lock or statement timeout is an OperationalError too, but the session survives it: that
    is the migration failing, recorded as such.
    """
    if conn.broken or conn.closed:
        return True
    return isinstance(exc, psycopg.OperationalError) and (
        exc.sqlstate is None or exc.sqlstate.startswith(("08", "57P"))
    )


def describe_error(exc: psycopg.Error) -> str:
    """PostgreSQL's message with its DETAIL and HINT lines."""
    diag = exc.diag
    parts = [diag.message_primary or first_line(exc)]
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


def error_line(exc: psycopg.Error, text: str, first: int = 1, skip: int = 0) -> int | None:
    """The line of `text` (which starts on line `first`) where PostgreSQL placed the error.

    `skip` is the length of what was sent ahead of `text` in the same query (the timeouts).
    """
    position = exc.diag.statement_position
    if not position or not position.isdigit():
        return None
    offset = int(position) - 1 - skip
    return line_of(text, offset) + first - 1 if offset >= 0 else None


def located(
    exc: psycopg.Error, migration: MigrationFile, failed_at: int | None = None
) -> tuple[int | None, str]:
    """The line of the file where `exc` happened, and its message (describe_error).

    Lines count from the top of the file: another runner's layout runs the part after its
    `up` marker, which starts on `first_line`. An error found while running (a division by
    zero, a constraint) names no position: then the count of results before it, `failed_at`
    (StatementCounter), says which of the file's statements it was, and the message quotes it.
    """
    line = error_line(exc, migration.sql, migration.first_line)
    message = describe_error(exc)
    found = failed_statement(migration.sql, failed_at) if line is None else None
    if found:
        line = found[0] + migration.first_line - 1
        where, at = migration.locate(line)
        shown = (
            f"line {at}" if where == migration.path else f"{where.parent.name}/{where.name}:{at}"
        )
        message = f"{message}\nin the statement at {shown}: {found[1]}"
    return line, message


def failure_text(migration: MigrationFile, outcome: Outcome) -> str:
    """`file:line: label failed [SQLSTATE]: message`; the file and line are those the line of
    `sql` comes from (a sqitch change's verify script's own, MigrationFile.locate)."""
    path, line = migration.locate(outcome.line)
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {migration.label} failed [SQLSTATE {outcome.sqlstate}]: {outcome.error}"


class StatementCounter(psycopg.Cursor):
    """A cursor that notes which statement of a multi-statement query failed.

    PostgreSQL answers such a query with one result per statement up to the failing one and
    names no statement for an error found while running (a constraint, a division by zero):
    the count of results before the error does. `failed_at` is that 0-based index, or None.
    """

    failed_at: int | None = None

    def _check_results(self, results):  # psycopg's hook that sees every result first
        self.failed_at = next(
            (n for n, r in enumerate(results) if r.status == pq.ExecStatus.FATAL_ERROR), None
        )
        return super()._check_results(results)


def failed_statement(text: str, index: int | None) -> tuple[int, str] | None:
    """`(line, first words)` of the `index`-th statement of `text`; None when unknown."""
    if index is None or index < 0:
        return None
    try:
        statements = parse(text)
    except InvalidMigration:
        return None
    if index >= len(statements):
        return None
    statement = statements[index]
    words = " ".join((redact.redact(statement.text) or "").split()[:6])
    return statement.line, words if len(words) <= 60 else words[:59] + "…"
