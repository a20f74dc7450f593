"""Another runner's tracking table at the ledger's name: every mode refuses, nothing is altered."""

from __future__ import annotations

import json

import pytest

from schema_audit import api
from schema_audit.exceptions import ForeignLedger
from tests.conftest import migration
from tests.ledger import foreign_tables

LEDGER = "public.schema_migrations"

# Each tool's table at the ledger's name: dbmate's and golang-migrate's by default, the others
# configured to it (flyway.table, goose -table, yoyo's migration_table).
AT_THE_LEDGERS_NAME = {
    "dbmate": (foreign_tables.DBMATE, "--migrations-table"),
    "golang-migrate": (foreign_tables.GOLANG_MIGRATE, "x-migrations-table"),
    "Flyway": (foreign_tables.flyway("schema_migrations"), "flyway.table"),
    "goose": (foreign_tables.goose("schema_migrations"), "-table"),
    "yoyo": (foreign_tables.yoyo("schema_migrations"), "migration_table"),
}


@pytest.fixture
def files(migrations_dir):
    """Two migration files, neither applied."""
    return migrations_dir(
        {
            "001_v1.0_first.sql": migration("001", "CREATE TABLE first (id int);"),
            "002_v1.1_second.sql": migration("002", "CREATE TABLE second (id int);"),
        }
    )


def snapshot(database, table: str = LEDGER) -> list:
    """The table as it stands: columns, indexes, constraints, triggers, comment, rows."""
    return foreign_tables.shape(database.query, table)


def assert_untouched(database, before: list) -> None:
    """The foreign table is as it was and the runner created nothing of its own."""
    assert snapshot(database) == before
    assert database.tables() & {"schema_migration_events", "schema_audit_access"} == set()
    assert database.tables() & {"first", "second"} == set()


def assert_refused(result, tool: str, pointer: str) -> None:
    """Exit 2, naming the tool, the table, and the way forward."""
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    message = result.err
    assert f"{LEDGER} is {tool}'s tracking table" in message
    assert "Nothing was changed" in message
    assert "UAP_LEDGER_SCHEMA" in message and f"--import-history {tool}" in message
    assert f"ALTER TABLE {LEDGER} RENAME TO" in message and pointer in message


MODES = [
    (),
    ("--status",),
    ("--check",),
    ("--plan",),
    ("--dry-run",),
    ("--verify",),
    ("--baseline", "001"),
    ("--target", "001"),
]


@pytest.mark.parametrize("args", MODES, ids=lambda a: " ".join(a) or "apply")
def test_every_mode_refuses_dbmates_table_and_leaves_it_unchanged(uap, database, files, args):
    """dbmate's table with rows: exit 2 naming dbmate, before any DDL, in every mode."""
    with database.connect() as conn:
        conn.execute(foreign_tables.DBMATE)
    before = snapshot(database)
    assert_refused(uap(*args, directory=files), "dbmate", "--migrations-table")
    assert_untouched(database, before)


def test_evidence_is_refused_and_no_bundle_is_written(uap, database, files, tmp_path):
    """--evidence stops before it writes the bundle."""
    with database.connect() as conn:
        conn.execute(foreign_tables.DBMATE)
    before = snapshot(database)
    bundle = tmp_path / "evidence.zip"
    assert_refused(uap("--evidence", str(bundle), directory=files), "dbmate", "--migrations-table")
    assert not bundle.exists()
    assert_untouched(database, before)


@pytest.mark.parametrize("args", [("--json",), ("--status", "--json"), ("--plan", "--json")])
def test_json_modes_carry_the_refusal_as_their_error(uap, database, files, args):
    """Machines get the same message as the one error of the JSON document."""
    with database.connect() as conn:
        conn.execute(foreign_tables.DBMATE)
    result = uap(*args, directory=files)
    assert result.code == 2
    errors = json.loads(result.out)["errors"]
    assert len(errors) == 1 and "is dbmate's tracking table" in errors[0]["message"]


@pytest.mark.parametrize("tool", AT_THE_LEDGERS_NAME)
def test_each_tools_table_at_the_ledgers_name_is_named_and_kept(uap, database, files, tool):
    """golang-migrate's, and Flyway's, goose's, yoyo's when configured to the same name."""
    create, pointer = AT_THE_LEDGERS_NAME[tool]
    with database.connect() as conn:
        conn.execute(create)
    before = snapshot(database)
    for args in [(), ("--status",), ("--check",)]:
        assert_refused(uap(*args, directory=files), tool, pointer)
    assert_untouched(database, before)


def test_an_unknown_table_at_the_ledgers_name_is_refused_naming_its_columns(uap, database, files):
    """A hand-made `version, applied_at` table: no tool named, its columns are."""
    with database.connect() as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version varchar(255) PRIMARY KEY, "
            "applied_at timestamp DEFAULT now())"
        )
        conn.execute("INSERT INTO schema_migrations (version) VALUES ('1')")
    before = snapshot(database)
    for args in [(), ("--status",), ("--dry-run",)]:
        result = uap(*args, directory=files)
        assert result.code == 2, result.err
        assert (
            f"{LEDGER} is a table of another tool or script (columns: version, applied_at)"
            in result.err
        )
        assert "--import-history" not in result.err
    assert_untouched(database, before)


def test_a_view_at_the_ledgers_name_is_refused(uap, database, files):
    """A view is no table to upgrade: refused, named as a view."""
    with database.connect() as conn:
        conn.execute("CREATE VIEW schema_migrations AS SELECT '001'::text AS version")
    result = uap(directory=files)
    assert result.code == 2
    assert f"{LEDGER} is a view (columns: version)" in result.err
    assert database.tables() == set()


def test_renaming_the_tools_table_as_advised_lets_the_runner_start(uap, database, files):
    """The stopgap the message gives works: dbmate's table renamed, the run applies, the
    renamed table is as dbmate left it."""
    with database.connect() as conn:
        conn.execute(foreign_tables.DBMATE)
        conn.execute("ALTER TABLE public.schema_migrations RENAME TO dbmate_schema_migrations")
    before = snapshot(database, "dbmate_schema_migrations")
    result = uap(directory=files)
    assert result.code == 0, result.err
    assert "✓ 002" in result.out
    assert snapshot(database, "dbmate_schema_migrations") == before


def test_other_tools_tables_beside_the_ledger_are_left_alone_quietly(uap, database, files):
    """Flyway, goose, yoyo, diesel and sqitch at their own names: runs as usual, says nothing."""
    with database.connect() as conn:
        for create in foreign_tables.BESIDE.values():
            conn.execute(create)
    before = {table: snapshot(database, table) for table in foreign_tables.BESIDE}
    applied = uap(directory=files)
    assert applied.code == 0, applied.err
    status = uap("--status", directory=files)
    assert status.code == 0 and uap("--check", directory=files).code == 0
    for output in (applied.out + applied.err, status.out + status.err):
        assert not {"flyway", "goose", "yoyo", "diesel", "sqitch"} & set(output.lower().split())
    assert {table: snapshot(database, table) for table in foreign_tables.BESIDE} == before


def test_the_python_api_raises_the_same_refusal(database):
    """api.migration_status and initialize_tracking raise ForeignLedger naming the tool."""
    with database.connect() as conn:
        conn.execute(foreign_tables.GOLANG_MIGRATE)
    before = snapshot(database)
    for call in (api.migration_status, api.initialize_tracking):
        with pytest.raises(ForeignLedger) as refused:
            call(database=database.alias)
        assert refused.value.tool == "golang-migrate" and refused.value.table == LEDGER
        assert refused.value.exit_code == 2
    assert snapshot(database) == before
