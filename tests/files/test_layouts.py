"""Other runners' folders (dbmate, golang-migrate, goose, diesel) read as they are and applied
through the command into the schema psql gives from their up parts; hostile folders refused.
sqitch's projects: test_sqitch.py."""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command

from schema_audit.exceptions import InvalidMigration
from schema_audit.files import discovery
from tests.conftest import migration

FUNCTION = (
    "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND;\n$$;\n"
)
# (version, name, up, down, outside a transaction)
STEPS = [
    ("1", "create_items", "CREATE TABLE items (id bigint PRIMARY KEY, name text);\n",
     "DROP TABLE items;\n", False),
    ("2", "touch_function", FUNCTION, "DROP FUNCTION touch();\n", False),
    ("3", "items_name_index", "CREATE INDEX CONCURRENTLY items_name ON items (name);\n",
     "DROP INDEX items_name;\n", True),
    ("4", "create_orders",
     "CREATE TABLE orders (id bigint PRIMARY KEY,\n  item_id bigint REFERENCES items);\n"
     "ALTER TABLE items ADD COLUMN updated_at timestamptz;\n",
     "ALTER TABLE items DROP COLUMN updated_at;\nDROP TABLE orders;\n", False),
]  # fmt: skip


def stamp(version: str) -> str:
    """A timestamp version, as dbmate and goose write them."""
    return f"2024010100000{version}"


def dbmate_files(steps):
    files = {}
    for version, name, up, down, outside in steps:
        marker = "-- migrate:up transaction:false" if outside else "-- migrate:up"
        files[f"{stamp(version)}_{name}.sql"] = f"{marker}\n{up}\n-- migrate:down\n{down}"
    return files


def goose_files(steps):
    files = {}
    for version, name, up, down, outside in steps:
        head = "-- +goose NO TRANSACTION\n" if outside else ""
        body = f"-- +goose StatementBegin\n{up}-- +goose StatementEnd\n" if "$$" in up else up
        files[f"{int(version):05d}_{name}.sql"] = (
            f"{head}-- +goose Up\n{body}\n-- +goose Down\n{down}"
        )
    return files


def golang_migrate_files(steps):
    files = {}
    for version, name, up, down, _ in steps:
        # golang-migrate runs a lone CREATE INDEX CONCURRENTLY outside any transaction.
        files[f"{int(version):06d}_{name}.up.sql"] = up
        if version != "2":  # an up without its down is fine
            files[f"{int(version):06d}_{name}.down.sql"] = down
    return files


def diesel_files(steps, extra: int = 0):
    files = {
        "00000000000000_diesel_initial_setup/up.sql": FUNCTION.replace("touch", "diesel_touch"),
        "00000000000000_diesel_initial_setup/down.sql": "DROP FUNCTION diesel_touch();\n",
    }
    for version, name, up, down, outside in steps:
        folder = f"2024-01-01-00000{version}_{name}"
        files[f"{folder}/up.sql"] = up
        files[f"{folder}/down.sql"] = down
        if outside:
            files[f"{folder}/metadata.toml"] = "run_in_transaction = false\n"
    for n in range(extra):
        folder = f"2024-02-01-{n:06d}_history_{n}"
        files[f"{folder}/up.sql"] = f"ALTER TABLE items ADD COLUMN c{n} int;\n"
        files[f"{folder}/down.sql"] = f"ALTER TABLE items DROP COLUMN c{n};\n"
    return files


LAYOUTS = {
    "dbmate": dbmate_files,
    "goose": goose_files,
    "golang-migrate": golang_migrate_files,
    "diesel": diesel_files,
}


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def psql_apply(reference, ups: list[str], tmp_path: Path) -> None:
    """Each up part through psql, as the old runner's history would have run it."""
    name, params = reference
    for number, text in enumerate(ups):
        script = tmp_path / f"up_{number}.sql"
        script.write_text(text)
        subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(params.get("host")),
             "-p", str(params.get("port", 5432)), "-U", str(params.get("user")), "-d", name,
             "-f", str(script)],
            check=True, capture_output=True,
        )  # fmt: skip


SCHEMA = """
SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' '
       || coalesce(column_default, '') || ' ' || is_nullable
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name NOT LIKE 'schema\\_%'
UNION ALL
SELECT 'index ' || indexdef || ' ' || i.indisvalid
FROM pg_indexes x JOIN pg_class c ON c.relname = x.indexname
JOIN pg_index i ON i.indexrelid = c.oid
WHERE schemaname = 'public' AND tablename NOT LIKE 'schema\\_%'
UNION ALL
SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') '
       || md5(p.prosrc)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proname IN ('touch', 'diesel_touch')
ORDER BY 1
"""


def schema_of(params: dict, name: str) -> list[str]:
    with psycopg.connect(**params, dbname=name) as conn:
        return [row[0] for row in conn.execute(SCHEMA)]


def ups_of(layout: str, steps, extra: int = 0) -> list[str]:
    ups = [up for _, _, up, _, _ in steps]
    if layout == "diesel":
        ups = [FUNCTION.replace("touch", "diesel_touch"), *ups]
        ups += [f"ALTER TABLE items ADD COLUMN c{n} int;\n" for n in range(extra)]
    return ups


@pytest.mark.parametrize("layout", LAYOUTS)
def test_folder_applies_into_the_schema_psql_gives(
    layout, uap, database, reference, folder, tmp_path
):
    """Plan, apply, status, rollback of the newest: as the old tool's up and down parts."""
    extra = 300 if layout == "diesel" else 0
    files = diesel_files(STEPS, extra) if layout == "diesel" else LAYOUTS[layout](STEPS)
    write(folder, files)
    plan = uap("--plan", directory=folder)
    assert plan.code == 0, plan.err
    assert "create_orders" in plan.out
    applied = uap(directory=folder)
    assert applied.code == 0, applied.err
    psql_apply(reference, ups_of(layout, STEPS, extra), tmp_path)
    assert schema_of(database.params, database.name) == schema_of(reference[1], reference[0])
    versions = database.query("SELECT version, name, status FROM schema_migrations ORDER BY 1")
    assert len(versions) == len(STEPS) + extra + (layout == "diesel")
    assert all(status == "completed" for _, _, status in versions)
    status = uap("--status", directory=folder)
    assert status.code == 0 and "create_orders" in status.out, status.err
    assert uap("--check", directory=folder).code == 0
    newest = versions[-1][0]
    if layout == "diesel":
        rolled = uap("--rollback", newest, directory=folder)
        assert rolled.code == 0, rolled.err
        assert f"c{extra - 1}" not in str(schema_of(database.params, database.name))
        return
    rolled = uap("--rollback", newest, directory=folder)
    assert rolled.code == 0, rolled.err
    assert database.tables() >= {"items"} and "orders" not in database.tables()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_lint_reads_the_up_parts_with_the_lines_of_the_file(layout, uap, folder):
    """No header or name rules; the SQL rules over each up part, at its line in the file."""
    write(folder, LAYOUTS[layout](STEPS))
    result = uap("--lint", directory=folder)
    assert "header-missing" not in result.out and "file-name" not in result.out
    assert "if-not-exists: write CREATE TABLE IF NOT EXISTS items" in result.out
    assert "needs-transaction-none" not in result.out  # every layout marks the index
    line = {"dbmate": 2, "goose": 2, "golang-migrate": 1, "diesel": 1}[layout]
    first = [row for row in result.out.splitlines() if "IF NOT EXISTS items" in row][0]
    assert first.split(":")[1] == str(line)


def test_what_each_tool_says_becomes_the_migration(folder):
    """Versions and names as the tool writes them; rollback is the down part; checksum over
    the file's bytes; transaction none where the tool runs the file outside one."""
    write(folder, dbmate_files(STEPS))
    found = discovery.discover(folder)
    assert [m.version for m in found] == [stamp(v) for v, *_ in STEPS]
    third = found[2]
    assert third.name == "items_name_index" and not third.transactional
    assert third.sql.startswith("-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY")
    assert third.header.rollback == "-- migrate:down\nDROP INDEX items_name;\n"
    assert third.checksum == hashlib.sha256(third.path.read_bytes()).hexdigest()
    assert all(m.transactional for m in found if m is not third)


def test_diesel_versions_drop_the_dashes_and_metadata_decides_the_transaction(folder):
    write(folder, diesel_files(STEPS))
    found = discovery.discover(folder)
    assert [m.version for m in found][:2] == ["00000000000000", "20240101000001"]
    index = next(m for m in found if m.name == "items_name_index")
    assert not index.transactional and index.path.name == "up.sql"


def test_golang_migrate_lone_concurrent_index_and_morph_run_outside(folder):
    files = golang_migrate_files(STEPS)
    files["000005_vacuum.up.sql"] = "-- morph:nontransactional\nANALYZE items;\n"
    write(folder, files)
    found = {m.name: m for m in discovery.discover(folder)}
    assert not found["items_name_index"].transactional
    assert not found["vacuum"].transactional
    assert found["create_orders"].transactional
    assert found["touch_function"].header.rollback == ""


@pytest.mark.parametrize(
    "files, where, message",
    [
        pytest.param(
            {"20240101000001_a.sql": "-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n"},
            "20240101000001_a.sql:3",
            "a second `-- migrate:up` (the first is on line 1)",
            id="dbmate-two-up-markers",
        ),
        pytest.param(
            {"20240101000001_a.sql": "CREATE TABLE t (id int);\n-- migrate:up\nSELECT 1;\n"},
            "20240101000001_a.sql:1",
            "SQL before `-- migrate:up`",
            id="dbmate-sql-before-up",
        ),
        pytest.param(
            {"000001_a.up.sql": "SELECT 1;\n", "000002_b.down.sql": "SELECT 2;\n"},
            "000002_b.down.sql",
            "a down file without its up file",
            id="golang-migrate-down-without-up",
        ),
        pytest.param(
            {"00001_a.sql": f"-- +goose Up\n-- +goose StatementBegin\n{FUNCTION}"},
            "00001_a.sql:2",
            "`-- +goose StatementBegin` is never ended",
            id="goose-unterminated-block",
        ),
        pytest.param(
            {"00001_a.sql": "-- +goose Up\nSELECT 1;\n-- +goose Up\n"},
            "00001_a.sql:3",
            "a second `-- +goose Up`",
            id="goose-two-up-markers",
        ),
        pytest.param(
            {"2024-01-01-000001_a/up.sql": "SELECT 1;\n", "2024-01-01-000002_b/down.sql": "x"},
            "2024-01-01-000002_b",
            "has no up.sql",
            id="diesel-missing-up",
        ),
        pytest.param(
            {"2024-01-01-000001_a/up.sql": "SELECT 1;\n", "2024-01-01-000001_b/up.sql": "S;"},
            "2024-01-01-000001_b/up.sql",
            "version 20240101000001 is also used by",
            id="diesel-twin-versions",
        ),
        pytest.param(
            {
                "2024-01-01-000001_a/up.sql": "SELECT 1;\n",
                "2024-01-01-000001_a/metadata.toml": "x",
            },
            "metadata.toml",
            "is not valid TOML",
            id="diesel-bad-metadata",
        ),
    ],
)
def test_hostile_folders_exit_2_naming_file_and_line(files, where, message, uap, database, folder):
    """Nothing runs; the error names the file (and line) the tool would refuse or misread."""
    write(folder, files)
    result = uap(directory=folder)
    assert result.code == 2, result.out
    assert where in result.err and message in result.err, result.err
    assert "schema_migrations" not in database.tables() or not database.query(
        "SELECT 1 FROM schema_migrations"
    )
    assert uap("--lint", directory=folder).code == 2


@pytest.mark.parametrize(
    "files, message",
    [
        pytest.param(
            {"001_v1.0_a.sql": migration("001", "SELECT 1;"),
             "20240101000001_b.sql": "-- migrate:up\nSELECT 1;\n"},
            "mixes the layouts of different runners: uap (001_v1.0_a.sql) and dbmate",
            id="uap-and-dbmate",
        ),
        pytest.param(
            {"000001_a.up.sql": "SELECT 1;\n", "2024-01-01-000001_b/up.sql": "SELECT 1;\n"},
            "golang-migrate (000001_a.up.sql) and diesel (2024-01-01-000001_b/up.sql)",
            id="golang-migrate-and-diesel",
        ),
        pytest.param(
            {"0001.create-items.py": "steps = []\n", "lib/x.txt": ""},
            "holds no migration the runner can read (found lib/, 0001.create-items.py)",
            id="nothing-readable",
        ),
        pytest.param(
            {"2024-01-01-000001_a/down.sql": "SELECT 1;\n"},
            "holds no migration the runner can read (found 2024-01-01-000001_a/)",
            id="diesel-folder-without-up",
        ),
    ],
)  # fmt: skip
def test_folders_the_runner_cannot_read_as_one_layout_exit_2(files, message, uap, folder):
    """Never a silent success: the folder and what was found are named."""
    write(folder, files)
    for mode in ((), ("--plan",), ("--lint",)):
        result = uap(*mode, directory=folder)
        assert result.code == 2, (mode, result.out)
        assert message in result.err + result.out, result.err


def test_notes_and_an_empty_folder_are_still_nothing_to_apply(uap, folder):
    write(folder, {"README.md": "# migrations\n", ".gitkeep": ""})
    result = uap(directory=folder)
    assert result.code == 0 and "Nothing to apply" in result.out


def test_a_misnamed_uap_file_still_gets_the_name_rule(folder):
    """`001_create_users.sql` without markers is this runner's file, badly named."""
    write(folder, {"001_create_users.sql": "CREATE TABLE users (id int);\n"})
    with pytest.raises(InvalidMigration, match="file name does not match NNN_vX.Y"):
        discovery.discover(folder)


def test_a_layout_can_be_forced(folder):
    """discover(layout=...) reads the folder as that runner's, without detecting it."""
    write(folder, {"20240101000001_a.sql": "-- +goose Up\nSELECT 1;\n"})
    [found] = discovery.discover(folder, layout="goose")
    assert found.version == "20240101000001"
    with pytest.raises(InvalidMigration, match="has no `-- migrate:up` line"):
        discovery.discover(folder, layout="dbmate")


def test_makemigration_refuses_to_mix_a_uap_file_into_another_runners_folder(folder):
    """uap_makemigration in a dbmate folder: exit 2, the folder unchanged."""
    write(folder, dbmate_files(STEPS))
    before = sorted(p.name for p in folder.iterdir())
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("uap_makemigration", "add x", "--dir", str(folder), stdout=out, stderr=err)
    assert exited.value.code == 2
    assert "is a dbmate folder, read as it is" in err.getvalue()
    assert sorted(p.name for p in folder.iterdir()) == before


def test_dry_run_and_trace_read_the_up_parts(uap, database, folder):
    """A dry run of a goose folder passes and leaves the schema as it was."""
    write(folder, goose_files(STEPS))
    dry = uap("--dry-run", directory=folder)
    assert dry.code == 0, dry.err
    traced = uap("--trace", directory=folder)
    assert traced.code == 0, traced.err
    assert "items" not in database.tables()


def test_admin_sees_an_edited_diesel_up_sql(folder):
    """The admin's cache of files on disk is refreshed when a folder's up.sql changes."""
    from schema_audit.admin import queries

    write(folder, diesel_files(STEPS))
    before = queries.disk_migrations(folder)
    up = folder / "2024-01-01-000001_create_items" / "up.sql"
    up.write_text(up.read_text() + "-- edited after it ran\n")
    after = queries.disk_migrations(folder)
    key = (0, 20240101000001)
    assert before[key].checksum != after[key].checksum


@pytest.mark.parametrize("layout", LAYOUTS)
def test_lint_of_given_files_reads_them_as_their_folders_runner(layout, uap, folder):
    """`--lint FILE` (a pre-commit hook's changed files) judges a dbmate file as dbmate's."""
    write(folder, LAYOUTS[layout](STEPS))
    given = str(next(m.path for m in discovery.discover(folder) if m.name == "create_items"))
    result = uap("--lint", given, directory=folder)
    assert "file-name" not in result.out and "header-missing" not in result.out, result.out
    assert "if-not-exists: write CREATE TABLE IF NOT EXISTS items" in result.out
    assert "Linted 1 file(s)" in result.out


def test_a_failing_up_part_is_named_by_its_line_in_the_file(uap, folder):
    """The error's line counts from the top of the file, markers included, not from the
    start of the up part that ran."""
    text = (
        "-- migrate:up\nCREATE TABLE t (id int);\nSELECT 1 / 0;\n-- migrate:down\nDROP TABLE t;\n"
    )
    write(folder, {"20240101000001_divide.sql": text})
    result = uap("--json", directory=folder)
    assert result.code == 1, result.err
    assert '"line": 3' in result.out and "in the statement at line 3" in result.out


def test_uap_migrate_layout_forces_how_the_folder_is_read(uap, database, folder):
    """`--layout` wins over what the names show, in every mode and in lint; a layout the
    runner finds no file of is exit 2 with nothing run."""
    write(folder, {"20240101000001_a.sql": "-- +goose Up\nCREATE TABLE forced (id int);\n"})
    as_dbmate = uap("--layout", "dbmate", directory=folder)
    assert as_dbmate.code == 2 and "has no `-- migrate:up` line" in as_dbmate.err
    assert uap("--layout", "dbmate", "--lint", directory=folder).code == 2
    assert "forced" not in database.tables()
    flyway = uap("--layout", "flyway", "--plan", directory=folder)
    assert flyway.code == 2 and "name does not match the flyway layout" in flyway.err
    assert uap("--layout", "goose", directory=folder).code == 0
    assert "forced" in database.tables()


def test_evidence_bundle_keeps_each_file_of_a_folder_layout(uap, database, folder, tmp_path):
    """diesel's files are all `up.sql`: each is shipped under its own folder, and verifies."""
    import zipfile

    write(folder, diesel_files(STEPS))
    assert uap(directory=folder).code == 0
    bundle = tmp_path / "evidence.zip"
    assert uap("--evidence", str(bundle), directory=folder).code == 0
    with zipfile.ZipFile(bundle) as archive:
        shipped = [name for name in archive.namelist() if name.startswith("migrations/")]
    assert "migrations/2024-01-01-000001_create_items/up.sql" in shipped
    # Named from the migrations directory, not from what the files share: one file alone
    # keeps its folder.
    alone = tmp_path / "alone"
    write(alone, {"2024-01-01-000001_create_items/up.sql": STEPS[0][2]})
    one = tmp_path / "one.zip"
    assert uap("--evidence", str(one), directory=alone).code == 0
    with zipfile.ZipFile(one) as archive:
        assert "migrations/2024-01-01-000001_create_items/up.sql" in archive.namelist()
    assert len([name for name in shipped if name.endswith("/up.sql")]) == len(STEPS) + 1
    verified = uap("--verify-evidence", str(bundle), directory=folder)
    assert verified.code == 0, verified.out + verified.err
