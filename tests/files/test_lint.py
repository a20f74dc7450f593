"""`--lint`: the guide's pre-deploy checklist on pglast's parse tree, one fixture per rule."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from schema_audit.files import lint
from tests.conftest import DATA, ROOT, UAP_MIGRATIONS, migration

FIXTURES = DATA / "lint"
# rule -> (file, line) of every finding its fixture folder must produce, and nothing else.
EXPECTED = {
    "file-name": [("001_add_t.sql", 1)],
    "duplicate-version": [("001_v1.1_add_u.sql", 1)],
    "layout-format": [("20240101000001_add_t.sql", 4)],
    "encoding": [("001_v1.0_add_t.sql", 11)],
    "header-missing": [("001_v1.0_add_t.sql", 1)],
    "rollback-placeholder": [("001_v1.0_add_t.sql", 8)],
    "depends-format": [("001_v1.0_add_t.sql", 6)],
    "depends-unknown": [("001_v1.0_add_t.sql", 6), ("001_v1.0_add_t.sql", 6)],
    "retired-reason": [("001_v1.0_add_t.sql", 6)],  # its SQL, not linted, lacks IF NOT EXISTS
    "version-mismatch": [("001_v1.0_add_t.sql", 2)],
    "psql-meta": [("001_v1.0_add_t.sql", 11)],
    "parse-error": [("001_v1.0_add_t.sql", 11)],
    "transaction-control": [("001_v1.0_add_t.sql", 11), ("001_v1.0_add_t.sql", 13)],
    "needs-transaction-none": [("001_v1.0_add_t.sql", 12)],
    "if-not-exists": [("001_v1.0_add_t.sql", 11)],
    "fk-on-delete": [("001_v1.0_add_t.sql", 14)],
    "lint-ignore": [("001_v1.0_add_t.sql", 7)],
    "column-without-index": [("001_v1.0_add_t.sql", 11)],
    "index-not-concurrent": [("001_v1.0_add_t.sql", 11)],
    "destructive-change": [("001_v1.0_add_t.sql", 11)],
    "adding-field-with-default": [("001_v1.0_add_t.sql", 12)],
    "adding-required-field": [("001_v1.0_add_t.sql", 12)],
    "adding-not-nullable-field": [("001_v1.0_add_t.sql", 11)],
    "constraint-missing-not-valid": [("001_v1.0_add_t.sql", 11)],
    "adding-foreign-key-constraint": [("001_v1.0_add_t.sql", 11)],
    "disallowed-unique-constraint": [("001_v1.0_add_t.sql", 11)],
    "changing-column-type": [("001_v1.0_add_t.sql", 11)],
    "require-concurrent-index-deletion": [("001_v1.0_add_t.sql", 11)],
    "require-concurrent-reindex": [("001_v1.0_add_t.sql", 11)],
    "require-concurrent-partition-detach": [("001_v1.0_add_t.sql", 11)],
    "prefer-bigint-over-int": [("001_v1.0_add_t.sql", 11)],
    "prefer-bigint-over-smallint": [("001_v1.0_add_t.sql", 11)],
    "prefer-identity": [("001_v1.0_add_t.sql", 11)],
    "prefer-timestamptz": [("001_v1.0_add_t.sql", 11)],
    "prefer-text-field": [("001_v1.0_add_t.sql", 11)],
    "ban-char-field": [("001_v1.0_add_t.sql", 11)],
    "unreadable": [("001_v1.0_add_t.sql", 1)],
    "empty-file": [("001_v1.0_add_t.sql", 1)],
    "empty-migration": [("001_v1.0_add_t.sql", 1)],
    "secret-in-migration": [("001_v1.0_add_t.sql", 13)],
    "dry-run-side-effect": [("001_v1.0_add_t.sql", 11)],
}


def test_every_rule_has_a_fixture():
    """The lint guide's rule list, the fixtures and the expectations name the same rules."""
    assert set(EXPECTED) == set(lint.RULES) == {p.name for p in FIXTURES.iterdir()}


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_fixture_triggers_exactly_its_rule(rule):
    """Each fixture folder produces its rule, at the expected lines, and no other finding."""
    result = lint.check(None, FIXTURES / rule, type_rules=rule in lint.TYPE_RULES)
    found = [(f["rule"], f["path"].rsplit("/", 1)[-1], f["line"]) for f in result["findings"]]
    assert found == [(rule, name, line) for name, line in EXPECTED[rule]]
    level = lint.RULES[rule][0]
    assert result["errors" if level == "error" else "warnings"] == len(EXPECTED[rule])


def test_uap_migrations_pass_with_the_two_known_warnings(uap):
    """db/migrations: exit 0; 003's unindexed column and its non-concurrent index are warned."""
    result = uap("--lint", directory=UAP_MIGRATIONS)
    assert result.code == 0, result.out
    lines = result.out.splitlines()
    assert [line.split(": ")[1] for line in lines[:-1]] == [
        "column-without-index",
        "index-not-concurrent",
    ]
    shown = lint.shown_path(f"{UAP_MIGRATIONS}/003_v1.2_add_user_preferences.sql")
    assert lines[0].startswith(f"{shown}:19: ")
    assert "users.notification_preferences has no index" in lines[0]
    assert lines[-1] == "Linted 4 file(s): 0 error(s), 2 warning(s)."


def test_errors_exit_2_and_name_file_line_and_rule(uap):
    """An error finding makes the command exit 2 with `file:line: rule: message`."""
    path = FIXTURES / "fk-on-delete" / "001_v1.0_add_t.sql"
    result = uap("--lint", str(path))
    assert result.code == 2
    shown = lint.shown_path(str(path))
    assert result.out.startswith(f"{shown}:14: fk-on-delete: foreign key (t_id) has no ON DELETE")


def test_symlink_leaving_the_directory_is_an_error_and_not_read(tmp_path):
    """Lint refuses what the runner refuses: a link to a file outside the directory is an
    `unreadable` error, and the file it points at is not linted (nor echoed)."""
    (tmp_path / "outside.sql").write_text(migration("001", "SELECT 'outside-secret';"))
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_v1.0_a.sql").symlink_to(tmp_path / "outside.sql")
    findings = lint.check(None, folder)["findings"]
    assert [(f["rule"], f["level"]) for f in findings] == [("unreadable", "error")]
    assert "symbolic link to a file outside" in findings[0]["text"]
    assert "outside-secret" not in json.dumps(findings)


def test_lint_ignore_header_disables_a_rule(migrations_dir):
    """`-- Lint-ignore: index-not-concurrent, column-without-index` silences both warnings."""
    body = (
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS x int;\nCREATE INDEX IF NOT EXISTS t_y ON t (y);"
    )
    text = migration("001", body).replace(
        "-- Impact:", "-- Lint-ignore: index-not-concurrent, column-without-index\n-- Impact:"
    )
    folder = migrations_dir({"001_v1.0_a.sql": text, "002_v1.0_b.sql": migration("002", body)})
    rules = [(f["path"][-14:], f["rule"]) for f in lint.check(None, folder)["findings"]]
    assert rules == [
        ("002_v1.0_b.sql", "column-without-index"),
        ("002_v1.0_b.sql", "index-not-concurrent"),
    ]


def test_concurrent_index_in_a_transaction_none_file_is_clean(migrations_dir):
    """CONCURRENTLY on an existing table, in a `-- Transaction: none` file: no finding."""
    text = migration("001", "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);").replace(
        "-- Impact:", "-- Transaction: none\n-- Impact:"
    )
    assert lint.check(None, migrations_dir({"001_v1.0_a.sql": text}))["findings"] == []


def test_breaking_impact_allows_destructive_statements(migrations_dir):
    """DROP TABLE and a type change are declared; the rewrite the type change costs is not."""
    body = "DROP TABLE IF EXISTS old;\nALTER TABLE t ALTER COLUMN a TYPE bigint;"
    text = migration("001", body).replace("Impact: Non-breaking", "Impact: Breaking (old, t)")
    findings = lint.check(None, migrations_dir({"001_v1.0_a.sql": text}))["findings"]
    assert [f["rule"] for f in findings] == ["changing-column-type"]
    rules = [
        f["rule"]
        for f in lint.check(None, migrations_dir({"001_v1.0_a.sql": migration("001", body)}, "b"))[
            "findings"
        ]
    ]
    assert rules == ["destructive-change", "changing-column-type", "destructive-change"]


def test_lint_json_lists_findings_with_levels(uap):
    """--json gives counts, and each finding's file, line, rule, level and message."""
    result = uap("--lint", "--json", directory=FIXTURES / "transaction-control")
    data = json.loads(result.out)
    assert result.code == 2 and data["exit_code"] == 2
    assert (data["files"], data["errors"], data["warnings"]) == (1, 2, 0)
    assert {f["level"] for f in data["findings"]} == {"error"}


def test_lint_never_connects_to_the_database():
    """With DATABASE_URL pointing at a closed port, --lint still answers at once."""
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "uap_migrate",
            "--lint",
            "--dir",
            str(UAP_MIGRATIONS),
        ],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
            "DJANGO_SETTINGS_MODULE": "tests.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "0 error(s), 2 warning(s)" in proc.stdout
    assert time.monotonic() - started < 30


def test_alter_table_shapes_are_checked(migrations_dir):
    """FKs added by ALTER TABLE, UNIQUE columns, DROP INDEX, RENAME and TRUNCATE."""
    body = (
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS u_id int REFERENCES u (id) ON DELETE SET NULL;\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_u ON t (u_id);\n"
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS code text UNIQUE;\n"
        "ALTER TABLE t ADD CONSTRAINT t_v FOREIGN KEY (v_id) REFERENCES v (id);\n"
        "DROP INDEX CONCURRENTLY IF EXISTS t_old;\n"
        "ALTER TABLE t RENAME COLUMN a TO b;\n"
        "TRUNCATE t;"
    )
    text = migration("001", body).replace("-- Impact:", "-- Transaction: none\n-- Impact:")
    found = [
        (f["line"], f["rule"])
        for f in lint.check(None, migrations_dir({"001_v1.0_a.sql": text}))["findings"]
    ]
    assert found == [
        (12, "adding-foreign-key-constraint"),
        (15, "adding-foreign-key-constraint"),
        (15, "fk-on-delete"),
        (17, "destructive-change"),
        (18, "destructive-change"),
    ]
