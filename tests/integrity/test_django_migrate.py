"""Django's own migrate beside uap_migrate: recorded once, attributed, never breaking migrate."""

from __future__ import annotations

import getpass
import json
import logging

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from schema_audit import api
from schema_audit.engine import postgres
from tests.conftest import numbered

EVENTS = "SELECT action, applied_by, os_user, sql_text, fingerprint, duration_ms FROM \
schema_migration_events WHERE action <> 'apply' ORDER BY id"


@pytest.fixture(autouse=True)
def _django_connections(django_db_blocker):
    """Django's migrate runs on each test's own database alias, not pytest-django's."""
    with django_db_blocker.unblock():
        yield


def django_migrate(database, *args: str) -> None:
    """Django's `migrate` on the test database, quietly."""
    call_command("migrate", *args, database=database.alias, verbosity=0, interactive=False)


@pytest.fixture
def tracked(uap, database, migrations_dir):
    """A database with two files applied by uap_migrate and the DDL capture installed."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    result = uap("--install-ddl-audit")
    assert result.code == 0, result.err
    return folder


def test_django_migrate_is_recorded_and_verify_stays_clean(database, uap, tracked):
    """After Django's migrate: one django_migrate event, no out-of-band DDL, --verify exits 0."""
    django_migrate(database)
    assert {"auth_user", "django_migrations", "t1", "t2"} <= database.tables()
    events = database.query(EVENTS)
    assert [event[0] for event in events] == ["django_migrate"]
    _, applied_by, os_user, sql_text, fingerprint, duration_ms = events[0]
    assert applied_by == database.params.get("user", "postgres")
    assert os_user == getpass.getuser()
    assert "auth.0001_initial" in sql_text.splitlines()
    assert "contenttypes.0001_initial" in sql_text.splitlines()
    assert duration_ms >= 0
    assert fingerprint.strip() == api.verify_schema(database.alias)["current"]
    result = uap("--verify", directory=tracked)
    assert result.code == 0, result.out + result.err
    assert not api.verify(database.alias)["out_of_band_ddl"]


def test_migrate_with_nothing_to_do_records_nothing(database, tracked):
    """A second migrate has an empty plan: still one event."""
    django_migrate(database)
    django_migrate(database)
    assert (
        database.scalar(
            "SELECT count(*) FROM schema_migration_events WHERE action = 'django_migrate'"
        )
        == 1
    )


def test_unapplying_django_migrations_is_recorded_as_such(database, uap, tracked):
    """Migrating an app back to zero drops its tables, is recorded, and --verify stays clean."""
    django_migrate(database)
    django_migrate(database, "sessions", "zero")
    assert "django_session" not in database.tables()
    sql_texts = [event[3] for event in database.query(EVENTS)]
    assert sql_texts[-1] == "sessions.0001_initial (unapplied)"
    assert uap("--verify", directory=tracked).code == 0


def test_django_session_is_unmarked_after_migrate(database, tracked):
    """DDL on Django's connection after its migrate is out-of-band again: no leaking mark."""
    django_migrate(database)
    with connections[database.alias].cursor() as cursor:
        cursor.execute("CREATE TABLE after_migrate (id int)")
    actions = [event[0] for event in database.query(EVENTS)]
    assert actions == ["django_migrate", "out_of_band_ddl"]


def test_django_migrate_never_creates_the_tracking_tables(database):
    """On a database uap_migrate never touched, Django's migrate adds no ledger and no error."""
    django_migrate(database)
    tables = database.tables()
    assert "auth_user" in tables
    assert not {"schema_migrations", "schema_migration_events"} & tables


def test_drift_before_django_migrate_stays_visible(database, uap, migrations_dir):
    """Out-of-band DDL (no capture installed) before Django's migrate is recorded as drift
    first, so the new fingerprint cannot absorb it."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    with database.connect() as conn:
        conn.execute("CREATE TABLE sneaked_in (id int)")
    django_migrate(database)
    events = database.query(
        "SELECT action, error_message FROM schema_migration_events WHERE action <> 'apply' "
        "ORDER BY id"
    )
    assert [event[0] for event in events] == ["schema_drift", "django_migrate"]
    assert "sneaked_in" in events[0][1]
    assert uap("--verify", directory=folder).code == 0


def test_recording_failure_warns_and_migrate_still_succeeds(database, tracked, caplog):
    """An event log that rejects the insert: migrate completes, a warning says what was lost."""
    with database.connect() as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'ledger offline'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON schema_migration_events FOR EACH ROW "
            "WHEN (NEW.action = 'django_migrate') EXECUTE FUNCTION refuse()"
        )
    with caplog.at_level(logging.WARNING, logger="schema_audit"):
        django_migrate(database)
    assert "auth_user" in database.tables()
    assert "not recorded in schema_migration_events: ledger offline" in caplog.text
    assert "django_migrate" not in [event[0] for event in database.query(EVENTS)]


def test_runner_holding_the_lock_delays_then_skips_the_record(database, uap, tracked, caplog):
    """While a uap_migrate run holds the lock past UAP_LOCK_WAIT, migrate still succeeds; the
    unrecorded change then shows as drift, never as a clean --verify."""
    with postgres.open_connection(database.alias) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (postgres.LOCK_KEY,))
        with override_settings(UAP_LOCK_WAIT=0.2), caplog.at_level(logging.WARNING):
            django_migrate(database)
    assert "another migration run holds the lock" in caplog.text
    assert "django_migrate" not in [event[0] for event in database.query(EVENTS)]
    assert uap("--verify", directory=tracked).code == 2


def test_sqlite_alias_is_left_alone(tmp_path, caplog):
    """Django's migrate on a non-PostgreSQL alias: no connection attempt, no warning."""
    alias = "sqlite_side"
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "side.db")}
    config = {**settings.DATABASES["default"], **sqlite, "OPTIONS": {}}
    settings.DATABASES[alias] = connections.settings[alias] = config
    try:
        with caplog.at_level(logging.WARNING, logger="schema_audit"):
            call_command("migrate", database=alias, verbosity=0, interactive=False)
    finally:
        connections[alias].close()
        del connections[alias]
        connections.settings.pop(alias, None)
        settings.DATABASES.pop(alias, None)
    assert (tmp_path / "side.db").stat().st_size > 0
    assert not caplog.records


def test_django_migrate_event_is_streamed_on_the_audit_logger(database, tracked, caplog):
    """The django_migrate event reaches the audit stream like every other ledger event."""
    with caplog.at_level(logging.INFO, logger="schema_audit.audit"):
        django_migrate(database)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "schema_audit.audit"]
    assert [(x["action"], x["database"]) for x in lines] == [("django_migrate", database.alias)]
