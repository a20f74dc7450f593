"""Out-of-band DDL capture: an event trigger records DDL not run by uap_migrate in the event log.

uap_migrate's connections, and Django's migrate session (integrity/django_migrate.py), set
`uap.migrating = 'on'`; any other session's DDL becomes an `out_of_band_ddl` event (chained
like every event) with its user, application, client address, statement (password literals
masked, as files/redact does) and objects. Event triggers need a superuser to create.
"""

from __future__ import annotations

import psycopg

from schema_audit.exceptions import RefusedRequest
from schema_audit.ledger import store

ACTION = store.OUT_OF_BAND_ACTION
SESSION_SETTING = "uap.migrating"
END_TRIGGER, DROP_TRIGGER = store.DDL_AUDIT_TRIGGERS
FUNCTION = store.DDL_AUDIT_FUNCTION
EVENTS = store.EVENTS_TABLE

# SECURITY DEFINER: roles that may run DDL but not write the audit log are still recorded.
# A DROP fires both events; it is recorded once, from sql_drop, which names what was dropped.
_INSTALL_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {{schema}}, pg_catalog AS $$
DECLARE
    objects text;
BEGIN
    IF coalesce(current_setting('{SESSION_SETTING}', true), '') = 'on'
       OR to_regclass('{EVENTS}') IS NULL THEN
        RETURN;
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
        IF TG_TAG NOT LIKE 'DROP %' THEN
            RETURN;
        END IF;
        SELECT string_agg(object_type || ' ' || object_identity, ', ') INTO objects
        FROM pg_event_trigger_dropped_objects() WHERE original AND NOT is_temporary;
    ELSIF TG_TAG LIKE 'DROP %' THEN
        RETURN;
    ELSE
        SELECT string_agg(object_type || coalesce(' ' || object_identity, ''), ', ')
        INTO objects FROM pg_event_trigger_ddl_commands()
        WHERE coalesce(schema_name, '') NOT LIKE 'pg\\_temp%';
    END IF;
    IF objects IS NULL THEN
        RETURN;  -- only temporary objects: not a schema change
    END IF;
    INSERT INTO {EVENTS} (action, status, applied_by, host, sql_text, ddl_objects)
    VALUES ('{ACTION}', '{store.DETECTED}', session_user,
            coalesce(host(inet_client_addr()), 'local'),
            regexp_replace(current_query(), '(password\\s+E?)''([^'']|'''')*''?',
                           '\\1''********''', 'gi'),
            TG_TAG || ': ' || objects);
END
$$;
DROP EVENT TRIGGER IF EXISTS {END_TRIGGER};
CREATE EVENT TRIGGER {END_TRIGGER} ON ddl_command_end EXECUTE FUNCTION {FUNCTION}();
DROP EVENT TRIGGER IF EXISTS {DROP_TRIGGER};
CREATE EVENT TRIGGER {DROP_TRIGGER} ON sql_drop EXECUTE FUNCTION {FUNCTION}();
"""

_STATE_SQL = "SELECT evtname, evtenabled FROM pg_event_trigger WHERE evtname = ANY(%s)"


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
        "SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = to_regclass(%s)",
        (EVENTS,),
    ).fetchone()[0]
    try:
        with conn.transaction():
            conn.execute(_INSTALL_SQL.replace("{schema}", schema))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise RefusedRequest(
            "--install-ddl-audit: PostgreSQL refused the event trigger: "
            f"{exc.diag.message_primary}"
        ) from exc


def state(conn: psycopg.Connection) -> dict:
    """`{installed, enabled}`: both event triggers exist / neither is disabled."""
    found = dict(conn.execute(_STATE_SQL, (list(store.DDL_AUDIT_TRIGGERS),)).fetchall())
    installed = len(found) == len(store.DDL_AUDIT_TRIGGERS)
    return {"installed": installed, "enabled": installed and "D" not in found.values()}


def out_of_band_events(conn: psycopg.Connection, limit: int = 1000) -> list[dict]:
    """Recorded out-of-band DDL, newest first."""
    return store.read_events(conn, action=ACTION, newest_first=True, limit=limit)
