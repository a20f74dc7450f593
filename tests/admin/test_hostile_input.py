"""Hostile input to the audit admin: oversized searches and NUL bytes answer with a notice."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.admin import data as admin_data
from tests.admin.data import make_auditor

pytestmark = pytest.mark.django_db
history = admin_data.history  # the module's migration history (a fixture)

VERSIONS = reverse("admin:schema_audit_schemamigration_changelist")
EVENTS = reverse("admin:schema_audit_migrationevent_changelist")
EXPORTS = {
    VERSIONS: reverse("admin:schema_audit_schemamigration_export"),
    EVENTS: reverse("admin:schema_audit_migrationevent_export"),
}


@pytest.fixture
def auditor_client(client):
    client.force_login(make_auditor())
    return client


def notices(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def listed(response) -> list:
    return list(response.context["cl"].result_list)


@pytest.mark.parametrize("page", [VERSIONS, EVENTS])
@pytest.mark.parametrize(
    ("search", "reason"),
    [
        (" ".join(f"w{n}" for n in range(11)), "11 words"),
        ("x" * 201, "201 characters"),
        ("x " * 50_000, "100,000 characters"),
    ],
)
def test_oversized_search_shows_the_list_with_a_notice(
    auditor_client, history, page, search, reason
):
    """Over 10 words or 200 characters: no search runs, the page says why, nothing matches."""
    response = auditor_client.get(page, {"q": search})
    assert response.status_code == 200
    assert listed(response) == []
    assert any("Search not run" in text and reason in text for text in notices(response))


@pytest.mark.parametrize("page", [VERSIONS, EVENTS])
def test_largest_accepted_search_runs(auditor_client, history, page):
    """Ten words within 200 characters are searched, each word anywhere in the fields."""
    response = auditor_client.get(page, {"q": " ".join(["1000"] * 10)})
    assert response.status_code == 200
    assert {row.version for row in listed(response)} == {"1000"}
    assert notices(response) == []


def _search_sql(client, words: int) -> str:
    with CaptureQueriesContext(connection) as queries:
        client.get(EVENTS, {"q": " ".join(f"word{n}" for n in range(words))})
    return " ".join(q["sql"] for q in queries if "schema_migration_events" in q["sql"])


def test_event_search_sql_does_not_grow_with_the_word_count(auditor_client, history):
    """One expression with an array of patterns: ten words plan like one."""
    one, ten = _search_sql(auditor_client, 1), _search_sql(auditor_client, 10)
    for operator in ("LIKE", "~*", " OR "):
        assert one.count(operator) == ten.count(operator), operator


@pytest.mark.parametrize("search", ["%%", "_x_", "(", "[a-", "\\", "o'brien", ".*"])
def test_search_metacharacters_are_literal(auditor_client, history, search):
    """LIKE and regex metacharacters match themselves, never everything, never an error."""
    response = auditor_client.get(EVENTS, {"q": search})
    assert response.status_code == 200
    assert listed(response) == []


def test_hash_prefix_search_finds_the_event(auditor_client, history):
    """An event's hash prefix (as the list shows it) finds that event and no other."""
    first = listed(auditor_client.get(EVENTS))[0]
    response = auditor_client.get(EVENTS, {"q": first.hash[:12]})
    assert [event.id for event in listed(response)] == [first.id]


NUL_QUERIES = {
    VERSIONS: ["status", "slow", "problem", "q", "applied_at__gte", "applied_at__year"],
    EVENTS: [
        "status",
        "action",
        "applied_by",
        "os_user",
        "ticket",
        "problem",
        "slow",
        "q",
        "started_at__gte",
        "started_at__year",
    ],
}


@pytest.mark.parametrize(
    ("page", "parameter"), [(page, p) for page, params in NUL_QUERIES.items() for p in params]
)
def test_nul_byte_in_a_filter_shows_the_list_with_a_notice(
    auditor_client, history, page, parameter
):
    """A NUL byte in any filter or the search: the list, empty, with a notice; never a 500."""
    response = auditor_client.get(f"{page}?{parameter}=a%00b")
    assert response.status_code == 200
    assert listed(response) == []
    assert any(parameter in text and "NUL byte" in text for text in notices(response))


@pytest.mark.parametrize("page", [VERSIONS, EVENTS])
def test_nul_byte_in_an_export_goes_back_to_the_list(auditor_client, history, page):
    """An export with a bad filter exports nothing: it returns to the list, which explains."""
    response = auditor_client.get(f"{EXPORTS[page]}?applied_by=%00")
    assert response.status_code == 302
    assert response["Location"] == f"{page}?applied_by=%00"


@pytest.mark.parametrize("page", [VERSIONS, EVENTS])
def test_oversized_search_in_an_export_goes_back_to_the_list(auditor_client, history, page):
    response = auditor_client.get(EXPORTS[page], {"q": "x" * 201})
    assert response.status_code == 302 and response["Location"].startswith(page + "?q=")


@pytest.mark.parametrize("model", ["schemamigration", "migrationevent"])
def test_nul_byte_in_an_object_id_is_not_found(auditor_client, history, model):
    response = auditor_client.get(reverse(f"admin:schema_audit_{model}_change", args=["1\x00"]))
    assert response.status_code == 302  # Django's "does not exist" redirect, not a 500


def test_every_admin_page_sends_a_content_security_policy(auditor_client, history):
    """Scripts and styles only from this site's files: no 'unsafe-inline' on any page."""
    from django.test import Client

    pages = (
        VERSIONS,
        EVENTS,
        reverse("admin:index"),
        reverse("admin:schema_audit_summary"),
        reverse("admin:schema_audit_fleet"),
        reverse("admin:schema_audit_schemamigration_change", args=["003"]),
    )
    login = Client().get(reverse("admin:login"))
    for page, response in [(p, auditor_client.get(p)) for p in pages] + [("login", login)]:
        assert response.status_code == 200, page
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy
        assert "style-src 'self'" in policy and "unsafe-inline" not in policy, policy
        body = response.content.decode()
        assert "<style" not in body and " style=" not in body, page


@pytest.mark.django_db(transaction=True)
def test_huge_sql_is_shown_in_part_with_a_download(client):
    """A 2 MB SQL text: the event and version pages show 64 KB and link to the whole text."""
    from schema_audit.engine import postgres
    from schema_audit.ledger import store
    from tests.admin.data import drop_ledger

    body = "-- x\n" + "SELECT 1;\n" * 200_000 + "ALTER ROLE r PASSWORD 'tail-secret';\n"
    with postgres.connect("default", purpose="test") as conn:
        drop_ledger(conn)
        store.ensure_schema(conn)
        event_id = conn.execute(
            "INSERT INTO schema_migration_events (version, action, status, sql_text) "
            "VALUES ('001', 'apply', 'completed', %s) RETURNING id",
            (body,),
        ).fetchone()[0]
        conn.execute("INSERT INTO schema_migrations (version, status) VALUES ('001', 'completed')")
    try:
        client.force_login(make_auditor())
        download = reverse("admin:schema_audit_migrationevent_sql", args=[event_id])
        for url in (
            reverse("admin:schema_audit_migrationevent_change", args=[event_id]),
            reverse("admin:schema_audit_schemamigration_change", args=["001"]),
        ):
            page = client.get(url).content
            assert len(page) < 200_000, url
            assert download.encode() in page and b"The first 65,536 of" in page
        whole = client.get(download)
        assert whole["Content-Type"].startswith("text/plain")
        text = whole.content.decode()
        assert len(text) > len(body) - 100 and "tail-secret" not in text
        client.logout()
        assert client.get(download).status_code == 302  # login required
    finally:
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)
