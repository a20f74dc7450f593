"""Another runner's applied history, read from its own tracking table as it stands (for
`--import-history`): each applied version with the time and the user the tool stored, where it
stores them. Reads only; a half-applied state the tool left (golang-migrate's `dirty`, a failed
Flyway row) is refused, since nothing tells which part of that version ran.

Where each tool keeps what:

| tool | table | applied | when | who |
|---|---|---|---|---|
| dbmate | `schema_migrations(version)` | every row | — | — |
| golang-migrate | `schema_migrations(version, dirty)` | every version up to the one row's | — | — |
| goose | `goose_db_version(version_id, is_applied, tstamp)` | the newest row per version says applied | `tstamp` | — |
| diesel | `__diesel_schema_migrations(version, run_on)` | every row | `run_on` | — |
| Flyway | `flyway_schema_history` | the newest row per version, a success and not an undo | `installed_on` | `installed_by` |
| yoyo | `_yoyo_migration(migration_id, applied_at_utc)` | every row | `applied_at_utc` | `_yoyo_log.username` |
| sqitch | `sqitch.changes` | every row (a revert deletes its change) | `committed_at` | committer |
"""  # noqa: E501

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql

from schema_audit.exceptions import RefusedRequest
from schema_audit.files.naming import version_key
from schema_audit.ledger import foreign

# What --import-history accepts, lower case, and the tool each names.
NAMES = {tool.name.lower(): tool for tool in foreign.TOOLS}
_LEADING_DIGITS = re.compile(r"^0*([0-9]+)")
_DOTTED = re.compile(r"^[._][0-9]")
_WHO_MAX = 200


@dataclass(frozen=True)
class Applied:
    """One version the tool applied, as the tool records it."""

    version: str  # the tool's own: a timestamp, a number, a Flyway `1.2`, a sqitch change
    applied_at: datetime | None = None
    applied_by: str | None = None
    # The tool's own checksum of what it ran, where the runner can compute it too (Flyway's
    # repeatables, which run again when it changes).
    checksum: int | None = None
    # The project the row is of, where one table keeps several (sqitch's registry).
    project: str | None = None

    @property
    def key(self) -> tuple | None:
        """The version's sort key (files/naming.version_key) when it is a number, dotted
        (Flyway's `1.2`) or plain (yoyo's `0001.create-users`: 1); None for a name (sqitch's
        changes), which only a file of that name stands for."""
        text = self.version.strip()
        key = version_key(text)
        if key[0] == 0:
            return key
        match = _LEADING_DIGITS.match(text)
        if match is None or _DOTTED.match(text[match.end() :]):
            return None
        return version_key(match.group(1))


@dataclass
class History:
    """What one tool's table says was applied."""

    tool: foreign.Tool
    table: str  # schema-qualified, quoted where needed
    applied: list[Applied] = field(default_factory=list)
    # golang-migrate keeps only the newest version: every version up to it was applied.
    up_to: int | None = None


def tool_named(name: str) -> foreign.Tool:
    """The tool `--import-history NAME` means; RefusedRequest for one not known."""
    tool = NAMES.get(name.strip().lower())
    if tool is None:
        raise RefusedRequest(
            f"--import-history {name}: not a runner this version imports from; choose one of "
            f"{', '.join(sorted(NAMES))}"
        )
    return tool


def read(conn: psycopg.Connection, tool: foreign.Tool) -> History:
    """The tool's history on `conn`'s database; RefusedRequest when its table is missing, is
    not the tool's, or records a half-applied version."""
    relation = _find(conn, tool)
    history = History(tool, relation.name)
    table = sql.SQL(relation.name)  # quoted by PostgreSQL's quote_ident (foreign.TABLES_SQL)
    reader = _READERS[tool.name]
    reader(conn, table, history)
    return history


def _find(conn: psycopg.Connection, tool: foreign.Tool) -> foreign.Relation:
    """The tool's table where the tool looks for it (the search_path, or sqitch's schema)."""
    found = foreign.relations(conn.execute(foreign.TABLES_SQL, ([tool.table],)).fetchall())
    relation = found.get(tool.table)
    if relation is None:
        raise RefusedRequest(
            f"--import-history {tool.name}: no table {tool.table} on this database (looked up "
            "through the search_path), so there is no history to import; nothing was changed"
        )
    if relation.kind not in foreign.TABLE_KINDS or not tool.owns(set(relation.columns)):
        raise RefusedRequest(
            f"--import-history {tool.name}: {relation.name} is not {tool.name}'s tracking table "
            f"(columns: {', '.join(relation.columns) or 'none'}); nothing was changed"
        )
    return relation


def _who(value: object) -> str | None:
    """A user name as the tool stored it, without control characters, bounded."""
    if value is None:
        return None
    text = "".join(c for c in str(value) if c.isprintable()).strip()
    return text[:_WHO_MAX] or None


def _rows(conn: psycopg.Connection, query: sql.Composable, history: History) -> None:
    for version, applied_at, applied_by in conn.execute(query).fetchall():
        history.applied.append(Applied(str(version), applied_at, _who(applied_by)))


def _dbmate(conn, table, history: History) -> None:
    query = sql.SQL("SELECT version::text, NULL::timestamptz, NULL::text FROM {}").format(table)
    _rows(conn, query, history)


def _golang_migrate(conn, table, history: History) -> None:
    rows = conn.execute(sql.SQL("SELECT version, dirty FROM {}").format(table)).fetchall()
    if len(rows) > 1:
        raise RefusedRequest(
            f"--import-history golang-migrate: {history.table} holds {len(rows)} rows where "
            "golang-migrate keeps one; nothing was changed"
        )
    if rows and rows[0][1]:
        version = rows[0][0]
        raise RefusedRequest(
            f"--import-history golang-migrate: {history.table} says version {version} is dirty: "
            "a golang-migrate run failed part way through it, and nothing tells which of its "
            "statements ran. Check the schema, finish or undo that migration by hand, then "
            f"clear the flag with `migrate force {version}` (or the version before it) and "
            "import again; nothing was changed"
        )
    if rows:
        history.up_to = int(rows[0][0])


def _goose(conn, table, history: History) -> None:
    # The newest row of each version says whether it is applied now (down adds a row).
    query = sql.SQL(
        "SELECT version_id::text, tstamp::timestamptz, NULL::text FROM ("
        " SELECT DISTINCT ON (version_id) version_id, is_applied, tstamp FROM {}"
        " WHERE version_id <> 0 ORDER BY version_id, id DESC) newest WHERE is_applied"
    ).format(table)
    _rows(conn, query, history)


def _diesel(conn, table, history: History) -> None:
    query = sql.SQL("SELECT version::text, run_on::timestamptz, NULL::text FROM {}").format(table)
    _rows(conn, query, history)


def _flyway(conn, table, history: History) -> None:
    # The newest row of each version (or repeatable script) is its state; a failed one is a
    # half-applied version on a database without transactional DDL rollback of its own.
    newest = sql.SQL(
        "SELECT DISTINCT ON (coalesce(version, script)) version, script, type, success,"
        " installed_on::timestamptz, installed_by, installed_rank, checksum FROM {}"
        " WHERE type <> 'SCHEMA' ORDER BY coalesce(version, script), installed_rank DESC"
    ).format(table)
    rows = conn.execute(newest).fetchall()
    failed = [row for row in rows if not row[3]]
    if failed:
        version, script, _, _, _, _, rank, _ = failed[0]
        raise RefusedRequest(
            f"--import-history Flyway: {history.table} records {script} (version "
            f"{version or 'repeatable'}, installed_rank {rank}) as failed: Flyway stopped part "
            "way through it. Fix the schema by hand, run `flyway repair` to remove the failed "
            "row, and import again; nothing was changed"
        )
    for version, script, kind, _, installed_on, installed_by, _, crc in rows:
        if kind.upper().startswith(("UNDO", "DELETE")):
            continue  # an undone version is not applied
        if version is None:  # a repeatable: named as the runner names it, `R__<description>`
            version = script.rsplit("/", 1)[-1].removesuffix(".sql")
        else:
            crc = None  # a version's file is taken as it is on disk
        history.applied.append(Applied(version, installed_on, _who(installed_by), crc))


def _yoyo(conn, table, history: History) -> None:
    log = conn.execute(
        "SELECT quote_ident(n.nspname) || '._yoyo_log' FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s::regclass "
        "AND to_regclass(quote_ident(n.nspname) || '._yoyo_log') IS NOT NULL",
        (history.table,),
    ).fetchone()
    who = (
        sql.SQL(
            "(SELECT l.username FROM {} l WHERE l.migration_id = m.migration_id"
            " AND l.operation = 'apply' ORDER BY l.created_at_utc DESC LIMIT 1)"
        ).format(sql.SQL(log[0]))
        if log
        else sql.SQL("NULL::text")
    )
    query = sql.SQL(
        "SELECT m.migration_id, m.applied_at_utc AT TIME ZONE 'UTC', {} FROM {} m"
    ).format(who, table)
    _rows(conn, query, history)


def _sqitch(conn, table, history: History) -> None:
    query = sql.SQL(
        "SELECT change, committed_at, committer_name || ' <' || committer_email || '>', project"
        " FROM {} ORDER BY committed_at"
    ).format(table)
    for change, committed_at, who, project in conn.execute(query).fetchall():
        history.applied.append(Applied(change, committed_at, _who(who), project=project))


_READERS = {
    "dbmate": _dbmate,
    "golang-migrate": _golang_migrate,
    "goose": _goose,
    "diesel": _diesel,
    "Flyway": _flyway,
    "yoyo": _yoyo,
    "sqitch": _sqitch,
}
