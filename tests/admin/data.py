"""A migration history with every kind of row the audit admin shows, in the Django test database.

The admin reads the `default` database (pytest-django's test database), so the history is
written there through the ledger, and dropped afterwards: the event log is append-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from schema_audit.engine import postgres
from schema_audit.files import discovery
from schema_audit.ledger import provenance, store
from tests.conftest import migration

OLD = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)
NOW = datetime.now(timezone.utc).replace(microsecond=0)
PASSWORD = "view-only-auditor-7431"
ACTOR = "deployer@example.com"  # who deployed the history

# version: (name, [(action, status, when, duration_ms, error, sqlstate)], on disk as recorded?)
HISTORY = {
    "001": ("v1.0_create_teams", [("apply", "completed", OLD, 120, None, None)], "same"),
    "002": ("v1.1_index_teams", [("apply", "completed", OLD, 2500, None, None)], "same"),
    "003": (
        "v1.2_add_column",
        [
            ("apply", "failed", NOW - timedelta(minutes=5), 15, 'column "x" missing', "42703"),
            ("apply", "failed", NOW, 14, 'column "x" does not exist', "42703"),
        ],
        "same",
    ),
    "004": (
        "v1.3_drop_legacy",
        [
            ("apply", "completed", NOW - timedelta(minutes=9), 30, None, None),
            ("rollback", "rolled_back", NOW, 7, None, None),
        ],
        "same",
    ),
    "005": ("v1.4_backfill", [("apply", "completed", OLD, 40, None, None)], "changed"),
    "006": ("v1.5_concurrent_index", [("apply", "running", NOW, None, None, None)], "same"),
    "007": ("v1.6_removed", [("apply", "completed", OLD, 50, None, None)], "missing"),
    "999": ("v1.8_late", [("apply", "completed", NOW, 1000, None, None)], "same"),
    "1000": ("v2.0_big", [("apply", "completed", NOW, 1001, None, None)], "same"),
}
PENDING = {"008": "v1.7_pending"}  # on disk, never applied


@dataclass
class History:
    """Where the fixture's files live and which versions each filter must return."""

    directory: Path
    today: str
    versions_newest_first: list[str]


# Header lines outside the template, as real histories carry them (shown on 001's page).
EXTRA_HEADER = "-- Source: upstream <b>0001</b>\n-- Ticket: OPS-1234\n"


# The pending file's Author, in the `Name <e-mail>` spelling; make_author() creates the user.
PENDING_AUTHOR = "Ada Lovelace <ada@example.com>"


def make_author():
    """The Django user PENDING_AUTHOR names (a file whose Author is no user cannot be approved)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("ada", "ada@example.com", "pw")


def _body(version: str) -> str:
    text = migration(version, f"CREATE TABLE IF NOT EXISTS t{version} (id int);")
    if version in PENDING:
        return text.replace("-- Status: LIVE\n", f"-- Author: {PENDING_AUTHOR}\n", 1)
    return text.replace("--\n\n", f"{EXTRA_HEADER}--\n\n", 1) if version == "001" else text


def _write_files(folder: Path) -> None:
    for version, (name, _, disk) in HISTORY.items():
        if disk == "missing":
            continue
        body = _body(version) + ("-- edited after it was applied\n" if disk == "changed" else "")
        (folder / f"{version}_{name}.sql").write_text(body, encoding="utf-8")
    for version, name in PENDING.items():
        (folder / f"{version}_{name}.sql").write_text(_body(version), encoding="utf-8")


def record_history(conn) -> None:
    """Write HISTORY's rows and events through the ledger, as the runner would."""
    store.ensure_schema(conn)
    for version, (name, attempts, _) in HISTORY.items():
        text = _body(version)
        header = discovery.parse_header(text)
        for action, status, when, duration, error, sqlstate in attempts:
            attempt = store.Attempt(
                version=version,
                action=action,
                status=status,
                started_at=when,
                duration_ms=duration,
                name=name,
                checksum=discovery.checksum(text),
                # A rollback event records the Rollback SQL it ran, as the runner does.
                sql_text=header.rollback if action == "rollback" else text,
                error_message=error,
                sqlstate=sqlstate,
                description=header.description,
                impact=header.impact,
                rollback_sql=header.rollback,
            )
            store.record(conn, attempt, "2.3.1")


def drop_ledger(conn) -> None:
    """Remove the tracking tables (the event log refuses DELETE and TRUNCATE)."""
    conn.execute(f"DROP TABLE IF EXISTS {store.EVENTS_TABLE}, {store.MIGRATIONS_TABLE}")
    conn.execute(f"DROP FUNCTION IF EXISTS {store.EVENTS_TABLE}_append_only()")


@pytest.fixture(scope="module")
def history(django_db_setup, django_db_blocker, tmp_path_factory):
    """HISTORY in the test database's tracking tables and its files in UAP_MIGRATIONS_DIR."""
    folder = tmp_path_factory.mktemp("migrations")
    _write_files(folder)
    with django_db_blocker.unblock(), override_settings(UAP_MIGRATIONS_DIR=folder):
        with postgres.connect("default", purpose="test") as conn:
            # The events keep the session's application_name; without its pid, a search for
            # a version cannot also match an event whose pid happens to contain the digits.
            conn.execute("SET application_name = 'uap_migrate test'")
            drop_ledger(conn)
            with provenance.deploy_actor(ACTOR):
                record_history(conn)
        order = sorted(HISTORY, key=int, reverse=True)
        yield History(folder, NOW.date().isoformat(), order)
        with postgres.connect("default", purpose="test") as conn:
            drop_ledger(conn)


def make_auditor(username: str = "auditor", *options: str):
    """An auditor created by `uap_create_auditor` (with `options`), as an operator would."""
    import io

    call_command(
        "uap_create_auditor",
        username,
        *options,
        "--password-stdin",
        stdin=io.StringIO(PASSWORD + "\n"),
        stdout=io.StringIO(),
    )
    return get_user_model().objects.get(username=username)


@pytest.fixture(params=["auditor", "superuser"])
def any_client(request, client):
    """A client logged in as the auditor, then as a superuser."""
    if request.param == "auditor":
        user = make_auditor()
    else:
        user = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client.force_login(user)
    return client


def snapshot() -> list:
    """Every row of both tracking tables, to prove a request changed nothing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM schema_migrations ORDER BY version")
        rows = cursor.fetchall()
        cursor.execute("SELECT * FROM schema_migration_events ORDER BY id")
        return rows + cursor.fetchall()
