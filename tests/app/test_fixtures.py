"""A host project's fixture cycle: `dumpdata` (no arguments), then `loaddata` elsewhere."""

from __future__ import annotations

import io
import json
import uuid

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from psycopg import sql

from tests.conftest import Database, numbered, register_alias, server_params, unregister_alias


@pytest.fixture(autouse=True)
def _django_connections(django_db_blocker):
    """Django's management commands on the per-test databases, as a host project runs them."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def fresh():
    """A second new database, registered as an alias; dropped afterwards."""
    name = f"sa_{uuid.uuid4().hex[:12]}"
    params = server_params()
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    register_alias(name, {**settings.DATABASES["default"], "NAME": name})
    yield Database(name, name, params)
    unregister_alias(name)
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate(alias: str) -> None:
    call_command("migrate", database=alias, verbosity=0, stdout=io.StringIO())


def test_generic_dump_leaves_the_audit_out_and_loads_into_a_fresh_database(
    database, fresh, uap, migrations_dir, tmp_path
):
    """dumpdata with no arguments holds the host's data but no ledger, events or access
    records; loaddata of it into a freshly migrated database succeeds."""
    migrate(database.alias)
    assert uap(directory=migrations_dir(numbered(2))).code == 0
    database.query(
        "INSERT INTO schema_audit_access (at, username, action, address) "
        "VALUES (now(), 'auditor', 'view', '10.0.0.1') RETURNING id"
    )
    users = get_user_model().objects.db_manager(database.alias)
    users.create_user("host-user", "h@example.com", "pw")

    dump = tmp_path / "fixture.json"
    call_command("dumpdata", database=database.alias, output=str(dump), verbosity=0)
    models = {entry["model"] for entry in json.loads(dump.read_text())}
    assert "auth.user" in models
    assert not {m for m in models if m.startswith("schema_audit.")}
    assert "10.0.0.1" not in dump.read_text()

    migrate(fresh.alias)
    call_command("loaddata", str(dump), database=fresh.alias, verbosity=0)
    assert fresh.scalar("SELECT username FROM auth_user") == "host-user"


def test_audit_rows_stay_readable_and_dumpdata_all_includes_them(database, uap, migrations_dir):
    """The app itself reads every row (`objects`); `dumpdata --all` is the explicit way."""
    from schema_audit.models import MigrationEvent, SchemaMigration

    assert uap(directory=migrations_dir(numbered(2))).code == 0
    assert SchemaMigration.objects.using(database.alias).count() == 2
    assert MigrationEvent.objects.using(database.alias).count() == 2
    out = io.StringIO()
    call_command(
        "dumpdata", "schema_audit.SchemaMigration", "--all", database=database.alias, stdout=out
    )
    assert [e["pk"] for e in json.loads(out.getvalue())] == ["001", "002"]
