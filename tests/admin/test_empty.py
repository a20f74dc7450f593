"""Before `uap_migrate` has ever run, or without a migrations directory: notices, never a 500."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from schema_audit.admin import queries
from tests.admin import data as admin_data
from tests.conftest import migration

pytestmark = pytest.mark.django_db

PAGES = [
    reverse("admin:index"),
    reverse("admin:schema_audit_schemamigration_changelist"),
    reverse("admin:schema_audit_schemamigration_changelist") + "?problem=drift&slow=yes",
    reverse("admin:schema_audit_schemamigration_change", args=["001"]),
    reverse("admin:schema_audit_schemamigration_history", args=["001"]),
    reverse("admin:schema_audit_schemamigration_delete", args=["001"]),
    reverse("admin:schema_audit_schemamigration_export"),
    reverse("admin:schema_audit_migrationevent_changelist"),
    reverse("admin:schema_audit_migrationevent_change", args=["1"]),
    reverse("admin:schema_audit_migrationevent_export"),
    reverse("admin:schema_audit_evidence"),
]
SUMMARY = reverse("admin:schema_audit_summary")
any_client = admin_data.any_client  # logged in as the auditor, then as a superuser


@pytest.fixture(autouse=True)
def no_ledger(db):
    """No tracking tables, whatever ran before: dropped inside the test's transaction."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS schema_migration_events, schema_migrations")


@pytest.fixture
def disk(settings, migrations_dir):
    """Two migration files on disk, none applied."""
    settings.UAP_MIGRATIONS_DIR = migrations_dir(
        {
            "001_v1.0_first.sql": migration("001", "CREATE TABLE a (id int);"),
            "002_v1.1_second.sql": migration("002", "CREATE TABLE b (id int);"),
        }
    )
    return settings.UAP_MIGRATIONS_DIR


def test_every_page_shows_a_notice_before_the_tables_exist(any_client, disk):
    """No tracking tables: each audit page answers 200 with the missing-ledger notice."""
    assert not queries.tracking_tables_ready()
    for url in PAGES[1:]:
        response = any_client.get(url)
        assert response.status_code == 200, url
        assert 'id="ledger-missing"' in response.content.decode(), url
    assert any_client.get(PAGES[0]).status_code == 200


def test_summary_lists_pending_files_before_the_first_run(any_client, disk):
    """With no ledger the summary still lists every file on disk as pending."""
    response = any_client.get(SUMMARY)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="ledger-missing"' in page
    assert [p["file"].version for p in response.context["pending"]] == ["001", "002"]
    assert "v1.1_second" in page


def test_an_older_guide_shaped_table_counts_as_missing(any_client, disk):
    """A hand-made table with the guide's fewer columns: the notice, not a column error."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE schema_migrations (version text PRIMARY KEY, name text, "
            "applied_at timestamptz, duration_ms integer, status text)"
        )
    assert not queries.tracking_tables_ready()
    response = any_client.get(reverse("admin:schema_audit_schemamigration_changelist"))
    assert 'id="ledger-missing"' in response.content.decode()


def test_missing_migrations_directory_is_a_notice_on_the_summary(any_client, settings, tmp_path):
    """The summary names the missing directory; the changelist notice still renders."""
    settings.UAP_MIGRATIONS_DIR = tmp_path / "nowhere"
    response = any_client.get(SUMMARY)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="directory-missing"' in page
    assert "nowhere" in page and "does not exist" in page


def test_summary_never_shows_the_servers_absolute_path(any_client, settings, tmp_path):
    """Outside the project only the folder's name is shown, in the notice and the table."""
    settings.UAP_MIGRATIONS_DIR = tmp_path / "nowhere"
    page = any_client.get(SUMMARY).content.decode()
    assert "nowhere" in page and str(tmp_path) not in page
    folder = tmp_path / "sql_files"
    folder.mkdir()
    settings.UAP_MIGRATIONS_DIR = folder
    page = any_client.get(SUMMARY).content.decode()
    assert "sql_files" in page and str(tmp_path) not in page
    fleet = any_client.get(reverse("admin:schema_audit_fleet")).content.decode()
    assert str(tmp_path) not in fleet


def test_summary_shows_a_project_directory_relative_to_base_dir(any_client, settings):
    """The demo project's own directory reads `db/migrations`."""
    settings.UAP_MIGRATIONS_DIR = settings.BASE_DIR / "db" / "migrations"
    page = any_client.get(SUMMARY).content.decode()
    assert "db/migrations" in page and str(settings.BASE_DIR) not in page
