"""`uap_create_auditor` and the production settings that serve the audit admin."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse

from schema_audit.ledger import signing
from tests.conftest import ROOT

STRONG = "correct-horse-battery-41"


def create(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("uap_create_auditor", *args, stdout=out, **extra)
    return out.getvalue()


@pytest.mark.django_db
def test_auditor_is_staff_with_only_the_two_view_permissions():
    """A new auditor: staff, not superuser, in the group, holding exactly view permissions."""
    out = create("alice")
    user = get_user_model().objects.get(username="alice")
    assert user.is_staff and user.is_active and not user.is_superuser
    assert [g.name for g in user.groups.all()] == ["Schema auditors"]
    assert user.get_all_permissions() == {
        "schema_audit.view_schemamigration",
        "schema_audit.view_migrationevent",
    }
    password = out.split("shown only this once): ")[1].strip()
    assert len(password) >= 16 and user.check_password(password)


@pytest.mark.django_db
def test_rerun_keeps_the_password_and_says_so():
    """Running again for an existing user leaves its password alone and reports that."""
    create("alice", "--password-stdin", stdin=STRONG + "\n")
    out = create("alice")
    assert "Password unchanged" in out and "Updated auditor" in out
    assert get_user_model().objects.get(username="alice").check_password(STRONG)


@pytest.mark.django_db
def test_password_stdin_resets_an_existing_password():
    """--password-stdin sets the password on every run."""
    create("alice")
    out = create("alice", "--password-stdin", stdin="another-long-phrase-97\n")
    assert "Password set from standard input." in out
    assert get_user_model().objects.get(username="alice").check_password("another-long-phrase-97")


@pytest.mark.django_db
@pytest.mark.parametrize("stdin", ["\n", "12345\n", "alice\n"])
def test_weak_or_empty_passwords_are_refused(stdin):
    """The project's password validators apply; nothing is created (exit 2)."""
    with pytest.raises(CommandError) as caught:
        create("alice", "--password-stdin", stdin=stdin)
    assert caught.value.returncode == 2
    assert not get_user_model().objects.filter(username="alice").exists()


@pytest.mark.django_db
def test_a_superuser_is_not_turned_into_an_auditor():
    """An existing superuser keeps its rights; the command refuses."""
    get_user_model().objects.create_superuser("root", "root@example.com", "x")
    with pytest.raises(CommandError, match="is a superuser"):
        create("root")
    assert not get_user_model().objects.get(username="root").groups.exists()


@pytest.mark.django_db
def test_extra_rights_are_removed_from_an_existing_user():
    """A staff user with other permissions ends with only the auditor group's."""
    from django.contrib.auth.models import Group, Permission

    user = get_user_model().objects.create_user("bob", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="delete_user"))
    user.groups.add(Group.objects.create(name="editors"))
    create("bob")
    user = get_user_model().objects.get(username="bob")
    assert user.get_all_permissions() == {
        "schema_audit.view_schemamigration",
        "schema_audit.view_migrationevent",
    }


@pytest.mark.django_db
def test_auditor_logs_in_and_sees_only_the_audit_admin(client):
    """A real login with the password; the users admin stays closed."""
    create("alice", "--password-stdin", stdin=STRONG + "\n")
    response = client.post(
        reverse("admin:login"), {"username": "alice", "password": STRONG, "next": "/admin/"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    page = client.get("/admin/").content.decode()
    assert "Schema migrations" in page and "Users" not in page
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_check_deploy_is_clean_with_production_settings():
    """`manage.py check --deploy` reports nothing with the documented production environment."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURE_", "SESSION_", "CSRF_", "DEBUG"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="uap_project.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="audit.example.com",
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="1",
        # A developer's .env may relax these for plain HTTP on 127.0.0.1; production does not.
        SESSION_COOKIE_SECURE="1",
        CSRF_COOKIE_SECURE="1",
        # Production signs its ledger events (without a key: schema_audit.W010).
        UAP_SIGNING_KEY=signing.private_pem(Ed25519PrivateKey.generate()),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stderr


@pytest.mark.django_db
def test_pages_carry_security_headers_and_static_files_are_served(client):
    """Clickjacking, sniffing and referrer protection on every page; WhiteNoise serves CSS."""
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    css = client.get("/static/admin/css/base.css")
    assert css.status_code == 200 and css["Content-Type"].startswith("text/css")


@pytest.mark.django_db
def test_migrate_creates_all_three_compliance_groups():
    """Auditors, approvers and audit admins exist after `migrate`, before any auditor is made."""
    names = set(Group.objects.values_list("name", flat=True))
    assert {"Schema auditors", "Schema approvers", "Schema audit admins"} <= names
    auditors = Group.objects.get(name="Schema auditors")
    assert sorted(auditors.permissions.values_list("codename", flat=True)) == [
        "view_migrationevent",
        "view_schemamigration",
    ]
