"""The audit admin: read-only for everyone, filterable, with a detail timeline."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.admin import data as admin_data
from tests.admin.data import HISTORY, make_auditor, snapshot

pytestmark = pytest.mark.django_db
history = admin_data.history  # the module's migration history (a fixture)
any_client = admin_data.any_client

CHANGELIST = reverse("admin:schema_audit_schemamigration_changelist")
EVENTS = reverse("admin:schema_audit_migrationevent_changelist")
SUMMARY = reverse("admin:schema_audit_summary")


def change_url(version: str) -> str:
    return reverse("admin:schema_audit_schemamigration_change", args=[version])


def listed_versions(response) -> list[str]:
    """Versions on a changelist page, in display order."""
    return [obj.version for obj in response.context["cl"].result_list]


@pytest.fixture
def auditor_client(client):
    client.force_login(make_auditor())
    return client


def test_every_page_renders_for_auditor_and_superuser(any_client, history):
    """Index, changelists, details, history, summary and exports all answer 200."""
    pages = [
        reverse("admin:index"),
        reverse("admin:app_list", args=["schema_audit"]),
        CHANGELIST,
        CHANGELIST + "?problem=any&slow=yes&applied_at__isnull=False",
        EVENTS,
        EVENTS + "?action=rollback",
        reverse("admin:schema_audit_migrationevent_change", args=[1]),
        reverse("admin:schema_audit_schemamigration_history", args=["001"]),
        SUMMARY,
        reverse("admin:schema_audit_schemamigration_export"),
        reverse("admin:schema_audit_migrationevent_export"),
        *[change_url(version) for version in HISTORY],
    ]
    for url in pages:
        response = any_client.get(url)
        assert response.status_code == 200, url
    index = any_client.get(reverse("admin:index")).content.decode()
    assert f'href="{SUMMARY}"' in index


def test_anonymous_users_are_sent_to_login(client, history):
    """Every admin page, export and the summary require a login; the root redirects to admin."""
    assert client.get("/").headers["Location"] == "/admin/"
    for url in [
        CHANGELIST,
        EVENTS,
        SUMMARY,
        change_url("001"),
        reverse("admin:schema_audit_schemamigration_export"),
        reverse("admin:schema_audit_migrationevent_export"),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/admin/login/?next="), url


def test_staff_without_view_permission_is_refused(client, history):
    """Staff status alone does not open the audit pages."""
    staff = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    for url in [CHANGELIST, SUMMARY, change_url("001")]:
        assert client.get(url).status_code == 403, url
    assert client.get(reverse("admin:schema_audit_schemamigration_export")).status_code == 403


def test_add_change_and_delete_are_refused_even_to_superusers(any_client, history):
    """Every write path answers 403, and no row of either table changes."""
    before = snapshot()
    event = reverse("admin:schema_audit_migrationevent_change", args=[1])
    refused = [
        ("get", reverse("admin:schema_audit_schemamigration_add"), {}),
        ("post", reverse("admin:schema_audit_schemamigration_add"), {"version": "900"}),
        ("post", change_url("001"), {"name": "renamed", "status": "failed"}),
        ("get", reverse("admin:schema_audit_schemamigration_delete", args=["001"]), {}),
        (
            "post",
            reverse("admin:schema_audit_schemamigration_delete", args=["001"]),
            {"post": "yes"},
        ),
        ("post", event, {"status": "completed"}),
        ("post", reverse("admin:schema_audit_migrationevent_delete", args=[1]), {"post": "yes"}),
        ("get", reverse("admin:schema_audit_migrationevent_add"), {}),
    ]
    for method, url, data in refused:
        response = getattr(any_client, method)(url, data)
        assert response.status_code == 403, (method, url)
    bulk = {"action": "delete_selected", "_selected_action": ["001", "002"], "index": "0"}
    assert any_client.post(CHANGELIST, bulk).status_code == 200
    assert snapshot() == before


def test_changelist_has_no_bulk_actions_or_add_button(auditor_client, history):
    """Nothing on the page invites a change: no action checkboxes, no add link."""
    page = auditor_client.get(CHANGELIST).content.decode()
    assert 'name="_selected_action"' not in page
    assert "addlink" not in page
    assert 'id="export-csv"' in page


def test_changelist_orders_versions_numerically_newest_first(auditor_client, history):
    """1000 comes before 999, which comes before 007 ... 001."""
    response = auditor_client.get(CHANGELIST)
    assert listed_versions(response) == history.versions_newest_first


def test_changelist_columns_show_badges_slow_marks_and_drift(auditor_client, history):
    """Status badges, the slow mark over the threshold and a drift mark on changed files."""
    page = auditor_client.get(CHANGELIST).content.decode()
    assert '<span class="uap-badge uap-failed">failed</span>' in page
    assert '<span class="uap-badge uap-rolled_back">rolled back</span>' in page
    assert re.search(r'class="uap-slow"[^>]*>2,500 ms', page)
    assert re.search(r'class="uap-slow"[^>]*>1,001 ms', page)
    assert "1,000 ms</td>" in page  # exactly the threshold is not slow
    assert page.count('<span class="uap-badge uap-drift">drift</span>') == 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=completed", ["1000", "999", "007", "005", "002", "001"]),
        ("status=failed", ["003"]),
        ("status=rolled_back", ["004"]),
        ("slow=yes", ["1000", "002"]),
        ("slow=no", ["999", "007", "005", "004", "003", "001"]),
        ("problem=any", ["007", "006", "005", "004", "003"]),
        ("problem=drift", ["007", "005"]),
        ("problem=failed", ["003"]),
        ("problem=rolled_back", ["004"]),
        ("problem=running", ["006"]),
        ("applied_at__isnull=True", []),
        ("q=does+not+exist", ["003"]),
        ("q=backfill", ["005"]),
        ("q=1000", ["1000"]),
        ("slow=yes&status=completed&problem=any", []),
        ("slow=no&problem=any", ["007", "005", "004", "003"]),
    ],
)
def test_each_filter_returns_exactly_the_right_rows(auditor_client, history, query, expected):
    """Each filter, search and combination is one bookmarkable URL with exactly its rows."""
    response = auditor_client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200
    assert listed_versions(response) == expected


def test_applied_date_filter_and_date_hierarchy(auditor_client, history):
    """Applied today versus the old March 2025 rows, by filter and by drill-down."""
    page = auditor_client.get(CHANGELIST).content.decode()
    today = re.search(r'href="(\?applied_at__gte=[^"]+)"[^>]*>\s*Today', page).group(1)
    response = auditor_client.get(CHANGELIST + today.replace("&amp;", "&"))
    assert listed_versions(response) == ["1000", "999", "006", "004", "003"]
    response = auditor_client.get(f"{CHANGELIST}?applied_at__year=2025&applied_at__month=3")
    assert listed_versions(response) == ["007", "005", "002", "001"]


def test_filter_links_on_the_page_are_bookmarkable_urls(auditor_client, history):
    """The sidebar offers the slow and problem choices as plain query strings."""
    page = auditor_client.get(CHANGELIST).content.decode()
    for link in ["?slow=yes", "?problem=any", "?problem=drift", "?status=failed"]:
        assert f'href="{link}"' in page, link
    assert "slow (over 1,000 ms)" in page


def test_detail_shows_header_sql_error_and_every_attempt(auditor_client, history):
    """A failed version: header fields from disk, the SQL run, SQLSTATE, and both attempts."""
    response = auditor_client.get(change_url("003"))
    page = response.content.decode()
    for label in ["Migration", "Date", "Description", "Status", "Changes", "Impact", "Rollback"]:
        assert f"<label>{label}:</label>" in page, label
    assert "test migration 003" in page and "2026-01-01" in page
    assert "CREATE TABLE IF NOT EXISTS t003 (id int);" in page
    assert "column &quot;x&quot; does not exist" in page
    assert "42703" in page
    timeline = page.split('id="event-timeline"')[1]
    assert "Attempts (2)" in timeline
    assert timeline.count('<span class="uap-badge uap-failed">failed</span>') == 2
    assert "2.3.1" in timeline  # app version of each attempt


def test_detail_shows_header_lines_outside_the_template_escaped(auditor_client, history):
    """`-- Source:` and `-- Ticket:` from the file are listed under the header, HTML escaped."""
    page = auditor_client.get(change_url("001")).content.decode()
    other = page.split("<label>Other lines:</label>")[1].split("</fieldset>")[0]
    assert "<b>Source:</b> upstream &lt;b&gt;0001&lt;/b&gt;" in other
    assert "<b>Ticket:</b> OPS-1234" in other
    assert "Ticket" not in page.split("<label>Rollback:</label>")[1].split("</div>")[0]
    plain = auditor_client.get(change_url("002")).content.decode()
    assert "<label>Other lines:</label>" in plain


def test_detail_of_a_version_whose_file_is_gone_uses_the_ledger_copy(auditor_client, history):
    """007's file was deleted: the page says so, shows drift and the stored header fields."""
    page = auditor_client.get(change_url("007")).content.decode()
    assert "not on disk" in page
    assert "its file is missing from the migrations directory" in page
    assert "test migration 007" in page  # description from the ledger row


def test_detail_of_a_changed_file_explains_the_drift(auditor_client, history):
    """005 changed after it was applied: both checksums are named."""
    page = auditor_client.get(change_url("005")).content.decode()
    assert "file changed since it was applied" in page
    assert "--accept-checksum 005" in page


def test_drift_reads_in_the_admins_words_with_the_command_an_operator_runs(
    auditor_client, history
):
    """The planner's neutral reason, what resolves it, and the command as code; not the
    command's own sentence."""
    page = auditor_client.get(change_url("005")).content.decode()
    assert (
        "on disk); restore the file, or have an operator accept its new checksum: "
        "<code>manage.py uap_migrate --accept-checksum 005</code>"
    ) in page
    assert "restore it or run --accept-checksum" not in page


def test_rollback_timeline_lists_apply_then_rollback(auditor_client, history):
    """004's attempts appear oldest first with action, status, who and host."""
    response = auditor_client.get(change_url("004"))
    timeline = response.context["original"].timeline
    assert [(e.action, e.status) for e in timeline] == [
        ("apply", "completed"),
        ("rollback", "rolled_back"),
    ]
    page = response.content.decode()
    assert timeline[0].host in page and timeline[0].applied_by in page


def test_rolled_back_version_shows_the_sql_it_ran_and_its_rollback(auditor_client, history):
    """Both texts, each under its own label: the migration's SQL and the Rollback SQL."""
    page = auditor_client.get(change_url("004")).content.decode()
    applied, rollback = page.split("The migration&#x27;s SQL", 1)[1].split(
        "The Rollback SQL that undid it", 1
    )
    assert "CREATE TABLE IF NOT EXISTS t004" in applied and "(apply," in applied
    assert "SELECT 1;" in rollback and "(rollback," in rollback
    assert "CREATE TABLE IF NOT EXISTS t004" not in rollback


def test_event_log_links_back_to_its_version(auditor_client, history):
    """The event changelist filters by version and links each row to the migration."""
    response = auditor_client.get(f"{EVENTS}?version=003")
    assert [e.status for e in response.context["cl"].result_list] == ["failed", "failed"]
    assert f'href="{change_url("003")}"' in response.content.decode()


def test_summary_counts_pending_drift_and_slowest(auditor_client, history):
    """Current version, counts, the pending file, both drifts, the slowest first, last run."""
    response = auditor_client.get(SUMMARY)
    context = response.context
    assert context["current"].version == "1000"
    counts = {status: count for status, _, count in context["counts"]}
    assert (counts["completed"], counts["failed"], counts["running"]) == (6, 1, 1)
    assert [(p["file"].version, p["status"]) for p in context["pending"]] == [
        ("003", "failed"),
        ("008", "new"),
    ]
    assert [d["version"] for d in context["drifted"]] == ["005"]
    assert [row.version for row in context["missing_files"]] == ["007"]
    assert [row.version for row in context["slowest"]][:3] == ["002", "1000", "999"]
    assert context["last_run"] is not None
    page = response.content.decode()
    assert 'id="current-version">1000<' in page
    assert "v1.7_pending" in page


def test_missing_directory_with_history_warns_but_still_lists(auditor_client, history, settings):
    """Drift cannot be checked without the files: a warning, the rows, and a summary notice."""
    settings.UAP_MIGRATIONS_DIR = history.directory.parent / "gone"
    response = auditor_client.get(CHANGELIST)
    assert response.status_code == 200
    assert listed_versions(response) == history.versions_newest_first
    assert "Checksum drift cannot be checked" in response.content.decode()
    assert listed_versions(auditor_client.get(f"{CHANGELIST}?problem=drift")) == []
    summary = auditor_client.get(SUMMARY).content.decode()
    assert 'id="directory-missing"' in summary and 'id="current-version">1000<' in summary


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("action=rollback", [("004", "rolled_back")]),
        ("status=failed", [("003", "failed"), ("003", "failed")]),
        ("status=running", [("006", "running")]),
        ("slow=yes", [("1000", "completed"), ("002", "completed")]),
        ("action=apply&status=completed&q=1000", [("1000", "completed")]),
    ],
)
def test_event_log_filters(auditor_client, history, query, expected):
    """The event log filters by action, status, duration and search, newest first."""
    response = auditor_client.get(f"{EVENTS}?{query}")
    assert [(e.version, e.status) for e in response.context["cl"].result_list] == expected


def test_events_show_and_filter_who_deployed(auditor_client, history):
    """The event list has the actor column and filter; the detail page shows the actor."""
    page = auditor_client.get(EVENTS, {"actor": admin_data.ACTOR})
    assert page.status_code == 200
    events = list(page.context["cl"].result_list)
    assert events and {e.actor for e in events} == {admin_data.ACTOR}
    assert "actor" in [spec.title for spec in page.context["cl"].filter_specs]
    assert "actor" in page.context["cl"].list_display
    assert not auditor_client.get(EVENTS, {"actor": "nobody"}).context["cl"].result_list
    detail = auditor_client.get(
        reverse("admin:schema_audit_migrationevent_change", args=[events[0].id])
    )
    assert detail.status_code == 200 and admin_data.ACTOR.encode() in detail.content
