"""Attack: out-of-band DDL with a password the DDL audit's pattern does not know."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.conftest import numbered

SPELLINGS = [
    "CREATE USER MAPPING FOR {role} SERVER oob_s OPTIONS (password /* c */ 'hunter2-oob')",
    "CREATE USER MAPPING FOR {role} SERVER oob_s OPTIONS (\"password\" 'hunter2-oob')",
]


@pytest.fixture
def role(database):
    name = f"oob_{uuid.uuid4().hex[:8]}"
    with database.connect() as conn:
        conn.execute(f"CREATE ROLE {name}")
    yield name
    with database.connect() as conn:
        conn.execute("DROP FOREIGN DATA WRAPPER IF EXISTS oob_w CASCADE")
        conn.execute(f"DROP OWNED BY {name}")
        conn.execute(f"DROP ROLE IF EXISTS {name}")


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_out_of_band_password_is_masked_where_stored(
    spelling, uap, database, migrations_dir, tmp_path, role
):
    """The DDL audit stores the statement with its own pattern (`password\\s+'...'`), not
    the scanner's masking; the secret stays in the ledger (a genuine bundle still verifies)."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    assert uap("--install-ddl-audit").code == 0
    with database.connect() as conn:
        conn.execute("CREATE FOREIGN DATA WRAPPER oob_w")
        conn.execute("CREATE SERVER oob_s FOREIGN DATA WRAPPER oob_w")
        conn.execute(spelling.format(role=role))
    stored = database.scalar(
        "SELECT string_agg(sql_text, ' ') FROM schema_migration_events "
        "WHERE action = 'out_of_band_ddl'"
    )
    assert stored and "hunter2-oob" not in stored
    assert uap("--evidence", str(tmp_path / "a.zip"), directory=folder).code == 0
    result = uap("--verify-evidence", str(tmp_path / "a.zip"))
    assert "altered" not in (result.out + result.err).lower(), result.out + result.err


def test_any_session_cannot_switch_the_ddl_audit_off(uap, database, migrations_dir, role):
    """`uap.migrating` is a custom setting any role may SET; the audit skips DDL when it is on."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    assert uap("--install-ddl-audit").code == 0
    with database.connect() as conn:
        conn.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
        conn.execute(f"ALTER ROLE {role} LOGIN")
    params = {**database.params, "user": role}
    with psycopg.connect(**params, dbname=database.name, autocommit=True) as conn:
        conn.execute("SET uap.migrating = 'on'")
        conn.execute("CREATE TABLE public.unrecorded (id int)")
        conn.execute("DROP TABLE public.unrecorded")
    recorded = database.scalar(
        "SELECT count(*) FROM schema_migration_events WHERE action = 'out_of_band_ddl' "
        "AND ddl_objects LIKE '%%unrecorded%%'"
    )
    assert recorded == 2


def _connect_as(database, role):
    return psycopg.connect(
        **{**database.params, "user": role}, dbname=database.name, autocommit=True
    )


def test_other_roles_cannot_mark_their_ddl_as_the_runners(uap, database, migrations_dir, role):
    """The mark functions and their table refuse any role but the ledger's owner."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    assert uap("--install-ddl-audit").code == 0
    with database.connect() as conn:
        conn.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
        conn.execute(f"ALTER ROLE {role} LOGIN")
    with _connect_as(database, role) as conn:
        for attempt in (
            "SELECT public.schema_migration_events_ddl_mark()",
            "SELECT public.schema_migration_events_ddl_mark_session()",
            "INSERT INTO public.schema_migration_events_ddl_marks "
            "SELECT pg_backend_pid(), backend_start, NULL FROM pg_stat_activity "
            "WHERE pid = pg_backend_pid()",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(attempt)
        conn.execute("CREATE TABLE public.unrecorded (id int)")
    recorded = database.scalar(
        "SELECT count(*) FROM schema_migration_events WHERE action = 'out_of_band_ddl' "
        "AND ddl_objects LIKE '%%unrecorded%%'"
    )
    assert recorded == 1


# The audit function as versions before the marks table installed it: it trusts the setting.
_OLD_AUDIT = """
CREATE OR REPLACE FUNCTION public.schema_migration_events_ddl_audit() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coalesce(pg_catalog.current_setting('uap.migrating', true), '') = 'on' THEN
        RETURN;
    END IF;
    RAISE WARNING 'older audit function';
END
$$
"""


def test_an_older_audit_function_is_replaced_by_a_superuser_run(
    uap, database, migrations_dir, role
):
    """An installation that trusts `uap.migrating` is upgraded by the next superuser run."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    assert uap("--install-ddl-audit").code == 0
    with database.connect() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(_OLD_AUDIT)
    assert uap(directory=folder).code == 0  # nothing pending; the run takes the lock
    source = database.scalar(
        "SELECT prosrc FROM pg_proc WHERE proname = 'schema_migration_events_ddl_audit'"
    )
    assert "schema_migration_events_ddl_marks" in source and "uap.migrating" not in source
