"""File names and headers as real histories spell them: what runs, is ignored, is refused."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from schema_audit.exceptions import InvalidMigration, InvalidMigrations
from schema_audit.files.discovery import checksum, discover, read_migration, sql_paths
from schema_audit.files.header import Header, parse_header
from schema_audit.files.source import MigrationFile

BODY = "-- Migration: m\n-- Version: {version}\n-- Rollback: SELECT 1;\n\nSELECT 1;\n"
NAME_RULE = (
    "file name does not match NNN_vX.Y_description.sql (e.g. 005_v1.4_add_team_invites.sql)"
)


def write(folder, name: str, text: str | bytes | None = None):
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text if text is not None else "SELECT 1;\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name, version, label",
    [
        pytest.param("001_v1.0_initial_schema.sql", "001", "v1.0_initial_schema", id="guide"),
        pytest.param("0001_v1.0_init.sql", "0001", "v1.0_init", id="four-digits"),
        pytest.param("1000_v2.0_big.sql", "1000", "v2.0_big", id="thousand"),
        pytest.param(
            "20240101120000_v1.0_from_dbmate.sql", "20240101120000", "v1.0_from_dbmate", id="stamp"
        ),
        pytest.param("007_v10.20_x.sql", "007", "v10.20_x", id="two-digit-release"),
        pytest.param("042_v0.0_a1_b2_c3.sql", "042", "v0.0_a1_b2_c3", id="digits-in-words"),
        pytest.param("000_v1.0_zero.sql", "000", "v1.0_zero", id="version-zero"),
    ],
)
def test_accepted_names(tmp_path, name, version, label):
    """A name that matches NNN_vX.Y_description.sql: its version as written and its name."""
    write(tmp_path, name)
    [migration] = discover(tmp_path)
    assert (migration.version, migration.name, migration.key) == (
        version,
        label,
        (0, int(version)),
    )
    assert migration.label == f"{version} {label}"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("01_v1.0_short.sql", id="two-digits"),
        pytest.param("001_v1_add.sql", id="no-minor"),
        pytest.param("001_1.0_add.sql", id="no-v"),
        pytest.param("001_V1.0_add.sql", id="capital-V"),
        pytest.param("001_v1.0_Add_Users.sql", id="capitals"),
        pytest.param("001_v1.0_add-users.sql", id="hyphen"),
        pytest.param("001_v1.0_add__users.sql", id="double-underscore"),
        pytest.param("001_v1.0_add_users_.sql", id="trailing-underscore"),
        pytest.param("001_v1.0_add users.sql", id="space"),
        pytest.param("001_v1.0_.sql", id="no-description"),
        pytest.param("20240101_create.sql", id="dbmate-like"),
        pytest.param("001-v1.0-add.sql", id="dashes"),
        pytest.param("001_v1.0_ajouté.sql", id="accent"),
    ],
)
def test_refused_names(tmp_path, name):
    """A .sql file whose name does not match is an invalid input naming the file."""
    path = write(tmp_path, name)
    with pytest.raises(InvalidMigration) as raised:
        discover(tmp_path)
    assert str(raised.value) == f"{path}: {NAME_RULE}"
    assert (raised.value.rule, raised.value.exit_code) == ("file-name", 2)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("README.md", id="readme"),
        pytest.param(".001_v1.0_hidden.sql", id="dotfile"),
        pytest.param("001_v1.0_x.sql.bak", id="backup"),
        pytest.param("001_v1.0_x.SQL", id="upper-extension"),
        pytest.param("001_v1.0_x.sql~", id="editor-copy"),
        pytest.param("schema.sql.orig", id="merge-leftover"),
    ],
)
def test_ignored_names(tmp_path, name):
    """Files that are not .sql (or are hidden) are not migrations and not errors."""
    write(tmp_path, name, "not sql at all \\i x")
    assert discover(tmp_path) == []
    assert sql_paths(tmp_path) == []


def test_non_ascii_digits_are_not_a_version(tmp_path):
    """Arabic-Indic digits look like a number but are not one of NNN."""
    write(tmp_path, "٠٠٥_v1.0_x.sql")
    with pytest.raises(InvalidMigration):
        discover(tmp_path)


def test_versions_sort_numerically_and_twins_are_refused(tmp_path):
    """0001 and 001 are the same version: the later name is refused, naming the earlier."""
    write(tmp_path, "001_v1.0_a.sql")
    write(tmp_path, "0001_v1.0_b.sql")
    with pytest.raises(InvalidMigration) as raised:
        discover(tmp_path)
    # What follows "renumber" is advice on how to; the finding is the pair of files.
    assert str(raised.value).startswith(
        f"{tmp_path / '001_v1.0_a.sql'}: version 001 is also used by 0001_v1.0_b.sql; renumber "
    )
    assert raised.value.rule == "duplicate-version"


@pytest.mark.parametrize(
    "text, problem",
    [
        pytest.param(
            "-- Version: 004\nSELECT 1;\n",
            ":1: header says Version: 004 but the file name says 003; make them agree",
            id="version-mismatch",
        ),
        pytest.param(
            "-- Migration: m\n-- Version: v3\nSELECT 1;\n",
            ":2: header says Version: v3 but the file name says 003; make them agree",
            id="version-not-a-number",
        ),
        pytest.param(
            "SELECT 1;\n\\i other.sql\n",
            ":2: psql meta-command `\\i` is not SQL; inline the SQL it refers to",
            id="psql-include",
        ),
        pytest.param(
            "SELECT 1;\n\n  \\c other\n",
            ":3: psql meta-command `\\c` is not SQL; inline the SQL it refers to",
            id="psql-connect-indented",
        ),
        pytest.param(
            "",
            ": contains no SQL statements and no header; a placeholder kept for numbering "
            "needs at least `-- Migration:` and `-- Version:` lines",
            id="empty",
        ),
        pytest.param(
            "\n  \n/* nothing */\n",
            ": contains no SQL statements and no header; a placeholder kept for numbering "
            "needs at least `-- Migration:` and `-- Version:` lines",
            id="comment-only",
        ),
        pytest.param(
            b"SELECT 'caf\xe9';\n",
            ":1: not valid UTF-8 (byte 0xe9); save the file as UTF-8",
            id="latin-1",
        ),
        pytest.param(
            b"SELECT 1;\nSELECT '\x00';\n",
            ":2: contains a NUL byte, which PostgreSQL cannot take; is it a text file?",
            id="nul",
        ),
    ],
)
def test_refused_texts(tmp_path, text, problem):
    """What makes a well-named file unrunnable, with the line where it is."""
    path = write(tmp_path, "003_v1.0_x.sql", text)
    with pytest.raises(InvalidMigration) as raised:
        read_migration(path)
    assert str(raised.value) == f"{path}{problem}"


def test_a_psql_meta_command_is_named_whole(tmp_path):
    """The message quotes the meta-command the line holds."""
    path = write(tmp_path, "003_v1.0_x.sql", "SELECT 1;\n\\set ON_ERROR_STOP on\n")
    with pytest.raises(InvalidMigration) as raised:
        read_migration(path)
    assert str(raised.value) == (
        f"{path}:2: psql meta-command `\\set` is not SQL; inline the SQL it refers to"
    )


def test_a_superscript_header_version_is_an_invalid_input(tmp_path):
    """`-- Version: ²` disagrees with the name like any other word would."""
    path = write(tmp_path, "002_v1.0_x.sql", "-- Migration: m\n-- Version: ²\nSELECT 1;\n")
    with pytest.raises(InvalidMigration):
        read_migration(path)


@pytest.mark.parametrize(
    "text, empty, transactional",
    [
        pytest.param(BODY.format(version="003"), False, True, id="header-and-sql"),
        pytest.param(BODY.format(version="3"), False, True, id="header-version-unpadded"),
        pytest.param("SELECT 1;\n", False, True, id="no-header"),
        pytest.param("-- Migration: m\n-- Version: 003\n", True, True, id="placeholder"),
        pytest.param(
            "-- Migration: m\n-- Version: 003\n/* moved to 005 */\n  \n", True, True, id="block"
        ),
        pytest.param(
            "-- Version: 003\n-- Transaction: none\nVACUUM t;\n", False, False, id="no-transaction"
        ),
        pytest.param("SELECT E'a\\\\b';\n", False, True, id="backslash-in-string"),
    ],
)
def test_accepted_texts(tmp_path, text, empty, transactional):
    """A file that runs: placeholder or not, in a transaction or not."""
    migration = read_migration(write(tmp_path, "003_v1.0_x.sql", text))
    assert (migration.empty, migration.transactional) == (empty, transactional)
    assert migration.checksum == checksum(text)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\xef\xbb\xbfSELECT 1;\nSELECT 2;\n", id="bom"),
        pytest.param(b"SELECT 1;\r\nSELECT 2;\r\n", id="crlf"),
        pytest.param(b"\xef\xbb\xbfSELECT 1;\r\nSELECT 2;\n", id="bom-and-mixed"),
    ],
)
def test_checksum_ignores_bom_and_crlf(tmp_path, raw):
    """A checkout on Windows does not change a file's checksum or text."""
    migration = read_migration(write(tmp_path, "003_v1.0_x.sql", raw))
    assert migration.sql == "SELECT 1;\nSELECT 2;\n"
    assert migration.checksum == checksum("SELECT 1;\nSELECT 2;\n")


def test_every_bad_file_is_named_in_one_error(tmp_path):
    """One run names every invalid file, in path order, and nothing is returned."""
    write(tmp_path, "001_v1.0_ok.sql")
    write(tmp_path, "002_v1.0_meta.sql", "\\c other\n")
    write(tmp_path, "03_v1.0_short.sql")
    with pytest.raises(InvalidMigrations) as raised:
        discover(tmp_path)
    assert [(p.path.name, p.rule) for p in raised.value.problems] == [
        ("002_v1.0_meta.sql", "psql-meta"),
        ("03_v1.0_short.sql", "file-name"),
    ]


GUIDE = """-- Migration: Add user preferences
-- Version: 003
-- Date: 2026-01-15
-- Description: Preferences per user,
-- one row each
-- Status: LIVE
-- Author: ana@example.com
-- Changes:
-- 1. table user_preferences
-- 2. index on user_id
-- Impact: Non-breaking
-- Rollback: DROP INDEX IF EXISTS idx_prefs_user;
-- DROP TABLE IF EXISTS user_preferences;
-- Source: https://tickets.example.com/CHG-9
-- Reviewed-By: bob

CREATE TABLE user_preferences (id int);
"""
ROLLBACK = "DROP INDEX IF EXISTS idx_prefs_user;\nDROP TABLE IF EXISTS user_preferences;"


@pytest.mark.parametrize(
    "text, fields",
    [
        pytest.param(
            GUIDE,
            {
                "migration": "Add user preferences",
                "version": "003",
                "date": "2026-01-15",
                "description": "Preferences per user,\none row each",
                "status": "LIVE",
                "author": "ana@example.com",
                "changes": "1. table user_preferences\n2. index on user_id",
                "impact": "Non-breaking",
                "rollback": ROLLBACK,
                "extra": {"Source": "https://tickets.example.com/CHG-9", "Reviewed-By": "bob"},
                "lines": {
                    "migration": 1,
                    "version": 2,
                    "date": 3,
                    "description": 4,
                    "status": 6,
                    "author": 7,
                    "changes": 8,
                    "impact": 11,
                    "rollback": 12,
                    "Source": 14,
                    "Reviewed-By": 15,
                },
            },
            id="guide-template",
        ),
        pytest.param(
            "--VERSION:007\n--rollback:DROP TABLE t;\n",
            {"version": "007", "rollback": "DROP TABLE t;"},
            id="any-case-no-spaces",
        ),
        pytest.param(
            "\n\n-- Version: 001\n",
            {"version": "001", "lines": {"version": 3}},
            id="leading-blank-lines",
        ),
        pytest.param(
            "-- Version: 001\n\n-- Rollback: DROP TABLE t;\n",
            {"version": "001"},
            id="blank-line-ends-header",
        ),
        pytest.param(
            "-- Version: 001\nSELECT 1;\n-- Rollback: DROP TABLE t;\n",
            {"version": "001"},
            id="sql-ends-header",
        ),
        pytest.param(
            "-- Migration: m\n-- written by hand\n-- Rollback:\n-- DROP TABLE t;\n"
            "-- note: keep the data\n-- see http://x.example/y\n",
            {
                "migration": "m",
                "rollback": "DROP TABLE t;\nnote: keep the data\nsee http://x.example/y",
            },
            id="single-line-field-and-lowercase-continuations",
        ),
        pytest.param(
            "-- Rollback: DROP TABLE a;\n--\n-- prose after a bare line\n",
            {"rollback": "DROP TABLE a;"},
            id="bare-line-ends-field",
        ),
        pytest.param(
            "-- Transaction: NONE \n-- Lint-Ignore: fk-on-delete\n",
            {"transaction": "NONE", "lint_ignore": "fk-on-delete", "transactional": False},
            id="directives",
        ),
        pytest.param(
            "-- Version: 001\n-- Version: 002\n",
            {"version": "002", "lines": {"version": 2}},
            id="repeated-key-last-wins",
        ),
        pytest.param("/* Version: 001 */\nSELECT 1;\n", {}, id="block-comment-is-not-a-header"),
    ],
)
def test_parse_header(text, fields):
    """The header's fields, other `-- Key:` lines and where each starts; '' when absent."""
    header = parse_header(text)
    expected = {
        "migration": "",
        "version": "",
        "date": "",
        "description": "",
        "status": "",
        "author": "",
        "changes": "",
        "impact": "",
        "rollback": "",
        "transaction": "",
        "lint_ignore": "",
        "extra": {},
        "transactional": True,
    }
    expected.update({k: v for k, v in fields.items() if k != "lines"})
    assert {key: getattr(header, key) for key in expected} == expected
    if "lines" in fields:
        assert header.lines == fields["lines"]


@pytest.mark.parametrize(
    "key, value",
    [
        pytest.param("Rollback", ROLLBACK, id="known"),
        pytest.param("ROLLBACK", ROLLBACK, id="known-any-case"),
        pytest.param("source", "https://tickets.example.com/CHG-9", id="extra-any-case"),
        pytest.param("Reviewed-By", "bob", id="extra"),
        pytest.param("Ticket", "", id="absent"),
    ],
)
def test_header_get(key, value):
    """A field by its header name, known or not."""
    assert parse_header(GUIDE).get(key) == value


def test_a_file_and_its_header_are_what_their_constructors_would_build(tmp_path):
    """Discovery fills a MigrationFile and its Header in one dict update each: equal to, and
    laid out like, what the dataclasses' own __init__ builds."""
    text = "-- Migration: m\n-- Version: 001\n-- Source: JIRA-1\n-- Rollback: SELECT 1;\n\n"
    text += "SELECT 1;\n"
    write(tmp_path, "001_v1.0_m.sql", text)
    (found,) = discover(tmp_path)
    header = parse_header(text)
    rebuilt_header = Header(
        migration="m", version="001", rollback="SELECT 1;", extra={"Source": "JIRA-1"}
    )
    assert header == rebuilt_header
    assert list(vars(header)) == list(vars(rebuilt_header))
    assert header.lines == {"migration": 1, "version": 2, "Source": 3, "rollback": 4}
    rebuilt = MigrationFile(**{f.name: getattr(found, f.name) for f in fields(MigrationFile)})
    assert found == rebuilt and list(vars(found))[: len(fields(found))] == list(vars(rebuilt))
    assert replace(found, empty=True).empty and not found.empty
