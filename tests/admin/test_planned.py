"""The summary, the drift filter and the export say what the runner would do: the planner's
rules (api.migration_status), also for rows edited or deleted by hand."""

from __future__ import annotations

import contextlib

import pytest
from django.urls import reverse

from schema_audit import api
from schema_audit.engine import postgres
from tests.admin import data as admin_data
from tests.admin.data import make_auditor
from tests.admin.test_changelist import listed_versions
from tests.admin.test_export import read_csv

pytestmark = pytest.mark.django_db
history = admin_data.history  # the module's migration history (a fixture)

SUMMARY = reverse("admin:schema_audit_summary")
CHANGELIST = reverse("admin:schema_audit_schemamigration_changelist")
EXPORT = reverse("admin:schema_audit_schemamigration_export")


@pytest.fixture
def auditor_client(client, history):
    client.force_login(make_auditor())
    return client


@contextlib.contextmanager
def edited(*statements: str):
    """The ledger rows changed by hand (committed, as a psql session would), then restored."""
    with postgres.connect("default", purpose="test") as conn:
        conn.execute("CREATE TEMP TABLE saved AS SELECT * FROM schema_migrations")
        try:
            for statement in statements:
                conn.execute(statement)
            yield
        finally:
            conn.execute("DELETE FROM schema_migrations")
            conn.execute("INSERT INTO schema_migrations SELECT * FROM saved")


def summary_of(client) -> tuple[list, dict]:
    """The summary's pending (version, status) pairs and its drift reasons by version."""
    context = client.get(SUMMARY).context
    pending = [(item["file"].version, item["status"]) for item in context["pending"]]
    return pending, {item["version"]: item["reason"] for item in context["drifted"]}


def runner_view() -> tuple[list, dict]:
    """What `uap_migrate --status` sees: pending versions and drift reasons by version."""
    status = api.migration_status()
    drift = {m["version"]: m["drift"] for m in status["migrations"] if m["drift"]}
    return [m["version"] for m in status["pending"]], drift


def test_summary_agrees_with_the_planner(auditor_client, history):
    """Pending files and drift reasons are the planner's, word for word."""
    pending, drifted = summary_of(auditor_client)
    planned_pending, planned_drift = runner_view()
    assert [version for version, _ in pending] == planned_pending == ["003", "008"]
    assert drifted == {v: why for v, why in planned_drift.items() if v != "007"}
    assert list(drifted) == ["005"]  # 007's file is gone: listed apart, as a missing file


def test_a_failure_hidden_by_a_row_edit_is_drift_at_once(auditor_client, history):
    """003 failed; a row edited to `completed` is drift for the runner, so for the summary,
    the drift filter and the export too, on the next request (the summary's cache sees it)."""
    assert "003" not in summary_of(auditor_client)[1]
    with edited("UPDATE schema_migrations SET status = 'completed' WHERE version = '003'"):
        pending, drifted = summary_of(auditor_client)
        assert pending == [("008", "new")]
        assert "row says completed" in drifted["003"] and "edited outside" in drifted["003"]
        assert drifted["003"] == runner_view()[1]["003"]
        assert "003" in listed_versions(auditor_client.get(f"{CHANGELIST}?problem=drift"))
        rows = {row["version"]: row for row in read_csv(auditor_client.get(EXPORT))}
        assert rows["003"]["drift"] == "True"
    pending, drifted = summary_of(auditor_client)
    assert pending == [("003", "failed"), ("008", "new")] and "003" not in drifted


def test_a_deleted_row_is_drift_not_a_pending_file(auditor_client, history):
    """001's row deleted by hand: the runner would not apply 001 again, and neither does the
    summary list it as pending; it is drift, as `--status` says."""
    with edited("DELETE FROM schema_migrations WHERE version = '001'"):
        pending, drifted = summary_of(auditor_client)
        assert [version for version, _ in pending] == ["003", "008"]
        assert "row deleted" in drifted["001"]
        assert drifted["001"] == runner_view()[1]["001"]
