"""Hostile parameters and oversized data: the admin answers, records the access, never a 500."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from schema_audit.files.discovery import checksum
from tests.admin import data as admin_data
from tests.admin.test_approvals import make_approver
from tests.conftest import migration

pytestmark = pytest.mark.django_db
history = admin_data.history  # the module's migration history (a fixture)

DRILL_DOWNS = [
    "{f}__year=2147483648",
    "{f}__year=2026&{f}__month=99999999999",
    "{f}__year=2026&{f}__month=3&{f}__day=2147483648",
    "{f}__year=9999&{f}__month=12&{f}__day=31",
    "{f}__year=9999",
]
PAGES = [
    ("admin:schema_audit_schemamigration_changelist", "applied_at"),
    ("admin:schema_audit_schemamigration_export", "applied_at"),
    ("admin:schema_audit_migrationevent_changelist", "started_at"),
    ("admin:schema_audit_migrationevent_export", "started_at"),
    ("admin:schema_audit_accessrecord_changelist", "at"),
    ("admin:schema_audit_accessrecord_export", "at"),
]


def _accesses(path: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query_string, status_code FROM schema_audit_access WHERE path = %s "
            "ORDER BY id",
            [path],
        )
        return cursor.fetchall()


@pytest.fixture
def root_client(client, history):
    """A superuser: every admin page, the access log included."""
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "x"))
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize("drill", DRILL_DOWNS)
@pytest.mark.parametrize(("page", "field"), PAGES)
def test_date_drill_down_out_of_range_is_no_server_error(root_client, page, field, drill):
    """Years past 9999 answer like any bad filter (back to the list), and are access-logged."""
    url, query = reverse(page), drill.format(f=field)
    response = root_client.get(f"{url}?{query}")
    assert response.status_code in (200, 302), response.status_code
    assert _accesses(url) == [(query, response.status_code)]


def _forged_event(trace: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO schema_migration_events (version, action, status, trace) "
            "VALUES ('003', 'dry_run', 'completed', %s::jsonb) RETURNING id",
            [trace],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    "trace",
    [
        '{"verdict": "safe", "statements": [1, 2]}',
        '{"verdict": "review", "statements": [{"index": 1}]}',
        '{"verdict": "safe", "reasons": 5}',
        '["not", "an", "object"]',
        '"just text"',
    ],
)
def test_forged_trace_renders_as_unreadable_and_is_logged_as_served(root_client, trace):
    """An event row with any JSON as its trace: the page renders, and says so; 200 is true."""
    event_id = _forged_event(trace)
    url = reverse("admin:schema_audit_migrationevent_change", args=[event_id])
    response = root_client.get(url)
    assert response.status_code == 200
    assert 'id="trace-unreadable"' in response.content.decode()
    assert _accesses(url) == [("", 200)]
    page = root_client.get(reverse("admin:schema_audit_schemamigration_change", args=["003"]))
    assert page.status_code == 200


def test_summary_lists_a_bounded_number_of_pending_files(root_client, history):
    """252 pending files (the history's failed 003 and new 008, and 250 more): the page lists
    the first 200 with the count; the CSV has them all."""
    added = []
    for number in range(2000, 2250):
        path = history.directory / f"{number}_v9.{number}_pending_{number}.sql"
        path.write_text(migration(str(number), "SELECT 1;"), encoding="utf-8")
        added.append(path)
    try:
        page = root_client.get(reverse("admin:schema_audit_summary"))
        text = page.content.decode()
        assert page.status_code == 200
        assert text.count('class="uap-approval"') == 200
        assert 'id="pending-more"' in text and "of 252 pending files" in text
        export = root_client.get(reverse("admin:schema_audit_pending_csv"))
        lines = b"".join(export.streaming_content).decode().splitlines()
        assert len(lines) == 1 + 252
    finally:
        for path in added:
            path.unlink()


def test_approve_page_shows_a_bounded_part_of_a_huge_file(root_client, history):
    """A 3 MB pending file: the page shows the head with a note; the checksum is the whole."""
    body = "SELECT 1; -- padding to make the file large\n" * 70_000
    text = migration("2300", body)
    path = history.directory / "2300_v9.9_huge.sql"
    path.write_text(text, encoding="utf-8")
    try:
        root_client.force_login(make_approver("carl"))
        page = root_client.get(reverse("admin:schema_audit_approve", args=["2300"]))
        html = page.content.decode()
        assert page.status_code == 200
        assert len(html) < 600_000 < len(text)
        assert 'id="approval-sql-cut"' in html and checksum(text) in html
    finally:
        path.unlink()
