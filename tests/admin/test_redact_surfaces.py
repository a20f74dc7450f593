"""Every spelling of a password literal is masked on every surface; a rollback still runs."""

from __future__ import annotations

import io
import uuid
import zipfile

import psycopg
import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from schema_audit.engine import postgres
from schema_audit.engine.approvals import APPROVERS_GROUP
from schema_audit.files import redact
from tests.admin.data import drop_ledger, make_auditor

# One secret per spelling, so a failure names the spelling that leaked.
SPELLINGS = {
    "pw-comment-c": "ALTER ROLE {role} PASSWORD /*c*/ '{secret}';",
    "pw-comment-line": "ALTER ROLE {role} PASSWORD --c\n'{secret}';",
    "pw-mapping": "CREATE USER MAPPING FOR {role} SERVER {server} OPTIONS (password '{secret}');",
    "pw-mapping-user": (
        "ALTER USER MAPPING FOR {role} SERVER {server} OPTIONS (ADD user 'u', "
        "SET password '{secret}');"
    ),
    "pw-server": "ALTER SERVER {server} OPTIONS (ADD \"password\" '{secret}');",
    "pw-format": "SELECT format('ALTER ROLE %I PASSWORD %L', 'x', '{secret}');",
    "pw-format-do": (
        "DO $$ BEGIN PERFORM format('ALTER ROLE %2$I WITH PASSWORD %1$L', '{secret}', 'x'); "
        "END $$;"
    ),
}
HEADER_SECRETS = {
    "Description": "pw-description",
    "Impact": "pw-impact",
    "Changes": "pw-changes",
}
# Roles are cluster-wide: one name per test process.
ROLE, SERVER = f"uap_redact_{uuid.uuid4().hex[:10]}", "uap_redact_server"


def _file(version: str, body: str, rollback: str = "SELECT 1;") -> str:
    return (
        f"-- Migration: secrets {version}\n-- Version: {version}\n-- Date: 2026-01-01\n"
        f"-- Description: rotate PASSWORD /*x*/ '{HEADER_SECRETS['Description']}'\n"
        f"-- Status: LIVE\n-- Changes: ALTER ROLE r PASSWORD\n--   '{HEADER_SECRETS['Changes']}'\n"
        f"-- Impact: sets password '{HEADER_SECRETS['Impact']}' for the app\n"
        f"-- Rollback: {rollback}\n--\n\n{body}\n"
    )


def _apply_body() -> str:
    setup = (
        f"CREATE ROLE {ROLE};\nCREATE FOREIGN DATA WRAPPER uap_redact_fdw;\n"
        f"CREATE SERVER {SERVER} FOREIGN DATA WRAPPER uap_redact_fdw;\n"
    )
    return setup + "\n".join(
        sql.format(role=ROLE, server=SERVER, secret=secret) for secret, sql in SPELLINGS.items()
    )


def _cleanup(conn) -> None:
    conn.execute("DROP FOREIGN DATA WRAPPER IF EXISTS uap_redact_fdw CASCADE")
    conn.execute(f"DROP ROLE IF EXISTS {ROLE}")


def _leaks(text: str) -> list[str]:
    secrets = [*SPELLINGS, *HEADER_SECRETS.values(), "pw-pending", "pw-rollback"]
    return [secret for secret in secrets if secret in text]


@pytest.fixture
def applied(tmp_path, django_db_blocker):
    """001 applied on the default database (every spelling), 002 pending on disk."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_v1.0_secrets.sql").write_text(_file("001", _apply_body()), encoding="utf-8")
    pending = f"ALTER ROLE {ROLE} PASSWORD /*c*/ 'pw-pending';"
    (folder / "002_v1.1_pending.sql").write_text(_file("002", pending), encoding="utf-8")
    with postgres.connect("default", purpose="test") as conn:
        _cleanup(conn)
        drop_ledger(conn)
    with override_settings(UAP_MIGRATIONS_DIR=folder):
        call_command("uap_migrate", "--target", "001", stdout=io.StringIO())
        yield folder
    with postgres.connect("default", purpose="test") as conn:
        drop_ledger(conn)
        _cleanup(conn)


@pytest.mark.django_db(transaction=True)
def test_every_spelling_is_masked_in_ledger_pages_exports_and_evidence(client, applied):
    """The event's sql_text, the version page, both CSV exports, history.csv, the approve page."""
    with postgres.connect("default", purpose="test") as conn:
        stored = conn.execute(
            "SELECT e.sql_text, m.description, m.impact FROM schema_migration_events e "
            "JOIN schema_migrations m USING (version) WHERE e.action = 'apply'"
        ).fetchone()
    assert _leaks(" ".join(stored)) == []
    assert stored[0].count(redact.MASK) == len(SPELLINGS) + 3  # the header's three, too
    user = make_auditor()
    user.groups.add(Group.objects.get_or_create(name=APPROVERS_GROUP)[0])
    client.force_login(user)
    surfaces = {
        "version page": reverse("admin:schema_audit_schemamigration_change", args=["001"]),
        "versions CSV": reverse("admin:schema_audit_schemamigration_export"),
        "events CSV": reverse("admin:schema_audit_migrationevent_export"),
        "approve page": reverse("admin:schema_audit_approve", args=["002"]),
    }
    for name, url in surfaces.items():
        response = client.get(url)
        assert response.status_code == 200, name
        body = b"".join(response.streaming_content if response.streaming else [response.content])
        assert _leaks(body.decode()) == [], name
    evidence = client.get(reverse("admin:schema_audit_evidence"))
    assert evidence.status_code == 200
    with zipfile.ZipFile(io.BytesIO(evidence.content)) as archive:
        for member in archive.namelist():
            assert _leaks(archive.read(member).decode()) == [], member


@pytest.mark.django_db(transaction=True)
def test_rollback_recreates_the_user_mapping_with_the_real_password(tmp_path):
    """The ledger keeps the Rollback masked; --rollback runs the file's real text."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    setup = (
        f"CREATE ROLE {ROLE};\nCREATE FOREIGN DATA WRAPPER uap_redact_fdw;\n"
        f"CREATE SERVER {SERVER} FOREIGN DATA WRAPPER uap_redact_fdw;\n"
        f"CREATE USER MAPPING FOR {ROLE} SERVER {SERVER} OPTIONS (user 'u', password 'old');"
    )
    drop = f"DROP USER MAPPING FOR {ROLE} SERVER {SERVER};"
    recreate = (
        f"CREATE USER MAPPING FOR {ROLE} SERVER {SERVER} "
        "OPTIONS (user 'u', password 'pw-rollback');"
    )
    (folder / "001_v1.0_setup.sql").write_text(_file("001", setup), encoding="utf-8")
    (folder / "002_v1.1_drop.sql").write_text(_file("002", drop, recreate), encoding="utf-8")
    with postgres.connect("default", purpose="test") as conn:
        _cleanup(conn)
        drop_ledger(conn)
    try:
        with override_settings(UAP_MIGRATIONS_DIR=folder):
            call_command("uap_migrate", stdout=io.StringIO())
            call_command("uap_migrate", "--rollback", "002", stdout=io.StringIO())
        with postgres.connect("default", purpose="test") as conn:
            options = conn.execute(
                "SELECT umoptions FROM pg_user_mappings WHERE srvname = %s AND usename = %s",
                (SERVER, ROLE),
            ).fetchone()[0]
            stored = conn.execute(
                "SELECT rollback_sql FROM schema_migrations WHERE version = '002'"
            ).fetchone()[0]
            events = conn.execute("SELECT sql_text FROM schema_migration_events").fetchall()
        assert options == ["user=u", "password=pw-rollback"]
        assert "pw-rollback" not in stored and redact.MASK in stored
        assert not any("pw-rollback" in (text or "") for (text,) in events)
    finally:
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)
            _cleanup(conn)


def test_masked_rollback_without_its_file_is_refused(uap, database, migrations_dir, tmp_path):
    """With the file gone, a masked ledger copy is not run: it would set the mask as password."""
    role = f"r_{database.name}"
    recreate = f"ALTER ROLE {role} PASSWORD 'pw-rollback';"
    files = {"001_v1.0_role.sql": _file("001", f"CREATE ROLE {role};", recreate)}
    folder = migrations_dir(files)
    try:
        assert uap(directory=folder).code == 0
        (folder / "001_v1.0_role.sql").unlink()
        result = uap("--rollback", "001", "--force", directory=folder)
        assert result.code == 2, result.err
        assert "masked password" in result.err
        assert database.scalar("SELECT status FROM schema_migrations") == "completed"
    finally:
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")
