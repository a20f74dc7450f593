"""Privilege escalation: functions planted where a role may create never run with more rights.

Every function the app creates in the database (the chain and append-only triggers, the DDL
audit's SECURITY DEFINER function) may run as a superuser. A role allowed to CREATE in the
ledger's schema plants look-alikes of the built-ins those functions call, each trying to make
the role a superuser; the app's functions must never reach them.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from schema_audit import api
from schema_audit.ledger import chain, store
from tests.conftest import migration, numbered

# (name, argument types, result type) of built-ins the app's functions call or could call.
SHADOWED = (
    ("current_setting", "text, boolean", "text"),
    ("to_regclass", "text", "regclass"),
    ("host", "inet", "text"),
    ("inet_client_addr", "", "inet"),
    ("regexp_replace", "text, text, text, text", "text"),
    ("current_query", "", "text"),
    ("clock_timestamp", "", "timestamptz"),
    ("pg_advisory_xact_lock", "bigint", "void"),
    ("sha256", "bytea", "bytea"),
    ("encode", "bytea, text", "text"),
    ("convert_to", "text, name", "bytea"),
    ("length", "text", "integer"),
    ("length", "character", "integer"),
    ("nextval", "regclass", "bigint"),
    ("nextval", "text", "bigint"),
    ("pg_get_serial_sequence", "text, text", "text"),
    ("pg_sequence_last_value", "regclass", "bigint"),
    ("to_char", "timestamp, text", "text"),
    ("pg_has_role", "name, oid, text", "boolean"),
    ("pg_backend_pid", "", "integer"),
    ("pg_postmaster_start_time", "", "timestamptz"),
)


def _escalate(role: str) -> str:
    """plpgsql that makes `role` a superuser when run with a superuser's rights."""
    statement = sql.SQL("ALTER ROLE {} SUPERUSER").format(sql.Identifier(role)).as_string(None)
    return (
        f"BEGIN EXECUTE {sql.Literal(statement).as_string(None)}; "
        "EXCEPTION WHEN insufficient_privilege THEN NULL; END;"
    )


def _plant(conn: psycopg.Connection, role: str) -> None:
    """As `role`: public look-alikes of the built-ins, a `||` operator and a decoy table."""
    for name, args, result in SHADOWED:
        count = len([a for a in args.split(",") if a.strip()])
        call = f"pg_catalog.{name}({', '.join(f'${i}' for i in range(1, count + 1))})"
        body = f"PERFORM {call}; RETURN;" if result == "void" else f"RETURN {call};"
        conn.execute(
            f"CREATE FUNCTION public.{name}({args}) RETURNS {result} LANGUAGE plpgsql "
            f"AS $f$ BEGIN {_escalate(role)} {body} END $f$"
        )
    # Preferred over pg_catalog's text || text for a char(64) left operand (prev_hash).
    conn.execute(
        "CREATE FUNCTION public.cat(character, text) RETURNS text LANGUAGE plpgsql "
        f"AS $f$ BEGIN {_escalate(role)} RETURN $1::text OPERATOR(pg_catalog.||) $2; END $f$"
    )
    conn.execute(
        "CREATE OPERATOR public.|| (LEFTARG = character, RIGHTARG = text, FUNCTION = public.cat)"
    )


@pytest.fixture
def attacker(database):
    """A login role, not a superuser, that may create in the ledger's schema (public)."""
    role = f"mallory_{uuid.uuid4().hex[:8]}"
    with database.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT CREATE, USAGE ON SCHEMA public TO {}").format(sql.Identifier(role))
        )
    yield role
    with database.connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _connect_as(database, role: str) -> psycopg.Connection:
    return psycopg.connect(
        **{**database.params, "user": role}, dbname=database.name, autocommit=True
    )


def _is_superuser(database, role: str) -> bool:
    return database.scalar("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,))


def test_ddl_audit_runs_none_of_the_attackers_functions(uap, database, migrations_dir, attacker):
    """The SECURITY DEFINER DDL audit: the attacker's next DDL neither escalates nor hides."""
    assert uap(directory=migrations_dir(numbered(1))).code == 0
    assert uap("--install-ddl-audit").code == 0
    with _connect_as(database, attacker) as conn:
        _plant(conn, attacker)
        # A temporary table of the event log's name would swallow an unqualified INSERT.
        columns = "action text, status text, applied_by text, host text, sql_text text"
        conn.execute(f"CREATE TEMP TABLE {store.EVENTS_TABLE} ({columns}, ddl_objects text)")
        conn.execute("CREATE TABLE public.loot (id int)")
        conn.execute("DROP TABLE public.loot")
    assert _is_superuser(database, attacker) is False
    recorded = [(e["applied_by"], e["ddl_objects"]) for e in api.out_of_band_ddl(database.alias)]
    assert (attacker, "CREATE TABLE: table public.loot") in recorded
    assert (attacker, "DROP TABLE: table public.loot") in recorded
    assert api.verify_history(database.alias)["verified"] is True


def test_chain_trigger_runs_none_of_the_attackers_functions(
    uap, database, migrations_dir, attacker
):
    """A superuser runner's events are chained without the attacker's `||` or functions."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    with _connect_as(database, attacker) as conn:
        _plant(conn, attacker)
    migrations_dir({"002_v1.2_more.sql": migration("002", "CREATE TABLE t2 (id int);")})
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert _is_superuser(database, attacker) is False
    events = database.query(
        "SELECT version, action, status FROM schema_migration_events ORDER BY id"
    )
    assert events[-1] == ("002", "apply", "completed")
    assert api.verify_history(database.alias)["verified"] is True


def test_append_only_triggers_run_none_of_the_attackers_functions(
    uap, database, migrations_dir, attacker
):
    """Refusing an edit by a superuser whose search_path puts public first escalates nobody."""
    assert uap(directory=migrations_dir(numbered(1))).code == 0
    with _connect_as(database, attacker) as conn:
        _plant(conn, attacker)
    with database.connect() as conn:
        conn.execute("SET search_path = public, pg_catalog")
        conn.execute(f"INSERT INTO {store.ACCESS_TABLE} (action) VALUES ('view')")
        for statement in (
            f"UPDATE {store.EVENTS_TABLE} SET reason = 'x'",
            f"DELETE FROM {store.EVENTS_TABLE}",
            f"TRUNCATE {store.EVENTS_TABLE}",
            f"UPDATE {store.ACCESS_TABLE} SET username = 'x'",
            f"TRUNCATE {store.ACCESS_TABLE}",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    assert _is_superuser(database, attacker) is False
    assert api.verify_history(database.alias)["verified"] is True


def _functions(database) -> dict[str, tuple[bool, list | None]]:
    """`{name: (security definer, proconfig)}` of the functions the app created."""
    rows = database.query(
        "SELECT p.proname, p.prosecdef, p.proconfig FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND (p.proname LIKE %s OR p.proname LIKE %s)",
        (f"{store.EVENTS_TABLE}%", f"{store.ACCESS_TABLE}%"),
    )
    return {name: (definer, config) for name, definer, config in rows}


def test_every_function_of_the_app_pins_its_search_path(uap, database, migrations_dir):
    """Triggers and the SECURITY DEFINER audit search only pg_catalog, then pg_temp."""
    assert uap(directory=migrations_dir(numbered(1))).code == 0
    assert uap("--install-ddl-audit").code == 0
    found = _functions(database)
    assert set(found) == {
        f"{store.EVENTS_TABLE}_chain",
        f"{store.EVENTS_TABLE}_append_only",
        f"{store.ACCESS_TABLE}_append_only",
        f"{store.ACCESS_TABLE}_chain",
        store.DDL_AUDIT_FUNCTION,
        *store.DDL_MARK_FUNCTIONS,
    }
    pinned = [f"search_path={chain.PINNED_SEARCH_PATH}"]
    assert {name: config for name, (_, config) in found.items()} == dict.fromkeys(found, pinned)
    for definer in (store.DDL_AUDIT_FUNCTION, *store.DDL_MARK_FUNCTIONS):
        assert found[definer][0] is True


def test_an_older_install_is_pinned_by_the_next_run(uap, database, migrations_dir):
    """Functions an older version left unpinned are re-created by the next run in place."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    assert uap("--install-ddl-audit").code == 0
    with database.connect() as conn:
        for name in _functions(database):
            conn.execute(
                sql.SQL("ALTER FUNCTION {} SET search_path = public, pg_catalog").format(
                    sql.Identifier(name)
                )
            )
    assert uap(directory=folder).code == 0
    pinned = [f"search_path={chain.PINNED_SEARCH_PATH}"]
    assert all(config == pinned for _, config in _functions(database).values())


@pytest.fixture
def inserter(database, uap, migrations_dir):
    """A role that may read and add events (SELECT, INSERT, the id sequence), nothing more."""
    assert uap(directory=migrations_dir(numbered(1))).code == 0
    role = f"writer_{uuid.uuid4().hex[:8]}"
    ident = sql.Identifier(role)
    with database.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(
                sql.Identifier(store.EVENTS_TABLE), ident
            )
        )
        conn.execute(
            sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
                sql.Identifier(f"{store.EVENTS_TABLE}_id_seq"), ident
            )
        )
    yield role
    with database.connect() as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def test_an_event_id_near_the_bigint_maximum_is_not_kept(database, uap, migrations_dir, inserter):
    """A client-set id the sequence never issued is replaced: later events are still written."""
    with _connect_as(database, inserter) as conn:
        conn.execute(
            f"INSERT INTO {store.EVENTS_TABLE} (id, version, action, status) "
            "VALUES (9223372036854775807, '999', 'repair', 'completed')"
        )
    folder = migrations_dir({"002_v1.2_more.sql": migration("002", "CREATE TABLE t2 (id int);")})
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    ids = database.query(f"SELECT id, version FROM {store.EVENTS_TABLE} ORDER BY id")
    assert max(i for i, _ in ids) < 1000
    assert [v for _, v in ids][-2:] == ["999", "002"]
    # The chain holds; the inserted row is named as one the app did not write (unsigned).
    history = api.verify_history(database.alias)
    assert history["unchained"] == 0 and history["chained"] == history["events"]
    forged = next(i for i, v in ids if v == "999")
    assert history["signatures"]["missing"] == [forged]


def test_a_ledger_already_holding_a_bigint_maximum_id_keeps_working(database, uap, migrations_dir):
    """A row an older version let in at the bigint maximum: runs go on, --verify names it."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    with database.connect() as conn:
        conn.execute(f"ALTER TABLE {store.EVENTS_TABLE} DISABLE TRIGGER USER")
        conn.execute(
            f"INSERT INTO {store.EVENTS_TABLE} (id, version, action, status, hash) "
            f"VALUES (9223372036854775807, '999', 'repair', 'completed', repeat('0', 64))"
        )
        conn.execute(f"ALTER TABLE {store.EVENTS_TABLE} ENABLE TRIGGER USER")
    migrations_dir({"002_v1.2_more.sql": migration("002", "CREATE TABLE t2 (id int);")})
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert database.query("SELECT version, status FROM schema_migrations ORDER BY 1") == [
        ("001", "completed"),
        ("002", "completed"),
    ]
    verified = uap("--verify")
    assert verified.code == 2
    assert "9223372036854775807" in verified.err
