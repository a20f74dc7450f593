"""Other runners' tracking tables: which tool a table at the ledger's name belongs to.

dbmate and golang-migrate keep their history in a table called `schema_migrations`, and
Flyway, goose and yoyo can be configured to; a table that is not the ledger is never altered.
Tables are told apart by their columns, never by their name: the ledger's own (or the guide's
older, fewer-column shape, which is upgraded in place) against each tool's, as the tool
creates it. Reading the catalog is the caller's; recognising is pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schema_audit.exceptions import ForeignLedger

# Every relation among `names` (each resolved as to_regclass resolves it), one row each:
# (name asked for, qualified name, bare name, relkind, columns in order).
TABLES_SQL = """
SELECT wanted.name, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relname::text,
       c.relkind::text,
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum)
FROM unnest(%s::text[]) AS wanted(name)
JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(wanted.name)
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
"""

# A table with these columns and no other tool's is the guide's older shape: upgraded in place.
# (A version alone, or with only a time, is how several runners and hand-made scripts track.)
_GUIDE_SHAPE = frozenset({"version", "status"})
TABLE_KINDS = ("r", "p")  # pg_class.relkind of a table, plain or partitioned
_KINDS = {"v": "a view", "m": "a materialized view", "S": "a sequence", "f": "a foreign table"}


@dataclass(frozen=True)
class Tool:
    """A migration runner whose tracking table may sit where the ledger's belongs."""

    name: str
    table: str  # where the tool keeps its history unless told otherwise
    columns: frozenset[str]  # the columns that tell its table apart
    pointer: str = ""  # how the tool is told that its table was renamed or moved
    exact: bool = False  # the columns are the whole table, not part of it

    def owns(self, columns: set[str]) -> bool:
        """True when a table with `columns` is this tool's."""
        return columns == self.columns if self.exact else self.columns <= columns


# Most specific first: dbmate's one column is last, matched only as the whole table.
TOOLS = (
    Tool(
        "golang-migrate",
        "schema_migrations",
        frozenset({"version", "dirty"}),
        "the x-migrations-table parameter of its database URL",
    ),
    Tool(
        "Flyway",
        "flyway_schema_history",
        frozenset({"installed_rank", "version", "script", "success"}),
        "its flyway.table setting",
    ),
    Tool("goose", "goose_db_version", frozenset({"version_id", "is_applied"}), "its -table flag"),
    Tool(
        "yoyo",
        "_yoyo_migration",
        frozenset({"migration_hash", "migration_id"}),
        "migration_table in its yoyo.ini",
    ),
    Tool("diesel", "__diesel_schema_migrations", frozenset({"version", "run_on"})),
    Tool("sqitch", "sqitch.changes", frozenset({"change_id", "script_hash", "change"})),
    Tool(
        "dbmate",
        "schema_migrations",
        frozenset({"version"}),
        "its --migrations-table flag",
        exact=True,
    ),
)

UNKNOWN = Tool("", "", frozenset())  # a relation no known runner creates

# The way to switch that keeps the other tool's table as it is, and the other way.
WAY_FORWARD = (
    "The way forward is a ledger schema of uap_migrate's own: set UAP_LEDGER_SCHEMA (to uap, "
    "say){importing}, and {whose} table stays as it is. Or rename or move {whose} table: "
    "ALTER TABLE {table} RENAME TO {renamed} (or SET SCHEMA another_schema){pointer}. See "
    "docs/how-to/switching.md."
)


@dataclass(frozen=True)
class Relation:
    """A relation found at one of the ledger's names."""

    name: str  # schema-qualified, quoted where needed
    table: str  # the bare name
    kind: str  # pg_class.relkind
    columns: tuple[str, ...]

    @classmethod
    def from_row(cls, row: tuple) -> Relation:
        """From a TABLES_SQL row."""
        _, name, table, kind, columns = row
        return cls(name, table, kind, tuple(columns))


def relations(rows: Iterable[tuple]) -> dict[str, Relation]:
    """TABLES_SQL's rows keyed by the name asked for."""
    return {row[0]: Relation.from_row(row) for row in rows}


def owner(relation: Relation, ledger_columns: Iterable[str]) -> Tool | None:
    """The tool `relation` belongs to; None when it is the ledger (or its older shape), UNKNOWN
    when it is neither the ledger nor a known tool's table."""
    columns = set(relation.columns)
    if relation.kind not in TABLE_KINDS:
        return UNKNOWN
    if set(ledger_columns) <= columns:
        return None  # every column the runner writes: its own, whatever else was added
    for tool in TOOLS:
        if tool.owns(columns):
            return tool
    if _GUIDE_SHAPE <= columns:
        return None
    return UNKNOWN


def refusal(relation: Relation, tool: Tool) -> ForeignLedger:
    """The error that stops every mode while `relation` holds the ledger's name."""
    if relation.kind not in TABLE_KINDS:
        what = _KINDS.get(relation.kind, "not a table")
    elif tool.name:
        what = f"{tool.name}'s tracking table"
    else:
        what = "a table of another tool or script"
    prefix = tool.name.lower().replace("-", "_") if tool.name else "old"
    forward = WAY_FORWARD.format(
        importing=f" with --import-history {tool.name} to take the history over"
        if tool.name
        else "",
        whose=f"{tool.name}'s" if tool.name else "that",
        table=relation.name,
        renamed=f"{prefix}_{relation.table}",
        pointer=f", then point {tool.name} at it with {tool.pointer}" if tool.pointer else "",
    )
    message = (
        f"{relation.name} is {what} (columns: {', '.join(relation.columns) or 'none'}), not "
        f"uap_migrate's ledger. Nothing was changed: uap_migrate never alters a table it did "
        f"not create. {forward}"
    )
    tool_name = tool.name or None
    return ForeignLedger(message, table=relation.name, tool=tool_name, columns=relation.columns)


def problem(relation: Relation | None, ledger_columns: Iterable[str]) -> ForeignLedger | None:
    """The refusal when `relation`, found at the ledger's name, is not the ledger; else None."""
    if relation is None:
        return None
    tool = owner(relation, ledger_columns)
    return None if tool is None else refusal(relation, tool)


def check(relation: Relation | None, ledger_columns: Iterable[str]) -> None:
    """ForeignLedger when `relation`, found at the ledger's name, is not the ledger."""
    error = problem(relation, ledger_columns)
    if error is not None:
        raise error
