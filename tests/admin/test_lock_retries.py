"""A retried file's failed attempts in the admin: which attempt, and who held the lock."""

from __future__ import annotations

import threading
import time

import pytest
from django.urls import reverse

from schema_audit import api
from schema_audit.engine import postgres
from schema_audit.models import MigrationEvent
from tests.admin.data import drop_ledger
from tests.conftest import migration

pytestmark = pytest.mark.django_db
HOLDER = "<b>nightly report</b>"


@pytest.fixture(scope="module")
def retried(django_db_setup, django_db_blocker, tmp_path_factory):
    """002 waited behind a reader named HOLDER, was retried, then applied."""
    folder = tmp_path_factory.mktemp("migrations")
    (folder / "001_v1.0_items.sql").write_text(migration("001", "CREATE TABLE items (id int);"))
    with django_db_blocker.unblock():
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)
            conn.execute("DROP TABLE IF EXISTS items")
        assert api.run_pending(folder)["successful"] == 1
        (folder / "002_v1.1_note.sql").write_text(
            migration("002", "ALTER TABLE items ADD COLUMN note text;")
        )
        reader = postgres.connect("default", purpose="test")
        reader.execute("SELECT pg_catalog.set_config(%s, %s, false)", ("application_name", HOLDER))
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM items").fetchone()

        def release() -> None:
            with postgres.connect("default", purpose="test") as probe:
                for _ in range(6000):
                    if probe.execute(
                        "SELECT count(*) FROM schema_migration_events WHERE sqlstate = '55P03'"
                    ).fetchone()[0]:
                        break
                    time.sleep(0.01)
            reader.rollback()

        thread = threading.Thread(target=release)
        thread.start()
        try:
            assert api.run_pending(folder, lock_retries=30)["successful"] == 1
        finally:
            thread.join()
            reader.close()
        yield folder


def test_event_page_of_a_retried_attempt_names_the_holder(admin_client, retried):
    event = MigrationEvent.objects.filter(version="002", sqlstate="55P03").order_by("id")[0]
    page = admin_client.get(
        reverse("admin:schema_audit_migrationevent_change", args=[event.id])
    ).content.decode()
    assert 'id="lock-retry"' in page and "Attempt 1 of at most" in page
    assert "&lt;b&gt;nightly report&lt;/b&gt;" in page and HOLDER not in page
    assert "AccessShareLock" in page


def test_the_failed_attempts_filter_lists_the_retried_attempts(admin_client, retried):
    events = reverse("admin:schema_audit_migrationevent_changelist")
    listed = admin_client.get(events + "?status__exact=failed").context["cl"].result_list
    assert {(e.version, e.sqlstate) for e in listed} == {("002", "55P03")}
