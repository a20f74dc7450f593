"""Dry-run traces in the admin: on the version's page, on the event, and as an events filter."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from schema_audit import api
from schema_audit.engine import postgres
from schema_audit.models import MigrationEvent
from tests.admin.data import drop_ledger
from tests.conftest import migration

pytestmark = pytest.mark.django_db
EVENTS = reverse("admin:schema_audit_migrationevent_changelist")
HOSTILE = '"<script>alert(1)</script>"'


@pytest.fixture(scope="module")
def traced(django_db_setup, django_db_blocker, tmp_path_factory):
    """001 traced as dangerous, then applied; 002 traced as safe and still pending."""
    folder = tmp_path_factory.mktemp("migrations")
    (folder / "001_v1.0_widen.sql").write_text(
        migration("001", f"ALTER TABLE {HOSTILE} ALTER COLUMN n TYPE bigint;")
    )
    with django_db_blocker.unblock(), override_settings(UAP_TRACE_BIG_TABLE_ROWS=1000):
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)
            conn.execute(f"DROP TABLE IF EXISTS {HOSTILE}, fresh")
            conn.execute(f"CREATE TABLE {HOSTILE} (n int)")
            conn.execute(f"INSERT INTO {HOSTILE} SELECT generate_series(1, 2000)")
            conn.execute(f"ANALYZE {HOSTILE}")
        assert api.dry_run(folder, trace=True)["verdict"] == "dangerous"
        assert api.run_pending(folder)["successful"] == 1
        (folder / "002_v1.1_fresh.sql").write_text(
            migration("002", "CREATE TABLE IF NOT EXISTS fresh (id bigint);")
        )
        assert api.dry_run(folder, trace=True)["verdict"] == "safe"
        yield folder
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)
            conn.execute(f"DROP TABLE IF EXISTS {HOSTILE}, fresh")


def test_version_page_shows_the_trace_before_it_was_applied(admin_client, traced):
    """The auditor sees what the deploy was expected to lock and rewrite, escaped."""
    url = reverse("admin:schema_audit_schemamigration_change", args=["001"])
    page = admin_client.get(url).content.decode()
    assert "Before the deploy: dry-run trace" in page
    assert 'uap-trace-dangerous">dangerous<' in page
    assert "rewrites big table public.&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in page
    assert "<script>alert(1)" not in page
    assert "AccessExclusiveLock" in page


def test_events_list_filters_dangerous_dry_runs(admin_client, traced):
    """`?trace=dangerous` lists exactly the dangerous dry runs."""
    response = admin_client.get(EVENTS + "?trace=dangerous")
    listed = [(e.version, e.action) for e in response.context["cl"].result_list]
    assert listed == [("001", "dry_run")]
    safe = admin_client.get(EVENTS + "?trace=safe").context["cl"].result_list
    assert [(e.version, e.action) for e in safe] == [("002", "dry_run")]
    assert b"dangerous dry runs" in response.content


def test_event_page_shows_its_trace(admin_client, traced):
    """The dry_run event's own page shows the trace it keeps."""
    event = MigrationEvent.objects.get(version="002", action="dry_run")
    page = admin_client.get(
        reverse("admin:schema_audit_migrationevent_change", args=[event.id])
    ).content.decode()
    assert 'uap-trace-safe">safe<' in page
    assert "no lock that blocks reads or writes on an existing table" in page


def test_events_export_leaves_the_trace_to_the_detail_page(admin_client, traced):
    """The CSV export streams without the large trace column."""
    response = admin_client.get(reverse("admin:schema_audit_migrationevent_export"))
    header = b"".join(response.streaming_content).split(b"\r\n", 1)[0]
    assert response.status_code == 200 and b"trace" not in header
