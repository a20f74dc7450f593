"""Attack: a file run by `--dry-run --dry-run-role` takes back the deploy login's rights.

The runner refuses files whose top-level statements change the role, but a DO block (or a
function the file defines) is a string to the parser, and RESET ROLE inside it returns to the
session's login. Were the role entered with SET ROLE from the deploy login, what the dry run
then did that a rollback cannot undo (here a sequence's value; COPY TO PROGRAM, dblink_exec
alike) would stay. The dry run logs in as the role instead, so there is nothing to return to;
and a role that would restrict nothing is refused before anything runs.
"""

from __future__ import annotations

import json
import uuid

import pytest
from psycopg import sql

from tests.conftest import migration


@pytest.fixture
def restricted(database):
    """A LOGIN role with no rights, and a sequence it may not touch."""
    role = f"dryrun_{uuid.uuid4().hex[:8]}"
    with database.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute("CREATE SEQUENCE public.guarded_seq")
    yield role
    with database.connect() as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.parametrize(
    "escape",
    [
        "DO $$ BEGIN EXECUTE 'RESET ROLE'; END $$;",
        "CREATE FUNCTION pg_temp.up() RETURNS text LANGUAGE sql AS "
        "$$ SELECT pg_catalog.set_config('role', 'none', true) $$;\nSELECT pg_temp.up();",
    ],
)
def test_dry_run_role_cannot_be_left_from_inside_a_body(
    escape, uap, database, migrations_dir, restricted
):
    """The restricted role may not setval the guarded sequence; the dry run must not either."""
    body = f"{escape}\nSELECT pg_catalog.setval('public.guarded_seq', 4242);"
    folder = migrations_dir({"001_v1.0_probe.sql": migration("001", body)})
    uap("--dry-run", "--dry-run-role", restricted, directory=folder)
    assert database.scalar("SELECT last_value FROM public.guarded_seq") != 4242


def test_dry_run_role_runs_on_a_session_of_its_own(uap, database, migrations_dir, restricted):
    """The file sees the role as both its login and its current role; the runner records."""
    body = (
        "DO $$ BEGIN IF session_user <> current_user OR session_user = 'postgres' THEN "
        "RAISE EXCEPTION 'not logged in as the role: % %', session_user, current_user; "
        "END IF; END $$;"
    )
    folder = migrations_dir({"001_v1.0_probe.sql": migration("001", body)})
    result = uap("--dry-run", "--dry-run-role", restricted, directory=folder)
    assert result.code == 0, result
    assert database.query("SELECT action, status, applied_by FROM schema_migration_events") == [
        ("dry_run", "completed", database.params.get("user", "postgres"))
    ]


def _refused(uap, database, migrations_dir, role) -> str:
    """Exit 2 before anything runs (the sequence untouched, no event); the message."""
    body = "SELECT pg_catalog.setval('public.guarded_seq', 4242);"
    folder = migrations_dir({"001_v1.0_probe.sql": migration("001", body)})
    result = uap("--dry-run", "--dry-run-role", role, directory=folder)
    assert result.code == 2, result
    assert database.scalar("SELECT last_value FROM public.guarded_seq") != 4242
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == 0
    return result.err


def test_dry_run_role_that_may_not_log_in_is_refused(uap, database, migrations_dir, restricted):
    """A NOLOGIN role: the message names it and says how to let it in."""
    with database.connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(restricted)))
    err = _refused(uap, database, migrations_dir, restricted)
    assert f"dry-run role {restricted!r}" in err and "may not log in" in err
    assert f"ALTER ROLE {restricted} LOGIN" in err


def test_dry_run_role_whose_login_fails_is_refused(uap, database, migrations_dir, restricted):
    """A role the server turns away (here: its database forbids it to connect)."""
    with database.connect() as conn:
        conn.execute(
            sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                sql.Identifier(database.name)
            )
        )
    err = _refused(uap, database, migrations_dir, restricted)
    assert f"dry-run role {restricted!r}" in err and "cannot log in" in err
    assert "UAP_DRY_RUN_PASSWORD" in err


@pytest.mark.parametrize("how", ["SUPERUSER", "member"])
def test_superuser_dry_run_role_is_refused(how, uap, database, migrations_dir, restricted):
    """A superuser, or a member of one, restricts nothing."""
    role, admin = sql.Identifier(restricted), sql.Identifier(f"{restricted}_admin")
    with database.connect() as conn:
        if how == "SUPERUSER":
            conn.execute(sql.SQL("ALTER ROLE {} SUPERUSER").format(role))
        else:
            conn.execute(sql.SQL("CREATE ROLE {} SUPERUSER NOLOGIN").format(admin))
            conn.execute(sql.SQL("GRANT {} TO {}").format(admin, role))
    try:
        err = _refused(uap, database, migrations_dir, restricted)
    finally:
        with database.connect() as conn:
            conn.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(role))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(admin))
    assert f"dry-run role {restricted!r}" in err and "superuser" in err


def test_runners_own_login_as_dry_run_role_is_refused(uap, database, migrations_dir, restricted):
    """The runner's login (or a role that may become it) restricts nothing either."""
    login = database.scalar("SELECT session_user")
    err = _refused(uap, database, migrations_dir, login)
    assert "the runner's own login" in err


def test_trace_as_the_dry_run_role_sees_its_locks_and_rewrites(
    uap, database, migrations_dir, restricted
):
    """The tracer reads pg_locks and relfilenodes on the role's session, where the files run."""
    with database.connect() as conn:
        conn.execute("CREATE TABLE public.pets (id int); INSERT INTO public.pets VALUES (1)")
        conn.execute(
            sql.SQL("ALTER TABLE public.pets OWNER TO {}").format(sql.Identifier(restricted))
        )
    body = "ALTER TABLE public.pets ALTER COLUMN id TYPE bigint;"
    folder = migrations_dir({"001_v1.0_widen.sql": migration("001", body)})
    result = uap("--trace", "--json", "--dry-run-role", restricted, directory=folder)
    assert result.code == 0, result
    trace = json.loads(result.out)["dry_run"][0]["trace"]
    locks = {(lock["relation"], lock["mode"]) for lock in trace["locks"]}
    assert ("public.pets", "AccessExclusiveLock") in locks
    assert [rewrite["relation"] for rewrite in trace["rewrites"]] == ["public.pets"]
    assert (
        database.scalar(
            "SELECT format_type(atttypid, NULL) FROM pg_attribute "
            "WHERE attrelid = 'public.pets'::regclass AND attname = 'id'"
        )
        == "integer"
    )
