"""Login throttling (django-axes in the demo project): lockout per user and per address, 429,
cool-off, failures logged, and the auditor command's unlock."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from tests.admin.data import PASSWORD, make_auditor

pytestmark = pytest.mark.django_db
LOGIN = reverse("admin:login")


def attempt(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_wrong_passwords_lock_the_account_even_for_the_right_one(client, caplog):
    """After the failure limit the right password is refused too, with 429; failures logged."""
    make_auditor()
    limit = settings.AXES_FAILURE_LIMIT
    with caplog.at_level(logging.INFO, logger="axes"):
        answers = [attempt(client, "auditor", f"wrong-{n}").status_code for n in range(limit)]
    assert answers[:-1] == [200] * (limit - 1) and answers[-1] == 429
    assert attempt(client, "auditor", PASSWORD).status_code == 429
    failures = [r.getMessage() for r in caplog.records if "login failure" in r.getMessage()]
    assert failures and all('username: "auditor"' in text for text in failures)


def test_one_address_trying_many_users_is_locked(client):
    """Spraying passwords over many accounts from one address locks the address."""
    make_auditor()
    limit = settings.AXES_FAILURE_LIMIT
    for n in range(limit):
        attempt(client, f"user{n}", "guess", address="198.51.100.9")
    assert attempt(client, "auditor", PASSWORD, address="198.51.100.9").status_code == 429


def test_cool_off_lets_the_right_password_in_again(client):
    from axes.models import AccessAttempt

    make_auditor()
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "auditor", f"wrong-{n}")
    assert attempt(client, "auditor", PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert attempt(client, "auditor", PASSWORD).status_code == 302


def test_uap_create_auditor_unlocks_the_account(client):
    """Re-running the auditor command (a password reset) clears the account's lockout."""
    make_auditor()
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "auditor", f"wrong-{n}", address="192.0.2.1")
    assert attempt(client, "auditor", PASSWORD, address="192.0.2.2").status_code == 429
    out = io.StringIO()
    call_command(
        "uap_create_auditor",
        "auditor",
        "--password-stdin",
        stdin=io.StringIO(PASSWORD + "\n"),
        stdout=out,
    )
    assert "Login lockout cleared" in out.getvalue()
    assert attempt(client, "auditor", PASSWORD, address="192.0.2.2").status_code == 302
