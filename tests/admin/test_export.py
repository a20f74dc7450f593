"""CSV export: exactly the filtered changelist, streamed, with documented columns."""

from __future__ import annotations

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from tests.admin import data as admin_data
from tests.admin.data import make_auditor

pytestmark = pytest.mark.django_db
history = admin_data.history  # the module's migration history (a fixture)

CHANGELIST = reverse("admin:schema_audit_schemamigration_changelist")
EXPORT = reverse("admin:schema_audit_schemamigration_export")
EVENTS = reverse("admin:schema_audit_migrationevent_changelist")
EVENTS_EXPORT = reverse("admin:schema_audit_migrationevent_export")
COLUMNS = [
    "version",
    "name",
    "status",
    "applied_at",
    "duration_ms",
    "slow",
    "applied_by",
    "checksum",
    "drift",
    "description",
    "impact",
    "rollback_sql",
    "error_message",
]


@pytest.fixture
def auditor_client(client):
    client.force_login(make_auditor())
    return client


def read_csv(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    "query",
    ["", "slow=yes", "problem=any", "problem=drift", "status=completed&slow=no", "q=backfill"],
)
def test_csv_holds_exactly_the_filtered_changelist(auditor_client, history, query):
    """Same rows, same order as the changelist page for the same query string."""
    page = auditor_client.get(f"{CHANGELIST}?{query}")
    shown = [obj.version for obj in page.context["cl"].result_list]
    rows = read_csv(auditor_client.get(f"{EXPORT}?{query}"))
    assert [row["version"] for row in rows] == shown


def test_csv_columns_and_values(auditor_client, history):
    """Documented header; ISO timestamps, full checksums, slow and drift flags, errors."""
    response = auditor_client.get(EXPORT)
    today = timezone.localdate().isoformat()
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="schema_migrations_{today}.csv"'
    )
    rows = {row["version"]: row for row in read_csv(auditor_client.get(EXPORT))}
    assert list(rows["001"]) == COLUMNS
    assert rows["002"]["slow"] == "True" and rows["999"]["slow"] == "False"
    assert (rows["005"]["drift"], rows["007"]["drift"], rows["001"]["drift"]) == (
        "True",
        "True",
        "False",
    )
    assert rows["003"]["error_message"] == 'column "x" does not exist'
    assert rows["001"]["applied_at"] == "2025-03-01T09:30:00+00:00"
    assert len(rows["001"]["checksum"]) == 64
    assert rows["006"]["duration_ms"] == ""


def test_event_log_csv_follows_its_filters(auditor_client, history):
    """The event export honours the event changelist's filters, newest first."""
    rows = read_csv(auditor_client.get(f"{EVENTS_EXPORT}?version=003"))
    assert [(r["version"], r["status"], r["sqlstate"]) for r in rows] == [
        ("003", "failed", "42703"),
        ("003", "failed", "42703"),
    ]
    assert int(rows[0]["id"]) > int(rows[1]["id"])
    everything = read_csv(auditor_client.get(EVENTS_EXPORT))
    assert len(everything) == sum(len(attempts) for _, attempts, _ in admin_data.HISTORY.values())
    assert "sql_text" not in everything[0]


def test_spreadsheet_formulas_are_neutralised():
    """A text cell that a spreadsheet would evaluate is prefixed with a quote (csv_safe)."""
    from schema_audit import csv_safe

    assert csv_safe.cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_safe.cell("-1+2") == "'-1+2"
    assert csv_safe.cell("--1+2") == "'--1+2"
    assert csv_safe.cell(None) == ""


def test_bad_filter_redirects_instead_of_failing(auditor_client, history):
    """An unknown lookup in the query string leads back to the changelist's error notice."""
    response = auditor_client.get(f"{EXPORT}?nosuchfield__gt=1")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{CHANGELIST}?e=1"
