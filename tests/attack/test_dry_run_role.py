"""Attack: a file run by `--dry-run --dry-run-role` takes back the deploy login's rights.

The restricted role is entered with SET LOCAL ROLE; the runner refuses files whose top-level
statements change the role, but a DO block (or a function the file defines) is a string to
the parser, and RESET ROLE inside it returns to the login. What the dry run then does that a
rollback cannot undo (here a sequence's value; COPY TO PROGRAM, dblink_exec alike) stays.
"""

from __future__ import annotations

import uuid

import pytest
from psycopg import sql

from tests.conftest import migration


@pytest.fixture
def restricted(database):
    """A NOLOGIN role with no rights, and a sequence it may not touch."""
    role = f"dryrun_{uuid.uuid4().hex[:8]}"
    with database.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        conn.execute("CREATE SEQUENCE public.guarded_seq")
    yield role
    with database.connect() as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.xfail(
    strict=True,
    reason="open: SET LOCAL ROLE is left by RESET ROLE inside a body; a real sandbox needs "
    "the dry run to log in as the restricted role on a connection of its own",
)
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
