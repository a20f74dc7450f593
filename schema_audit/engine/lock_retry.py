"""Short lock waits, retried: the schedule between attempts and who held the lock.

A file whose statement cannot get its lock within `lock_timeout` fails with SQLSTATE 55P03
and rolls back; the appliers then wait a growing, jittered while and run it again, so that
an `ALTER TABLE` queued behind a long reader never holds every writer of that table behind
it for longer than one short `lock_timeout`. Each failed attempt is an event naming the
sessions that held a lock on the relations the statement touches.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg

from schema_audit.db import cancel
from schema_audit.engine.outcome import Outcome, first_line
from schema_audit.exceptions import InvalidMigration
from schema_audit.files.naming import is_number
from schema_audit.ledger import store
from schema_audit.ledger.terms import Status

LOCK_NOT_AVAILABLE = "55P03"
HEADER = "Lock-Retries"  # `-- Lock-Retries: 0` in a file's header: never retry it

# The first wait between attempts, how it grows, and the longest single wait (seconds).
FIRST_WAIT = 0.2
GROWTH = 2.0
LONGEST_WAIT = 10.0


@dataclass(frozen=True)
class Try:
    """One attempt: its number, how many there may be, and the wait after it if it meets
    55P03 (None for the last one, whose failure stands)."""

    number: int
    of: int
    wait: float | None

    @property
    def retried(self) -> bool:
        """More than one attempt may be made (the short lock_timeout applies)."""
        return self.of > 1


@dataclass(frozen=True)
class RetryPolicy:
    """How often a file that met 55P03 runs again, and how long it may wait in all."""

    retries: int = 0
    budget: float = 0.0  # seconds of waiting between attempts, in all

    def waits(self, rng: random.Random | None = None) -> Iterator[float]:
        """The wait before each further attempt: FIRST_WAIT growing by GROWTH up to
        LONGEST_WAIT, each drawn from [0.5, 1.5) of itself so that runners across a fleet
        do not retry in step; it stops at `retries` or before the waits pass `budget`."""
        draw = rng or random.Random()
        spent, nominal = 0.0, FIRST_WAIT
        for _ in range(self.retries):
            wait = nominal * (0.5 + draw.random())
            if spent + wait > self.budget:
                return
            spent += wait
            yield wait
            nominal = min(nominal * GROWTH, LONGEST_WAIT)

    def attempts(self) -> list[Try]:
        """Every attempt a file (or statement) may make, with the wait after each but the last."""
        waits = list(self.waits())
        of = len(waits) + 1
        return [Try(number, of, wait) for number, wait in enumerate([*waits, None], start=1)]

    def for_migration(self, migration) -> RetryPolicy:
        """The policy for a MigrationFile: its `-- Lock-Retries:` header lowers the retries."""
        return self.for_file(migration.header.get(HEADER), migration.path)

    def for_file(self, header_value: str, path: object = None) -> RetryPolicy:
        """The policy for one file: its `-- Lock-Retries: N` header lowers the retries."""
        value = header_value.strip()
        if not value:
            return self
        if not is_number(value):
            raise InvalidMigration(
                f"-- {HEADER}: {value!r} is not a number of retries; give 0 for a file that "
                "must not run twice, or a whole number",
                path,
            )
        return RetryPolicy(min(int(value), self.retries), self.budget)


def is_lock_timeout(exc: BaseException | None) -> bool:
    return getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0}
_UNITS_MS["d"] = 24 * _UNITS_MS["h"]
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$")


def milliseconds(duration: str) -> float:
    """A checked PostgreSQL duration (`10s`, `100ms`, `0`) in milliseconds; no unit is ms,
    as for lock_timeout."""
    number, unit = _DURATION_RE.match(duration).groups()
    return float(number) * _UNITS_MS[unit or "ms"]


def attempt_timeout(lock_timeout: str, retry_timeout: str) -> str:
    """The lock_timeout of each attempt of a retried file: the shorter of the two (0 is no
    bound at all, so the other one)."""
    wanted, short = milliseconds(lock_timeout), milliseconds(retry_timeout)
    if short and (not wanted or short < wanted):
        return retry_timeout
    return lock_timeout


class Retry(Exception):
    """An attempt met 55P03 and may run again: raised by an applier, caught by its loop."""

    def __init__(self, error: psycopg.Error, statement: str | None, duration: int):
        super().__init__(str(error))
        self.error, self.statement, self.duration = error, statement, duration


def pause(seconds: float, error: BaseException) -> None:
    """Sleep between attempts. A fleet's halt lets the file finish its attempts (a running
    target finishes its file); an interruption (Ctrl-C) ends the wait as Interrupted."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        cancel.raise_if_interrupted(error)
        time.sleep(min(left, 0.05))


# Sessions other than this one holding a lock on one of the relations, with what they run.
_HOLDERS_SQL = """
SELECT a.pid, a.application_name, l.mode, l.relation::pg_catalog.regclass::text,
       a.query_start, a.state
FROM pg_catalog.pg_locks AS l
JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid
WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_catalog.pg_backend_pid()
  AND l.relation = ANY(%s::pg_catalog.oid[])
ORDER BY a.query_start NULLS LAST, a.pid
LIMIT 20
"""
_OIDS_SQL = (
    "SELECT pg_catalog.array_agg(pg_catalog.to_regclass(name)::pg_catalog.oid) "
    "FROM pg_catalog.unnest(%s::text[]) AS name"
)


def holders(conn: psycopg.Connection, statement_text: str | None) -> list[dict]:
    """Who holds locks on the relations `statement_text` names (pid, application, mode,
    relation, query start); [] when it names none or they are gone. Asked outside any
    transaction, right after the attempt rolled back, so the holders are most likely still
    there; their queries are not read (they may hold secrets)."""
    names = relations_of(statement_text or "")
    if not names:
        return []
    try:
        oids = [oid for oid in conn.execute(_OIDS_SQL, (names,)).fetchone()[0] or [] if oid]
        if not oids:
            return []
        rows = conn.execute(_HOLDERS_SQL, (oids,)).fetchall()
    except psycopg.Error:
        return []  # who held it is a courtesy of the record, never a reason to fail
    return [
        {
            "pid": pid,
            "application": application or "",
            "mode": mode,
            "relation": relation,
            "query_start": started.isoformat() if started else None,
            "state": state or "",
        }
        for pid, application, mode, relation, started, state in rows
    ]


def relations_of(text: str) -> list[str]:
    """The qualified names of the relations a statement names (its RangeVars), in order."""
    from pglast import parser, visitors  # deferred: only a lock timeout needs the parser

    try:
        tree = parser.parse_sql(text)
    except parser.ParseError:
        return []
    found: list[str] = []

    class Names(visitors.Visitor):
        def visit_RangeVar(self, ancestors, node):  # noqa: N802 (pglast's naming)
            name = ".".join(part for part in (node.schemaname, node.relname) if part)
            if name not in found:
                found.append(name)

    Names()(tree)
    return found


def describe(attempt: Try, blockers: list[dict]) -> str:
    """`lock not available on attempt 1 of 11; held by pid 42 (report job, AccessShareLock
    on items, query started ...)`: the failed attempt's line for the event and the log."""
    text = f"lock not available on attempt {attempt.number} of {attempt.of}"
    if not blockers:
        return text + "; the lock's holder had gone when asked"
    shown = [
        f"pid {b['pid']} ({b['application'] or 'no application name'}, {b['mode']} on "
        f"{b['relation']}, query started {b['query_start'] or 'unknown'})"
        for b in blockers[:3]
    ]
    more = f" and {len(blockers) - 3} more" if len(blockers) > 3 else ""
    return f"{text}; held by {'; '.join(shown)}{more}"


def record(session, migration, started, retry: Retry, attempt: Try):
    """The failed attempt's event (status failed, SQLSTATE 55P03, who held the lock); the
    file's row is left as it is, since the file runs again. Progress hears of it."""
    blockers = holders(session.conn, retry.statement)
    message = f"{first_line(retry.error)}; {describe(attempt, blockers)}"
    event = session.attempt(
        migration,
        started,
        retry.duration,
        status=Status.FAILED,
        error_message=message,
        sqlstate=LOCK_NOT_AVAILABLE,
        trace={
            "lock_retry": {
                "attempt": attempt.number,
                "attempts": attempt.of,
                "next_wait_ms": round(attempt.wait * 1000),
                "holders": blockers,
            }
        },
    )
    with session.conn.transaction():
        store.record_event(session.conn, event, session.app_version)
    outcome = Outcome(
        migration.version, migration.name, "retry", retry.duration, message, LOCK_NOT_AVAILABLE
    )
    session.progress("retry", migration, outcome)
