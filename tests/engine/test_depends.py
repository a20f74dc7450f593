"""`-- Depends:` against a real database: Django migrations named must be known and applied."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from schema_audit.engine.depends import check_depends, not_applied
from schema_audit.exceptions import InvalidMigrations, RefusedRequest
from schema_audit.files import discovery
from tests.conftest import migration

CONTENTTYPES = "contenttypes.0002_remove_content_type_name"
AUTH = "auth.0012_alter_user_first_name_max_length"


@pytest.fixture(autouse=True)
def _django_connections(django_db_blocker):
    """Django's migrate runs on each test's own database alias, not pytest-django's."""
    with django_db_blocker.unblock():
        yield


def depending(version: str, *names: str) -> str:
    """A migration file whose header depends on `names`."""
    text = migration(version, f"CREATE TABLE IF NOT EXISTS t{version} (id bigint);")
    return text.replace("-- Impact:", f"-- Depends: {', '.join(names)}\n-- Impact:")


def files(migrations_dir, **bodies: str) -> list[discovery.MigrationFile]:
    """Discover `{version: text}` written as `NNN_v1.N_step.sql`."""
    named = {f"{v}_v1.{int(v)}_step.sql": text for v, text in bodies.items()}
    return discovery.discover(migrations_dir(named))


def migrate(database, app: str) -> None:
    """Django's own `migrate APP` on the test database."""
    call_command(
        "migrate",
        app,
        database=database.alias,
        verbosity=0,
        interactive=False,
        stdout=io.StringIO(),
    )


def test_every_unapplied_django_migration_is_named_with_what_needs_it(database, migrations_dir):
    """A database where `migrate` never ran: exit 2, each migration with its files."""
    pending = files(
        migrations_dir,
        **{"001": depending("001", CONTENTTYPES), "002": depending("002", AUTH, CONTENTTYPES)},
    )
    with database.connect() as conn, pytest.raises(RefusedRequest) as excinfo:
        check_depends(conn, pending)
    message = str(excinfo.value)
    assert excinfo.value.exit_code == 2
    assert f"{CONTENTTYPES} (needed by 001_v1.1_step.sql, 002_v1.2_step.sql)" in message
    assert f"{AUTH} (needed by 002_v1.2_step.sql)" in message
    assert "run `manage.py migrate` first" in message
    assert database.name in message


def test_files_run_once_django_has_applied_what_they_name(database, migrations_dir):
    """After `migrate contenttypes`, only auth's migration is still missing; then none."""
    pending = files(migrations_dir, **{"001": depending("001", CONTENTTYPES, AUTH)})
    migrate(database, "contenttypes")
    with database.connect() as conn:
        assert not_applied(conn, [tuple(AUTH.split(".")), tuple(CONTENTTYPES.split("."))]) == [
            tuple(AUTH.split("."))
        ]
        with pytest.raises(RefusedRequest, match="auth.0012") as excinfo:
            check_depends(conn, pending)
        assert CONTENTTYPES not in str(excinfo.value)
    migrate(database, "auth")
    with database.connect() as conn:
        check_depends(conn, pending)


def test_names_django_does_not_know_are_invalid_files(database, migrations_dir):
    """An unknown app or migration is an invalid file, each named with its line, before
    the database is asked anything."""
    pending = files(
        migrations_dir,
        **{
            "001": depending("001", "shop.0001_initial", CONTENTTYPES),
            "002": depending("002", "auth.0099_nope", "auth.0012"),
        },
    )
    with database.connect() as conn, pytest.raises(InvalidMigrations) as excinfo:
        check_depends(conn, pending)
    lines = [str(problem) for problem in excinfo.value.problems]
    assert excinfo.value.exit_code == 2
    assert len(lines) == 3
    assert "001_v1.1_step.sql:7: Depends: shop.0001_initial: no installed Django app" in lines[0]
    assert "002_v1.2_step.sql:7: Depends: auth.0099_nope: app 'auth' has no migration" in lines[1]
    assert lines[2].endswith(f"did you mean {AUTH}?")


def test_files_without_depends_need_nothing(database, migrations_dir):
    """No Depends header: nothing is checked, whatever Django has applied."""
    pending = files(migrations_dir, **{"001": migration("001", "SELECT 1;")})
    with database.connect() as conn:
        check_depends(conn, pending)


@pytest.mark.parametrize("mode", [(), ("--dry-run",)], ids=["apply", "dry-run"])
def test_uap_migrate_refuses_before_anything_runs_then_applies_after_migrate(
    mode, uap, database, migrations_dir
):
    """The command: exit 2 naming the Django migration and `manage.py migrate`; nothing runs;
    after Django's migrate the same run applies."""
    folder = migrations_dir(
        {
            "001_v1.1_step.sql": migration("001", "CREATE TABLE t001 (id bigint);"),
            "002_v1.2_step.sql": depending("002", CONTENTTYPES),
        }
    )
    refused = uap(*mode, directory=folder)
    assert refused.code == 2, refused.err
    assert CONTENTTYPES in refused.err and "manage.py migrate" in refused.err
    assert "t001" not in database.tables()  # refused before the first file
    migrate(database, "contenttypes")
    assert uap(*mode, directory=folder).code == 0


@pytest.mark.parametrize("mode", ["--plan", "--check"])
def test_plan_and_check_say_what_a_run_would_refuse(mode, uap, database, migrations_dir):
    folder = migrations_dir({"001_v1.1_step.sql": depending("001", CONTENTTYPES)})
    result = uap(mode, "--json", directory=folder)
    assert result.code == 2
    assert CONTENTTYPES in result.out
