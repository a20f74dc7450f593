"""The audit admin reads the ledger in UAP_LEDGER_SCHEMA, beside dbmate's table in public."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.db import connection
from django.urls import reverse

from schema_audit.admin import queries
from schema_audit.ledger import store
from tests.admin import data as admin_data
from tests.conftest import migration
from tests.ledger import foreign_tables

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:schema_audit_schemamigration_changelist")
PAGES = [
    CHANGELIST,
    CHANGELIST + "?problem=drift&slow=yes",
    reverse("admin:schema_audit_schemamigration_change", args=["001"]),
    reverse("admin:schema_audit_schemamigration_export"),
    reverse("admin:schema_audit_migrationevent_changelist"),
    reverse("admin:schema_audit_summary"),
]
any_client = admin_data.any_client


@pytest.fixture(autouse=True)
def ledger_in_uap(db, settings, migrations_dir):
    """dbmate's table in public and a ledger with one applied version in schema uap, all in
    the test's transaction (rolled back after it)."""
    text = migration("001", "CREATE TABLE a (id int);")
    settings.UAP_MIGRATIONS_DIR = migrations_dir({"001_v1.0_first.sql": text})
    settings.UAP_LEDGER_SCHEMA = "uap"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS schema_migration_events, schema_migrations")
        cursor.execute(foreign_tables.DBMATE)
    conn = connection.connection
    store.ensure_schema(conn)
    attempt = store.Attempt(
        version="001",
        action="apply",
        status="completed",
        started_at=datetime.now(timezone.utc),
        duration_ms=5,
        name="v1.0_first",
        checksum="0" * 64,
        sql_text=text,
    )
    store.record(conn, attempt)


def test_every_page_reads_the_ledger_in_its_schema(any_client):
    """200 on every page, the version recorded in uap shown, no notice about dbmate's table."""
    assert queries.tracking_tables_ready()
    assert queries.foreign_ledger() is None
    for url in PAGES:
        response = any_client.get(url)
        if response.streaming:
            page = b"".join(response.streaming_content).decode()
        else:
            page = response.content.decode()
        assert response.status_code == 200, url
        assert 'id="ledger-foreign"' not in page, url
        assert 'id="ledger-missing"' not in page, url
        shown = {CHANGELIST: "v1.0_first", PAGES[2]: "v1.0_first", PAGES[3]: "v1.0_first"}
        assert shown.get(url, "") in page, url
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM uap.schema_audit_access")
        assert cursor.fetchone()[0] >= len(PAGES)
