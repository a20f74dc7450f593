"""--import-history TOOL: another runner's applied history taken over, nothing run again."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from tests.conftest import migration
from tests.ledger import foreign_tables

DBMATE_VERSIONS = ("20240101000000", "20240215093000", "20240301120000")


def dbmate_file(n: int) -> str:
    """A dbmate file creating table t<n>, with its down section."""
    return f"-- migrate:up\nCREATE TABLE t{n} (id int);\n\n-- migrate:down\nDROP TABLE t{n};\n"


@pytest.fixture
def dbmate_db(database):
    """A database dbmate migrated: its three tables and its schema_migrations."""
    with database.connect() as conn:
        for n in range(1, 4):
            conn.execute(f"CREATE TABLE t{n} (id int)")
        conn.execute(foreign_tables.DBMATE)
    return database


@pytest.fixture
def dbmate_folder(migrations_dir):
    """dbmate's folder: the three applied files and a new fourth."""
    names = [*DBMATE_VERSIONS, "20240401000000"]
    return migrations_dir({f"{v}_step_{n}.sql": dbmate_file(n) for n, v in enumerate(names, 1)})


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_dbmate_import_then_a_plain_run_applies_only_the_new_file(uap, dbmate_db, dbmate_folder):
    """The done-when scenario: three baselines from dbmate's table, then only t4 runs; dbmate's
    table is as it was; a second import records nothing."""
    before = foreign_tables.shape(dbmate_db.query, "public.schema_migrations")
    result = uap("--import-history", "dbmate", directory=dbmate_folder)
    assert result.code == 0, result.err
    assert "Imported 3 version(s) from dbmate's public.schema_migrations" in result.out
    assert "1 on disk after the newest version dbmate applied" in result.out
    rows = dbmate_db.query("SELECT version, status FROM uap.schema_migrations ORDER BY 1")
    assert rows == [(v, "baseline") for v in DBMATE_VERSIONS]
    reasons = dbmate_db.query("SELECT DISTINCT action, reason FROM uap.schema_migration_events")
    assert reasons == [("baseline", "imported from dbmate's public.schema_migrations")]

    applied = uap(directory=dbmate_folder)
    assert applied.code == 0, applied.err
    assert "20240401000000" in applied.out
    assert all(v not in applied.out for v in DBMATE_VERSIONS)
    assert "t4" in dbmate_db.tables()
    assert foreign_tables.shape(dbmate_db.query, "public.schema_migrations") == before

    again = uap("--import-history", "dbmate", "--json", directory=dbmate_folder)
    assert again.code == 0, again.err
    document = json.loads(again.out)
    assert document["imported"] == [] and document["already"] == list(DBMATE_VERSIONS)
    assert dbmate_db.scalar("SELECT count(*) FROM uap.schema_migration_events") == 4
    assert uap("--verify", directory=dbmate_folder).code == 0
    assert uap("--check", directory=dbmate_folder).code == 0


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_versions_without_a_file_and_files_never_applied_are_reported(
    uap, dbmate_db, migrations_dir
):
    """A version dbmate applied whose file is gone is named, not recorded; a file below
    dbmate's newest version that it never applied is named too."""
    folder = migrations_dir(
        {
            f"{DBMATE_VERSIONS[0]}_one.sql": dbmate_file(1),
            "20240201000000_skipped.sql": dbmate_file(9),
            f"{DBMATE_VERSIONS[2]}_three.sql": dbmate_file(3),
            "20240501000000_new.sql": dbmate_file(5),
        }
    )
    result = uap("--import-history", "dbmate", "--json", directory=folder)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["imported"] == [DBMATE_VERSIONS[0], DBMATE_VERSIONS[2]]
    assert document["missing_files"] == [DBMATE_VERSIONS[1]]
    assert document["not_applied"] == ["20240201000000"]
    assert document["after"] == ["20240501000000"]
    # Without the newest applied file, the tool's newest version still bounds what is after.
    (folder / f"{DBMATE_VERSIONS[2]}_three.sql").unlink()
    document = json.loads(uap("--import-history", "dbmate", "--json", directory=folder).out)
    assert document["missing_files"] == list(DBMATE_VERSIONS[1:])
    assert document["not_applied"] == ["20240201000000"]
    assert document["after"] == ["20240501000000"]


def test_a_dirty_golang_migrate_version_is_refused(uap, database, migrations_dir):
    """golang-migrate's dirty flag: exit 2 naming the version and `migrate force`, nothing
    recorded (its table does not take the ledger's name once the ledger has its own schema)."""
    folder = migrations_dir(
        {f"00000{n}_step.up.sql": f"CREATE TABLE g{n} (id int);" for n in range(1, 4)}
    )
    with database.connect() as conn:
        conn.execute(foreign_tables.GOLANG_MIGRATE)
        conn.execute("UPDATE schema_migrations SET dirty = true")
    with override_settings(UAP_LEDGER_SCHEMA="uap"):
        result = uap("--import-history", "golang-migrate", directory=folder)
        assert result.code == 2, result.err
        assert "version 3 is dirty" in result.err and "migrate force 3" in result.err
        assert database.scalar("SELECT count(*) FROM uap.schema_migrations") == 0
        with database.connect() as conn:
            conn.execute("UPDATE schema_migrations SET dirty = false")
        result = uap("--import-history", "golang-migrate", "--json", directory=folder)
        assert result.code == 0, result.err
        assert json.loads(result.out)["imported"] == ["000001", "000002", "000003"]
        assert uap(directory=folder).code == 0
        assert database.tables() & {"g1", "g2", "g3"} == set()  # never run


def test_a_failed_flyway_row_is_refused(uap, database, migrations_dir):
    """A failed row in flyway_schema_history: exit 2 naming the script and flyway repair."""
    folder = migrations_dir({"001_v1.0_create_users.sql": migration("001", "SELECT 1;")})
    with database.connect() as conn:
        conn.execute(foreign_tables.flyway())
        conn.execute(
            "INSERT INTO flyway_schema_history VALUES (2, '2', 'add', 'SQL', 'V2__add.sql', "
            "1, 'app', now(), 3, false)"
        )
    result = uap("--import-history", "flyway", directory=folder)
    assert result.code == 2, result.err
    assert "V2__add.sql" in result.err and "flyway repair" in result.err
    assert database.scalar("SELECT count(*) FROM schema_migrations") == 0


def test_flyway_keeps_its_applied_time_and_user(uap, database, migrations_dir):
    """installed_on and installed_by become the event's started_at and actor."""
    folder = migrations_dir({"001_v1.0_create_users.sql": migration("001", "SELECT 1;")})
    with database.connect() as conn:
        conn.execute(foreign_tables.flyway())
        conn.execute(
            "UPDATE flyway_schema_history SET installed_on = '2023-05-06 07:08:09', "
            "installed_by = 'flyway_admin'"
        )
    result = uap("--import-history", "Flyway", directory=folder)
    assert result.code == 0, result.err
    row = database.query(
        "SELECT actor, to_char(started_at AT TIME ZONE current_setting('TimeZone'), "
        "'YYYY-MM-DD HH24:MI:SS') FROM schema_migration_events WHERE version = '001'"
    )
    assert row == [("flyway_admin", "2023-05-06 07:08:09")]
    applied_at = database.scalar("SELECT applied_at::date::text FROM schema_migrations")
    assert applied_at == "2023-05-06"


def test_goose_reads_only_versions_still_applied(uap, database, migrations_dir):
    """goose adds a row per up and down: a version whose newest row is a down is not applied."""
    folder = migrations_dir(
        {
            f"0000{n}_step.sql": f"-- +goose Up\nCREATE TABLE g{n} (id int);\n"
            f"-- +goose Down\nDROP TABLE g{n};\n"
            for n in range(1, 4)
        }
    )
    with database.connect() as conn:
        conn.execute(foreign_tables.goose())
        conn.execute(
            "DELETE FROM goose_db_version; INSERT INTO goose_db_version (version_id, is_applied, "
            "tstamp) VALUES (0, true, now()), (1, true, '2024-01-01'), (2, true, now()), "
            "(2, false, now())"
        )
    result = uap("--import-history", "goose", "--json", directory=folder)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["imported"] == ["00001"]
    assert document["after"] == ["00002", "00003"]


def test_diesel_history_across_a_fleet(uap_fleet, fleet, migrations_dir):
    """Each database of a fleet imports its own diesel table, with diesel's run_on."""
    folder = migrations_dir({})
    for name, up in (
        ("2024-01-01-000000_create_items", "CREATE TABLE items (id int);"),
        ("2024-02-01-000000_add_price", "ALTER TABLE items ADD price int;"),
    ):
        (folder / name).mkdir()
        (folder / name / "up.sql").write_text(up)
    dbs = fleet(2)
    for db in dbs:
        with db.connect() as conn:
            conn.execute("CREATE TABLE items (id int)")
            conn.execute(foreign_tables.DIESEL)
    result = uap_fleet(dbs, "--import-history", "diesel", directory=folder)
    assert result.code == 0, (result.out, result.err)
    for db in dbs:
        assert db.query("SELECT version, status FROM schema_migrations") == [
            ("20240101000000", "baseline")
        ]
    assert uap_fleet(dbs, directory=folder).code == 0
    for db in dbs:
        assert db.scalar("SELECT count(*) FROM schema_migrations") == 2


def test_an_unknown_tool_or_a_missing_table_is_refused(uap, database, migrations_dir):
    """Exit 2 naming the choices, or the table that is not there."""
    folder = migrations_dir({"001_v1.0_first.sql": migration("001", "SELECT 1;")})
    unknown = uap("--import-history", "liquibase", directory=folder)
    assert unknown.code == 2 and "dbmate" in unknown.err
    missing = uap("--import-history", "goose", directory=folder)
    assert missing.code == 2 and "no table goose_db_version" in missing.err


def test_sqitch_changes_are_matched_by_name_with_their_committer(uap, database, migrations_dir):
    """A deployed sqitch change is the converted file of the same name; its committer is the
    actor."""
    folder = migrations_dir(
        {
            "001_v1.0_users.sql": migration("001", "SELECT 1;"),
            "002_v1.0_add_email.sql": migration("002", "SELECT 1;"),
        }
    )
    with database.connect() as conn:
        conn.execute(foreign_tables.SQITCH)
    result = uap("--import-history", "sqitch", "--json", directory=folder)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["table"] == "sqitch.changes"
    assert document["imported"] == ["001"] and document["after"] == ["002"]
    actor = database.scalar("SELECT actor FROM schema_migration_events WHERE version = '001'")
    assert actor == "Ann <ann@example.test>"


def test_yoyo_ids_are_matched_by_their_number(uap, database, migrations_dir):
    """yoyo's `0001.create-users` is version 001, with its applied_at_utc."""
    folder = migrations_dir({"001_v1.0_create_users.sql": migration("001", "SELECT 1;")})
    with database.connect() as conn:
        conn.execute(foreign_tables.yoyo())
        conn.execute("UPDATE _yoyo_migration SET applied_at_utc = '2022-02-03 04:05:06'")
    result = uap("--import-history", "yoyo", "--json", directory=folder)
    assert result.code == 0, result.err
    assert json.loads(result.out)["imported"] == ["001"]
    when = database.scalar(
        "SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
        "FROM schema_migration_events"
    )
    assert when == "2022-02-03 04:05:06"
