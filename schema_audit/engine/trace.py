"""Measures what each statement of a dry run locks and rewrites, in its rolled-back transaction.

PostgreSQL keeps every lock a transaction takes until the transaction ends, so a statement's own
locks are the difference between the backend's `pg_locks` before and after it. A rewritten table
or index gets a new `relfilenode`, visible inside the transaction; the rollback drops the new
files again, so the trace leaves the schema and the data as they were.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import psycopg
from pglast import ast
from pglast.enums import AlterTableType, ConstrType
from psycopg import pq

from schema_audit import conf
from schema_audit.engine.outcome import elapsed_ms, first_line
from schema_audit.engine.verdict import RANKED, SAFE, judge
from schema_audit.exceptions import ESCAPED, InvalidMigration, TransactionEscaped
from schema_audit.files.discovery import MigrationFile
from schema_audit.files.effects import side_effects
from schema_audit.files.statements import Statement, parse
from schema_audit.ledger.terms import Status

# Only the application's relations: catalogs, TOAST and temporary schemas are PostgreSQL's own.
_RELATIONS_SQL = r"""
SELECT c.oid::bigint, format('%%I.%%I', n.nspname, c.relname), c.relkind::text,
       c.relfilenode::bigint, greatest(c.reltuples, -1)::bigint,
       coalesce(pg_relation_size(c.oid), 0)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm', 'i', 'I')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\_temp\_%%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%%'
  AND (%(oids)s::oid[] IS NULL OR c.oid = ANY(%(oids)s::oid[]))
"""
_LOCKS_SQL = """
SELECT relation::bigint, mode FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted
"""
_KINDS = {"r": "table", "p": "table", "m": "materialized view", "i": "index", "I": "index"}
# What each lock mode stops other sessions from doing while it is held (PostgreSQL docs 13.3).
BLOCKS = {
    "AccessExclusiveLock": "reads and writes",
    "ExclusiveLock": "writes",
    "ShareRowExclusiveLock": "writes",
    "ShareLock": "writes",
}
_VALIDATING = {
    ConstrType.CONSTR_CHECK,
    ConstrType.CONSTR_FOREIGN,
    ConstrType.CONSTR_UNIQUE,
    ConstrType.CONSTR_PRIMARY,
}
# Statement kinds whose parse-tree name does not read as the SQL does.
_KEYWORDS = {
    "CreateStmt": "CREATE TABLE",
    "IndexStmt": "CREATE INDEX ON",
    "InsertStmt": "INSERT INTO",
    "DeleteStmt": "DELETE FROM",
    "VariableSetStmt": "SET",
    "CreateTableAsStmt": "CREATE TABLE AS",
}


@dataclass(frozen=True)
class Relation:
    """One relation as the catalog shows it at one moment of the transaction."""

    oid: int
    name: str
    kind: str
    filenode: int
    rows: int
    size: int


def limits() -> dict:
    """The UAP_TRACE_* thresholds the verdict uses."""
    return {
        "big_rows": conf.UAP_TRACE_BIG_TABLE_ROWS,
        "big_bytes": conf.UAP_TRACE_BIG_TABLE_BYTES,
        "slow_ms": conf.UAP_TRACE_SLOW_MS,
    }


def relations(conn: psycopg.Connection, oids: set[int] | None = None) -> dict[int, Relation]:
    """Application tables, materialized views and indexes (only `oids` if given), by oid."""
    params = {"oids": None if oids is None else sorted(oids)}
    return {
        row[0]: Relation(row[0], row[1], _KINDS[row[2]], row[3], row[4], row[5])
        for row in conn.execute(_RELATIONS_SQL, params)
    }


def held_locks(conn: psycopg.Connection) -> set[tuple[int, str]]:
    """`(relation oid, mode)` of every relation lock this backend holds."""
    return {(oid, mode) for oid, mode in conn.execute(_LOCKS_SQL)}


@dataclass
class FileTrace:
    """The statements of one file as traced, and what existed before it began."""

    migration: MigrationFile
    before: dict[int, Relation]
    earlier: set[tuple[int, str]]
    statements: list[dict] = field(default_factory=list)

    def as_dict(self, thresholds: dict) -> dict:
        """The JSON trace kept on the file's dry_run event, with its verdict."""
        transactional = self.migration.transactional
        trace = {
            "version": self.migration.version,
            "name": self.migration.name,
            "transactional": transactional,
            "statements": self.statements,
            "duration_ms": sum(s.get("duration_ms", 0) for s in self.statements),
            "size_change_bytes": sum(s.get("size_change_bytes", 0) for s in self.statements),
            "locks": file_locks(self.statements, transactional),
            "rewrites": [r for s in self.statements for r in s.get("rewrites", ())],
            # Locks earlier pending files of this dry run took are held already, so this
            # file taking them again does not show: listed so that a reader knows.
            "locked_by_earlier_files": sorted(
                {self.before[oid].name for oid, _ in self.earlier if oid in self.before}
            ),
        }
        verdict, reasons = judge(trace, thresholds)
        return {**trace, "verdict": verdict, "reasons": reasons}


class Tracer:
    """Runs each file statement by statement, measuring each; keeps one trace per file."""

    def __init__(self, conn: psycopg.Connection, thresholds: dict | None = None):
        self.conn = conn
        self.thresholds = thresholds or limits()
        self.traces: dict[str, dict] = {}
        self.failed: Statement | None = None

    def run_file(self, migration: MigrationFile) -> int:
        """Trace every statement of `migration`; its duration in ms. psycopg.Error on failure.

        A transactional file stops at its first failing statement, as in a real run; each
        statement of a `-- Transaction: none` file gets its own savepoint, and one that cannot
        run inside a transaction (or fails) is marked not traced.
        """
        # The whole catalog once per file; after that only what this backend has locked, since
        # a statement can create, rewrite, grow or drop only relations it locks.
        self.known, self.locks = relations(self.conn), held_locks(self.conn)
        trace = FileTrace(migration, dict(self.known), set(self.locks))
        self.failed = None
        try:
            for index, statement in enumerate(split(migration), start=1):
                trace.statements.append(self._statement(trace, index, statement))
        finally:
            self.traces[migration.version] = trace.as_dict(self.thresholds)
        return self.traces[migration.version]["duration_ms"]

    def _statement(self, trace: FileTrace, index: int, statement: Statement) -> dict:
        entry = {"index": index, "line": statement.line, "statement": summary(statement.node)}
        effects = side_effects(statement.node)
        if effects:
            entry["side_effects"] = effects
        _check_scanner(self.conn, trace.migration)
        clock = time.perf_counter()
        try:
            if trace.migration.transactional:
                self.conn.execute(statement.text)
            else:
                with self.conn.transaction():
                    self.conn.execute(statement.text)
        except psycopg.Error as exc:
            entry["duration_ms"] = elapsed_ms(clock)
            if trace.migration.transactional or self.conn.broken:
                self.failed = statement
                trace.statements.append(
                    {**entry, "status": Status.FAILED, "error": first_line(exc)}
                )
                raise
            # Rolling back to the savepoint released the statement's locks.
            self.locks = held_locks(self.conn)
            return {**entry, "status": "not traced", "reason": untraceable(exc)}
        entry["duration_ms"] = elapsed_ms(clock)
        if self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            raise TransactionEscaped(ESCAPED)  # stop before anything more runs outside it
        before, locks = self.known, self.locks
        self.locks = held_locks(self.conn)
        self.known = self._after(before)
        entry["scans"] = scans(statement.node)
        taken = self.locks - locks
        return {**entry, "status": "traced", **measure(before, self.known, taken, trace.before)}

    def attach(self, results: list[dict]) -> dict:
        """Put each file's trace on its result; the run's worst `verdict` and `verdicts`."""
        for result in results:
            result["trace"] = self.traces.get(result["version"])
        verdicts = [r["trace"]["verdict"] for r in results if r["trace"]]
        counts = {level: verdicts.count(level) for level in RANKED}
        return {"verdict": max(verdicts, key=RANKED.index, default=SAFE), "verdicts": counts}

    def _after(self, before: dict[int, Relation]) -> dict[int, Relation]:
        locked = {oid for oid, _ in self.locks}
        current = relations(self.conn, locked)
        after = {oid: r for oid, r in before.items() if oid not in locked or oid in current}
        return {**after, **current}


def _check_scanner(conn: psycopg.Connection, migration: MigrationFile) -> None:
    """Refuse to send the next statement once the file turned standard_conforming_strings
    off: PostgreSQL would then read a backslash in a string as an escape, unlike the parser
    that split the file, so one "statement" could hide others (a COMMIT)."""
    if conn.info.parameter_status("standard_conforming_strings") == "off":
        raise InvalidMigration(
            "turns standard_conforming_strings off, so its statements cannot be traced one "
            "by one as PostgreSQL's parser split them; keep it on (the default)",
            migration.path,
        )


def split(migration: MigrationFile) -> list[Statement]:
    """The file's statements; the whole text as one when pglast cannot split it."""
    try:
        return parse(migration.sql, migration.path)
    except InvalidMigration:  # a newer server may accept syntax this pglast does not know
        return [Statement(migration.sql.strip(), 1, None)]


def summary(node: object) -> str:
    """`ALTER TABLE public.orders`: the statement's kind and relation, never its literals.

    The trace is kept and shown apart from the event's SQL text, so it carries no values a
    statement may hold (passwords, personal data), only what the parse tree names.
    """
    if node is None:
        return "whole file (not split)"
    kind = type(node).__name__
    words = _KEYWORDS.get(kind) or re.sub(r"(?<!^)(?=[A-Z])", " ", kind.removesuffix("Stmt"))
    relation = getattr(node, "relation", None)
    if isinstance(relation, ast.RangeVar):
        schema = f"{relation.schemaname}." if relation.schemaname else ""
        return f"{words.upper()} {schema}{relation.relname}"
    return words.upper()


def untraceable(exc: psycopg.Error) -> str:
    """Why a statement of a non-transactional file could not be traced."""
    if exc.sqlstate == "25001":
        return "it cannot run inside a transaction, so it cannot be tried and rolled back"
    return f"it fails inside a transaction [SQLSTATE {exc.sqlstate}]: {first_line(exc)}"


def scans(node: object) -> bool:
    """True for statements that read every row while they hold their lock."""
    if isinstance(node, ast.IndexStmt):
        return not node.concurrent
    if not isinstance(node, ast.AlterTableStmt):
        return isinstance(node, (ast.ClusterStmt, ast.ReindexStmt))
    for command in node.cmds or ():
        if command.subtype == AlterTableType.AT_SetNotNull:
            return True
        constraint = command.def_ if command.subtype == AlterTableType.AT_AddConstraint else None
        if (
            isinstance(constraint, ast.Constraint)
            and constraint.contype in _VALIDATING
            and not constraint.skip_validation
            and not constraint.indexname
        ):
            return True
    return False


def measure(before: dict, after: dict, taken: set, existing: dict) -> dict:
    """Locks taken, relations rewritten and the size change between two catalog snapshots."""
    names = {**before, **after}
    locks = [
        _lock(names[oid], mode, existing.get(oid))
        for oid, mode in taken
        if oid in names  # a relation created and dropped within the statement has no name
    ]
    rewrites = [
        {
            "relation": old.name,
            "kind": old.kind,
            "rows": old.rows,
            "bytes_before": old.size,
            "bytes_after": after[oid].size,
        }
        for oid, old in before.items()
        if oid in existing and oid in after and after[oid].filenode != old.filenode
    ]
    change = sum(r.size for r in after.values()) - sum(r.size for r in before.values())
    return {
        "locks": sorted(locks, key=lambda lock: (lock["relation"], lock["mode"])),
        "rewrites": sorted(rewrites, key=lambda rewrite: rewrite["relation"]),
        "size_change_bytes": change,
    }


def _lock(relation: Relation, mode: str, existing: Relation | None) -> dict:
    return {
        "relation": relation.name,
        "kind": relation.kind,
        "mode": mode,
        "existing": existing is not None,
        "blocks": BLOCKS.get(mode) if existing is not None else None,
        "rows": existing.rows if existing else None,
        "bytes": existing.size if existing else None,
    }


def file_locks(statements: list[dict], transactional: bool) -> list[dict]:
    """Each lock of the file once, with the statement that took it and how long it is held.

    In a transactional file a lock is held from its statement to the commit; outside a
    transaction each statement commits, so it holds its locks only while it runs.
    """
    found = []
    for position, statement in enumerate(statements):
        rest = statements[position:] if transactional else [statement]
        held_ms = sum(s.get("duration_ms", 0) for s in rest)
        for lock in statement.get("locks", ()):
            found.append({**lock, "statement": statement["index"], "held_ms": held_ms})
    return found
