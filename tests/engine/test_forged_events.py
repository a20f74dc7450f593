"""Rows an INSERT-only role adds to the event log never open the gate, hide drift or verify."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from schema_audit import api, conf
from schema_audit.engine import postgres
from schema_audit.exceptions import InvalidConfiguration
from schema_audit.files.discovery import checksum
from schema_audit.integrity import fingerprint
from schema_audit.ledger import signing, store
from tests.engine import test_approvals
from tests.engine.test_approvals import FILE, authored, required

pytestmark = pytest.mark.django_db
folder = test_approvals.folder  # 001 by alice; alice and bob approve (a fixture)

_FORGED_SQL = """
INSERT INTO schema_migration_events (version, action, status, checksum, actor, started_at)
VALUES ('001', 'approve', %s, %s, %s, now()) RETURNING id
"""


@pytest.fixture
def forger(database):
    """A role that may only read and INSERT into the event log (tables created first)."""
    with postgres.connect(database.alias) as conn:
        store.ensure_schema(conn)
    role = f"forger_{database.name}"
    with database.connect() as conn:
        conn.execute(f"CREATE ROLE {role}")
        conn.execute(f"GRANT SELECT, INSERT ON schema_migration_events TO {role}")
        conn.execute(f"GRANT USAGE ON SEQUENCE schema_migration_events_id_seq TO {role}")
    yield role
    with database.connect() as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def insert_as(database, role: str, text: str, params: tuple = ()):
    """Run one INSERT ... RETURNING as `role` (SET SESSION AUTHORIZATION, as a login would)."""
    with database.connect() as conn:
        conn.execute(f"SET SESSION AUTHORIZATION {role}")
        return conn.execute(text, params).fetchone()[0]


@required
@pytest.mark.parametrize(
    "status, actor", [("failed", "no_such_user"), ("completed", "bob")], ids=["junk", "bob"]
)
def test_an_inserted_approval_does_not_open_the_gate(uap, database, folder, forger, status, actor):
    """The issue's attack, and a tidier one naming a real approver: nothing runs (exit 2)."""
    assert uap("--dry-run", directory=folder).code == 0  # the app has signed events already
    text = (folder / FILE).read_text(encoding="utf-8")
    forged = insert_as(database, forger, _FORGED_SQL, (status, checksum(text), actor))
    result = uap(directory=folder)
    assert result.code == 2 and "no valid signature of this app" in result.err
    assert "orders" not in database.tables()
    verify = uap("--verify", "--json")
    history = json.loads(verify.out)["history"]
    assert verify.code == 2 and forged in history["signatures"]["missing"]
    assert f"event {forged} (approve 001)" in uap("--verify").err


@required
def test_a_copied_signed_approval_does_not_count_after_its_revoke(uap, database, folder, forger):
    """bob's signed approval, copied whole after alice revoked it, is invalid where it lands."""
    api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    api.revoke("001", revoked_by="alice", directory=folder, database=database.alias)
    columns = "version, action, status, started_at, checksum, os_user, host, actor, signature"
    copied = insert_as(
        database,
        forger,
        f"INSERT INTO schema_migration_events ({columns}) SELECT {columns} "
        "FROM schema_migration_events WHERE action = 'approve' RETURNING id",
    )
    result = uap(directory=folder)
    assert result.code == 2 and "was revoked" in result.err
    assert "orders" not in database.tables()
    history = json.loads(uap("--verify", "--json").out)["history"]
    assert history["signatures"]["invalid"] == [copied]


def test_a_signed_event_does_not_verify_in_another_database(database, folder):
    """The signature names the database: the same row read as another database's fails."""
    api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    with postgres.connect(database.alias) as conn:
        event = store.read_approvals(conn, ["001"])[0]
    keys = conf.signing_keys()
    assert signing.check(event, keys, database.name) == signing.VALID
    assert signing.check(event, keys, "prod") == signing.INVALID
    assert signing.check({**event, "prev_hash": "0" * 64}, keys, database.name) == signing.INVALID


@required
def test_approving_without_a_signing_key_is_refused(uap, database, folder):
    """Without UAP_SIGNING_KEY an approval could not be told from a forged row: exit 2."""
    with override_settings(UAP_SIGNING_KEY=None):
        with pytest.raises(InvalidConfiguration, match="UAP_SIGNING_KEY is not set"):
            api.approve("001", approved_by="bob", directory=folder, database=database.alias)
        result = uap(directory=folder)
    assert result.code == 2 and "UAP_SIGNING_KEY is not set" in result.err
    assert "orders" not in database.tables()


def test_an_inserted_dry_run_with_the_live_fingerprint_does_not_hide_drift(
    uap, database, migrations_dir, forger
):
    """ALTER TABLE out of band, then a forged dry_run (or apply) with the live fingerprint."""
    folder = migrations_dir({FILE: authored("001", "CREATE TABLE orders (id int);", "alice")})
    assert uap(directory=folder).code == 0
    with database.connect() as conn:
        conn.execute("ALTER TABLE orders ADD COLUMN secret text")
        live, description = fingerprint.take_for_event(conn)
    for action in ("dry_run", "apply"):
        insert_as(
            database,
            forger,
            "INSERT INTO schema_migration_events (version, action, status, started_at, "
            "fingerprint, schema_description) VALUES ('001', %s, 'completed', now(), %s, %s) "
            "RETURNING id",
            (action, live, description),
        )
        result = uap("--verify")
        assert result.code == 2
        assert "Schema DRIFT from the fingerprint recorded by event 1 (apply 001" in result.err
        assert "columns secret added" in result.err
