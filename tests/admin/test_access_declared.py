"""Each audit admin URL declares what a request to it is in the access log, and failed logins
are recorded by a receiver the app connects itself, not by importing the admin."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.urls import URLPattern, path

from schema_audit.admin import audited
from schema_audit.signals import login_failed
from tests.admin import data as admin_data

history = admin_data.history  # the module's migration history (a fixture)


def audit_urls() -> dict[str, URLPattern]:
    """Every URL of this app's model admins, by name (Django's redirect has none)."""
    found = {}
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label == "schema_audit":
            for pattern in model_admin.urls:
                found[pattern.name or f"{model._meta.model_name} {pattern.pattern}"] = pattern
    return found


def test_every_audit_admin_url_declares_its_access_action():
    """No URL of the audit admin is left to a guess from its response."""
    urls = audit_urls()
    assert len(urls) >= 20
    undeclared = [
        name for name, p in urls.items() if not isinstance(p.callback.access, audited.Access)
    ]
    assert undeclared == []


@pytest.mark.parametrize(
    ("name", "read", "write"),
    [
        ("schema_audit_summary", "view", "change"),
        ("schema_audit_fleet", "view", "change"),
        ("schema_audit_evidence", "evidence", "change"),
        ("schema_audit_pending_csv", "export", "change"),
        ("schema_audit_schemamigration_export", "export", "change"),
        ("schema_audit_migrationevent_export", "export", "change"),
        ("schema_audit_accessrecord_export", "export", "change"),
        ("schema_audit_migrationevent_sql", "view", "change"),
        ("schema_audit_approve", "view", "approve"),
        ("schema_audit_revoke", "view", "revoke"),
        ("schema_audit_schemamigration_changelist", "view", "change"),
        ("schema_audit_schemamigration_add", "view", "add"),
        ("schema_audit_schemamigration_delete", "view", "delete"),
        ("schema_audit_migrationevent_change", "view", "change"),
    ],
)
def test_declared_actions(name, read, write):
    """What a read and a write of each page are recorded as."""
    declared = audit_urls()[name].callback.access
    assert (declared.action("GET"), declared.action("POST")) == (read, write)


def test_a_url_without_a_declaration_is_refused():
    """A new admin view that says nothing fails when the URLs load, not in the access log."""

    def page(request):
        return None

    with pytest.raises(ImproperlyConfigured, match="declares no access-log action"):
        audited.audited_urls([path("new/", page, name="schema_audit_new")], {})
    with pytest.raises(ValueError, match="not an access-log action"):
        audited.logs_as("download")(page)


def fail_login(username: str) -> None:
    """What Django's authenticate() sends when every backend refuses the credentials."""
    user_login_failed.send(__name__, credentials={"username": username, "password": "guess"})


def failed_logins(username: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM schema_audit_access "
            "WHERE action = 'login_failed' AND username = %s",
            [username],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_failed_logins_are_recorded_by_the_app_config(history):
    """The receiver is schema_audit.signals.login_failed, connected by ready(), once."""
    assert user_login_failed.disconnect(dispatch_uid="schema_audit.login_failed")
    try:
        fail_login("mallory")
        assert failed_logins("mallory") == 0
        apps.get_app_config("schema_audit").ready()
        apps.get_app_config("schema_audit").ready()  # idempotent: one record per failure
        fail_login("mallory")
        assert failed_logins("mallory") == 1
    finally:
        user_login_failed.connect(login_failed, dispatch_uid="schema_audit.login_failed")
