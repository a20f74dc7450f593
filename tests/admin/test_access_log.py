"""The audit UI is itself audited: `schema_audit_access` and who may read it."""

from __future__ import annotations

import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from tests.admin import data as admin_data
from tests.admin.data import make_auditor
from tests.admin.test_export import read_csv

pytestmark = pytest.mark.django_db
history = admin_data.history  # the module's migration history (a fixture)

CHANGELIST = reverse("admin:schema_audit_schemamigration_changelist")
EXPORT = reverse("admin:schema_audit_schemamigration_export")
EVIDENCE = reverse("admin:schema_audit_evidence")
ACCESS = reverse("admin:schema_audit_accessrecord_changelist")


def access_rows(username: str | None = None) -> list[dict]:
    """Access records, oldest first, optionally of one user."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT username, action, method, path, query_string, status_code, rows_exported, "
            "address FROM schema_audit_access WHERE %s::text IS NULL OR username = %s "
            "ORDER BY id",
            [username, username],
        )
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture
def auditor_client(client, history):
    client.force_login(make_auditor())
    return client


def test_auditors_changelist_view_and_csv_export_are_recorded(auditor_client):
    """A filtered view, then the export of the same filter, with the rows exported."""
    page = auditor_client.get(f"{CHANGELIST}?problem=any", REMOTE_ADDR="203.0.113.9")
    exported = read_csv(auditor_client.get(f"{EXPORT}?problem=any"))
    rows = access_rows("auditor")
    assert [(r["action"], r["path"], r["query_string"]) for r in rows] == [
        ("view", CHANGELIST, "problem=any"),
        ("export", EXPORT, "problem=any"),
    ]
    assert rows[0]["address"] == "203.0.113.9" and rows[0]["status_code"] == 200
    assert rows[1]["rows_exported"] == len(exported) == len(page.context["cl"].result_list) > 0


def test_evidence_download_and_detail_pages_are_recorded(auditor_client):
    """The evidence bundle and a version's page are both in the log."""
    auditor_client.get(EVIDENCE)
    auditor_client.get(reverse("admin:schema_audit_schemamigration_change", args=["003"]))
    assert [r["action"] for r in access_rows("auditor")] == ["evidence", "view"]


def test_failed_login_is_recorded_without_the_password(client, history):
    """The name tried and the address; the password is nowhere in the row."""
    make_auditor()
    client.post(
        reverse("admin:login"),
        {"username": "auditor", "password": "guess-1234"},
        REMOTE_ADDR="198.51.100.7",
    )
    rows = [r for r in access_rows() if r["action"] == "login_failed"]
    assert [(r["username"], r["address"]) for r in rows] == [("auditor", "198.51.100.7")]
    assert "guess-1234" not in json.dumps(rows)


def test_pages_outside_the_audit_admin_are_not_recorded(admin_client, history):
    """Only schema_audit's pages: the host project's own admin pages are its business."""
    admin_client.get(reverse("admin:auth_user_changelist"))
    admin_client.get(reverse("admin:index"))
    assert access_rows() == []


def test_access_log_is_append_only(auditor_client):
    """UPDATE, DELETE and TRUNCATE are refused by the trigger, as on the event log."""
    auditor_client.get(CHANGELIST)
    for statement in (
        "UPDATE schema_audit_access SET username = 'someone else'",
        "DELETE FROM schema_audit_access",
        "TRUNCATE schema_audit_access",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert [r["username"] for r in access_rows()] == ["auditor"]


def test_only_superusers_and_audit_admins_read_the_access_log(client, history):
    """Auditors get 403 and no menu entry; a member of "Schema audit admins" reads it."""
    client.force_login(make_auditor())
    assert client.get(ACCESS).status_code == 403
    assert [(r["action"], r["status_code"]) for r in access_rows("auditor")] == [("view", 403)]
    assert ACCESS not in client.get(reverse("admin:index")).content.decode()
    admin = get_user_model().objects.create_user("ada", password="x", is_staff=True)
    admin.groups.add(Group.objects.get_or_create(name="Schema audit admins")[0])
    client.force_login(admin)
    page = client.get(f"{ACCESS}?username=auditor")
    assert page.status_code == 200
    shown = list(page.context["cl"].result_list)
    assert shown and {r.username for r in shown} == {"auditor"}
    this_year = client.get(f"{ACCESS}?at__year={timezone.now().year}&username=auditor")
    assert list(this_year.context["cl"].result_list) == shown
    last_year = client.get(f"{ACCESS}?at__year={timezone.now().year - 1}&username=auditor")
    assert list(last_year.context["cl"].result_list) == []


def test_hostile_query_strings_are_clipped(auditor_client):
    """A huge query string is stored cut to 2,000 characters; the page still answers."""
    response = auditor_client.get(f"{CHANGELIST}?q={'x' * 50_000}%00")
    assert response.status_code == 200
    (row,) = access_rows("auditor")
    assert len(row["query_string"]) == 2000


def test_each_access_is_streamed_as_json_after_commit(
    auditor_client, caplog, django_capture_on_commit_callbacks
):
    """One JSON line per access record on `schema_audit.audit`."""
    with (
        caplog.at_level(logging.INFO, logger="schema_audit.audit"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        auditor_client.get(f"{CHANGELIST}?status=failed")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "schema_audit.audit"]
    assert [(x["kind"], x["username"], x["action"], x["query_string"]) for x in lines] == [
        ("access", "auditor", "view", "status=failed")
    ]
    assert lines[0]["id"] and lines[0]["at"]


def test_refused_writes_are_recorded_as_what_they_attempted(auditor_client):
    """An auditor's approve and delete POSTs are 403 and logged as `approve` / `delete`."""
    approve = reverse("admin:schema_audit_approve", args=["008"])
    delete = reverse("admin:schema_audit_schemamigration_delete", args=["001"])
    change = reverse("admin:schema_audit_schemamigration_change", args=["001"])
    assert auditor_client.post(approve, {"comment": "x"}).status_code == 403
    assert auditor_client.post(delete, {"post": "yes"}).status_code == 403
    assert auditor_client.post(change, {"status": "completed"}).status_code == 403
    assert auditor_client.get(change).status_code == 200
    rows = [(r["action"], r["method"], r["status_code"]) for r in access_rows("auditor")[-4:]]
    assert rows == [
        ("approve", "POST", 403),
        ("delete", "POST", 403),
        ("change", "POST", 403),
        ("view", "GET", 200),
    ]
