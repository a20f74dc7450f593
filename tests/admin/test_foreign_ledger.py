"""dbmate's table at the ledger's name: every audit page names it instead of failing."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from schema_audit.admin import queries
from tests.admin import data as admin_data
from tests.conftest import migration
from tests.ledger import foreign_tables

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:schema_audit_schemamigration_changelist")
PAGES = [
    CHANGELIST,
    CHANGELIST + "?problem=drift&slow=yes",
    reverse("admin:schema_audit_schemamigration_change", args=["20240101000000"]),
    reverse("admin:schema_audit_schemamigration_export"),
    reverse("admin:schema_audit_migrationevent_changelist"),
    reverse("admin:schema_audit_summary"),
]
any_client = admin_data.any_client  # logged in as the auditor, then as a superuser


def query(text: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(text, params)
        return cursor.fetchall()


@pytest.fixture(autouse=True)
def dbmate_table(db, settings, migrations_dir):
    """dbmate's table with its rows where the ledger belongs, one file on disk."""
    settings.UAP_MIGRATIONS_DIR = migrations_dir(
        {"001_v1.0_first.sql": migration("001", "CREATE TABLE a (id int);")}
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS schema_migration_events, schema_migrations")
        cursor.execute(foreign_tables.DBMATE)
    return foreign_tables.shape(query, "schema_migrations")


def test_every_page_names_dbmates_table_and_changes_nothing(any_client, dbmate_table):
    """200 with the same refusal uap_migrate gives, never a 500; the table is as it was."""
    assert not queries.tracking_tables_ready()
    for url in PAGES:
        response = any_client.get(url)
        page = response.content.decode()
        assert response.status_code == 200, url
        assert 'id="ledger-foreign"' in page, url
        assert "public.schema_migrations is dbmate&#x27;s tracking table" in page, url
        assert "UAP_LEDGER_SCHEMA" in page and "--import-history dbmate" in page, url
        assert 'id="ledger-missing"' not in page, url
    assert foreign_tables.shape(query, "schema_migrations") == dbmate_table


def test_summary_still_lists_the_files_on_disk(any_client):
    """The refusal replaces the missing-ledger notice; pending files are still listed."""
    response = any_client.get(reverse("admin:schema_audit_summary"))
    assert [p["file"].version for p in response.context["pending"]] == ["001"]
    assert response.context["foreign"].tool == "dbmate"


def test_a_hostile_column_name_is_escaped_in_the_notice(any_client):
    """An unknown table's columns are named on the page, escaped."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE schema_migrations")
        cursor.execute('CREATE TABLE schema_migrations ("<script>alert(1)</script>" text)')
    page = any_client.get(CHANGELIST).content.decode()
    assert "a table of another tool or script" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
