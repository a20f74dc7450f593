"""The audit evidence in the admin: chain and fingerprint verdicts, detections, operator and
ticket filters, event provenance and the evidence bundle download."""

from __future__ import annotations

import io
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from types import SimpleNamespace

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.urls import reverse

from schema_audit import api
from schema_audit.engine import postgres
from schema_audit.integrity import fingerprint, verification
from schema_audit.ledger import store
from tests.admin import data as admin_data
from tests.admin.data import make_auditor, snapshot
from tests.conftest import migration

pytestmark = pytest.mark.django_db
history = admin_data.history  # the module's migration history (a fixture)

SUMMARY = reverse("admin:schema_audit_summary")
EVIDENCE = reverse("admin:schema_audit_evidence")
EVENTS = reverse("admin:schema_audit_migrationevent_changelist")
OUT_OF_BAND_TABLE = "audit_oob"
# Events of other operators: (applied_by, os_user, ticket).
OPERATORS = [("deploy_bot", "jenkins", "CHG-2001"), ("deploy_bot", "anna", "CHG-2002")]
# applied_by is the session user (set by the trigger): another operator's event is written
# as that role. Roles are server-wide, so creating it tolerates a concurrent worker.
_OPERATOR_ROLE_SQL = """
DO $$ BEGIN CREATE ROLE {0};
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
GRANT SELECT, INSERT ON schema_migration_events TO {0};
GRANT USAGE ON SEQUENCE schema_migration_events_id_seq TO {0};
"""


def _operator_event(conn, row: tuple) -> int:
    """A signed patch event written by the app as another role, from another machine."""
    applied_by, os_user, ticket = row
    conn.execute(_OPERATOR_ROLE_SQL.format(applied_by))
    conn.execute(f"SET SESSION AUTHORIZATION {applied_by}")
    identity = dict(store._IDENTITY)
    store._IDENTITY.update(os_user=os_user, host="ci-runner")
    try:
        attempt = store.Attempt(
            version=None,
            action="patch",
            status="completed",
            started_at=datetime.now(timezone.utc),
            ticket=ticket,
            reason="hotfix",
        )
        store.record_event(conn, attempt)
        return conn.execute("SELECT max(id) FROM schema_migration_events").fetchone()[0]
    finally:
        store._IDENTITY.update(identity)
        conn.execute("RESET SESSION AUTHORIZATION")


def event_url(event_id: int) -> str:
    return reverse("admin:schema_audit_migrationevent_change", args=[event_id])


def listed_ids(response) -> list[int]:
    return [event.id for event in response.context["cl"].result_list]


def event_ids(where: str = "true", params: tuple = ()) -> list[int]:
    """Event ids matching a condition, newest first, read straight from the table."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM schema_migration_events WHERE {where} ORDER BY id DESC", params
        )
        return [row[0] for row in cursor.fetchall()]


def _statuses() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT status FROM schema_migration_events")
        return [row[0] for row in cursor.fetchall()]


def _drop_ddl_audit(conn) -> None:
    for trigger in store.DDL_AUDIT_TRIGGERS:
        conn.execute(f"DROP EVENT TRIGGER IF EXISTS {trigger}")
    conn.execute(f"DROP FUNCTION IF EXISTS {store.DDL_AUDIT_FUNCTION}()")
    conn.execute(f"DROP TABLE IF EXISTS {store.DDL_MARKS_TABLE}")
    for function in store.DDL_MARK_FUNCTIONS:
        conn.execute(f"DROP FUNCTION IF EXISTS {function}()")


@pytest.fixture(scope="module")
def trail(history, django_db_blocker):
    """On top of the history: other operators' ticketed events, a fingerprint, the DDL audit,
    out-of-band DDL from a plain session, and the schema_drift event a later run records."""
    with django_db_blocker.unblock():
        with postgres.connect("default", purpose="test") as conn:
            operators = [_operator_event(conn, row) for row in OPERATORS]
            value, text = fingerprint.take(conn)
            attempt = store.Attempt(
                version="1000",
                action="apply",
                status="completed",
                started_at=datetime.now(timezone.utc),
                ticket="CHG-2001",
                fingerprint=value,
                schema_description=text,
            )
            store.record_event(conn, attempt, "2.4.0")
            fingerprinted = store.last_fingerprint(conn)["id"]
        api.install_ddl_audit("default")
        plain = psycopg.connect(
            **postgres.connection_params("default"), autocommit=True, application_name="psql"
        )
        with plain:
            plain.execute(f"CREATE TABLE {OUT_OF_BAND_TABLE} (id int)")
            with postgres.connect("default", purpose="test") as conn:
                verification.record_drift(conn)  # what the next uap_migrate run records first
            plain.execute(f"ALTER TABLE {OUT_OF_BAND_TABLE} ADD COLUMN note text")
        yield SimpleNamespace(operators=operators, fingerprinted=fingerprinted)
        with postgres.connect("default", purpose="test") as conn:
            _drop_ddl_audit(conn)
            conn.execute(f"DROP TABLE IF EXISTS {OUT_OF_BAND_TABLE}")


def _error_message(event_id: int) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT error_message FROM schema_migration_events WHERE id = %s", [event_id]
        )
        return cursor.fetchone()[0]


@contextmanager
def tampered(event_id: int, message: str):
    """Edit one event as someone with table rights could (triggers off), then put it back."""

    def edit(value):
        with postgres.connect("default", purpose="test") as conn, conn.transaction():
            # The tampering itself is not what these tests look for in the DDL audit.
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("ALTER TABLE schema_migration_events DISABLE TRIGGER USER")
            conn.execute(
                "UPDATE schema_migration_events SET error_message = %s WHERE id = %s",
                (value, event_id),
            )
            conn.execute("ALTER TABLE schema_migration_events ENABLE TRIGGER USER")

    original = _error_message(event_id)
    edit(message)
    try:
        yield
    finally:
        edit(original)


@pytest.fixture
def auditor_client(client):
    client.force_login(make_auditor())
    return client


def test_summary_shows_verified_history_with_event_count_and_head(auditor_client, trail):
    """A clean chain: 'History verified (N events, head <prefix>)', N and head from the table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM schema_migration_events")
        total = cursor.fetchone()[0]
        cursor.execute("SELECT hash FROM schema_migration_events ORDER BY id DESC LIMIT 1")
        head = cursor.fetchone()[0]
    response = auditor_client.get(SUMMARY)
    assert response.status_code == 200
    state = response.content.decode().split('id="history-state"')[1].split("</td>")[0]
    assert f"History verified ({total} events, head" in state
    assert f">{head[:16]}</code>)" in state
    assert "broken" not in state


def test_summary_names_the_first_broken_link_after_tampering(auditor_client, trail):
    """An edited event: the summary names it and why; put back, the chain verifies again."""
    target = event_ids("version = '003' AND status = 'failed'")[-1]
    with tampered(target, "nothing to see here"):
        page = auditor_client.get(SUMMARY).content.decode()
        state = page.split('id="history-state"')[1].split("</td>")[0]
        assert "First broken link" in state
        assert f'href="{event_url(target)}">event #{target}</a>' in state
        assert "hash does not match the event&#x27;s content (event edited)" in state
        assert auditor_client.get(SUMMARY).context["history"]["first_break"]["id"] == target
    assert auditor_client.get(SUMMARY).context["history"]["verified"]


def test_summary_shows_schema_drift_with_the_changed_objects(auditor_client, trail):
    """The ALTER after the last fingerprint is drift, listed object by object."""
    response = auditor_client.get(SUMMARY)
    schema = response.context["schema"]
    assert schema["drift"] is True
    assert [(c["change"], c["kind"], c["name"]) for c in schema["changes"]] == [
        ("altered", "tables", f"public.{OUT_OF_BAND_TABLE}")
    ]
    page = response.content.decode()
    state = page.split('id="schema-state"')[1].split("</td>")[0]
    drift_event = event_ids("action = 'schema_drift'")[0]
    assert f"event #{drift_event}</a>" in state
    assert f"<code>public.{OUT_OF_BAND_TABLE}</code>" in state and "note added" in state


def test_summary_shows_a_matching_schema_once_the_change_is_undone(auditor_client, trail):
    """Without the out-of-band column the schema is again the one the drift event recorded."""
    drift_event = event_ids("action = 'schema_drift'")[0]
    with postgres.connect("default", purpose="test") as conn:
        conn.execute("SET session_replication_role = replica")  # unseen by the DDL audit
        conn.execute(f"ALTER TABLE {OUT_OF_BAND_TABLE} DROP COLUMN note")
        try:
            response = auditor_client.get(SUMMARY)
        finally:
            conn.execute(f"ALTER TABLE {OUT_OF_BAND_TABLE} ADD COLUMN note text")
    assert response.context["schema"]["drift"] is False
    state = response.content.decode().split('id="schema-state"')[1].split("</td>")[0]
    assert "matches the fingerprint recorded by" in state and f"event #{drift_event}<" in state


def test_summary_reports_the_ddl_audit_and_links_to_the_detections(auditor_client, trail):
    """Capture on, two out-of-band events (one since the fingerprint), one drift event."""
    page = auditor_client.get(SUMMARY).content.decode()
    assert "installed and enabled" in page.split('id="ddl-audit-state"')[1].split("</td>")[0]
    assert f'href="{EVENTS}?problem=out_of_band_ddl" id="out-of-band-link"' in page
    assert "out-of-band DDL events: 2</a>" in page and "(1 since the last fingerprint)" in page
    assert f'href="{EVENTS}?problem=schema_drift" id="schema-drift-link"' in page
    assert "schema drift events: 1</a>" in page
    assert f"ALTER TABLE: table public.{OUT_OF_BAND_TABLE}" in page


def test_summary_says_when_ddl_capture_is_disabled_or_not_installed(auditor_client, trail):
    """A disabled event trigger, then none at all: the summary says which, and how to fix it."""

    def state() -> str:
        page = auditor_client.get(SUMMARY).content.decode()
        return page.split('id="ddl-audit-state"')[1].split("</td>")[0]

    try:
        with postgres.connect("default", purpose="test") as conn:
            conn.execute(f"ALTER EVENT TRIGGER {store.DDL_AUDIT_TRIGGERS[0]} DISABLE")
            assert "installed, but an event trigger is disabled" in state()
            _drop_ddl_audit(conn)
            assert "not installed" in state() and "--install-ddl-audit" in state()
    finally:
        api.install_ddl_audit("default")
    assert "installed and enabled" in state()


def test_out_of_band_filter_returns_exactly_the_out_of_band_events(auditor_client, trail):
    """`?problem=out_of_band_ddl` lists the two statements from the plain session, nothing else."""
    response = auditor_client.get(f"{EVENTS}?problem=out_of_band_ddl")
    events = response.context["cl"].result_list
    assert [e.ddl_objects for e in events] == [
        f"ALTER TABLE: table public.{OUT_OF_BAND_TABLE}",
        f"CREATE TABLE: table public.{OUT_OF_BAND_TABLE}",
    ]
    assert {(e.action, e.status, e.application) for e in events} == {
        ("out_of_band_ddl", "detected", "psql")
    }
    assert listed_ids(auditor_client.get(f"{EVENTS}?action=out_of_band_ddl")) == listed_ids(
        response
    )
    versions = auditor_client.get(reverse("admin:schema_audit_schemamigration_changelist"))
    assert (
        f'href="{EVENTS}?problem=out_of_band_ddl" id="out-of-band-link"'
        in versions.content.decode()
    )


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("problem=schema_drift", "action = 'schema_drift'"),
        ("problem=failed", "status = 'failed'"),
        (
            "problem=any",
            "status = 'failed' OR action IN ('out_of_band_ddl', 'schema_drift')",
        ),
        ("status=detected", "status = 'detected'"),
        ("ticket__isnull=True", "ticket IS NULL"),
    ],
)
def test_problem_and_status_choices_return_their_events(auditor_client, trail, query, where):
    """Each event-log choice is a URL listing exactly the matching events, newest first."""
    expected = event_ids(where)
    assert expected
    assert listed_ids(auditor_client.get(f"{EVENTS}?{query}")) == expected


def test_operator_and_ticket_filters_return_the_right_rows(auditor_client, trail):
    """DB user, OS user and ticket each narrow the log to exactly their events."""
    jenkins, anna = trail.operators
    assert listed_ids(auditor_client.get(f"{EVENTS}?applied_by=deploy_bot")) == [anna, jenkins]
    assert listed_ids(auditor_client.get(f"{EVENTS}?os_user=jenkins")) == [jenkins]
    assert listed_ids(auditor_client.get(f"{EVENTS}?ticket=CHG-2002")) == [anna]
    ticketed = listed_ids(auditor_client.get(f"{EVENTS}?ticket=CHG-2001"))
    assert ticketed == [trail.fingerprinted, jenkins]
    both = auditor_client.get(f"{EVENTS}?applied_by=deploy_bot&ticket=CHG-2001")
    assert listed_ids(both) == [jenkins]


def test_operator_and_ticket_choices_are_the_distinct_values_in_the_log(auditor_client, trail):
    """The sidebar offers every operator and ticket of the log, as api.event_filter_choices."""
    page = auditor_client.get(EVENTS).content.decode()
    choices = api.event_filter_choices()
    assert choices["tickets"] == ["CHG-2001", "CHG-2002"]
    for ticket in choices["tickets"]:
        assert f'href="?ticket={ticket}"' in page
    for operator in choices["operators"]:
        assert f'href="?applied_by={operator["applied_by"]}"' in page
        if operator["os_user"]:
            assert f'href="?os_user={operator["os_user"]}"' in page


def test_event_list_shows_ticket_and_short_hash(auditor_client, trail):
    """Each row carries its ticket and the first 12 digits of its hash (full in the title)."""
    jenkins = trail.operators[0]
    page = auditor_client.get(f"{EVENTS}?os_user=jenkins").content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT hash FROM schema_migration_events WHERE id = %s", [jenkins])
        digest = cursor.fetchone()[0]
    assert f'<code title="{digest}">{digest[:12]}</code>' in page
    assert '<td class="field-ticket">CHG-2001</td>' in page


def test_event_detail_shows_provenance_chain_link_and_fingerprint(auditor_client, trail):
    """prev_hash links to the previous event; hash, fingerprint, ticket, versions shown."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, prev_hash, hash, fingerprint FROM schema_migration_events WHERE id = %s",
            [trail.fingerprinted],
        )
        event_id, prev_hash, digest, value = cursor.fetchone()
        cursor.execute("SELECT id FROM schema_migration_events WHERE hash = %s", [prev_hash])
        previous = cursor.fetchone()[0]
    page = auditor_client.get(event_url(event_id)).content.decode()
    assert f'href="{event_url(previous)}">event #{previous}</a>' in page
    assert f'<code title="{digest}">{digest}</code>' in page
    assert f'<code title="{value}">{value}</code>' in page and "schema description stored" in page
    for text in ["CHG-2001", "2.4.0", "Who and why", "Integrity"]:
        assert text in page, text


def test_out_of_band_event_detail_shows_objects_statement_and_application(auditor_client, trail):
    """Who ran the DDL, from which application, the statement and the objects it touched."""
    event_id = event_ids("action = 'out_of_band_ddl'")[0]
    page = auditor_client.get(event_url(event_id)).content.decode()
    assert f"ALTER TABLE: table public.{OUT_OF_BAND_TABLE}" in page
    assert f"ALTER TABLE {OUT_OF_BAND_TABLE} ADD COLUMN note text" in page
    assert '<div class="readonly">psql</div>' in page


def test_event_filters_offer_every_status_and_action_the_code_writes(
    auditor_client, trail, uap, database, migrations_dir
):
    """A dry run (skipped), a non-transactional file (running), a failure and a rollback
    write only statuses and actions the event log's filters offer, and each is a link."""
    index = "-- Transaction: none\n" + migration("002", "CREATE INDEX CONCURRENTLY i ON a (id);")
    folder = migrations_dir(
        {
            "001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);"),
            "002_v1.1_i.sql": index,
            "003_v1.2_bad.sql": migration("003", "ALTER TABLE missing ADD COLUMN x int;"),
        }
    )
    assert uap("--dry-run", directory=folder).code == 1  # 003 would fail
    assert uap(directory=folder).code == 1  # 001 and 002 apply, 003 fails
    assert uap("--rollback", "002", "--reason", "test", directory=folder).code == 0
    written = database.query("SELECT DISTINCT status, action FROM schema_migration_events")
    statuses = {status for status, _ in written} | set(_statuses())
    assert {"skipped", "running", "failed", "rolled_back", "detected"} <= statuses
    assert statuses <= set(store.EVENT_STATUSES)
    assert {action for _, action in written} <= set(store.ACTIONS)
    page = auditor_client.get(EVENTS).content.decode()
    for status in store.EVENT_STATUSES:
        assert f'href="?status={status}"' in page, status
    for action in store.ACTIONS:
        assert f'href="?action={action}"' in page, action


def test_evidence_download_is_a_bundle_that_verifies(auditor_client, trail):
    """The button's zip is dated, passes verify_evidence and changes nothing in the ledger."""
    page = auditor_client.get(SUMMARY).content.decode()
    assert f'href="{EVIDENCE}" id="evidence-download"' in page
    before = snapshot()
    response = auditor_client.get(EVIDENCE)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    today = datetime.now(timezone.utc).date().isoformat()
    assert re.fullmatch(
        rf'attachment; filename="schema_audit_evidence_{today}_\d{{6}}Z\.zip"',
        response["Content-Disposition"],
    )
    result = api.verify_evidence(io.BytesIO(response.content))
    assert result["intact"] and result["problems"] == []
    assert result["history"]["verified"]
    assert result["history"]["events"] == len(event_ids())
    assert snapshot() == before


def test_evidence_and_summary_need_a_login_and_the_view_permissions(client, trail):
    """Anonymous: to the login page; staff without view rights: 403; auditor: 200."""
    for url in [SUMMARY, EVIDENCE]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/login/?next=")
    staff = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(EVIDENCE).status_code == 403
    client.force_login(make_auditor())
    assert client.get(SUMMARY).status_code == 200
    assert client.get(EVIDENCE).status_code == 200


def test_a_failing_check_is_a_notice_and_the_download_a_message(
    auditor_client, trail, monkeypatch
):
    """The checks' own connection is refused: the summary renders a notice, never a 500."""
    monkeypatch.setitem(connections["default"].settings_dict, "USER", "uap_no_such_role")
    response = auditor_client.get(SUMMARY)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="integrity-error"' in page and "uap_no_such_role" in page
    assert 'id="current-version">1000<' in page  # the rest of the summary still shows
    download = auditor_client.get(EVIDENCE, follow=True)
    assert download.redirect_chain == [(SUMMARY, 302)]
    assert "The evidence bundle could not be created" in download.content.decode()
