"""A Flyway folder read as Flyway reads it: dotted versions in Flyway's order, undo files as
Rollback, repeatables after the versions and again when they change, `.conf` settings; applied
through the command into the schema psql gives; hostile folders refused with nothing run."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.test import override_settings

from schema_audit.exceptions import InvalidMigration
from schema_audit.files import discovery, flyway
from tests.files.test_layouts import STEPS, psql_apply, schema_of, write
from tests.ledger import foreign_tables

# Flyway's order, not the names': V1.10 sorts before V1.2.3 by name and runs after it.
DOTTED = {"1": "1", "2": "1.2", "3": "1.2.3", "4": "1.10"}
EVENTS = "SELECT version, action, status FROM schema_migration_events ORDER BY id"


def flyway_files(steps, undo: bool = True) -> dict[str, str]:
    files = {}
    for version, name, up, down, _ in steps:
        dotted = DOTTED[version]
        # Flyway writes a version's parts with `.` or `_`; both are read.
        spelled = dotted.replace(".", "_") if version == "2" else dotted
        files[f"V{spelled}__{name}.sql"] = up
        if undo:
            files[f"U{dotted}__{name}.sql"] = down
    return files


def test_dotted_versions_run_in_flywayss_order(folder):
    """1 < 1.2 < 1.2.3 < 1.10; `_` is a separator; U files are the Rollback; a lone CREATE
    INDEX CONCURRENTLY runs outside a transaction, as Flyway detects it."""
    write(folder, flyway_files(STEPS))
    found = discovery.discover(folder)
    assert [m.version for m in found] == ["1", "1.2", "1.2.3", "1.10"]
    assert [m.name for m in found] == [name for _, name, *_ in STEPS]
    index = found[2]
    assert not index.transactional and all(m.transactional for m in found if m is not index)
    assert index.header.rollback == "DROP INDEX items_name;\n"
    assert index.checksum == hashlib.sha256(index.path.read_bytes()).hexdigest()


def test_folder_applies_into_the_schema_psql_gives(uap, database, reference, folder, tmp_path):
    write(folder, flyway_files(STEPS))
    assert uap("--plan", directory=folder).code == 0
    applied = uap(directory=folder)
    assert applied.code == 0, applied.err
    psql_apply(reference, [up for _, _, up, _, _ in STEPS], tmp_path)
    assert schema_of(database.params, database.name) == schema_of(reference[1], reference[0])
    status = json.loads(uap("--status", "--json", directory=folder).out)
    assert status["current_version"] == "1.10"
    assert uap("--check", directory=folder).code == 0
    # The newest is 1.10, not 1.2.3 (which sorts last as text): its undo runs.
    refused = uap("--rollback", "1.2.3", directory=folder)
    assert refused.code == 2 and "1.10 was applied after it" in refused.err
    rolled = uap("--rollback", "1.10", directory=folder)
    assert rolled.code == 0, rolled.err
    assert "orders" not in database.tables()
    to = uap("--rollback-to", "1.2", directory=folder)
    assert to.code == 0, to.err
    assert database.query("SELECT count(*) FROM pg_indexes WHERE indexname = 'items_name'") == [
        (0,)
    ]


def test_a_new_version_between_applied_ones_is_out_of_order(uap, database, folder):
    """1.1.5 added after 1.2 ran: refused, as a number below the newest would be."""
    write(folder, flyway_files(STEPS[:2]))
    assert uap(directory=folder).code == 0
    write(folder, {"V1.1.5__late.sql": "CREATE TABLE late (id int);\n"})
    result = uap(directory=folder)
    assert result.code == 2 and "1.1.5 late: pending but older than applied version 1.2" in (
        result.err
    )
    assert uap("--out-of-order", directory=folder).code == 0
    assert "late" in database.tables()


def test_repeatables_run_after_the_versions_and_again_when_they_change(uap, database, folder):
    files = flyway_files(STEPS[:1], undo=False)
    files["R__items_view.sql"] = "CREATE OR REPLACE VIEW items_view AS SELECT id FROM items;\n"
    files["R__a_first_by_name.sql"] = "CREATE OR REPLACE VIEW ids AS SELECT 1 AS id;\n"
    write(folder, files)
    found = discovery.discover(folder)
    assert [m.version for m in found] == ["1", "R__a_first_by_name", "R__items_view"]
    assert uap(directory=folder).code == 0
    assert uap("--check", directory=folder).code == 0
    # A new version after a repeatable ran is not out of order; the unchanged view stays.
    write(folder, {"V2__more.sql": "ALTER TABLE items ADD COLUMN note text;\n"})
    assert uap(directory=folder).code == 0
    assert [v for v, a, _ in database.query(EVENTS) if a == "apply"] == [
        "1",
        "R__a_first_by_name",
        "R__items_view",
        "2",
    ]
    # Changed: it is pending again (not drift), and runs again.
    write(folder, {"R__items_view.sql": "CREATE OR REPLACE VIEW items_view AS SELECT id, note "
                   "FROM items;\n"})  # fmt: skip
    check = uap("--check", directory=folder)
    assert check.code == 1 and "1 pending" in check.out, check.out
    assert "R__items_view" in uap("--plan", directory=folder).out
    assert uap(directory=folder).code == 0
    assert database.query(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items_view'"
    ) == [(2,)]
    reruns = [v for v, a, _ in database.query(EVENTS) if a == "apply"]
    assert reruns[-1] == "R__items_view" and reruns.count("R__items_view") == 2
    status = json.loads(uap("--status", "--json", directory=folder).out)
    assert status["current_version"] == "2"
    assert uap("--check", directory=folder).code == 0


def test_conf_decides_the_transaction(uap, database, folder):
    write(
        folder,
        {
            "V1__items.sql": "CREATE TABLE items (id int);\n",
            "V2__vacuum.sql": "VACUUM items;\n",
            "V2__vacuum.sql.conf": "# Flyway script configuration\nexecuteInTransaction=false\n",
            "V3__in_one.sql": "CREATE TABLE more (id int);\n",
            "V3__in_one.sql.conf": "executeInTransaction = true\n",
        },
    )
    found = discovery.discover(folder)
    assert [m.transactional for m in found] == [True, False, True]
    result = uap(directory=folder)
    assert result.code == 0, result.err


@pytest.mark.parametrize(
    "files, where, message",
    [
        pytest.param(
            {"V1__a.sql": "SELECT 1;\n", "V1.0__b.sql": "SELECT 2;\n"},
            "V1__a.sql",
            "version 1 is also used by V1.0__b.sql",
            id="one-and-one-point-zero",
        ),
        pytest.param(
            {"V1__a.sql": "SELECT 1;\n", "U2__b.sql": "SELECT 2;\n"},
            "U2__b.sql",
            "an undo file without its versioned file",
            id="undo-alone",
        ),
        pytest.param(
            {"V1__a.sql": "CREATE TABLE ${schema}.t (id int);\n"},
            "V1__a.sql:1",
            "uses the Flyway placeholder ${schema}",
            id="placeholder",
        ),
        pytest.param(
            {"V1__a.sql": "SELECT 1;\n", "V1__a.sql.conf": "shouldExecute=false\n"},
            "V1__a.sql.conf:1",
            "'shouldExecute' is not a setting the runner reads",
            id="conf-unknown-key",
        ),
        pytest.param(
            {"V1__a.sql": "SELECT 1;\n", "V1__a.sql.conf": "executeInTransaction=maybe\n"},
            "V1__a.sql.conf:1",
            "executeInTransaction=maybe: give true or false",
            id="conf-bad-value",
        ),
        pytest.param(
            {"V1__a.sql": "SELECT 1;\n", "V9__gone.sql.conf": "executeInTransaction=false\n"},
            "V9__gone.sql.conf",
            "configures V9__gone.sql, which is not beside it",
            id="conf-of-nothing",
        ),
        pytest.param(
            {"V1__a.sql": "SELECT 1;\n", "V1a__b.sql": "SELECT 2;\n"},
            "V1a__b.sql",
            "name does not match the flyway layout",
            id="letter-in-version",
        ),
        pytest.param(
            {"V1__a.sql": "SELECT 1;\n", "B2__base.sql": "SELECT 2;\n"},
            "B2__base.sql",
            "is a Flyway baseline migration",
            id="baseline-migration",
        ),
        pytest.param(
            {"V1__a.sql": "SELECT 1;\n", "V2__load.sh": "psql -f data.sql\n"},
            "V2__load.sh",
            "is a Flyway script migration",
            id="script-migration",
        ),
        pytest.param(
            {"V1__a.sql": "SELECT 1;\n\\i other.sql\n"},
            "V1__a.sql:2",
            "psql meta-command `\\i`",
            id="psql-meta",
        ),
    ],
)
def test_hostile_flyway_folders_exit_2_naming_file_and_line(
    files, where, message, uap, database, folder
):
    write(folder, files)
    result = uap(directory=folder)
    assert result.code == 2, result.out
    assert where in result.err and message in result.err, result.err
    assert uap("--lint", directory=folder).code == 2
    assert "schema_migrations" not in database.tables() or not database.query(
        "SELECT 1 FROM schema_migrations"
    )


def test_long_dotted_versions_order_without_overflow(folder):
    """Timestamps as parts, and a part of 30 digits: ordered as numbers, part by part."""
    write(
        folder,
        {
            "V2024.10.01.1200__b.sql": "SELECT 2;\n",
            "V2024.9.30.2359__a.sql": "SELECT 1;\n",
            f"V2025.{'9' * 30}__c.sql": "SELECT 3;\n",
        },
    )
    assert [m.name for m in discovery.discover(folder)] == ["a", "b", "c"]


def test_a_flyway_folder_is_detected_and_can_be_forced(folder):
    write(folder, {"V1__a.sql": "SELECT 1;\n"})
    [found] = discovery.discover(folder)
    assert found.version == "1"
    write(folder, {"20240101000001_x.sql": "-- migrate:up\nSELECT 1;\n"})
    with pytest.raises(InvalidMigration, match="mixes the layouts"):
        discovery.discover(folder)
    with pytest.raises(InvalidMigration, match="name does not match the flyway layout"):
        discovery.discover(folder, layout="flyway")


@pytest.mark.parametrize(
    "text, expected",
    [
        # Each value printed by java.util.zip.CRC32 over BufferedReader.readLine's lines, as
        # Flyway computes `flyway_schema_history.checksum`.
        ("SELECT 1;\nSELECT 2;\n", -1665099012),
        ("CREATE VIEW v AS SELECT 'é';\r\n\r\nSELECT 1;", -258791231),
        ("\ufeffSELECT 1;\rSELECT 2;\n\n", -1665099012),
        ("", 0),
    ],
)
def test_flyway_checksum_is_flyways(text, expected):
    assert flyway.checksum(text) == expected


def test_import_history_takes_versions_and_unchanged_repeatables(uap, database, folder):
    """Flyway's rows become baselines; a repeatable whose file changed since Flyway ran it
    (Flyway's checksum differs) stays pending and runs on the next plain run, as Flyway would
    run it; a new version runs too; Flyway's table is only read."""
    views = {
        "R__kept.sql": "CREATE OR REPLACE VIEW kept AS SELECT 1 AS id;\n",
        "R__edited.sql": "CREATE OR REPLACE VIEW edited AS SELECT 2 AS id;\n",
    }
    write(folder, {**flyway_files(STEPS[:2], undo=False), **views})
    with database.connect() as conn:
        conn.execute(foreign_tables.flyway())
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, name text)")
        conn.execute("CREATE VIEW kept AS SELECT 1 AS id")
        conn.execute("CREATE VIEW edited AS SELECT 1 AS id")
        rows = [
            (2, "1.2", "touch function", "SQL", "V1_2__touch_function.sql", None),
            (3, None, "kept", "SQL", "R__kept.sql", flyway.checksum(views["R__kept.sql"])),
            (4, None, "edited", "SQL", "R__edited.sql", flyway.checksum("SELECT 'old';\n")),
        ]
        for row in rows:
            conn.execute(
                "INSERT INTO flyway_schema_history VALUES (%s, %s, %s, %s, %s, %s, 'app', "
                "now(), 1, true)",
                row,
            )
        conn.execute("UPDATE flyway_schema_history SET description = 'create items' WHERE "
                     "installed_rank = 1")  # fmt: skip
    with override_settings(UAP_LEDGER_SCHEMA="uap"):
        imported = uap("--import-history", "flyway", "--json", directory=folder)
        assert imported.code == 0, imported.err
        document = json.loads(imported.out)
        assert document["imported"] == ["1", "1.2", "R__kept"]
        assert document["changed"] == ["R__edited"] and document["after"] == ["R__edited"]
        assert document["not_applied"] == [] and document["missing_files"] == []
        applied = uap("--json", directory=folder)
        assert applied.code == 0, applied.err
        ran = [item["version"] for item in json.loads(applied.out)["applied"]]
        assert ran == ["R__edited"]
    assert database.query("SELECT id FROM edited") == [(2,)]
    assert database.scalar("SELECT count(*) FROM public.flyway_schema_history") == 4


def test_sub_folders_are_read_as_flyway_reads_its_location(uap, database, folder):
    """Files in sub-folders (any depth) join the versions; two of one version in different
    folders are refused; a folder of sub-folders only is still detected as Flyway's."""
    write(
        folder,
        {
            "2024/q1/V1__items.sql": "CREATE TABLE items (id int);\n",
            "2024/q2/V1.1__note.sql": "ALTER TABLE items ADD COLUMN note text;\n",
            "2024/q2/V1.1__note.sql.conf": "executeInTransaction=true\n",
            "views/R__items_view.sql": "CREATE OR REPLACE VIEW v AS SELECT id FROM items;\n",
        },
    )
    assert [m.version for m in discovery.discover(folder)] == ["1", "1.1", "R__items_view"]
    assert uap(directory=folder).code == 0
    assert "items" in database.tables()
    write(folder, {"V1.1__twice.sql": "SELECT 1;\n"})
    with pytest.raises(InvalidMigration, match="version 1.1 is also used by"):
        discovery.discover(folder)


def test_dry_run_trace_lint_and_show_read_a_flyway_folder(uap, database, folder):
    write(folder, flyway_files(STEPS))
    assert uap("--dry-run", directory=folder).code == 0
    traced = uap("--trace", directory=folder)
    assert traced.code == 0, traced.err
    assert "items" not in database.tables()
    lint = uap("--lint", directory=folder)
    assert "file-name" not in lint.out and "header-missing" not in lint.out, lint.out
    shown = json.loads(uap("--show", "1.10", "--json", directory=folder).out)
    assert shown["name"] == "create_orders" and "CREATE TABLE orders" in shown["sql"]
    assert "ALTER TABLE items DROP COLUMN updated_at" in shown["rollback"]
