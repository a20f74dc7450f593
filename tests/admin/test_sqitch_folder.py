"""A sqitch project as the admin shows it: its changes by name, in the changelist and on
their own pages, with the plan's scripts as the files on disk."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from schema_audit.engine import postgres
from tests.admin.data import drop_ledger, make_auditor
from tests.admin.test_changelist import listed_versions
from tests.files.test_layouts import write
from tests.files.test_sqitch import flipr

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:schema_audit_schemamigration_changelist")
VERSIONS = {"appschema", "users", "users#2", "users_nickname"}


@pytest.fixture(scope="module")
def sqitch_project(django_db_setup, django_db_blocker, tmp_path_factory):
    """flipr's sqitch project applied to the test database by uap_migrate."""
    folder = tmp_path_factory.mktemp("sqitch")
    write(folder, flipr())
    with django_db_blocker.unblock(), override_settings(UAP_MIGRATIONS_DIR=folder):
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)
        out, err = io.StringIO(), io.StringIO()
        call_command("uap_migrate", "--dir", str(folder), stdout=out, stderr=err)
        yield folder
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)
            conn.execute("DROP SCHEMA IF EXISTS flipr CASCADE")


def test_the_changelist_and_each_change_page_show_sqitchs_changes(client, sqitch_project):
    client.force_login(make_auditor())
    with override_settings(UAP_MIGRATIONS_DIR=sqitch_project):
        listed = client.get(CHANGELIST)
        assert listed.status_code == 200
        assert set(listed_versions(listed)) == VERSIONS
        drift = client.get(CHANGELIST + "?problem=drift")
        assert listed_versions(drift) == []
        for version in VERSIONS:
            url = reverse("admin:schema_audit_schemamigration_change", args=[version])
            page = client.get(url)
            assert page.status_code == 200, version
        page = client.get(
            reverse("admin:schema_audit_schemamigration_change", args=["users"])
        ).content.decode()
        assert "users@v1.0.sql" in page
