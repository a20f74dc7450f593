"""Lint parity with squawk: its names in Lint-ignore, version-aware rules, CI output formats."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from schema_audit.files import lint
from tests.conftest import ROOT, migration


def _rules(folder, **options) -> list[str]:
    return [f["rule"] for f in lint.check(None, folder, **options)["findings"]]


def _file(migrations_dir, body: str, header: str = "", name: str = "m") -> object:
    text = migration("001", body).replace("-- Impact:", f"{header}-- Impact:")
    return migrations_dir({"001_v1.0_a.sql": text}, name)


@pytest.mark.parametrize(
    ("squawk_name", "body", "rule"),
    [
        ("ban-drop-column", "ALTER TABLE t DROP COLUMN IF EXISTS a;", "destructive-change"),
        ("renaming-table", "ALTER TABLE t RENAME TO u;", "destructive-change"),
        ("require-concurrent-index-creation", "CREATE INDEX IF NOT EXISTS i ON t (a);", None),
        ("prefer-robust-stmts", "CREATE TABLE t (id bigint PRIMARY KEY);", "if-not-exists"),
        (
            "constraint-missing-not-valid",
            "ALTER TABLE t ADD FOREIGN KEY (a) REFERENCES u (id) ON DELETE CASCADE;",
            "adding-foreign-key-constraint",
        ),
        ("changing-column-type", "ALTER TABLE t ALTER a TYPE bigint;", "destructive-change"),
    ],
)
def test_squawk_names_silence_the_same_findings(migrations_dir, squawk_name, body, rule):
    """A squawk name in `-- Lint-ignore:` silences what squawk's rule of that name reports."""
    before = _rules(_file(migrations_dir, body))
    assert before, "the statement must be reported without the ignore"
    after = _rules(_file(migrations_dir, body, f"-- Lint-ignore: {squawk_name}\n", "ignored"))
    assert len(after) < len(before)
    if rule:
        assert rule in before
    assert "lint-ignore" not in after


def test_squawk_name_silences_only_its_own_statement(migrations_dir):
    """ban-drop-column leaves the DROP TABLE in the same file reported."""
    body = "ALTER TABLE t DROP COLUMN IF EXISTS a;\nDROP TABLE IF EXISTS old;"
    found = lint.check(None, _file(migrations_dir, body, "-- Lint-ignore: ban-drop-column\n"))[
        "findings"
    ]
    assert [(f["line"], f["rule"], f["squawk"]) for f in found] == [
        (13, "destructive-change", ["ban-drop-table"])
    ]


def test_squawk_rules_without_a_counterpart_are_accepted_in_ignores(migrations_dir):
    """Teams keep squawk's timeout ignores: the runner sets lock_timeout itself."""
    header = "-- Lint-ignore: require-timeout-settings, ban-create-domain-with-constraint\n"
    folder = _file(migrations_dir, "CREATE TABLE IF NOT EXISTS t (id bigint);", header)
    assert _rules(folder) == []
    unknown = _file(migrations_dir, "SELECT 1;", "-- Lint-ignore: not-a-rule\n", "unknown")
    assert _rules(unknown) == ["lint-ignore"]


@pytest.mark.parametrize(
    ("body", "rule", "fires_on", "quiet_on"),
    [
        (
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS a int DEFAULT 0;",
            "adding-field-with-default",
            10,
            11,
        ),
        ("REINDEX TABLE t;", "require-concurrent-reindex", 12, 11),
        ("ALTER TABLE p DETACH PARTITION c;", "require-concurrent-partition-detach", 14, 13),
        ("ALTER TYPE mood ADD VALUE 'meh';", "needs-transaction-none", 11, 12),
    ],
)
def test_rules_follow_the_target_postgresql_version(
    migrations_dir, body, rule, fires_on, quiet_on
):
    """The same statement is a finding on one major version and fine on another."""
    header = "-- Lint-ignore: column-without-index\n"
    assert rule in _rules(_file(migrations_dir, body, header), pg_version=fires_on)
    assert rule not in _rules(_file(migrations_dir, body, header, "b"), pg_version=quiet_on)


def test_volatile_default_rewrites_but_constant_default_does_not(migrations_dir):
    """On PostgreSQL 11+ only a volatile DEFAULT (or a stored generated column) rewrites."""
    header = "-- Lint-ignore: column-without-index\n"
    volatile = "ALTER TABLE t ADD COLUMN IF NOT EXISTS a float DEFAULT random();"
    constant = "ALTER TABLE t ADD COLUMN IF NOT EXISTS a timestamptz DEFAULT now();"
    generated = "ALTER TABLE t ADD COLUMN IF NOT EXISTS a int GENERATED ALWAYS AS (b) STORED;"
    assert _rules(_file(migrations_dir, volatile, header)) == ["adding-field-with-default"]
    assert _rules(_file(migrations_dir, constant, header, "c")) == []
    assert _rules(_file(migrations_dir, generated, header, "g")) == ["adding-field-with-default"]


def test_not_valid_then_validate_in_one_transaction_is_flagged(migrations_dir):
    """VALIDATE in the same transaction keeps the ACCESS EXCLUSIVE lock of the ADD."""
    body = (
        "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\n"
        "ALTER TABLE t VALIDATE CONSTRAINT c;"
    )
    found = lint.check(None, _file(migrations_dir, body))["findings"]
    assert [(f["line"], f["rule"]) for f in found] == [(12, "constraint-missing-not-valid")]


def test_tables_created_in_the_file_are_not_existing_tables(migrations_dir):
    """Constraints and NOT NULL columns on a table the same file creates lock nobody."""
    body = (
        "CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY);\n"
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS code text NOT NULL;\n"
        "ALTER TABLE t ADD CONSTRAINT t_code UNIQUE (code);\n"
        "ALTER TABLE t ADD CONSTRAINT t_len CHECK (length(code) < 9);"
    )
    assert _rules(_file(migrations_dir, body)) == []


def test_type_rules_are_opt_in(uap, migrations_dir, settings):
    """int, timestamp and varchar(n) are reported only with UAP_LINT_TYPE_RULES."""
    body = "CREATE TABLE IF NOT EXISTS t (id serial PRIMARY KEY, at timestamp, c varchar(9));"
    folder = _file(migrations_dir, body)
    assert "prefer-timestamptz" not in uap("--lint", directory=folder).out
    settings.UAP_LINT_TYPE_RULES = "1"
    out = uap("--lint", directory=folder).out
    for rule in ("prefer-identity", "prefer-bigint-over-int", "prefer-timestamptz"):
        assert f": {rule}: " in out
    assert ": prefer-text-field: " in out


def test_lint_github_and_gcc_formats(uap, migrations_dir):
    """GitHub annotations and gcc lines, one per finding; the summary goes to stderr."""
    folder = _file(migrations_dir, "CREATE TABLE t (id bigint);\nREINDEX TABLE t;")
    github = uap("--lint", "--format", "github", directory=folder)
    assert github.code == 2
    lines = github.out.splitlines()
    assert lines[0].startswith("::error file=") and ",line=11,title=if-not-exists::" in lines[0]
    assert any(line.startswith("::warning ") for line in lines)
    assert "Linted 1 file(s)" in github.err
    gcc = uap("--lint", "--format", "gcc", directory=folder)
    assert gcc.out.splitlines()[0].endswith(
        ":11:1: error: write CREATE TABLE IF NOT EXISTS t [if-not-exists]"
    )
    assert uap("--lint", "--format", "markdown", directory=folder).code == 2


def test_github_annotation_escapes_newlines_and_commas(migrations_dir, tmp_path):
    """A hostile file name cannot inject a second workflow command."""
    from schema_audit.cli.deploy import github_line

    finding = {
        "path": "a,b:c.sql",
        "line": 3,
        "rule": "parse-error",
        "level": "error",
        "message": "bad\n::error::forged",
    }
    line = github_line(finding)
    assert "\n" not in line and "file=a%2Cb%3Ac.sql" in line and "bad%0A::error::forged" in line


def test_lint_json_names_the_version_and_where_it_came_from(uap, migrations_dir, settings):
    """UAP_LINT_PG_VERSION wins; the JSON says which version the rules assumed."""
    folder = _file(migrations_dir, "REINDEX TABLE t;")
    settings.UAP_LINT_PG_VERSION = "11"
    data = json.loads(uap("--lint", "--json", directory=folder).out)
    assert (data["pg_version"], data["pg_version_source"]) == (11, "setting")
    assert data["findings"] == []
    settings.UAP_LINT_PG_VERSION = "eleven"
    assert uap("--lint", directory=folder).code == 2


def test_lint_asks_a_reachable_server_for_its_version(database, migrations_dir):
    """With DATABASE_URL at a live server, lint assumes that server's major version."""
    folder = _file(migrations_dir, "SELECT 1;")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "uap_migrate",
            "--lint",
            "--json",
            "--dir",
            str(folder),
        ],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": database.url,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    data = json.loads(proc.stdout)
    server = database.scalar("SELECT current_setting('server_version_num')::int / 10000")
    assert (data["pg_version"], data["pg_version_source"]) == (server, "server")


def test_lint_files_may_follow_the_format_option(uap, migrations_dir):
    """`--lint --format github FILE` and `--lint FILE --format github` lint the same file."""
    folder = _file(migrations_dir, "CREATE TABLE t (id bigint);")
    path = str(next(folder.glob("*.sql")))
    before = uap("--lint", path, "--format", "github")
    after = uap("--lint", "--format", "github", path)
    assert before.code == after.code == 2, after.err
    assert after.out == before.out and "title=if-not-exists" in after.out
    stray = uap("--status", path)
    assert stray.code == 2 and "file arguments go with --lint" in stray.err


def test_lint_paths_are_relative_to_the_working_directory(uap, migrations_dir, monkeypatch):
    """Below the working directory a finding names the file as the repository does."""
    folder = _file(migrations_dir, "CREATE TABLE t (id bigint);")
    name = next(folder.glob("*.sql")).name
    monkeypatch.chdir(folder.parent)
    for fmt, expected in (
        ("text", f"{folder.name}/{name}:11: if-not-exists"),
        ("github", f"::error file={folder.name}/{name},line=11"),
        ("gcc", f"{folder.name}/{name}:11:1: error"),
    ):
        out = uap("--lint", "--format", fmt, directory=folder).out
        assert out.startswith(expected), out
    data = json.loads(uap("--lint", "--json", directory=folder).out)
    assert data["findings"][0]["path"] == f"{folder.name}/{name}"
    monkeypatch.chdir(folder / "..")
    monkeypatch.chdir("/")
    outside = uap("--lint", "--json", directory=folder).out
    assert json.loads(outside)["findings"][0]["path"].startswith(str(folder.parent).lstrip("/"))


@pytest.mark.parametrize(
    "creates",
    [
        "CREATE MATERIALIZED VIEW IF NOT EXISTS made AS SELECT 1 AS a;",
        "CREATE TABLE IF NOT EXISTS made AS SELECT 1 AS a;",
        "CREATE TABLE IF NOT EXISTS made PARTITION OF parent FOR VALUES IN (1);",
        "SELECT 1 AS a INTO made;",
    ],
)
def test_index_on_a_relation_the_file_creates_is_not_an_existing_one(migrations_dir, creates):
    """An index on a materialized view, partition or table made earlier in the file is no risk."""
    body = f"{creates}\nCREATE INDEX IF NOT EXISTS made_a ON made (a);"
    assert "index-not-concurrent" not in _rules(_file(migrations_dir, body))
    existing = "CREATE INDEX IF NOT EXISTS other_a ON other (a);"
    assert "index-not-concurrent" in _rules(_file(migrations_dir, existing, name="other"))
