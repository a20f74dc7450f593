"""Out-of-band DDL capture: an event trigger records DDL not run by uap_migrate in the event log.

uap_migrate registers each transaction it runs a migration in (and the session of a file run
statement by statement, or of Django's migrate: integrity/django_migrate.py) in a table only
the audit's superuser owns, through functions only the ledger's owner may execute; the
registration goes with the transaction (rolled back with it, deleted at its commit). Any
other DDL becomes an `out_of_band_ddl` event (chained like every event) with its user,
application, client address, statement (password literals masked, as files/redact does) and
objects. Event triggers need a superuser to create.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from schema_audit.exceptions import RefusedRequest
from schema_audit.integrity import ddl_ownership
from schema_audit.ledger import chain, store

logger = logging.getLogger(__name__)

ACTION = store.OUT_OF_BAND_ACTION
# Trusted only by audit functions older versions installed (upgrade() replaces them); any
# session may set it, so the current function ignores it.
SESSION_SETTING = "uap.migrating"
MARKS = store.DDL_MARKS_TABLE
MARK, MARK_SESSION, UNMARK_SESSION, EXPIRY = store.DDL_MARK_FUNCTIONS
END_TRIGGER, DROP_TRIGGER = store.DDL_AUDIT_TRIGGERS
FUNCTION = store.DDL_AUDIT_FUNCTION
EVENTS = store.EVENTS_TABLE

# The registrations: a transaction's row is deleted when it commits (the deferred constraint
# trigger) and goes with its rollback; a session's (xact NULL) is deleted by the unmark
# function, or by the next session mark once its session is gone. The audit's superuser owns
# the table and the functions, so only what they do can write it; the ledger's owner gets
# EXECUTE on mark and unmark (install()). Each mark takes (pid, backend start) from the
# server, so a session can register only itself.
_MARKS_SQL = f"""
CREATE TABLE IF NOT EXISTS {{marks}} (
    pid integer NOT NULL,
    backend_start timestamptz NOT NULL,
    xact bigint
);
ALTER TABLE {{marks}} OWNER TO CURRENT_USER;
REVOKE ALL ON TABLE {{marks}} FROM PUBLIC;
CREATE OR REPLACE FUNCTION {{expiry}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {chain.PINNED_SEARCH_PATH} AS $$
BEGIN
    DELETE FROM {{marks}} AS m
    WHERE m.pid OPERATOR(pg_catalog.=) NEW.pid AND m.xact OPERATOR(pg_catalog.=) NEW.xact;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS {EXPIRY} ON {{marks}};
CREATE CONSTRAINT TRIGGER {EXPIRY} AFTER INSERT ON {{marks}} DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.xact IS NOT NULL) EXECUTE FUNCTION {{expiry}}();
CREATE OR REPLACE FUNCTION {{mark}}() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = {chain.PINNED_SEARCH_PATH} AS $$
INSERT INTO {{marks}} (pid, backend_start, xact)
SELECT pg_catalog.pg_backend_pid(), a.backend_start, pg_catalog.txid_current()
FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) AS a;
$$;
CREATE OR REPLACE FUNCTION {{mark_session}}() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = {chain.PINNED_SEARCH_PATH} AS $$
DELETE FROM {{marks}} AS m
WHERE m.xact IS NULL AND NOT EXISTS (
    SELECT FROM pg_catalog.pg_stat_get_activity(m.pid) AS a
    WHERE a.backend_start OPERATOR(pg_catalog.=) m.backend_start);
INSERT INTO {{marks}} (pid, backend_start, xact)
SELECT pg_catalog.pg_backend_pid(), a.backend_start, NULL
FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) AS a;
$$;
CREATE OR REPLACE FUNCTION {{unmark_session}}() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = {chain.PINNED_SEARCH_PATH} AS $$
DELETE FROM {{marks}} AS m
WHERE m.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() AND m.xact IS NULL;
$$;
ALTER FUNCTION {{expiry}}() OWNER TO CURRENT_USER;
ALTER FUNCTION {{mark}}() OWNER TO CURRENT_USER;
ALTER FUNCTION {{mark_session}}() OWNER TO CURRENT_USER;
ALTER FUNCTION {{unmark_session}}() OWNER TO CURRENT_USER;
REVOKE ALL ON FUNCTION {{expiry}}(), {{mark}}(), {{mark_session}}(), {{unmark_session}}()
    FROM PUBLIC;
"""

# SECURITY DEFINER: roles that may run DDL but not write the audit log are still recorded.
# It runs as its (superuser) owner whenever anyone runs DDL, so its search_path holds nothing a
# user may create in, and every name is qualified ({events} and {function}: set at install).
# A DROP fires both events; it is recorded once, from sql_drop, which names what was dropped.
# DDL in a transaction or session registered in {marks} is uap_migrate's or Django's own.
_INSTALL_SQL = f"""
CREATE OR REPLACE FUNCTION {{function}}() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {chain.PINNED_SEARCH_PATH} AS $$
DECLARE
    objects text;
BEGIN
    IF pg_catalog.to_regclass({{events_literal}}) IS NULL THEN
        RETURN;
    END IF;
    IF pg_catalog.to_regclass({{marks_literal}}) IS NOT NULL THEN
        IF EXISTS (SELECT FROM {{marks}} AS m
                   WHERE m.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                     AND (m.xact OPERATOR(pg_catalog.=) pg_catalog.txid_current()
                          OR (m.xact IS NULL AND m.backend_start OPERATOR(pg_catalog.=) (
                              SELECT a.backend_start FROM pg_catalog.pg_stat_get_activity(
                                  pg_catalog.pg_backend_pid()) AS a)))) THEN
            RETURN;
        END IF;
    END IF;
    -- The INSERT below runs as this function's superuser owner, and so would any trigger or
    -- default on the table: write only while a superuser owns the table (install() saw to it).
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles r
                   ON r.oid OPERATOR(pg_catalog.=) c.relowner
                   WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass({{events_literal}})
                     AND r.rolsuper) THEN
        RAISE WARNING 'out-of-band DDL not recorded: % is not owned by a superuser; run '
                      'uap_migrate --install-ddl-audit again', {{events_literal}};
        RETURN;
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
        IF TG_TAG NOT LIKE 'DROP %' THEN
            RETURN;
        END IF;
        SELECT pg_catalog.string_agg(object_type || ' ' || object_identity, ', ') INTO objects
        FROM pg_catalog.pg_event_trigger_dropped_objects() WHERE original AND NOT is_temporary;
    ELSIF TG_TAG LIKE 'DROP %' THEN
        RETURN;
    ELSE
        SELECT pg_catalog.string_agg(object_type || coalesce(' ' || object_identity, ''), ', ')
        INTO objects FROM pg_catalog.pg_event_trigger_ddl_commands()
        WHERE coalesce(schema_name, '') NOT LIKE 'pg\\_temp%';
    END IF;
    IF objects IS NULL THEN
        RETURN;  -- only temporary objects: not a schema change
    END IF;
    INSERT INTO {{events}} (action, status, applied_by, host, sql_text, ddl_objects)
    VALUES ('{ACTION}', '{store.DETECTED}', session_user,
            coalesce(pg_catalog.host(pg_catalog.inet_client_addr()), 'local'),
            pg_catalog.regexp_replace(pg_catalog.current_query(),
                                      '("?password"?(?:\\s|/\\*[^*]*\\*+(?:[^/*][^*]*\\*+)*/|--[^\\n]*\\n)*E?)''([^'']|'''')*''?',
                                      '\\1''********''', 'gi'),
            TG_TAG || ': ' || objects);
END
$$;
ALTER FUNCTION {{function}}() OWNER TO CURRENT_USER;
DROP EVENT TRIGGER IF EXISTS {END_TRIGGER};
CREATE EVENT TRIGGER {END_TRIGGER} ON ddl_command_end EXECUTE FUNCTION {{function}}();
DROP EVENT TRIGGER IF EXISTS {DROP_TRIGGER};
CREATE EVENT TRIGGER {DROP_TRIGGER} ON sql_drop EXECUTE FUNCTION {{function}}();
"""

# The qualified names of the mark functions beside the event log, when this role may execute
# them (the audit is installed and it owns the ledger); else no row.
MARKER_SQL = """
SELECT pg_catalog.format('%%I.%%I', n.nspname, %s::text),
       pg_catalog.format('%%I.%%I', n.nspname, %s::text),
       pg_catalog.format('%%I.%%I', n.nspname, %s::text)
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_proc AS p ON p.pronamespace = n.oid AND p.proname = %s
WHERE c.oid = pg_catalog.to_regclass(%s) AND p.pronargs = 0
  AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')
"""


def marker_params() -> tuple[str, ...]:
    """MARKER_SQL's parameters: the mark functions' names and the event log's."""
    return (MARK, MARK_SESSION, UNMARK_SESSION, MARK, store.qualified(EVENTS))


@dataclass(frozen=True)
class Marks:
    """SQL registering DDL as the runner's: each ends with `; ` or is empty (not installed)."""

    transaction: str = ""  # this transaction, until it ends
    session: str = ""  # the whole session, until `end`
    end: str = ""

    @classmethod
    def of(cls, names: tuple | None) -> Marks:
        """From MARKER_SQL's row (None or NULLs: the audit is not installed or not executable)."""
        if not names or not names[0]:
            return cls()
        return cls(*(f"SELECT {name}(); " for name in names))


def marks(cursor) -> Marks:
    """The Marks this session may use (a DB-API cursor)."""
    cursor.execute(MARKER_SQL, marker_params())
    return Marks.of(cursor.fetchone())


_STATE_SQL = "SELECT evtname, evtenabled FROM pg_event_trigger WHERE evtname = ANY(%s)"
# An installed audit whose function an older version created: without a pinned search_path,
# or trusting the uap.migrating setting instead of the marks table.
_OUTDATED_SQL = """
SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user AND EXISTS (
    SELECT 1 FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid
    WHERE e.evtname = ANY(%s)
      AND (NOT coalesce(p.proconfig @> ARRAY['search_path=' || %s], false)
           OR strpos(p.prosrc, %s) = 0))
"""


def install(conn: psycopg.Connection) -> None:
    """Create the tracking tables if needed and the two event triggers; RefusedRequest if the
    role may not create event triggers."""
    role = conn.execute(
        "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not role[1]:
        raise RefusedRequest(
            f"--install-ddl-audit needs a superuser: role {role[0]!r} may not create event "
            "triggers. Run it once as a superuser (e.g. DATABASE_URL with the postgres role); "
            "migrations can keep running as the application role afterwards."
        )
    store.ensure_schema(conn)
    schema = conn.execute(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass(%s)",
        (store.qualified(EVENTS),),
    ).fetchone()[0]
    events = sql.Identifier(schema, EVENTS).as_string(conn)
    marks = sql.Identifier(schema, MARKS).as_string(conn)
    former = ddl_ownership.take_over(conn, events)
    ddl_ownership.refuse_foreign_marks(conn, marks)
    text = _MARKS_SQL + _INSTALL_SQL
    for marker, value in (
        ("{function}", sql.Identifier(schema, FUNCTION).as_string(conn)),
        ("{events_literal}", sql.Literal(events).as_string(conn)),
        ("{events}", events),
        ("{marks_literal}", sql.Literal(marks).as_string(conn)),
        ("{marks}", marks),
        ("{mark}", sql.Identifier(schema, MARK).as_string(conn)),
        ("{mark_session}", sql.Identifier(schema, MARK_SESSION).as_string(conn)),
        ("{unmark_session}", sql.Identifier(schema, UNMARK_SESSION).as_string(conn)),
        ("{expiry}", sql.Identifier(schema, EXPIRY).as_string(conn)),
    ):
        text = text.replace(marker, value)
    try:
        with conn.transaction():
            # The audit being replaced must not record its own replacement.
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(text)
            ddl_ownership.grant_marks(conn, schema, former)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise RefusedRequest(
            "--install-ddl-audit: PostgreSQL refused the event trigger: "
            f"{exc.diag.message_primary}"
        ) from exc


def upgrade(conn: psycopg.Connection) -> bool:
    """Re-create an installed audit function an older version left; True if done.

    Only a superuser may replace it; any other runner logs a warning naming the fix.
    """
    row = conn.execute(
        _OUTDATED_SQL, (list(store.DDL_AUDIT_TRIGGERS), chain.PINNED_SEARCH_PATH, MARKS)
    ).fetchone()
    if row is None:
        return False
    if not row[0]:
        logger.warning(
            "the DDL audit function %s was installed by an older version (an unpinned "
            "search_path, or a skip any session can switch on with uap.migrating); run "
            "uap_migrate --install-ddl-audit once as a superuser to replace it",
            FUNCTION,
        )
        return False
    install(conn)
    return True


def state(conn: psycopg.Connection) -> dict:
    """`{installed, enabled}`: both event triggers exist / neither is disabled."""
    found = dict(conn.execute(_STATE_SQL, (list(store.DDL_AUDIT_TRIGGERS),)).fetchall())
    installed = len(found) == len(store.DDL_AUDIT_TRIGGERS)
    return {"installed": installed, "enabled": installed and "D" not in found.values()}


def out_of_band_events(conn: psycopg.Connection, limit: int = 1000) -> list[dict]:
    """Recorded out-of-band DDL, newest first."""
    return store.read_events(conn, action=ACTION, newest_first=True, limit=limit)
