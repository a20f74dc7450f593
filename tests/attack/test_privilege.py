"""Attack: the SECURITY DEFINER DDL audit inserts into a table the migration role owns.

The usual deployment: the migration role (not a superuser) creates the ledger with its first
`uap_migrate` run, so it owns `schema_migration_events`; a DBA then runs `--install-ddl-audit`
once as a superuser. The audit function runs as that superuser on every DDL and INSERTs into
the ledger, so anything the table's owner attaches to the table (a trigger, a column default,
a rule) runs with superuser rights, whatever search_path the audit function pins.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from schema_audit.ledger import store
from tests.conftest import numbered, run_subprocess, url_for


@pytest.fixture
def deployer(database):
    """The migration role: a login role, not a superuser, that may create in public."""
    role = f"deployer_{uuid.uuid4().hex[:8]}"
    with database.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT CREATE, USAGE ON SCHEMA public TO {}").format(sql.Identifier(role))
        )
    yield role
    with database.connect() as conn:
        conn.execute("SELECT set_config('uap.migrating', 'on', false)")
        conn.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(sql.Identifier(role)))
        conn.execute(sql.SQL("REASSIGN OWNED BY {} TO postgres").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _superuser(database, role):
    return database.scalar("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,))


@pytest.mark.parametrize("hook", ["trigger", "default"])
def test_table_owner_cannot_ride_the_ddl_audit_to_superuser(
    hook, uap, database, migrations_dir, deployer
):
    """The ledger's owner attaches a function to the ledger; its next DDL must not escalate."""
    folder = migrations_dir(numbered(1))
    url = url_for({**database.params, "user": deployer}, database.name)
    proc = run_subprocess(url, "--dir", str(folder))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert uap("--install-ddl-audit").code == 0
    table = store.EVENTS_TABLE
    escalate = sql.SQL("ALTER ROLE {} SUPERUSER").format(sql.Identifier(deployer)).as_string(None)
    body = (
        f"BEGIN BEGIN EXECUTE {sql.Literal(escalate).as_string(None)}; "
        "EXCEPTION WHEN insufficient_privilege THEN NULL; END; "
    )
    with psycopg.connect(
        **{**database.params, "user": deployer}, dbname=database.name, autocommit=True
    ) as conn:
        _plant(conn, hook, table, body)
        conn.execute("CREATE TABLE public.loot (id int)")
    assert _superuser(database, deployer) is False


def _plant(conn, hook: str, table: str, body: str) -> None:
    """Attach the hook; the install gave the table to the superuser, so this is refused."""
    try:
        if hook == "trigger":
            conn.execute(
                "CREATE FUNCTION public.hook() RETURNS trigger LANGUAGE plpgsql AS "
                f"$f$ {body} RETURN NEW; END $f$"
            )
            conn.execute(
                f"CREATE TRIGGER zz_hook BEFORE INSERT ON public.{table} "
                "FOR EACH ROW EXECUTE FUNCTION public.hook()"
            )
        else:
            conn.execute(
                "CREATE FUNCTION public.hook() RETURNS text LANGUAGE plpgsql AS "
                f"$f$ {body} RETURN NULL; END $f$"
            )
            conn.execute(
                f"ALTER TABLE public.{table} ALTER COLUMN reason SET DEFAULT public.hook()"
            )
    except psycopg.errors.InsufficientPrivilege:
        pass  # not the table's owner any more


@pytest.mark.parametrize("hook", ["trigger", "default"])
def test_a_hook_planted_before_the_install_is_refused(
    hook, uap, database, migrations_dir, deployer
):
    """What the owner attached before the install would run as superuser: install exits 2."""
    folder = migrations_dir(numbered(1))
    url = url_for({**database.params, "user": deployer}, database.name)
    proc = run_subprocess(url, "--dir", str(folder))
    assert proc.communicate(timeout=120) and proc.returncode == 0
    with psycopg.connect(
        **{**database.params, "user": deployer}, dbname=database.name, autocommit=True
    ) as conn:
        _plant(conn, hook, store.EVENTS_TABLE, "BEGIN ")
    result = uap("--install-ddl-audit")
    assert result.code == 2 and "which the app did not create" in result.err
    installed = "SELECT count(*) FROM pg_event_trigger WHERE evtname = ANY(%s)"
    assert database.scalar(installed, (list(store.DDL_AUDIT_TRIGGERS),)) == 0
