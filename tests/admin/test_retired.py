"""A retired version's page: the Retired line and why, and no SQL said to have run."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from schema_audit.engine import postgres
from tests.admin.data import drop_ledger, make_auditor
from tests.cli.test_retired import WHY, files

pytestmark = pytest.mark.django_db(transaction=True)  # the ledger is dropped after


@pytest.fixture
def retired(django_db_blocker, tmp_path):
    """001-003 applied on the test database with 002 retired; the ledger dropped after."""
    for name, text in files(retired=True).items():
        (tmp_path / name).write_text(text)
    with django_db_blocker.unblock(), override_settings(UAP_MIGRATIONS_DIR=tmp_path):
        call_command("uap_migrate", stdout=io.StringIO(), stderr=io.StringIO())
        yield tmp_path
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)


def test_version_page_shows_retired_and_why(client, retired):
    """002 is rolled back, its Retired reason shown among the header fields."""
    client.force_login(make_auditor())
    url = reverse("admin:schema_audit_schemamigration_change", args=["002"])
    page = client.get(url).content.decode()
    assert "<label>Retired:</label>" in page
    assert WHY in page.split("<label>Retired:</label>")[1].split("</div>")[0]
    assert "no SQL recorded in the event log for this version" in page
