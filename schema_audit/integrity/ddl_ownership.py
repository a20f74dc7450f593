"""Who owns the DDL audit's objects: before the audit's superuser INSERTs into the event log,
the table and its trigger functions move to that superuser, and the mark functions are granted
to the ledger's owners only (integrity/ddl_capture.py installs)."""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from schema_audit.exceptions import RefusedRequest
from schema_audit.ledger import store

logger = logging.getLogger(__name__)
EVENTS = store.EVENTS_TABLE
MARK, MARK_SESSION, UNMARK_SESSION, _EXPIRY = store.DDL_MARK_FUNCTIONS


_LEDGER_OWNERS_SQL = """
SELECT r.rolname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
WHERE c.oid = to_regclass(%s) AND NOT r.rolsuper
"""


def grant_marks(conn: psycopg.Connection, schema: str, former: str | None) -> None:
    """EXECUTE on the mark functions for the ledger's owners: the owner of schema_migrations
    and the event log's owner before the install took it."""
    owners = {
        row[0]
        for row in conn.execute(_LEDGER_OWNERS_SQL, (store.qualified(store.MIGRATIONS_TABLE),))
    }
    owners |= {former} if former else set()
    for owner in sorted(owners):
        conn.execute(
            sql.SQL("GRANT EXECUTE ON FUNCTION {}(), {}(), {}() TO {}").format(
                *(sql.Identifier(schema, name) for name in (MARK, MARK_SESSION, UNMARK_SESSION)),
                sql.Identifier(owner),
            )
        )


def refuse_foreign_marks(conn: psycopg.Connection, marks: str) -> None:
    """RefusedRequest when a relation named like the marks table exists that a superuser did
    not create as a plain table: its owner could have planted rows or hooks in it."""
    row = conn.execute(
        "SELECT c.relkind::text, r.rolsuper FROM pg_class c JOIN pg_roles r "
        "ON r.oid = c.relowner WHERE c.oid = to_regclass(%s)",
        (marks,),
    ).fetchone()
    if row and (row[0] != "r" or not row[1]):
        raise RefusedRequest(
            f"--install-ddl-audit: {marks} exists and was not created by a superuser as a "
            "plain table; drop it first"
        )


# The app's own triggers and column defaults on the event log; anything else is refused.
_OWN_TRIGGERS = {f"{EVENTS}_{name}" for name in ("chain", "no_update_delete", "no_truncate")}
_FOREIGN_SQL = """
SELECT 'trigger ' || t.tgname FROM pg_trigger t
WHERE t.tgrelid = %(events)s::regclass AND NOT t.tgisinternal AND NOT t.tgname = ANY(%(own)s)
UNION ALL
SELECT 'rule ' || r.rulename FROM pg_rewrite r WHERE r.ev_class = %(events)s::regclass
UNION ALL
SELECT 'default on column ' || a.attname FROM pg_attrdef d
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid = %(events)s::regclass AND NOT a.attname = ANY(%(defaults)s)
"""
_OWNER_SQL = """
SELECT r.rolname, r.rolsuper FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
WHERE c.oid = %s::regclass
"""


def take_over(conn: psycopg.Connection, events: str) -> str | None:
    """Make the installing superuser own the event log and its trigger functions; the
    table's former owner, None if a superuser owned it already.

    The audit function INSERTs as its superuser owner; a trigger, default or rule that the
    table's owner (usually the migration role) attached would run with those rights. So the
    table and what it runs move to the superuser, its former owner keeps INSERT and SELECT,
    and anything on the table the app did not put there refuses the install.
    """
    params = {
        "events": events,
        "own": list(_OWN_TRIGGERS),
        "defaults": ["id", "started_at", "applied_by"],
    }
    foreign = [name for (name,) in conn.execute(_FOREIGN_SQL, params)]
    if foreign:
        raise RefusedRequest(
            f"--install-ddl-audit: {events} carries {', '.join(foreign)}, which the app did "
            "not create and which the audit's superuser INSERT would run; remove it first"
        )
    owner, is_super = conn.execute(_OWNER_SQL, (events,)).fetchone()
    if is_super:
        return None
    table = sql.SQL(events)
    with conn.transaction():
        conn.execute(sql.SQL("ALTER TABLE {} OWNER TO CURRENT_USER").format(table))
        functions = conn.execute(
            "SELECT DISTINCT tgfoid::regprocedure::text FROM pg_trigger "
            "WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            (events,),
        ).fetchall()
        for (function,) in functions:
            conn.execute(
                sql.SQL("ALTER FUNCTION {} OWNER TO CURRENT_USER").format(sql.SQL(function))
            )
        # The defaults the app sets, again: the former owner may have changed them.
        conn.execute(
            sql.SQL(
                "ALTER TABLE {} ALTER COLUMN started_at SET DEFAULT now(), "
                "ALTER COLUMN applied_by SET DEFAULT CURRENT_USER"
            ).format(table)
        )
        sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (events,)).fetchone()[0]
        writer = sql.Identifier(owner)
        conn.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(table, writer))
        conn.execute(
            sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(sql.SQL(sequence), writer)
        )
    logger.warning(
        "%s now belongs to %s (the DDL audit's superuser); %s keeps INSERT and SELECT. Upgrades "
        "of its columns need a superuser run of uap_migrate.",
        events,
        conn.info.user,
        owner,
    )
    return owner
