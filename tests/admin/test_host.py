"""Polite in a host project: the host's admin site is its own, and the ledger may live anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.conftest import ROOT, numbered


class LedgerRouter:
    """A host's router sending schema_audit's models to another alias."""

    alias: str | None = None

    def db_for_read(self, model, **hints):
        """schema_audit's models are read from `alias`."""
        return self.alias if model._meta.app_label == "schema_audit" else None


def test_loading_the_app_and_its_admin_leaves_the_site_index_alone():
    """After django.setup() (which imports every admin module) the site's index is Django's."""
    code = (
        "import django; django.setup()\n"
        "from django.contrib import admin\n"
        "import schema_audit.admin\n"
        "print(repr(admin.site.index_template))\n"
    )
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


@pytest.mark.django_db
def test_app_index_links_the_summary(admin_client):
    """The app's own index page (never the site's) carries the summary link."""
    response = admin_client.get(reverse("admin:app_list", args=["schema_audit"]))
    assert response.status_code == 200
    assert reverse("admin:schema_audit_summary") in response.content.decode()


@pytest.fixture
def host_admin(django_db_setup, django_db_blocker):
    """A client logged in as a superuser of the default database, outside a test transaction
    (the ledger lives on another alias that a test transaction may not touch)."""
    name = f"host_admin_{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        user = get_user_model().objects.create_superuser(name, f"{name}@example.com", "x")
        client = Client()
        client.force_login(user)
        yield client
        user.delete()


def test_admin_reads_the_ledger_where_the_hosts_router_sends_it(
    host_admin, database, uap, migrations_dir, settings
):
    """With a router sending the app's models to another alias, every page reads that ledger."""
    folder = migrations_dir(numbered(3))
    assert uap(directory=folder).code == 0
    LedgerRouter.alias = database.alias
    settings.DATABASE_ROUTERS = [f"{__name__}.LedgerRouter"]
    settings.UAP_MIGRATIONS_DIR = folder
    changelist = host_admin.get(reverse("admin:schema_audit_schemamigration_changelist"))
    assert changelist.status_code == 200
    assert [row.version for row in changelist.context["cl"].result_list] == ["003", "002", "001"]
    summary = host_admin.get(reverse("admin:schema_audit_summary"))
    assert summary.status_code == 200
    assert summary.context["current"].version == "003"
    assert summary.context["history"]["events"] == 3  # the routed ledger's chain, verified
    assert summary.context["schema"]["drift"] is False


class RoutedLedger:
    """A host's router sending schema_audit's reads and writes to another alias."""

    alias: str | None = None

    def db_for_read(self, model, **hints):
        """schema_audit's models live on `alias`."""
        return self.alias if model._meta.app_label == "schema_audit" else None

    db_for_write = db_for_read


def test_access_records_go_where_the_router_sends_the_access_log(
    host_admin, database, uap, migrations_dir, settings
):
    """Visits are recorded beside the ledger the admin reads, and its access log shows them."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    RoutedLedger.alias = database.alias
    settings.DATABASE_ROUTERS = [f"{__name__}.RoutedLedger"]
    settings.UAP_MIGRATIONS_DIR = folder
    assert host_admin.get(reverse("admin:schema_audit_summary")).status_code == 200
    rows = database.query("SELECT action, path FROM schema_audit_access")
    assert rows == [("view", reverse("admin:schema_audit_summary"))]
    log = host_admin.get(reverse("admin:schema_audit_accessrecord_changelist"))
    assert log.status_code == 200 and len(log.context["cl"].result_list) >= 1
