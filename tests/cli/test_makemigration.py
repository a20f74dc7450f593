"""`manage.py uap_makemigration`: the next file, a header the runner and lint accept."""

from __future__ import annotations

import getpass
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from schema_audit.engine import lock_retry
from schema_audit.files import authoring
from schema_audit.files.header import HEADER_FIELDS, ROLLBACK_PLACEHOLDER, parse_header
from schema_audit.files.naming import Slot
from tests.conftest import Result, migration

SQL = "CREATE TABLE IF NOT EXISTS report (id bigint PRIMARY KEY, made_at timestamptz);"


def make(*args: str, directory: Path) -> Result:
    """Run `uap_makemigration` in-process; exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("uap_makemigration", *args, "--dir", str(directory), stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return Result(code, out.getvalue(), err.getvalue())


def fill(path: Path, rollback: str, body: str) -> None:
    """What the author does next: the Rollback SQL, then the statements."""
    text = path.read_text().replace(ROLLBACK_PLACEHOLDER, rollback)
    path.write_text(text + body + "\n")


def test_first_file_of_an_empty_directory_is_001_v1_0(tmp_path):
    """An empty (even missing) directory starts at 001 and v1.0; the path is printed."""
    folder = tmp_path / "db" / "migrations"
    result = make("Add report index", directory=folder)
    assert result.code == 0, result.err
    path = folder / "001_v1.0_add_report_index.sql"
    assert result.out.strip() == str(path)
    header = path.read_text().splitlines()
    assert header[:2] == ["-- Migration: Add report index", "-- Version: 001"]
    assert "-- Description: Add report index" in header
    assert "-- Rollback: TODO: the SQL that undoes this migration" in header


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (["001_v1.0_a.sql", "004_v1.3_d.sql", "README.md"], "005_v1.4_add_report_index.sql"),
        (["0041_v2.9_a.sql"], "0042_v2.10_add_report_index.sql"),
        (["998_v3.0_a.sql", "999_v3.1_b.sql"], "1000_v3.2_add_report_index.sql"),
    ],
)
def test_next_version_padding_and_minor_follow_the_newest_file(migrations_dir, existing, expected):
    """The version after the newest, padded as it is; one vX.Y minor on."""
    folder = migrations_dir(dict.fromkeys(existing, "SELECT 1;"))
    result = make("add report index", "--json", directory=folder)
    assert result.code == 0, result.err
    written = json.loads(result.out)
    assert written == {
        "path": str(folder / expected),
        "version": expected.split("_")[0],
        "name": expected.split("_", 1)[1].removesuffix(".sql"),
    }


@pytest.mark.parametrize(
    ("words", "slug"),
    [
        ("Add Report-Index (v2)!", "add_report_index_v2"),
        ("  Café  crème ", "cafe_creme"),
        ("users.email_lower", "users_email_lower"),
    ],
)
def test_name_is_lower_case_ascii_words_joined_by_underscores(tmp_path, words, slug):
    """As Django names migrations: lower-case ASCII words, `_` between them."""
    result = make(words, "--json", directory=tmp_path)
    assert json.loads(result.out)["name"] == f"v1.0_{slug}"


@pytest.mark.parametrize("words", ["", "!!!", "日本語"])
def test_a_name_that_gives_no_file_name_is_exit_2_and_writes_nothing(tmp_path, words):
    """Nothing of the name survives the slug: exit 2, no file."""
    result = make(words, directory=tmp_path)
    assert result.code == 2
    assert "cannot make a file name from" in result.err
    assert list(tmp_path.iterdir()) == []


def test_a_newline_in_the_name_cannot_add_a_header_line(tmp_path):
    """The description is written on one line: it cannot smuggle in a Rollback."""
    result = make("add t\n-- Rollback: DROP TABLE users;", directory=tmp_path)
    text = Path(result.out.strip()).read_text()
    assert "DROP TABLE users" not in parse_header(text).rollback
    assert text.count("\n-- Rollback:") == 1


def test_generated_file_applies_and_lints_clean_once_the_rollback_is_filled(
    uap, database, tmp_path
):
    """Lint names the placeholder's file and line until it is filled; then lint is clean and
    uap_migrate applies the file, recording its header."""
    folder = tmp_path / "migrations"
    (folder).mkdir()
    (folder / "001_v1.0_base.sql").write_text(migration("001", "SELECT 1;"))
    path = Path(make("add report table", directory=folder).out.strip())
    line = (
        path.read_text()
        .splitlines()
        .index("-- Rollback: TODO: the SQL that undoes this migration")
    )
    linted = uap("--lint", str(path))
    assert linted.code == 2
    assert f"{path.name}:{line + 1}: rollback-placeholder:" in linted.out
    fill(path, "DROP TABLE IF EXISTS report;", SQL)
    linted = uap("--lint", "--json", directory=folder)
    assert linted.code == 0, linted.out
    assert json.loads(linted.out)["findings"] == []
    applied = uap(directory=folder)
    assert applied.code == 0, applied.err
    assert database.query(
        "SELECT version, name, status, rollback_sql FROM schema_migrations WHERE version = '002'"
    ) == [("002", "v1.1_add_report_table", "completed", "DROP TABLE IF EXISTS report;")]
    assert "report" in database.tables()


def test_non_transactional_file_runs_statement_by_statement(uap, database, tmp_path):
    """`--non-transactional` writes `-- Transaction: none`: CREATE INDEX CONCURRENTLY runs."""
    folder = tmp_path / "migrations"
    first = Path(make("add report", directory=folder).out.strip())
    fill(first, "DROP TABLE IF EXISTS report;", SQL)
    second = Path(make("index report", "--non-transactional", directory=folder).out.strip())
    assert "-- Transaction: none\n" in second.read_text()
    fill(
        second,
        "DROP INDEX CONCURRENTLY IF EXISTS report_made_at;",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS report_made_at ON report (made_at);",
    )
    assert uap("--lint", directory=folder).code == 0
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert database.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'report_made_at'")


def test_depends_are_written_on_one_header_line(tmp_path):
    """Each `--depends` Django knows goes on the `-- Depends:` line, in the order given."""
    result = make(
        "add report",
        "--depends",
        "contenttypes.0002_remove_content_type_name",
        "--depends",
        "auth.0001_initial",
        directory=tmp_path,
    )
    assert result.code == 0, result.err
    text = Path(result.out.strip()).read_text()
    assert "\n-- Depends: contenttypes.0002_remove_content_type_name, auth.0001_initial\n" in text
    assert parse_header(text).dependencies == (
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0001_initial"),
    )


def test_depends_django_does_not_know_are_exit_2_each_named(tmp_path):
    """An unknown app, an unknown migration, a malformed name: each named, no file written."""
    result = make(
        "add report",
        "--depends",
        "shop.0001_initial",
        "--depends",
        "auth.0099_nope",
        "--depends",
        "auth",
        "--json",
        directory=tmp_path,
    )
    assert result.code == 2
    messages = [error["message"] for error in json.loads(result.out)["errors"]]
    assert messages == [
        "--depends 'auth': give app_label.migration_name (e.g. auth.0012)",
        "--depends shop.0001_initial: no installed Django app has the label 'shop' "
        "(see INSTALLED_APPS)",
        "--depends auth.0099_nope: app 'auth' has no migration named '0099_nope'",
    ]
    assert list(tmp_path.iterdir()) == []


def test_author_is_git_user_email_inside_a_repository_else_the_os_user(tmp_path):
    """Inside a git work tree the file names git's user.email; elsewhere the OS user."""
    outside = Path(make("a", directory=tmp_path / "plain").out.strip())
    assert f"\n-- Author: {getpass.getuser()}\n" in outside.read_text()
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "config", "user.email", "ada@example.test"], check=True
    )
    inside = Path(make("a", directory=repo / "db" / "migrations").out.strip())
    assert "\n-- Author: ada@example.test\n" in inside.read_text()


def test_an_existing_file_is_never_overwritten(tmp_path, monkeypatch):
    """When the chosen name exists (another author just wrote it): exit 2, file untouched."""
    (tmp_path / "001_v1.0_a.sql").write_text("SELECT 1;")
    # As if a concurrent run had written 001_v1.0_a.sql after this one listed the folder.
    monkeypatch.setattr(authoring, "next_slot", lambda names: Slot("001", 1, 0))
    result = make("a", directory=tmp_path)
    assert result.code == 2
    assert "001_v1.0_a.sql already exists; it was not overwritten" in result.err
    assert (tmp_path / "001_v1.0_a.sql").read_text() == "SELECT 1;"


def test_help_ends_with_the_writing_guide_naming_every_header_field():
    """The guide ships with the package: a host project reads it in `--help`, and a header
    field the parser knows cannot be left out of it."""
    done = subprocess.run(
        [sys.executable, "manage.py", "uap_makemigration", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SECRET_KEY": "x"},
    )
    guide = done.stdout.split("Writing a migration file", 1)[1]
    for name in [*HEADER_FIELDS, "ticket", lock_retry.HEADER]:
        assert name.title() in guide, name
    assert "NNN_vX.Y_description.sql" in guide
