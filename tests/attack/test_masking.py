"""Attack: passwords in connection strings reach the ledger, the bundle and the admin."""

from __future__ import annotations

import pytest

from tests.conftest import migration

SECRET = "hunter2-conninfo"
BODIES = {
    "subscription_keyword": (
        "CREATE SUBSCRIPTION uap_attack_sub CONNECTION 'host=db.example user=rep "
        f"password={SECRET}' PUBLICATION p WITH (connect = false, slot_name = NONE, "
        "enabled = false);\nDROP SUBSCRIPTION uap_attack_sub;"
    ),
    "subscription_uri": (
        "CREATE SUBSCRIPTION uap_attack_sub CONNECTION "
        f"'postgresql://rep:{SECRET}@db.example/app' PUBLICATION p WITH (connect = false, "
        "slot_name = NONE, enabled = false);\nDROP SUBSCRIPTION uap_attack_sub;"
    ),
}


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_conninfo_password_is_masked_in_the_ledger(kind, uap, database, migrations_dir):
    """The applied file's SQL as the ledger keeps it (and every surface shows it)."""
    folder = migrations_dir({"001_v1.0_sub.sql": migration("001", BODIES[kind])})
    result = uap(directory=folder)
    assert result.code == 0, result.err
    stored = database.scalar(
        "SELECT string_agg(sql_text, ' ') FROM schema_migration_events WHERE action = 'apply'"
    )
    assert SECRET in BODIES[kind]
    assert SECRET not in stored


def test_a_failing_statement_named_in_the_error_shows_no_password(uap, database, migrations_dir):
    """The error names the failing statement by its first words: the password among them is
    printed (CI logs, --json) and stored in the event's error_message."""
    body = "CREATE TABLE t1 (id int);\nALTER ROLE no_such_role_zz PASSWORD 'hunter2-failing';"
    folder = migrations_dir({"001_v1.0_pw.sql": migration("001", body)})
    result = uap(directory=folder)
    assert result.code != 0
    assert "hunter2-failing" not in result.out + result.err
    stored = database.scalar(
        "SELECT string_agg(coalesce(error_message, ''), ' ') FROM schema_migration_events"
    )
    assert "hunter2-failing" not in stored
