"""A Flyway folder in the admin: the current version and the changelist in Flyway's order (1.10
after 1.2.3, a repeatable never current), a changed repeatable pending, every page open."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from schema_audit.engine import postgres
from tests.admin.data import drop_ledger, make_auditor
from tests.admin.test_changelist import listed_versions

pytestmark = pytest.mark.django_db(transaction=True)  # the ledger is dropped after

FILES = {
    "V1__items.sql": "CREATE TABLE fw_items (id int);\n",
    "V1.2.3__note.sql": "ALTER TABLE fw_items ADD COLUMN note text;\n",
    "V1.10__more.sql": "ALTER TABLE fw_items ADD COLUMN more text;\n",
    "R__items_view.sql": "CREATE OR REPLACE VIEW fw_items_view AS SELECT id FROM fw_items;\n",
}


@pytest.fixture
def flyway(django_db_blocker, tmp_path):
    """The Flyway folder applied on the test database; the ledger dropped after."""
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    with django_db_blocker.unblock(), override_settings(UAP_MIGRATIONS_DIR=tmp_path):
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)  # whatever an earlier test on this database left
        call_command("uap_migrate", stdout=io.StringIO(), stderr=io.StringIO())
        yield tmp_path
        with postgres.connect("default", purpose="test") as conn:
            conn.execute("DROP VIEW IF EXISTS fw_items_view; DROP TABLE IF EXISTS fw_items")
            drop_ledger(conn)


def test_summary_and_pages_follow_flyways_order(client, flyway):
    client.force_login(make_auditor())
    summary = client.get(reverse("admin:schema_audit_summary")).content.decode()
    assert 'id="current-version">1.10<' in summary
    (flyway / "R__items_view.sql").write_text(
        "CREATE OR REPLACE VIEW fw_items_view AS SELECT id, note FROM fw_items;\n"
    )
    summary = client.get(reverse("admin:schema_audit_summary")).content.decode()
    assert 'id="current-version">1.10<' in summary and "R__items_view" in summary
    changelist = client.get(reverse("admin:schema_audit_schemamigration_changelist"))
    assert changelist.status_code == 200
    # Newest first, as Flyway orders versions (the ledger's version-order index).
    versions = [v for v in listed_versions(changelist) if not v.startswith("R__")]
    assert versions == ["1.10", "1.2.3", "1"]
    for version in ("1.2.3", "R__items_view"):
        url = reverse("admin:schema_audit_schemamigration_change", args=[version])
        assert client.get(url).status_code == 200, version


def test_drift_filter_lists_a_version_holding_a_comma(client, django_db_blocker, tmp_path):
    """A sqitch change `a,b` edited after it ran is the one row the drift filter lists."""
    from tests.files.test_sqitch import line, plan

    (tmp_path / "deploy").mkdir()
    (tmp_path / "sqitch.plan").write_text(plan(line("a"), line("a,b", 2)))
    (tmp_path / "deploy" / "a.sql").write_text("SELECT 1;\n")
    (tmp_path / "deploy" / "a,b.sql").write_text("SELECT 2;\n")
    with django_db_blocker.unblock(), override_settings(UAP_MIGRATIONS_DIR=tmp_path):
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)  # whatever an earlier test on this database left
        call_command("uap_migrate", stdout=io.StringIO(), stderr=io.StringIO())
        (tmp_path / "deploy" / "a,b.sql").write_text("SELECT 3;\n")
        try:
            client.force_login(make_auditor())
            url = reverse("admin:schema_audit_schemamigration_changelist") + "?problem=drift"
            assert listed_versions(client.get(url)) == ["a,b"]
        finally:
            with postgres.connect("default", purpose="test") as conn:
                drop_ledger(conn)


def test_sqitch_changes_named_1_and_01_each_keep_their_file(tmp_path):
    """In a plan, `1` and `01` are two changes: the admin's files on disk keep both."""
    from schema_audit.admin import queries
    from tests.files.test_sqitch import line, plan

    (tmp_path / "deploy").mkdir()
    (tmp_path / "sqitch.plan").write_text(plan(line("1"), line("01", 2)))
    (tmp_path / "deploy" / "1.sql").write_text("SELECT 1;\n")
    (tmp_path / "deploy" / "01.sql").write_text("SELECT 2;\n")
    files = queries.disk_migrations(tmp_path)
    assert queries.file_of(files, "1").path.name == "1.sql"
    assert queries.file_of(files, "01").path.name == "01.sql"


def test_pending_csv_names_each_diesel_file_by_its_folder(client, django_db_blocker, tmp_path):
    """Every diesel file is `up.sql`: the export names it by its path in the folder."""
    for n in (1, 2):
        (tmp_path / f"2024-01-01-00000{n}_step").mkdir()
        (tmp_path / f"2024-01-01-00000{n}_step" / "up.sql").write_text("SELECT 1;\n")
    client.force_login(make_auditor())
    with override_settings(UAP_MIGRATIONS_DIR=tmp_path):
        with django_db_blocker.unblock(), postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)
        body = b"".join(client.get(reverse("admin:schema_audit_pending_csv")).streaming_content)
    assert "2024-01-01-000002_step/up.sql" in body.decode()
