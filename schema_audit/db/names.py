"""The names the app gives its objects in PostgreSQL: the ledger's tables, the schema that
holds them (UAP_LEDGER_SCHEMA), and the keys of its advisory locks. The ledger creates and uses
them; the lock messages name their holders.

Every statement that names a ledger object names it schema-qualified and quoted by psycopg
(`sql.Identifier(schema, name)`): the schema is a setting, and never reaches SQL any other way.
"""

from __future__ import annotations

from functools import lru_cache

from psycopg import sql

from schema_audit import conf

MIGRATIONS_TABLE = "schema_migrations"
EVENTS_TABLE = "schema_migration_events"
ACCESS_TABLE = "schema_audit_access"  # who viewed or exported what in the audit admin
# The transactions and sessions whose DDL is uap_migrate's or Django's (integrity/ddl_capture).
DDL_MARKS_TABLE = f"{EVENTS_TABLE}_ddl_marks"
DEFAULT_SCHEMA = "public"

# One key for every runner on a database, whatever its --dir: two deploys never interleave.
RUNNERS_LOCK_KEY = 0x5541505F4D494752  # "UAP_MIGR"
# Taken by every event write (the chain trigger and a signing writer), held to commit.
CHAIN_LOCK_KEY = 0x5541505F43484149  # "UAP_CHAI"

# What a ledger statement's template may name (ledger_sql): `{migrations}` becomes the
# qualified identifier of the table, `{migrations_name}` the same as a text literal (for
# to_regclass and pg_get_serial_sequence inside the statement).
_TEMPLATE_TABLES = {
    "migrations": MIGRATIONS_TABLE,
    "events": EVENTS_TABLE,
    "access": ACCESS_TABLE,
    "marks": DDL_MARKS_TABLE,
}


def ledger_schema() -> str:
    """The schema that holds the tracking tables and their functions (UAP_LEDGER_SCHEMA)."""
    return conf.get("UAP_LEDGER_SCHEMA")


def identifier(name: str) -> sql.Identifier:
    """The ledger object `name` in the ledger's schema, for sql.SQL(...).format()."""
    return sql.Identifier(ledger_schema(), name)


def qualified(name: str, schema: str | None = None) -> str:
    """`"schema"."name"` as psycopg quotes it: a to_regclass argument, Django's db_table."""
    return _qualified(schema or ledger_schema(), name)


def shown(name: str) -> str:
    """`name` as messages show it: bare in public, `schema.name` in a ledger schema of its own."""
    schema = ledger_schema()
    return name if schema == DEFAULT_SCHEMA else f"{schema}.{name}"


@lru_cache(maxsize=256)
def _qualified(schema: str, name: str) -> str:
    return sql.Identifier(schema, name).as_string()


def ledger_sql(template: str) -> str:
    """`template` with `{migrations}`, `{events}`, `{access}` and `{marks}` (and their
    `_name` literals) as the ledger schema's quoted identifiers; `{{`/`}}` for braces.

    The text is the same for the same schema, so psycopg's prepared statements keep working.
    """
    return _compose(template, ledger_schema())


@lru_cache(maxsize=1024)
def _compose(template: str, schema: str) -> str:
    names: dict[str, sql.Composable] = {}
    for key, table in _TEMPLATE_TABLES.items():
        names[key] = sql.Identifier(schema, table)
        names[f"{key}_name"] = sql.Literal(_qualified(schema, table))
    names["schema"] = sql.Identifier(schema)
    return sql.SQL(template).format(**names).as_string()
