"""Password literals are redacted from everything stored and shown; the checksum is not."""

from __future__ import annotations

import json
import zipfile

import pytest
from django.urls import reverse

from schema_audit.engine import postgres
from schema_audit.files import discovery, redact
from schema_audit.ledger import store
from tests.admin.data import drop_ledger, make_auditor
from tests.conftest import migration

SECRET = "S3cr3t-pw"


SPELLINGS = [
    f"ALTER ROLE app PASSWORD '{SECRET}';",
    f"alter role app with encrypted password '{SECRET}' valid until 'infinity';",
    f"CREATE USER app PASSWORD E'{SECRET}\\'x';",
    f"CREATE ROLE app LOGIN PASSWORD '{SECRET}''quoted';",
    f"ALTER USER app PASSWORD $${SECRET}$$;",
    f"CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'a', password '{SECRET}');",
    f"DO $body$ BEGIN ALTER ROLE app PASSWORD '{SECRET}'; END $body$;",
    f"ALTER ROLE app PASSWORD '{SECRET}",  # unterminated: the scanner fails, still masked
    f"ALTER ROLE app PASSWORD /* why */ '{SECRET}';",
    f"ALTER ROLE app PASSWORD -- why\n'{SECRET}';",
    f"ALTER SERVER s OPTIONS (SET sslpassword '{SECRET}');",
    f"SELECT format('ALTER ROLE %I PASSWORD %L', 'app', '{SECRET}');",
    f"SELECT format('ALTER ROLE %2$I PASSWORD %1$L', '{SECRET}', 'app');",
    f"-- Rollback: ALTER ROLE app PASSWORD\n--   '{SECRET}';\nSELECT 1;",
    f"DO $$ BEGIN EXECUTE 'ALTER ROLE app PASSWORD ''{SECRET}'''; END $$;",
    f"SELECT 'ALTER ROLE app PASSWORD ' || quote_literal('{SECRET}');",
    f"SELECT E'ALTER ROLE app PASSWORD \\'{SECRET}\\'';",
]


@pytest.mark.parametrize("sql", SPELLINGS)
def test_password_literals_are_masked(sql):
    masked = redact.redact(sql)
    assert SECRET not in masked
    assert redact.MASK in masked or redact.INNER_MASK in masked


@pytest.mark.parametrize("sql", SPELLINGS)
def test_masking_twice_changes_nothing(sql):
    """Stored text is masked already: an export masking it again finds nothing new to mark."""
    once = redact.redact(sql)
    assert redact.redact(once) == once
    assert redact.has_masked_secret(once)


def test_text_without_passwords_is_unchanged():
    sql = "CREATE TABLE password_resets (password text DEFAULT 'x'); -- 'pw'"
    assert redact.redact(sql) == sql
    assert redact.redact(None) is None


def _files(body: str) -> dict[str, str]:
    return {
        "001_v1.0_role.sql": migration("001", body, rollback=f"ALTER ROLE r PASSWORD '{SECRET}';")
    }


def test_stored_sql_and_evidence_are_redacted_checksum_is_not(
    uap, database, migrations_dir, tmp_path
):
    """sql_text, rollback_sql and the evidence bundle hold the mask; the checksum is the file's."""
    body = (
        f"CREATE ROLE r_{database.name} LOGIN;\nALTER ROLE r_{database.name} PASSWORD '{SECRET}';"
    )
    folder = migrations_dir(_files(body))
    try:
        assert uap(directory=folder).code == 0
        stored = database.query(
            "SELECT e.sql_text, m.rollback_sql, m.checksum FROM schema_migration_events e "
            "JOIN schema_migrations m USING (version)"
        )[0]
        assert SECRET not in stored[0] and redact.MASK in stored[0]
        assert SECRET not in stored[1]
        assert stored[2] == discovery.discover(folder)[0].checksum
        out = tmp_path / "e.zip"
        assert uap("--evidence", str(out), directory=folder).code == 0
        with zipfile.ZipFile(out) as archive:
            for info in archive.infolist():
                assert SECRET.encode() not in archive.read(info), info.filename
            listing = json.loads(archive.read("migrations.json"))
        assert listing[0]["redacted"] is True
        verified = uap("--verify-evidence", str(out))
        assert verified.code == 0, verified.err
    finally:
        with database.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS r_{database.name}")


def test_lint_reports_secret_in_migration(uap, migrations_dir):
    folder = migrations_dir(_files(f"ALTER ROLE app PASSWORD '{SECRET}';"))
    result = uap("--lint", directory=folder)
    assert result.code == 2
    assert "secret-in-migration" in result.out and SECRET not in result.out


# No test transaction: the ledger is dropped afterwards, which waits for no lock then.
@pytest.mark.django_db(transaction=True)
def test_admin_pages_show_legacy_secrets_redacted(client):
    """An event written before redaction (by hand here) is shown masked on both pages."""
    with postgres.connect("default", purpose="test") as conn:
        drop_ledger(conn)
        store.ensure_schema(conn)
        event_id = conn.execute(
            "INSERT INTO schema_migration_events (version, action, status, sql_text) "
            "VALUES ('001', 'apply', 'completed', %s) RETURNING id",
            (f"ALTER ROLE x PASSWORD '{SECRET}';",),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO schema_migrations (version, name, status) "
            "VALUES ('001', 'v1.0_x', 'completed')"
        )
    try:
        client.force_login(make_auditor())
        for url in (
            reverse("admin:schema_audit_migrationevent_change", args=[event_id]),
            reverse("admin:schema_audit_schemamigration_change", args=["001"]),
        ):
            page = client.get(url).content.decode()
            assert SECRET not in page and "********" in page, url
    finally:
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)


def test_captured_out_of_band_ddl_is_stored_redacted(uap, database, migrations_dir):
    """A plain session's query string (the whole of it) is stored with the password masked."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);")})
    assert uap(directory=folder).code == 0
    assert uap("--install-ddl-audit").code == 0
    role = f"r_{database.name}"
    try:
        with database.connect() as conn:
            conn.execute(
                f"CREATE ROLE {role}; ALTER ROLE {role} PASSWORD '{SECRET}'; "
                "CREATE TABLE oob (id int);"
            )
        stored = database.scalar(
            "SELECT sql_text FROM schema_migration_events WHERE action = 'out_of_band_ddl'"
        )
        assert SECRET not in stored and "PASSWORD '********'" in stored
    finally:
        with database.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")
