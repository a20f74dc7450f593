"""Discovery, validation, header parsing and checksums: no database involved."""

from __future__ import annotations

import hashlib
import os

import pytest

from schema_audit.exceptions import InvalidMigration, InvalidMigrations
from schema_audit.files import discovery, layouts
from schema_audit.files.header import parse_header
from schema_audit.files.statements import transaction_control
from tests.conftest import UAP_MIGRATIONS, migration


def test_discover_orders_numerically_and_keeps_version_as_written(migrations_dir):
    """A 4-digit version sorts after 3-digit ones; '010' stays '010'."""
    folder = migrations_dir(
        {
            "1000_v2.0_big.sql": migration("1000", "SELECT 1;"),
            "010_v1.1_ten.sql": migration("010", "SELECT 1;"),
            "002_v1.0_two.sql": migration("002", "SELECT 1;"),
            "README.md": "not a migration",
            ".hidden.sql": "ignored",
        }
    )
    found = discovery.discover(folder)
    assert [m.version for m in found] == ["002", "010", "1000"]
    assert found[1].name == "v1.1_ten"


def test_uap_migrations_parse_with_full_headers():
    """The shipped migrations carry every field of the header template."""
    found = discovery.discover(UAP_MIGRATIONS)
    assert [m.version for m in found] == ["001", "002", "003", "004"]
    for m in found:
        for name in (
            "migration",
            "version",
            "date",
            "description",
            "status",
            "changes",
            "impact",
            "rollback",
        ):
            assert getattr(m.header, name), f"{m.path.name} lacks {name}"
    assert "DROP TABLE IF EXISTS goals" in found[3].header.rollback


def test_header_rollback_continues_over_comment_lines():
    """Rollback: may span several `--` lines, ended by a bare `--`."""
    header = parse_header(
        "-- Migration: x\n-- Version: 007\n-- Changes:\n-- 1. one\n-- 2. two\n"
        "-- Rollback: DROP INDEX a;\n-- DROP TABLE b;\n--\n-- not part of it\nSELECT 1;\n"
    )
    assert header.rollback == "DROP INDEX a;\nDROP TABLE b;"
    assert header.changes == "1. one\n2. two"
    assert header.version == "007"


def test_header_directive_transaction_none():
    """`-- Transaction: none` marks a file non-transactional."""
    assert parse_header("-- Transaction: none\nSELECT 1;").transaction == "none"


def test_bom_and_crlf_do_not_change_the_checksum(migrations_dir):
    """A Windows checkout (BOM + CRLF) has the same checksum as the LF original."""
    text = migration("001", "CREATE TABLE a (id int);")
    lf = migrations_dir({"001_v1.0_a.sql": text}, "lf")
    crlf = migrations_dir(
        {"001_v1.0_a.sql": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()}, "crlf"
    )
    assert discovery.discover(lf)[0].checksum == discovery.discover(crlf)[0].checksum
    assert "\r" not in discovery.discover(crlf)[0].sql


def test_a_file_larger_than_one_read_is_read_whole(migrations_dir):
    """A 1 MB file of multi-byte text comes back byte for byte, whatever its read sizes."""
    rows = "".join(f"INSERT INTO t VALUES ({n}, 'ÄÖÜ €{n} 日本');\n" for n in range(20_000))
    text = migration("001", "CREATE TABLE t (id int, label text);\n" + rows)
    assert len(text.encode()) > 1 << 20
    found = discovery.discover(migrations_dir({"001_v1.0_a.sql": text}))[0]
    assert found.sql == text
    assert found.checksum == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"1_v1.0_short.sql": "SELECT 1;"}, "1_v1.0_short.sql: file name does not match"),
        ({"001_v1.0_Bad-Name.sql": "SELECT 1;"}, "does not match NNN_vX.Y_description.sql"),
        ({"001_v1.0_a.sql": "SELECT 1;", "001_v1.1_b.sql": "SELECT 2;"}, "is also used by"),
        ({"001_v1.0_a.sql": "SELECT 1;", "0001_v1.1_b.sql": "SELECT 2;"}, "is also used by"),
        ({"003_v1.0_a.sql": "-- Version: 004\nSELECT 1;"}, "003_v1.0_a.sql:1: header says"),
        ({"001_v1.0_a.sql": "SELECT 1;\n\\i other.sql\n"}, "001_v1.0_a.sql:2: psql meta-command"),
        ({"001_v1.0_a.sql": b"SELECT 1;\nSELECT '\xff';\n"}, "001_v1.0_a.sql:2: not valid UTF-8"),
        ({"001_v1.0_a.sql": ""}, "001_v1.0_a.sql: contains no SQL statements and no header"),
        (
            {"001_v1.0_a.sql": "-- just a note\n/* and this */\n"},
            "no SQL statements and no header",
        ),
    ],
)
def test_invalid_inputs_name_the_file(migrations_dir, files, fragment):
    """Each malformed input raises InvalidMigration naming the file (and line)."""
    folder = migrations_dir(files)
    with pytest.raises(InvalidMigration) as excinfo:
        discovery.discover(folder)
    assert fragment in str(excinfo.value)
    assert excinfo.value.exit_code == 2


def test_missing_directory_and_file_as_directory(tmp_path):
    """--dir must name an existing folder."""
    with pytest.raises(InvalidMigration, match="does not exist"):
        discovery.discover(tmp_path / "nope")
    (tmp_path / "f.sql").write_text("SELECT 1;")
    with pytest.raises(InvalidMigration, match="is not a directory"):
        discovery.discover(tmp_path / "f.sql")


def test_symlink_loop_is_reported(migrations_dir):
    """A symlink pointing at itself is an unreadable file, named."""
    folder = migrations_dir({})
    os.symlink("001_v1.0_loop.sql", folder / "001_v1.0_loop.sql")
    with pytest.raises(InvalidMigration, match="001_v1.0_loop.sql: cannot read"):
        discovery.discover(folder)


def test_empty_directory_has_no_migrations(migrations_dir):
    """An empty folder is valid and holds nothing."""
    assert discovery.discover(migrations_dir({})) == []


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("CREATE TABLE a (id int);\nBEGIN;\nCREATE TABLE b (id int);\nCOMMIT;\n", 2),
        ("SELECT 1;\ncommit;\n", 2),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
            "BEGIN\n  RETURN 1;\nEND;\n$$;\n"
            "SAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\n",
            None,
        ),
        ("DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$;\nRELEASE SAVEPOINT s;\nROLLBACK TO s;\n", None),
        ("SELECT 'a\nBEGIN;\n';\nSELECT $q$\nCOMMIT;\n$q$;\n", None),
        ("SELECT 1;\n-- note\n/* block */ END;\n", 3),
        ("SELECT 'é';\n\nStart Transaction;\n", 3),
        ("SELECT 1;\nROLLBACK;\n", 2),
        ("SELECT 1;\nabort;\n", 2),
        ("SELECT 1; COMMIT;\n", 1),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\n"
            "SELECT 2;\n",
            None,
        ),
        (
            "CREATE PROCEDURE p() LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\nCOMMIT;\n",
            5,
        ),
    ],
)
def test_transaction_control_is_found_by_the_parser(migrations_dir, body, line):
    """Top-level BEGIN/COMMIT/END/ROLLBACK is flagged; plpgsql and BEGIN ATOMIC bodies, quoted
    text and savepoints are not."""
    folder = migrations_dir({"001_v1.0_a.sql": body})
    found = transaction_control(discovery.discover(folder)[0].sql)
    assert (found[0].line if found else None) == line


def test_placeholder_with_a_header_and_no_statements_is_an_empty_migration(migrations_dir):
    """Comments under a header, no SQL: a placeholder kept for numbering, not an error."""
    folder = migrations_dir(
        {
            "001_v1.0_a.sql": "-- Migration: x\n-- Version: 001\n-- only comments\n/* here */\n",
            "002_v1.0_b.sql": migration("002", "SELECT 1;"),
        }
    )
    found = discovery.discover(folder)
    assert [(m.version, m.empty) for m in found] == [("001", True), ("002", False)]


def test_every_invalid_file_is_reported_in_one_error(migrations_dir):
    """Four bad files: one InvalidMigrations names each, in file order, with its line."""
    folder = migrations_dir(
        {
            "001_v1.0_ok.sql": migration("001", "SELECT 1;"),
            "002_v1.0_meta.sql": "SELECT 1;\n\\i other.sql\n\\set x 1\n",
            "003_v1.0_a.sql": "-- Version: 004\nSELECT 1;",
            "004-bad.sql": "SELECT 1;",
            "005_v1.0_bytes.sql": b"SELECT 1;\nSELECT '\xff';\n",
            "006_v1.0_ok.sql": migration("006", "SELECT 1;"),
        }
    )
    with pytest.raises(InvalidMigrations) as excinfo:
        discovery.discover(folder)
    problems = [(p.path.name, p.line, p.rule) for p in excinfo.value.problems]
    assert problems == [
        ("002_v1.0_meta.sql", 2, "psql-meta"),
        ("002_v1.0_meta.sql", 3, "psql-meta"),
        ("003_v1.0_a.sql", 1, "version-mismatch"),
        ("004-bad.sql", None, "file-name"),
        ("005_v1.0_bytes.sql", 2, "encoding"),
    ]
    assert isinstance(excinfo.value, InvalidMigration) and excinfo.value.exit_code == 2
    text = str(excinfo.value).splitlines()
    assert text[0].startswith(f"{folder}/002_v1.0_meta.sql:2: psql meta-command")
    assert len(text) == 5


def test_a_file_both_misnamed_and_undecodable_reports_both(migrations_dir):
    """Each reason of one file is named: its name and its bytes."""
    folder = migrations_dir({"7_bad.sql": b"\xff"})
    with pytest.raises(InvalidMigrations) as excinfo:
        discovery.discover(folder)
    assert [p.rule for p in excinfo.value.problems] == ["file-name", "encoding"]


HISTORY_HEADER = (
    "-- Migration: Add invoices\n"
    "-- Version: 012\n"
    "-- Changes:\n"
    "-- 1. invoices table\n"
    "-- Rollback: DROP INDEX IF EXISTS invoices_due;\n"
    "-- DROP TABLE IF EXISTS invoices;\n"
    "-- Source: upstream db/migrate/0012_invoices.sql\n"
    "-- Author: Dana Smith <dana@example.com>\n"
    "-- Ticket: OPS-1234\n"
    "-- Reviewed-by: Lee\n"
    "--   and Kim\n"
    "CREATE TABLE invoices (id int);\n"
)


def test_a_capitalised_key_line_ends_a_multiline_rollback():
    """`-- Source:` after a two-line Rollback is its own field, not rollback SQL."""
    header = parse_header(HISTORY_HEADER)
    assert header.rollback == "DROP INDEX IF EXISTS invoices_due;\nDROP TABLE IF EXISTS invoices;"
    assert header.changes == "1. invoices table"
    assert header.get("Source") == "upstream db/migrate/0012_invoices.sql"
    assert header.get("author") == "Dana Smith <dana@example.com>"
    assert header.get("Ticket") == "OPS-1234"
    assert header.get("Reviewed-by") == "Lee\nand Kim"
    assert header.get("Rollback") == header.rollback
    assert header.get("Nope") == ""


def test_unknown_keys_are_kept_in_file_order_with_their_lines():
    """Keys the template does not know land in `extra`, as written, with their line numbers."""
    header = parse_header(HISTORY_HEADER)
    assert [key for key in header.extra if key != "Author"] == ["Source", "Ticket", "Reviewed-by"]
    assert header.lines["Ticket"] == 9


def test_lowercase_words_and_sql_stay_inside_the_rollback():
    """Only a capitalised `Word:` starts a field: `note:` and SQL with colons continue it."""
    header = parse_header(
        "-- Rollback: UPDATE t SET a = 'x:y';\n-- note: also drop b\n"
        "-- SELECT now()::date;\n--\n-- Source: x\nSELECT 1;"
    )
    assert header.rollback == "UPDATE t SET a = 'x:y';\nnote: also drop b\nSELECT now()::date;"
    assert header.extra == {"Source": "x"}


def test_a_huge_header_parses_in_linear_time():
    """Twenty thousand `-- Key:` lines: each kept, parsed in well under a second's work."""
    text = "".join(f"-- Key{n}: value {n}\n" for n in range(20_000)) + "SELECT 1;\n"
    header = parse_header(text)
    assert len(header.extra) == 20_000 and header.get("Key19999") == "value 19999"


def test_symlink_leaving_the_directory_is_refused(tmp_path):
    """A `.sql` name linking to a file outside the folder (a .env) is invalid, never read."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (tmp_path / ".env").write_text("-- Version: 002\nSECRET_KEY=do-not-ship\n")
    (folder / "001_v1.0_a.sql").write_text("SELECT 1;")
    (folder / "002_v1.1_leak.sql").symlink_to(tmp_path / ".env")
    with pytest.raises(InvalidMigration) as excinfo:
        discovery.discover(folder)
    message = str(excinfo.value)
    assert "002_v1.1_leak.sql: is a symbolic link to a file outside the migrations" in message
    assert "do-not-ship" not in message


def test_symlink_inside_the_directory_is_followed(tmp_path):
    folder = tmp_path / "migrations"
    (folder / "shared").mkdir(parents=True)
    (folder / "shared" / "body.sql.txt").write_text("SELECT 1;")
    (folder / "001_v1.0_a.sql").symlink_to(folder / "shared" / "body.sql.txt")
    assert [m.version for m in discovery.discover(folder)] == ["001"]


def test_fifo_or_directory_named_sql_is_refused(tmp_path):
    """Only regular files are read: a FIFO would block the run forever."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    os.mkfifo(folder / "001_v1.0_pipe.sql")
    with pytest.raises(InvalidMigration, match="001_v1.0_pipe.sql: is not a regular file"):
        discovery.discover(folder)
    (folder / "001_v1.0_pipe.sql").unlink()
    (folder / "001_v1.0_dir.sql").mkdir()
    with pytest.raises(InvalidMigration, match="001_v1.0_dir.sql: is not a regular file"):
        discovery.discover(folder)


def test_link_swapped_in_after_the_listing_is_not_read(uap, database, tmp_path, monkeypatch):
    """The listing saw a plain file; a link to a file outside replaces it before the read.

    The run refuses it as the kind check refuses a link, and never reads the link's target.
    """
    folder = tmp_path / "migrations"
    folder.mkdir()
    outside = tmp_path / "outside.sql"
    outside.write_text(migration("001", "CREATE TABLE leaked (secret text);"))
    plain = folder / "001_v1.0_a.sql"
    plain.write_text(migration("001", "SELECT 1;"))
    scan = layouts.scan

    def listed_then_swapped(directory):
        found = scan(directory)
        assert found.sql == [(plain, True)]  # the listing says: a plain file
        plain.unlink()
        plain.symlink_to(outside)
        return found

    monkeypatch.setattr(layouts, "scan", listed_then_swapped)
    result = uap(directory=folder)
    assert result.code == 2
    assert "001_v1.0_a.sql: is a symbolic link to a file outside the migrations" in result.err
    assert "leaked" not in database.tables()
    assert "leaked" not in result.out + result.err


def test_two_files_with_one_version_name_both_and_the_command_to_renumber(migrations_dir):
    """A merge of two branches that both took 006: both files named, and a `mv` to 007."""
    folder = migrations_dir(
        {
            "005_v1.5_e.sql": migration("005", "SELECT 5;"),
            "006_v1.6_a.sql": migration("006", "SELECT 6;"),
            "006_v1.6_b.sql": migration("006", "SELECT 7;"),
        }
    )
    with pytest.raises(InvalidMigration) as excinfo:
        discovery.discover(folder)
    message = str(excinfo.value)
    assert "006_v1.6_b.sql: version 006 is also used by 006_v1.6_a.sql" in message
    # tmp_path is outside any git work tree, so the plain `mv`; the header must follow.
    assert f"`mv {folder}/006_v1.6_b.sql {folder}/007_v1.7_b.sql`" in message
    assert "set its `-- Version:` to 007" in message


def test_renumbering_suggestions_never_collide(migrations_dir):
    """Two pairs of twins: each file to move gets its own free version."""
    body = {
        "006_v1.6_a.sql": migration("006", "SELECT 1;"),
        "006_v1.6_b.sql": migration("006", "SELECT 2;"),
        "007_v1.7_c.sql": migration("007", "SELECT 3;"),
        "007_v1.7_d.sql": migration("007", "SELECT 4;"),
    }
    with pytest.raises(InvalidMigrations) as excinfo:
        discovery.discover(migrations_dir(body))
    targets = [str(p).split("`")[1].split()[-1].rsplit("/", 1)[-1] for p in excinfo.value.problems]
    assert targets == ["008_v1.8_b.sql", "009_v1.9_d.sql"]


def test_depends_header_lists_django_migrations(migrations_dir):
    """`-- Depends:` lines (one or several, comma-separated) become (app, migration) pairs."""
    text = (
        "-- Migration: m\n-- Version: 001\n-- Depends: shop.0011_order_total, auth.0012_x\n"
        "-- Depends: shop.0011_order_total contenttypes.0002_remove_content_type_name\n"
        "-- Rollback: SELECT 1;\n\nSELECT 1;\n"
    )
    found = discovery.discover(migrations_dir({"001_v1.0_m.sql": text}))[0]
    assert found.depends == (
        ("shop", "0011_order_total"),
        ("auth", "0012_x"),
        ("contenttypes", "0002_remove_content_type_name"),
    )
    assert found.header.lines["depends"] == 3
    assert (
        discovery.discover(migrations_dir({"001_v1.0_m.sql": migration("001", "")}))[0].depends
        == ()
    )


@pytest.mark.parametrize("entry", ["shop", "shop.", ".0001", "shop.0001.x", "1shop.0001"])
def test_depends_entry_that_is_not_app_dot_migration_is_invalid(migrations_dir, entry):
    """A Depends entry that names no `app_label.migration_name` is exit 2, with its line."""
    text = (
        f"-- Migration: m\n-- Version: 001\n-- Depends: auth.0001_initial, {entry}\n\nSELECT 1;\n"
    )
    with pytest.raises(InvalidMigration) as excinfo:
        discovery.discover(migrations_dir({"001_v1.0_m.sql": text}))
    assert f"001_v1.0_m.sql:3: Depends: {entry!r} is not app_label.migration_name" in str(
        excinfo.value
    )
