"""The fleet page, the database selector and the rollout filter, on real databases."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import override_settings
from django.urls import reverse

from tests.admin.data import make_auditor
from tests.conftest import numbered, register_alias, unregister_alias

FLEET = reverse("admin:schema_audit_fleet")
CHANGELIST = reverse("admin:schema_audit_schemamigration_changelist")
EVENTS = reverse("admin:schema_audit_migrationevent_changelist")
NOWHERE = {"ENGINE": "django.db.backends.postgresql", "NAME": "x", "HOST": "/nonexistent/uap"}


@pytest.fixture
def rolled_out(fleet, uap_fleet, migrations_dir):
    """Two databases: the first at 002 through one rollout, the second at 001 and pending."""
    folder = migrations_dir(numbered(2))
    dbs = fleet(2)
    assert uap_fleet(dbs, "--target", "001", directory=folder).code == 0
    assert uap_fleet(dbs[:1], directory=folder).code == 0
    with override_settings(UAP_MIGRATIONS_DIR=folder, UAP_FLEET=[d.alias for d in dbs]):
        yield dbs


@pytest.fixture
def auditor(client, django_db_setup, django_db_blocker):
    """A client logged in as a view-only auditor, free to read every alias of the fleet.

    Not a Django TestCase: its isolation refuses aliases registered after it started.
    """
    with django_db_blocker.unblock():
        user = make_auditor("fleet-auditor")
        client.force_login(user)
        yield client
        user.delete()


@pytest.fixture
def down_alias():
    """An alias whose server does not exist."""
    register_alias("fleet_down", {**settings.DATABASES["default"], **NOWHERE})
    yield "fleet_down"
    unregister_alias("fleet_down")


def rollout_of(db) -> str:
    """The newest rollout id in a database's event log."""
    return db.scalar(
        "SELECT rollout FROM schema_migration_events WHERE rollout IS NOT NULL "
        "ORDER BY id DESC LIMIT 1"
    )


def test_fleet_page_shows_every_database_its_version_and_last_rollout(auditor, rolled_out):
    """Each configured database with its version, pending count and a link to its history."""
    page = auditor.get(FLEET)
    assert page.status_code == 200
    rows = {row["alias"]: row for row in page.context["databases"]}
    first, second = rolled_out
    assert rows[first.alias]["current_version"] == "002" and rows[first.alias]["state"] == "ok"
    assert rows[second.alias]["pending"] == 1 and rows[second.alias]["state"] == "pending"
    assert rows[second.alias]["last_rollout"]["rollout"] == rollout_of(second)
    html = page.content.decode()
    assert f"{CHANGELIST}?db={first.alias}" in html
    assert f"rollout={rollout_of(second)}" in html


def test_a_database_with_many_problems_lists_the_first_few_and_links_the_rest(auditor, rolled_out):
    """A ledger whose files are gone has a problem per version: the page names five and the
    command that lists the others, instead of rendering them all."""
    first, _ = rolled_out
    with first.connect() as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, status) "
            "SELECT (100 + g)::text, 'gone', 'completed' FROM generate_series(1, 8) g"
        )
    page = auditor.get(FLEET)
    row = {row["alias"]: row for row in page.context["databases"]}[first.alias]
    assert row["state"] == "drift" and len(row["problems"]) == 5 and row["more_problems"] == 3
    assert all("file is missing" in problem for problem in row["problems"])
    html = page.content.decode()
    assert f"and 3 more: <code>uap_migrate --plan --database {first.alias}</code>" in html


def test_unreachable_database_renders_as_unreachable_not_an_error(auditor, rolled_out, down_alias):
    """A database that cannot be reached is listed as unreachable; its changelist says so."""
    with override_settings(UAP_FLEET=[*(d.alias for d in rolled_out), down_alias]):
        page = auditor.get(FLEET)
        assert page.status_code == 200
        rows = {row["alias"]: row for row in page.context["databases"]}
        assert rows[down_alias]["state"] == "unreachable"
        assert "unreachable" in page.content.decode()
        listing = auditor.get(f"{CHANGELIST}?db={down_alias}")
    assert listing.status_code == 200
    assert "Database fleet_down is unreachable" in listing.content.decode()


def test_selector_switches_the_changelist_and_keeps_the_database_in_links(auditor, rolled_out):
    """`?db=` lists that database's rows; filter links and the export stay on it."""
    first, second = rolled_out
    page = auditor.get(f"{CHANGELIST}?db={second.alias}")
    assert page.status_code == 200
    assert [obj.version for obj in page.context["cl"].result_list] == ["001"]
    assert [
        obj.version
        for obj in auditor.get(f"{CHANGELIST}?db={first.alias}").context["cl"].result_list
    ] == ["002", "001"]
    html = page.content.decode()
    assert f"db={second.alias}" in html.split('id="export-csv"')[0].rsplit("href=", 1)[1]
    export = auditor.get(
        reverse("admin:schema_audit_schemamigration_export") + f"?db={second.alias}"
    )
    assert b"".join(export.streaming_content).decode().count("\n") == 2  # header and 001
    detail = auditor.get(
        reverse("admin:schema_audit_schemamigration_change", args=["001"]) + f"?db={second.alias}"
    )
    assert detail.status_code == 200 and second.alias in detail.content.decode()


def test_unknown_database_is_not_found(auditor, rolled_out):
    """`?db=` naming an alias outside the fleet answers 404, never another database."""
    assert auditor.get(f"{CHANGELIST}?db=nope").status_code == 404
    assert auditor.get(f"{EVENTS}?db=nope").status_code == 404


def test_rollout_filter_lists_one_rollout_only(auditor, rolled_out):
    """Filtering the events of a database by rollout shows that run's events only."""
    first, _ = rolled_out
    newest = rollout_of(first)
    everything = auditor.get(f"{EVENTS}?db={first.alias}")
    assert [e.version for e in everything.context["cl"].result_list] == ["002", "001"]
    page = auditor.get(f"{EVENTS}?db={first.alias}&rollout={newest}")
    assert page.status_code == 200
    assert [e.version for e in page.context["cl"].result_list] == ["001"]  # 002 ran alone
    assert {e.rollout for e in page.context["cl"].result_list} == {newest}


@pytest.mark.django_db
def test_fleet_page_needs_a_login(client):
    """Anonymous visitors are sent to the login page."""
    assert client.get(FLEET).status_code == 302


def test_summary_and_evidence_follow_the_selected_database(auditor, rolled_out):
    """The summary and its evidence download read the database `?db=` names."""
    first, second = rolled_out
    page = auditor.get(reverse("admin:schema_audit_summary") + f"?db={second.alias}")
    assert page.status_code == 200
    assert page.context["current"].version == "001"
    assert [item["file"].version for item in page.context["pending"]] == ["002"]
    html = page.content.decode()
    assert 'id="database-selector"' in html and f"status=completed&amp;db={second.alias}" in html
    bundle = auditor.get(reverse("admin:schema_audit_evidence") + f"?db={first.alias}")
    assert bundle.status_code == 200 and bundle["Content-Type"] == "application/zip"
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(bundle.content)).read("manifest.json"))
    assert manifest["database"].endswith(f"/{first.alias}")


@pytest.fixture
def approver_client(django_db_setup, django_db_blocker):
    """A client logged in as a staff member of "Schema approvers", outside a test transaction."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from schema_audit.engine.approvals import APPROVERS_GROUP

    with django_db_blocker.unblock():
        user = get_user_model().objects.create_user("fleet-approver", "", "pw", is_staff=True)
        user.groups.add(Group.objects.get_or_create(name=APPROVERS_GROUP)[0])
        client = Client()
        client.force_login(user)
        yield client
        user.delete()


def test_approving_on_a_selected_database_writes_to_that_ledger_only(
    approver_client, rolled_out, django_db_blocker
):
    """?db= on the approval page: the approve event lands in that database's event log."""
    path = Path(settings.UAP_MIGRATIONS_DIR) / "002_v1.2_step_2.sql"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("-- Status: LIVE\n", "-- Author: ada@example.com\n", 1), "utf-8")
    with django_db_blocker.unblock():  # the Author must name a user; removed afterwards
        author, _ = get_user_model().objects.get_or_create(
            username="fleet-ada", email="ada@example.com"
        )
    url = reverse("admin:schema_audit_approve", args=["002"]) + f"?db={rolled_out[1].alias}"
    page = approver_client.get(url)
    assert page.status_code == 200
    shown = page.context["form"]["checksum"].value()
    response = approver_client.post(url, {"comment": "ok", "checksum": shown})
    assert response.status_code == 302 and f"db={rolled_out[1].alias}" in response["Location"]
    approvals = "SELECT actor FROM schema_migration_events WHERE action = 'approve'"
    assert rolled_out[1].query(approvals) == [("fleet-approver",)]
    assert rolled_out[0].query(approvals) == []
    with django_db_blocker.unblock():
        author.delete()


def _read(client, pages: list) -> None:
    """Get the fleet page into `pages`, in a thread of its own (closing its connections)."""
    try:
        pages.append(client.get(FLEET))
    finally:
        connections.close_all()


def test_fleet_page_shows_a_locked_target_instead_of_waiting(
    auditor, fleet, uap_fleet, migrations_dir
):  # noqa: F811
    """The admin fleet page renders while one target's ledger is locked, naming the lock."""
    dbs = fleet(2)
    folder = migrations_dir(numbered(1))
    assert uap_fleet(dbs, directory=folder).code == 0
    pages = []
    with override_settings(UAP_MIGRATIONS_DIR=folder, UAP_FLEET=[d.alias for d in dbs]):
        with dbs[1].connect() as holder, holder.transaction():
            holder.execute("LOCK TABLE schema_migrations")
            reader = threading.Thread(target=_read, args=(auditor, pages), daemon=True)
            reader.start()
            reader.join(120)
            rendered = bool(pages)
        reader.join(120)
    assert rendered, "the fleet page waited for the lock"
    rows = {row["alias"]: row for row in pages[0].context["databases"]}
    assert rows[dbs[0].alias]["state"] == "ok"
    assert rows[dbs[1].alias]["state"] == "unreachable"
    assert "gave up waiting for a lock on the ledger" in rows[dbs[1].alias]["error"]


def test_problems_past_the_first_five_are_named_by_the_command_that_lists_them(
    auditor, fleet, uap_fleet, migrations_dir
):
    """Seven applied files since retired are seven problems no changelist filter lists (no
    row's status says retired): the page names five and the command that lists them all,
    which does."""
    files = numbered(9)
    folder = migrations_dir(files)
    (db,) = fleet(1)
    assert uap_fleet([db], directory=folder).code == 0
    for name, text in list(files.items())[2:]:
        (folder / name).write_text(text.replace("LIVE\n", "LIVE\n-- Retired: undone by hand\n"))
    with override_settings(UAP_MIGRATIONS_DIR=folder, UAP_FLEET=[db.alias]):
        page = auditor.get(FLEET)
    row = page.context["databases"][0]
    assert row["state"] == "drift" and row["more_problems"] == 2, row
    command = f"uap_migrate --plan --database {db.alias}"
    assert f"and 2 more: <code>{command}</code>" in page.content.decode()
    listed = uap_fleet([db], "--plan", directory=folder)
    assert all(f"00{n} " in listed.out + listed.err for n in range(3, 10)), listed.out
