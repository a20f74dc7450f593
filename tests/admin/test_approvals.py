"""Approving in the admin: approvers only, a confirmation page, CSRF, nothing else writable."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.urls import reverse

from schema_audit.engine.approvals import APPROVERS_GROUP
from schema_audit.files.discovery import checksum
from tests.admin import data as admin_data
from tests.admin.data import make_auditor
from tests.conftest import migration

pytestmark = pytest.mark.django_db
history = admin_data.history  # the module's migration history (a fixture)

SUMMARY = reverse("admin:schema_audit_summary")
APPROVE = reverse("admin:schema_audit_approve", args=["008"])
REVOKE = reverse("admin:schema_audit_revoke", args=["008"])


def make_approver(username: str = "bob", **extra):
    """A staff user in the "Schema approvers" group (which also lets it view the admin)."""
    user = get_user_model().objects.create_user(
        username, f"{username}@example.com", "pw", is_staff=True, **extra
    )
    user.groups.add(Group.objects.get_or_create(name=APPROVERS_GROUP)[0])
    return user


def consent_events() -> list[tuple]:
    """(action, actor, checksum, reason, ticket) of every approve/revoke event, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT action, actor, checksum, reason, ticket FROM schema_migration_events "
            "WHERE action IN ('approve', 'revoke') ORDER BY id"
        )
        return cursor.fetchall()


@pytest.fixture
def csrf_client(history):
    """A client that enforces CSRF, as a browser session does."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture(autouse=True)
def author(django_db_blocker):
    """The user 008's Author names."""
    return admin_data.make_author()


def post_with_token(client: Client, url: str, data: dict):
    """POST the confirmation form as a browser does: CSRF token and the checksum it showed."""
    page = client.get(url)
    token = page.context["csrf_token"]
    shown = page.context["form"]["checksum"].value()
    return client.post(url, {"checksum": shown, **data, "csrfmiddlewaretoken": str(token)})


def test_approver_confirms_then_the_event_names_them_and_the_checksum(csrf_client, history):
    """Summary button -> confirmation page -> POST with CSRF -> approve event."""
    csrf_client.force_login(make_approver())
    summary = csrf_client.get(SUMMARY).content.decode()
    assert f'href="{APPROVE}"' in summary and 'id="approve-008"' in summary
    page = csrf_client.get(APPROVE)
    text = (history.directory / "008_v1.7_pending.sql").read_text(encoding="utf-8")
    assert checksum(text) in page.content.decode()
    assert csrf_client.post(APPROVE, {"comment": "no token"}).status_code == 403
    response = post_with_token(csrf_client, APPROVE, {"comment": "looks fine", "ticket": "CHG-9"})
    assert response.status_code == 302 and response["Location"] == SUMMARY
    assert consent_events()[-1] == ("approve", "bob", checksum(text), "looks fine", "CHG-9")
    summary = csrf_client.get(SUMMARY).content.decode()
    assert "approved</span> by bob" in summary and 'id="revoke-008"' in summary
    response = post_with_token(csrf_client, REVOKE, {"comment": "wrong ticket"})
    assert response.status_code == 302 and consent_events()[-1][:2] == ("revoke", "bob")


@pytest.mark.parametrize("who", ["auditor", "superuser"])
def test_auditors_and_superusers_outside_the_group_cannot_approve(csrf_client, who):
    """No button; the confirmation page and the POST are 403; nothing is recorded."""
    if who == "auditor":
        user = make_auditor()
    else:
        user = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    csrf_client.force_login(user)
    before = consent_events()
    summary = csrf_client.get(SUMMARY)
    assert summary.status_code == 200 and "approve-008" not in summary.content.decode()
    assert csrf_client.get(APPROVE).status_code == 403
    token = csrf_client.get(SUMMARY).context["csrf_token"]
    assert csrf_client.post(APPROVE, {"csrfmiddlewaretoken": str(token)}).status_code == 403
    assert consent_events() == before


def test_the_author_is_shown_no_form_and_a_forced_post_is_refused(csrf_client, history):
    """Self-approval: the page says why, and a POST crafted anyway records nothing."""
    path = history.directory / "009_v1.9_authored.sql"
    path.write_text(
        migration("009", "SELECT 1;").replace("-- Status: LIVE\n", "-- Author: carol\n"),
        encoding="utf-8",
    )
    try:
        csrf_client.force_login(make_approver("carol"))
        url = reverse("admin:schema_audit_approve", args=["009"])
        page = csrf_client.get(url)
        assert 'id="self-approval"' in page.content.decode()
        assert 'id="approval-form"' not in page.content.decode()
        before = consent_events()
        token, shown = str(page.context["csrf_token"]), checksum(path.read_text("utf-8"))
        response = csrf_client.post(
            url, {"csrfmiddlewaretoken": token, "checksum": shown}, follow=True
        )
        assert "is the file&#x27;s Author and may not approve it" in response.content.decode()
        assert consent_events() == before
    finally:
        path.unlink()


def test_unknown_or_applied_versions_have_no_approval_page(csrf_client):
    """Only pending files on disk can be approved."""
    csrf_client.force_login(make_approver())
    for version in ("001", "4242", "x"):
        url = reverse("admin:schema_audit_approve", args=[version])
        response = csrf_client.get(url, follow=True)
        assert "is not a pending migration file on disk" in response.content.decode()


def test_approvals_are_in_the_access_log(csrf_client):
    """The confirmation page is a view; the POST is recorded as an approve."""
    csrf_client.force_login(make_approver())
    post_with_token(csrf_client, APPROVE, {})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT action, method FROM schema_audit_access WHERE username = 'bob' AND path = %s "
            "ORDER BY id",
            [APPROVE],
        )
        assert cursor.fetchall() == [("view", "GET"), ("approve", "POST")]


def test_event_log_shows_and_filters_approvals_by_approver(csrf_client):
    """`?action=approve` lists the approval with its approver; search finds it by name."""
    csrf_client.force_login(make_approver())
    post_with_token(csrf_client, APPROVE, {})
    events = reverse("admin:schema_audit_migrationevent_changelist")
    listed = csrf_client.get(f"{events}?action=approve&q=bob").context["cl"].result_list
    assert [(e.action, e.version, e.actor) for e in listed][:1] == [("approve", "008", "bob")]
    page = csrf_client.get(
        reverse("admin:schema_audit_migrationevent_change", args=[listed[0].id])
    )
    assert page.status_code == 200 and "Who and why" in page.content.decode()
    assert ">bob<" in page.content.decode()


def test_hostile_versions_and_comments_are_refused_cleanly(csrf_client):
    """A 5,000-digit version is not a 500; an over-long comment is a form error, not an event."""
    csrf_client.force_login(make_approver())
    url = reverse("admin:schema_audit_approve", args=["9" * 5000])
    assert "is not a pending migration" in csrf_client.get(url, follow=True).content.decode()
    before = consent_events()
    page = post_with_token(csrf_client, APPROVE, {"comment": "x" * 5000, "ticket": "t" * 500})
    assert page.status_code == 200 and "Ensure this value has at most" in page.content.decode()
    assert consent_events() == before


def test_a_post_for_content_the_page_did_not_show_is_refused(csrf_client, history):
    """The file changes between the page and the POST: no approval, a clear message."""
    csrf_client.force_login(make_approver())
    page = csrf_client.get(APPROVE)
    shown = page.context["form"]["checksum"].value()
    path = history.directory / "008_v1.7_pending.sql"
    original = path.read_text(encoding="utf-8")
    before = consent_events()
    try:
        path.write_text(original + "DROP TABLE t001;\n", encoding="utf-8")
        response = csrf_client.post(
            APPROVE, {"csrfmiddlewaretoken": str(page.context["csrf_token"]), "checksum": shown}
        )
        assert response.status_code == 200
        assert "changed since it was shown" in response.content.decode()
        assert consent_events() == before
        assert checksum(path.read_text("utf-8")) in response.content.decode()  # shown anew
    finally:
        path.write_text(original, encoding="utf-8")


def test_approve_form_offers_the_files_own_ticket(csrf_client, history, settings, tmp_path):
    """A `-- Ticket:` line in the header prefills the form's change ticket."""
    import shutil

    folder = tmp_path / "migrations"
    shutil.copytree(history.directory, folder)
    pending = folder / "008_v1.7_pending.sql"
    pending.write_text(
        pending.read_text(encoding="utf-8").replace(
            "-- Impact:", "-- Ticket: CHG-808\n-- Impact:"
        ),
        encoding="utf-8",
    )
    settings.UAP_MIGRATIONS_DIR = folder
    csrf_client.force_login(make_approver())
    page = csrf_client.get(APPROVE)
    assert page.status_code == 200
    assert page.context["form"]["ticket"].value() == "CHG-808"
    assert 'value="CHG-808"' in page.content.decode()


def test_unapproved_files_carry_no_badge_while_approvals_are_off(
    csrf_client, history, settings, tmp_path
):
    """No red badge without UAP_REQUIRE_APPROVAL; with it, every pending file shows its state."""
    import shutil

    folder = tmp_path / "migrations"
    shutil.copytree(history.directory, folder)
    (folder / "009_v1.8_never_approved.sql").write_text(migration("009", "SELECT 9;"))
    settings.UAP_MIGRATIONS_DIR = folder
    csrf_client.force_login(make_approver())
    settings.UAP_REQUIRE_APPROVAL = False
    page = csrf_client.get(SUMMARY).content.decode()
    cell = page.split('id="approval-009"', 1)[1].split("</td>", 1)[0]
    assert "not approved" not in cell and 'id="approve-009"' in cell
    settings.UAP_REQUIRE_APPROVAL = True
    page = csrf_client.get(SUMMARY).content.decode()
    assert "not approved</span>" in page.split('id="approval-009"', 1)[1].split("</td>", 1)[0]
