"""Attack: one access record with an id near the bigint maximum (INSERT on the access log).

The event log's trigger takes ids from the sequence only; the access log's trigger keeps a
writer's id when it is above the newest, then every later record needs max(id) + 1.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from tests.admin import data as admin_data

pytestmark = pytest.mark.django_db
history = admin_data.history


def test_a_huge_access_id_does_not_break_every_later_page(client, history):
    """After the planted row, the admin still answers and records the view."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO schema_audit_access (id, username, action, method, path, "
            "query_string, status_code, rows_exported, address) VALUES "
            "(9223372036854775807, 'x', 'view', 'GET', '/x', '', 200, 0, '127.0.0.1')"
        )
    client.force_login(get_user_model().objects.create_superuser("root", "r@e.com", "x"))
    client.raise_request_exception = False
    url = reverse("admin:schema_audit_migrationevent_changelist")
    response = client.get(url)
    assert response.status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM schema_audit_access WHERE path = %s", [url])
        assert cursor.fetchone()[0] == 1


def test_a_held_access_log_lock_does_not_hang_the_admin(client, history):
    """Any login may take the access log's advisory lock; a page view must not wait forever."""
    import threading

    import psycopg

    from schema_audit.engine import postgres
    from schema_audit.ledger import access_chain

    params = {**postgres.connection_params("default"), "dbname": connection.settings_dict["NAME"]}
    client.force_login(get_user_model().objects.create_superuser("root", "r@e.com", "x"))
    client.raise_request_exception = False
    url = reverse("admin:schema_audit_migrationevent_changelist")
    rescued = threading.Event()
    with psycopg.connect(**params, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (access_chain.LOCK_KEY,))

        def rescue():  # the test's own bound: release the lock if the page is still waiting
            if not done.wait(60):
                rescued.set()
                with psycopg.connect(**params, autocommit=True) as other:
                    other.execute("SELECT pg_terminate_backend(%s)", (holder.info.backend_pid,))

        done = threading.Event()
        watchdog = threading.Thread(target=rescue)
        watchdog.start()
        client.get(url)
        done.set()
        watchdog.join()
    assert not rescued.is_set(), "the admin page waited for the lock until the test freed it"


def test_a_held_chain_lock_does_not_hang_an_approval(history):
    """Any login may take the event log's chain lock; an approver's POST must give up."""
    import threading

    import psycopg
    from django.test import Client

    from schema_audit.engine import postgres
    from schema_audit.ledger import chain
    from tests.admin.test_approvals import make_approver, post_with_token

    admin_data.make_author()
    params = {**postgres.connection_params("default"), "dbname": connection.settings_dict["NAME"]}
    client = Client(enforce_csrf_checks=True)
    client.raise_request_exception = False
    client.force_login(make_approver())
    url = reverse("admin:schema_audit_approve", args=["008"])
    rescued, done = threading.Event(), threading.Event()
    with psycopg.connect(**params, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (chain.LOCK_KEY,))

        def rescue():  # the test's own bound: free the lock if the POST is still waiting
            if not done.wait(60):
                rescued.set()
                with psycopg.connect(**params, autocommit=True) as other:
                    other.execute("SELECT pg_terminate_backend(%s)", (holder.info.backend_pid,))

        watchdog = threading.Thread(target=rescue)
        watchdog.start()
        post_with_token(client, url, {"comment": "ok"})
        done.set()
        watchdog.join()
    assert not rescued.is_set(), "the approval waited for the chain lock until the test freed it"
