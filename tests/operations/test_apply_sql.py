"""ApplySQL in a Django migration: `migrate` applies the SQL files at its place in the plan,
recorded as uap_migrate records them; `sqlmigrate` shows them; reversing is refused unless
asked for; approvals and `-- Depends:` hold. The app `shop` (tests/operations/shop) is
installed by each test, with one of its migration folders."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.migrations.exceptions import IrreversibleError
from django.test import override_settings

from schema_audit.exceptions import RefusedRequest
from schema_audit.operations import ApplySQL
from tests.conftest import migration

REPORTS = migration(
    "001",
    "CREATE TABLE IF NOT EXISTS reports (\n"
    "    id bigserial PRIMARY KEY,\n"
    "    item_id bigint NOT NULL REFERENCES shop_item (id) ON DELETE CASCADE\n);",
    rollback="DROP TABLE reports;",
)
# Statement by statement: CREATE INDEX CONCURRENTLY cannot run in a transaction.
INDEX = migration(
    "002",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS reports_item ON reports (item_id);",
    rollback="DROP INDEX IF EXISTS reports_item;",
).replace("-- Impact:", "-- Transaction: none\n-- Impact:")
LATER = migration("003", "CREATE TABLE IF NOT EXISTS later (id int);")
FILES = {
    "001_v1.1_reports.sql": REPORTS,
    "002_v1.2_reports_index.sql": INDEX,
    "003_v1.3_later.sql": LATER,
}
APPLIED_BY = "Django migration shop.0002_reports"


@pytest.fixture(autouse=True)
def _django_connections(django_db_blocker):
    """Django's migrate runs on each test's own database alias, not pytest-django's."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def shop(migrations_dir):
    """Install `shop` with a migration folder (`migrations` by default) and the SQL files."""

    def install(folder: str = "migrations", files: dict | None = None, **extra):
        directory = migrations_dir(FILES if files is None else files)
        return override_settings(
            INSTALLED_APPS=[*settings.INSTALLED_APPS, "tests.operations.shop"],
            MIGRATION_MODULES={"shop": f"tests.operations.shop.{folder}"},
            UAP_MIGRATIONS_DIR=str(directory),
            **extra,
        )

    return install


def migrate(database, *target: str) -> str:
    """Django's `migrate shop [target]` on the test database; its output."""
    out = io.StringIO()
    call_command(
        "migrate", "shop", *target, database=database.alias, interactive=False, stdout=out
    )
    return out.getvalue()


def ledger(database) -> list[tuple]:
    """`(version, status)` of each ledger row; none before the ledger exists."""
    if "schema_migrations" not in database.tables():
        return []
    return database.query("SELECT version, status FROM schema_migrations ORDER BY version")


def test_migrate_applies_the_files_up_to_the_version_between_django_migrations(database, shop):
    """001 (a foreign key to Django's shop_item) and 002 (no transaction) run after 0001 and
    before 0003, which alters their table; 003 is left for uap_migrate."""
    with shop():
        migrate(database)
    assert ledger(database) == [("001", "completed"), ("002", "completed")]
    columns = database.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'reports' "
        "ORDER BY ordinal_position"
    )
    assert [c for (c,) in columns] == ["id", "item_id", "note"]
    assert database.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'reports_item'")
    assert "later" not in database.tables()


def test_events_name_the_django_migration_in_their_reason(database, shop):
    """Each apply event says which Django migration applied the file."""
    with shop():
        migrate(database)
    completed = database.query(
        "SELECT version, reason FROM schema_migration_events "
        "WHERE action = 'apply' AND status = 'completed' ORDER BY id"
    )
    assert completed == [("001", APPLIED_BY), ("002", APPLIED_BY)]
    # 002 runs outside a transaction: its `running` event names the migration as well.
    reasons = database.query(
        "SELECT DISTINCT reason FROM schema_migration_events WHERE action = 'apply'"
    )
    assert reasons == [(APPLIED_BY,)]


def test_a_second_migrate_does_nothing(database, shop):
    """Rerunning `migrate` finds nothing to do and writes no event."""
    with shop():
        migrate(database)
        before = database.scalar("SELECT count(*) FROM schema_migration_events")
        assert "No migrations to apply" in migrate(database)
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == before


def test_files_uap_migrate_applied_first_are_not_run_again(database, shop, uap):
    """uap_migrate --target 002 before migrate: ApplySQL has nothing to do, the plan goes on."""
    with shop():
        migrate(database, "0001")
        assert uap("--target", "002").code == 0
        migrate(database)
        assert uap().code == 0
    assert ledger(database) == [("001", "completed"), ("002", "completed"), ("003", "completed")]
    reasons = database.query(
        "SELECT DISTINCT reason FROM schema_migration_events WHERE action = 'apply'"
    )
    assert reasons == [(None,)]


def test_sqlmigrate_prints_the_files_it_would_apply(database, shop):
    """Before anything ran: both files, each with how it runs; the later one not."""
    out = io.StringIO()
    with shop():
        call_command("sqlmigrate", "shop", "0002", database=database.alias, stdout=out)
    text = out.getvalue()
    assert "001_v1.1_reports.sql, in a transaction of its own" in text
    assert "REFERENCES shop_item (id)" in text
    assert "002_v1.2_reports_index.sql, statement by statement" in text
    assert "CREATE INDEX CONCURRENTLY" in text
    assert "later" not in text
    assert ledger(database) == []


def test_reverse_rolls_back_what_the_migration_applied_newest_first(database, shop, uap):
    """`reversible=True`: `migrate shop 0001` runs 002's then 001's Rollback, each recorded."""
    with shop():
        migrate(database)
        migrate(database, "0001")
    assert ledger(database) == [("001", "rolled_back"), ("002", "rolled_back")]
    assert "reports" not in database.tables()
    events = database.query(
        "SELECT version, reason FROM schema_migration_events WHERE action = 'rollback' ORDER BY id"
    )
    assert events == [("002", APPLIED_BY), ("001", APPLIED_BY)]
    assert uap("--verify").code == 0


def test_reverse_is_irreversible_unless_asked_for(database, shop):
    """Without `reversible=True`, Django refuses to unapply the migration; nothing rolls back."""
    with shop("migrations_irreversible"):
        migrate(database)
        with pytest.raises(IrreversibleError, match="ApplySQL"):
            migrate(database, "0001")
    assert ledger(database) == [("001", "completed"), ("002", "completed")]


def test_an_atomic_migration_is_refused_before_anything_runs(database, shop):
    """The runner commits each file itself: inside Django's transaction it is refused."""
    with shop("migrations_atomic"), pytest.raises(RefusedRequest, match="atomic = False"):
        migrate(database)
    assert ledger(database) == []
    applied = database.query("SELECT name FROM django_migrations WHERE app = 'shop'")
    assert applied == [("0001_initial",)]


def test_approvals_hold(database, shop):
    """With UAP_REQUIRE_APPROVAL and no approvals, migrate stops at the ApplySQL."""
    with shop(UAP_REQUIRE_APPROVAL=True), pytest.raises(RefusedRequest, match="approv"):
        migrate(database)
    assert "reports" not in database.tables()
    applied = database.query("SELECT name FROM django_migrations WHERE app = 'shop'")
    assert applied == [("0001_initial",)]


def test_a_file_depending_on_a_later_django_migration_is_a_clear_error(database, shop):
    """001 needs shop.0003, which this plan applies after 0002: refused, naming both."""
    depending = REPORTS.replace("-- Impact:", "-- Depends: shop.0003_report_note\n-- Impact:")
    with shop(files={**FILES, "001_v1.1_reports.sql": depending}):
        with pytest.raises(RefusedRequest) as excinfo:
            migrate(database)
    message = str(excinfo.value)
    assert "001_v1.1_reports.sql depends on shop.0003_report_note" in message
    assert "shop.0002_reports" in message
    assert ledger(database) == []


def test_a_version_without_a_file_is_named(database, shop):
    """ApplySQL("002") with no file 002 on disk: refused, naming the migration."""
    with shop(files={"001_v1.1_reports.sql": REPORTS}):
        with pytest.raises(RefusedRequest, match=r"shop.0002_reports: ApplySQL\('002'\): no SQL"):
            migrate(database)
    assert ledger(database) == []


def test_the_operation_deconstructs_for_squashmigrations():
    """Its arguments come back as written, so Django can write it into a squashed file."""
    operation = ApplySQL("005", reversible=True)
    assert operation.deconstruct() == ("ApplySQL", ("005",), {"reversible": True})


def test_a_file_depending_on_an_earlier_django_migration_runs(database, shop):
    """001 needs shop.0001_initial, applied before 0002 in the same plan: it runs."""
    depending = REPORTS.replace("-- Impact:", "-- Depends: shop.0001_initial\n-- Impact:")
    with shop(files={**FILES, "001_v1.1_reports.sql": depending}):
        migrate(database)
    assert ledger(database) == [("001", "completed"), ("002", "completed")]


def test_reverse_without_rollback_sql_is_refused_before_anything_runs(database, shop):
    """One of the versions has no Rollback SQL: refused naming it; none is rolled back."""
    bare = INDEX.replace("-- Rollback: DROP INDEX IF EXISTS reports_item;", "-- Rollback:")
    with shop(files={**FILES, "002_v1.2_reports_index.sql": bare}):
        migrate(database)
        with pytest.raises(RefusedRequest, match="002 have no Rollback SQL"):
            migrate(database, "0001")
    assert ledger(database) == [("001", "completed"), ("002", "completed")]


def test_reverse_stops_at_a_version_uap_migrate_applied_after_it(database, shop, uap):
    """003 applied by uap_migrate after the migration: reversing refuses, nothing undone."""
    with shop():
        migrate(database)
        assert uap().code == 0
        with pytest.raises(RefusedRequest, match="003 was applied after it"):
            migrate(database, "0001")
    assert ledger(database) == [("001", "completed"), ("002", "completed"), ("003", "completed")]
