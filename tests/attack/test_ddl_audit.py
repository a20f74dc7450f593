"""Attack: out-of-band DDL with a password the DDL audit's pattern does not know."""

from __future__ import annotations

import uuid

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


@pytest.mark.xfail(
    strict=True,
    reason="open: uap.migrating is a setting any session may set; telling uap_migrate's and "
    "Django's sessions apart needs a marker only the app can set",
)
def test_any_session_cannot_switch_the_ddl_audit_off(uap, database, migrations_dir, role):
    """`uap.migrating` is a custom setting any role may SET; the audit skips DDL when it is on."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    assert uap("--install-ddl-audit").code == 0
    with database.connect() as conn:
        conn.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
        conn.execute(f"ALTER ROLE {role} LOGIN")
    import psycopg

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
