"""Creates and upgrades the tracking tables idempotently (docs/reference.md, "Tables")."""

from __future__ import annotations

import psycopg
from psycopg import sql

from schema_audit.db import names
from schema_audit.db.names import (  # noqa: F401 (the ledger's names, re-exported)
    ACCESS_TABLE,
    DDL_MARKS_TABLE,
    EVENTS_TABLE,
    MIGRATIONS_TABLE,
    ledger_sql,
    qualified,
)
from schema_audit.exceptions import InvalidConfiguration
from schema_audit.ledger import access_chain, chain, foreign

# Column definitions in order; upgrading an older (guide-shaped) table adds what is missing.
MIGRATION_COLUMNS = (
    ("version", "text PRIMARY KEY"),
    ("name", "text"),
    ("checksum", "char(64)"),
    ("status", "text"),
    ("applied_at", "timestamptz"),
    ("duration_ms", "integer"),
    ("error_message", "text"),
    ("applied_by", "text"),
    ("description", "text"),
    ("impact", "text"),
    ("rollback_sql", "text"),
)
EVENT_COLUMNS = (
    ("id", "bigserial PRIMARY KEY"),
    ("version", "text"),
    ("action", "text NOT NULL"),
    ("status", "text NOT NULL"),
    ("started_at", "timestamptz NOT NULL DEFAULT now()"),
    ("duration_ms", "integer"),
    ("error_message", "text"),
    ("sqlstate", "text"),
    ("applied_by", "text DEFAULT current_user"),
    ("os_user", "text"),
    ("host", "text"),
    ("app_version", "text"),
    ("checksum", "char(64)"),
    ("sql_text", "text"),
    ("reason", "text"),
    ("ticket", "text"),
    ("application", "text"),
    ("ddl_objects", "text"),
    ("fingerprint", "char(64)"),
    # The canonical JSON the fingerprint hashes (so drift can be shown as a diff); only on
    # the events that carry a fingerprint, and checked against it rather than chained.
    ("schema_description", "text"),
    ("prev_hash", "char(64)"),
    ("hash", "char(64)"),
    # A dry run's lock and rewrite trace (--trace); chained as an optional field (chain.py).
    ("trace", "jsonb"),
    # The id shared by every event of one fleet run (uap_migrate over several databases).
    ("rollout", "text"),
    # The Django user on whose behalf the event was written (the approver of an approval);
    # applied_by stays the database session's user.
    ("actor", "text"),
    # Set by the chain trigger from the server clock: when the row was written, whoever wrote
    # it. started_at is the writer's claim, checked against it (chain.trigger_sql).
    ("recorded_at", "timestamptz"),
    # `<key id>:<base64 Ed25519 signature>` of an event the app wrote (ledger/signing.py);
    # NULL on rows written without UAP_SIGNING_KEY, by the DDL audit trigger, or by others.
    ("signature", "text"),
)
# Event columns that can be large: lists and exports leave them to the detail page.
LARGE_EVENT_COLUMNS = ("sql_text", "schema_description", "trace")
# The tracking machinery itself is not part of the application schema's fingerprint.
DDL_AUDIT_FUNCTION = f"{EVENTS_TABLE}_ddl_audit"
DDL_AUDIT_TRIGGERS = (f"{EVENTS_TABLE}_ddl_end", f"{EVENTS_TABLE}_ddl_drop")
DDL_MARK_FUNCTIONS = (
    f"{EVENTS_TABLE}_ddl_mark",
    f"{EVENTS_TABLE}_ddl_mark_session",
    f"{EVENTS_TABLE}_ddl_unmark_session",
    f"{EVENTS_TABLE}_ddl_mark_expiry",
)
# Left out of the fingerprint where they stand in the ledger's schema (integrity/fingerprint).
TRACKING_OBJECTS = (
    MIGRATIONS_TABLE,
    EVENTS_TABLE,
    f"{EVENTS_TABLE}_id_seq",
    f"{EVENTS_TABLE}_append_only",
    f"{EVENTS_TABLE}_chain",
    DDL_AUDIT_FUNCTION,
    *DDL_AUDIT_TRIGGERS,
    DDL_MARKS_TABLE,
    *DDL_MARK_FUNCTIONS,
    ACCESS_TABLE,
    f"{ACCESS_TABLE}_id_seq",
    f"{ACCESS_TABLE}_pkey",
    f"{ACCESS_TABLE}_append_only",
    f"{ACCESS_TABLE}_chain",
)


def _append_only_sql(table: str, hint: str) -> str:
    """Triggers that refuse UPDATE, DELETE and TRUNCATE on `table`, saying what to do instead."""
    function, target = qualified(f"{table}_append_only"), qualified(table)
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql SET search_path = {chain.PINNED_SEARCH_PATH} AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege', HINT = '{hint}';
END
$$;
DROP TRIGGER IF EXISTS {table}_no_update_delete ON {target};
CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {target}
    FOR EACH ROW EXECUTE FUNCTION {function}();
DROP TRIGGER IF EXISTS {table}_no_truncate ON {target};
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {target}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
"""


def _trigger_sql() -> str:
    """The event log's append-only and chain triggers, in the ledger's schema."""
    return _append_only_sql(
        EVENTS_TABLE, "Record a new event (repair, accept_checksum) instead of editing history."
    ) + chain.trigger_sql(EVENTS_TABLE)


# Versions sort as the planner orders them (files.naming.version_key): by value, part by part
# for dotted ones (Flyway's '1.2.3' < '1.10' < '2'), every number before any other text.
# The key is text compared byte by byte (COLLATE "C", whatever the database's locale):
# - digits alone: the number without its leading zeros, left-padded to 20 digits ('3' <
#   '010' < '1000'); a longer one is '~', its length in 10 digits, then its digits, after
#   every shorter one and by value among themselves;
# - dotted: each run of digits padded to 20 the same way ('_' read as '.'); a run of more
#   than 20 significant digits is marked '~', after every shorter one;
# - anything else: '~~' and the text itself, after every number.
# The index on that key lets the admin order and match 100k versions without sorting them per
# request. PostgreSQL still computes the key of each row it reads past (a deep page), which
# is why the usual version, digits alone, takes no regular expression (30 times as costly).
VERSION_SORT_WIDTH = 20
VERSION_SORT_INDEX = f"{MIGRATIONS_TABLE}_version_order_idx"
# The index an earlier version made, on lpad(version, 20, '0'): dotted versions out of order.
_OLD_VERSION_SORT_INDEX = f"{MIGRATIONS_TABLE}_version_key_idx"


def version_order_sql(column: str) -> str:
    """The sort key of the versions in `column` (an SQL expression) as SQL, constants
    written out: the index (below) and the admin's ordering (admin.queries.version_key)
    must be the same expression for PostgreSQL to read the index."""
    width, number = VERSION_SORT_WIDTH, f"ltrim({column}, '0')"
    dotted = f"translate({column}, '_', '.')"
    for pattern, replacement in (
        (rf"0*([1-9][0-9]{{{width},}})", r"~\1"),  # more than `width` significant digits
        ("([0-9]+)", "0" * width + r"\1"),
        (rf"0*([0-9]{{{width}}})", r"\1"),
    ):
        dotted = f"regexp_replace({dotted}, '{pattern}', '{replacement}', 'g')"
    return (
        f"(CASE WHEN {column} <> '' AND translate({column}, '0123456789', '') = '' THEN "
        f"CASE WHEN length({number}) <= {width} THEN lpad({number}, {width}, '0') "
        f"ELSE '~' || lpad(length({number})::text, 10, '0') || {number} END "
        f"WHEN {column} ~ '^[0-9]+([._][0-9]+)*$' THEN {dotted} "
        f"ELSE '~~' || {column} END) COLLATE \"C\""
    )


def _version_sort_sql() -> str:
    """The index's DDL, as a ledger_sql template (the key's own braces doubled)."""
    key = version_order_sql("version").replace("{", "{{").replace("}", "}}")
    return (
        f"CREATE INDEX IF NOT EXISTS {VERSION_SORT_INDEX} ON {{migrations}} (({key}));\n"
        f"DROP INDEX IF EXISTS {{schema}}.{_OLD_VERSION_SORT_INDEX}"
    )


# One catalog round trip tells whether the tables are complete; DDL runs only when they are not,
# so a no-op deploy takes no ACCESS EXCLUSIVE lock on the ledger.
_SCHEMA_STATE_SQL = """
SELECT c.relname, array_agg(a.attname::text) AS columns,
       (SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE t.tgrelid = c.oid AND NOT t.tgisinternal
          -- A trigger function of an older version, not pinned yet, is re-created.
          AND p.proconfig @> ARRAY['search_path=' || %s]) AS triggers,
       to_regclass(%s) IS NOT NULL AS sort_index
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.oid IN (to_regclass(%s), to_regclass(%s), to_regclass(%s))
GROUP BY c.oid, c.relname
"""

# Upserts need a unique key on version; an older hand-made table may lack one.
_HAS_VERSION_KEY_SQL = """
SELECT EXISTS (
    SELECT 1 FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indnatts = 1
      AND a.attname = 'version'
)
"""

# Checked once per run, so a role that cannot record is refused before any file runs (a
# file whose record fails would otherwise be reported as the file's own failure).
_WRITABLE_SQL = """
SELECT current_user,
       has_table_privilege({migrations_name}, 'SELECT')
       AND has_table_privilege({migrations_name}, 'INSERT')
       AND has_table_privilege({migrations_name}, 'UPDATE')
       AND has_table_privilege({events_name}, 'SELECT')
       AND has_table_privilege({events_name}, 'INSERT')
       AND coalesce(
           has_sequence_privilege(pg_get_serial_sequence({events_name}, 'id'), 'USAGE'), true)
"""


def tables_exist(conn: psycopg.Connection) -> bool:
    """True when `schema_migrations` exists (the ledger may be read); ForeignLedger when
    another tool's table holds its name."""
    return ledger_tables(conn)[0]


def ledger_tables(conn: psycopg.Connection) -> tuple[bool, bool]:
    """Whether `schema_migrations` and `schema_migration_events` exist, in one round trip.

    Every mode reads this (or ensure_schema) before it reads or writes the ledger: a table of
    another tool at the ledger's name is refused here (ForeignLedger), before anything changes.
    """
    migrations, events = qualified(MIGRATIONS_TABLE), qualified(EVENTS_TABLE)
    found = foreign.relations(conn.execute(foreign.TABLES_SQL, ([migrations, events],)).fetchall())
    foreign.check(found.get(migrations), (name for name, _ in MIGRATION_COLUMNS))
    return migrations in found, events in found


def ensure_schema(conn: psycopg.Connection) -> bool:
    """Create or upgrade both tables and the append-only trigger; True if DDL ran."""
    tables = (MIGRATIONS_TABLE, EVENTS_TABLE, ACCESS_TABLE)
    params = (chain.PINNED_SEARCH_PATH, qualified(VERSION_SORT_INDEX), *map(qualified, tables))
    rows = conn.execute(_SCHEMA_STATE_SQL, params)
    state, sort_index = {}, False
    for table, columns, triggers, has_index in rows:
        state[table] = (set(columns), triggers)
        sort_index = has_index
    access = state.pop(ACCESS_TABLE, None)
    wanted = {MIGRATIONS_TABLE: MIGRATION_COLUMNS, EVENTS_TABLE: EVENT_COLUMNS}
    complete = (
        all(
            table in state and {name for name, _ in columns} <= state[table][0]
            for table, columns in wanted.items()
        )
        and state[EVENTS_TABLE][1] >= 3
        and sort_index
    )
    if complete:
        _ensure_writable(conn)
        return _ensure_access_table(conn, access)
    ledger_tables(conn)  # another tool's table at the ledger's name is never altered
    try:
        _create_or_upgrade(conn, state, wanted)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise InvalidConfiguration(
            f"cannot create or upgrade the tracking tables as {conn.info.user}: "
            f"{exc.diag.message_primary}. Run uap_migrate once as the schema's owner, or "
            "grant this role CREATE on the schema."
        ) from exc
    _ensure_access_table(conn, access)
    return True


def _ensure_writable(conn: psycopg.Connection) -> None:
    """InvalidConfiguration unless this role may write both tables."""
    user, writable = conn.execute(ledger_sql(_WRITABLE_SQL)).fetchone()
    if not writable:
        raise InvalidConfiguration(
            f"role {user} may not write {names.shown(MIGRATIONS_TABLE)} (SELECT, INSERT, UPDATE) "
            f"and {names.shown(EVENTS_TABLE)} (SELECT, INSERT, and USAGE on its id sequence); "
            "grant them, or run uap_migrate as the tables' owner"
        )


def ensure_ledger_schema(conn: psycopg.Connection) -> None:
    """CREATE SCHEMA for UAP_LEDGER_SCHEMA when it is missing (no lock taken when it exists)."""
    schema = sql.Identifier(names.ledger_schema())
    # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists.
    if conn.execute("SELECT to_regnamespace(%s) IS NULL", (schema.as_string(),)).fetchone()[0]:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))


def _create_or_upgrade(conn: psycopg.Connection, state: dict, wanted: dict) -> None:
    with conn.transaction():
        ensure_ledger_schema(conn)
        for table, columns in wanted.items():
            target = qualified(table)
            if table not in state:
                body = ", ".join(f"{name} {ddl}" for name, ddl in columns)
                conn.execute(f"CREATE TABLE IF NOT EXISTS {target} ({body})")
            else:
                for name, ddl in columns:
                    if name not in state[table][0]:
                        plain = ddl.replace(" PRIMARY KEY", "")
                        conn.execute(
                            f"ALTER TABLE {target} ADD COLUMN IF NOT EXISTS {name} {plain}"
                        )
        if not conn.execute(_HAS_VERSION_KEY_SQL, (qualified(MIGRATIONS_TABLE),)).fetchone()[0]:
            conn.execute(f"ALTER TABLE {qualified(MIGRATIONS_TABLE)} ADD PRIMARY KEY (version)")
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {EVENTS_TABLE}_version_idx "
            f"ON {qualified(EVENTS_TABLE)} (version, id)"
        )
        conn.execute(ledger_sql(_version_sort_sql()))
        conn.execute(_trigger_sql())


ACCESS_COLUMNS = (
    ("id", "bigserial PRIMARY KEY"),
    ("at", "timestamptz NOT NULL DEFAULT now()"),
    ("username", "text"),  # the Django user, or the name tried by a failed login
    ("action", "text NOT NULL"),
    ("method", "text"),
    ("path", "text"),
    ("query_string", "text"),
    ("status_code", "integer"),
    ("rows_exported", "integer"),
    ("address", "text"),
)
ACCESS_ACTIONS = (
    "view",
    "export",
    "evidence",
    "approve",
    "revoke",
    "login_failed",
    # Writes the read-only admin refuses (403), recorded as what was attempted.
    "add",
    "change",
    "delete",
)
# Filled by the access log's chain trigger (access_chain), not by the writer; `at` is reset
# there from the server clock.
ACCESS_CHAIN_COLUMNS = (("prev_hash", "char(64)"), ("hash", "char(64)"))


def _access_trigger_sql() -> str:
    return _append_only_sql(
        ACCESS_TABLE, "The access log of the audit trail is never edited or purged."
    ) + access_chain.trigger_sql(ACCESS_TABLE)


_ACCESS_TRIGGERS = 3  # no update/delete, no truncate, chain


def _ensure_access_table(conn: psycopg.Connection, access: tuple[set, int] | None) -> bool:
    """Create or upgrade `schema_audit_access` and its append-only triggers; True if DDL ran.

    `access` is the table's (columns, triggers) from ensure_schema's state query, or None.
    """
    have, triggers = access or (set(), 0)
    wanted = {name for name, _ in (*ACCESS_COLUMNS, *ACCESS_CHAIN_COLUMNS)}
    if access and wanted <= have and triggers >= _ACCESS_TRIGGERS:
        return False
    try:
        _create_access_table(conn, access is not None, have)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise InvalidConfiguration(
            f"cannot create or upgrade {names.shown(ACCESS_TABLE)} as {conn.info.user}: "
            f"{exc.diag.message_primary}. Run uap_migrate once as the schema's owner."
        ) from exc
    return True


def _create_access_table(conn: psycopg.Connection, exists: bool, have: set) -> None:
    target = qualified(ACCESS_TABLE)
    with conn.transaction():
        ensure_ledger_schema(conn)
        if not exists:
            columns = (*ACCESS_COLUMNS, *ACCESS_CHAIN_COLUMNS)
            body = ", ".join(f"{name} {ddl}" for name, ddl in columns)
            conn.execute(f"CREATE TABLE IF NOT EXISTS {target} ({body})")
        for name, ddl in (*ACCESS_COLUMNS, *ACCESS_CHAIN_COLUMNS):
            if exists and name not in have:
                plain = ddl.replace(" PRIMARY KEY", "")
                conn.execute(f"ALTER TABLE {target} ADD COLUMN IF NOT EXISTS {name} {plain}")
        conn.execute(_access_trigger_sql())
