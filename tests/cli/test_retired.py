"""`-- Retired:` files: recorded without running where they are pending, unchanged where they
were rolled back, and reported where they are still applied."""

from __future__ import annotations

import json

from tests.conftest import migration

ROWS = "SELECT version, status FROM schema_migrations ORDER BY version"
EVENTS = (
    "SELECT version, action, status, reason, sql_text IS NULL FROM schema_migration_events "
    "WHERE version = '002' ORDER BY id"
)
WHY = "rolled back in production, see #412"


def files(retired: bool = False) -> dict[str, str]:
    """001-003; 002 creates a table its Rollback drops, retired when asked."""
    second = migration("002", "CREATE TABLE b (id int);", rollback="DROP TABLE b;")
    if retired:
        second = second.replace("-- Version: 002\n", f"-- Version: 002\n-- Retired: {WHY}\n")
    return {
        "001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);", rollback="DROP TABLE a;"),
        "002_v1.1_b.sql": second,
        "003_v1.2_c.sql": migration("003", "CREATE TABLE c (id int);", rollback="DROP TABLE c;"),
    }


def retire(folder) -> None:
    """Add the Retired line to 002, as an author would."""
    (folder / "002_v1.1_b.sql").write_text(files(retired=True)["002_v1.1_b.sql"])


def test_fresh_database_records_retired_file_unrun_and_applies_the_rest(
    uap, database, migrations_dir
):
    """002 is rolled_back without its SQL having run; 001 and 003 apply; a rerun does nothing."""
    folder = migrations_dir(files(retired=True))
    plan = uap("--plan", directory=folder)
    assert plan.code == 0 and f"retired: recorded, not run: {WHY}" in plan.out
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert f"- 002 v1.1_b  0 ms  retired, not run: {WHY}" in result.out
    assert "b" not in database.tables() and {"a", "c"} <= database.tables()
    assert database.query(ROWS) == [
        ("001", "completed"),
        ("002", "rolled_back"),
        ("003", "completed"),
    ]
    assert database.query(EVENTS) == [
        ("002", "apply", "rolled_back", f"retired, not run: {WHY}", True)
    ]
    assert uap("--check", directory=folder).code == 0
    assert uap("--verify", directory=folder).code == 0
    assert uap(directory=folder).code == 0 and len(database.query(EVENTS)) == 1
    # Only a retired file left to record: the summary says it was recorded, not "nothing".
    (folder / "004_v1.3_d.sql").write_text(
        migration("004", "CREATE TABLE d (id int);").replace(
            "-- Version: 004\n", "-- Version: 004\n-- Retired: never shipped\n"
        )
    )
    only = uap(directory=folder)
    assert only.code == 0 and "Recorded 1 retired migration(s) without running them" in only.out
    shown = uap("--show", "002", directory=folder)
    assert shown.code == 0 and f"-- Retired: {WHY}." in shown.out
    assert "Nothing ran" in shown.out


def test_rolled_back_then_retired_does_not_drift_and_runs_nothing(uap, database, migrations_dir):
    """Adding the Retired line keeps the checksum production recorded: no drift, no event."""
    folder = migrations_dir(files())
    assert uap(directory=folder).code == 0
    assert uap("--rollback", "002", "--force", directory=folder).code == 0
    before = database.query("SELECT count(*) FROM schema_migration_events")
    retire(folder)
    check = uap("--check", directory=folder)
    assert check.code == 0, check.err
    status = json.loads(uap("--status", "--json", directory=folder).out)
    assert [m["drift"] for m in status["migrations"]] == [None, None, None]
    assert uap(directory=folder).code == 0
    assert "b" not in database.tables()
    assert database.query("SELECT count(*) FROM schema_migration_events") == before
    assert uap("--verify", directory=folder).code == 0


def test_retired_but_still_applied_is_reported_until_rolled_back(uap, database, migrations_dir):
    """--check exits 2 and a run refuses, naming --rollback; after it, all is green."""
    folder = migrations_dir(files())
    assert uap(directory=folder).code == 0
    retire(folder)
    check = uap("--check", directory=folder)
    assert check.code == 2
    assert "002 v1.1_b: retired" in check.err and "--rollback 002" in check.err
    assert "--rollback 002" in uap("--plan", directory=folder).err
    status = uap("--status", directory=folder)
    assert status.code == 0 and "retired" in status.err
    refused = uap(directory=folder)
    assert refused.code == 2 and "--rollback 002" in refused.err
    assert uap("--rollback", "002", "--force", directory=folder).code == 0
    assert "b" not in database.tables()
    assert uap("--check", directory=folder).code == 0
    assert uap("--verify", directory=folder).code == 0


def test_dry_run_skips_retired_file(uap, database, migrations_dir):
    """A dry run says the retired file is skipped and runs the others."""
    folder = migrations_dir(files(retired=True))
    result = uap("--dry-run", directory=folder)
    assert result.code == 0, result.err
    assert f"- 002 v1.1_b  skipped: retired, not run: {WHY}" in result.out
    assert "2 would apply" in result.out


def test_lint_skips_retired_sql_but_wants_a_reason(uap, migrations_dir):
    """A retired file's SQL is not linted; a Retired line without a reason is an error."""
    risky = files(retired=True)
    text = risky["002_v1.1_b.sql"]
    risky["002_v1.1_b.sql"] = text.replace(
        "CREATE TABLE b (id int);", "CREATE TABLE b (id int);\nCOMMIT;"
    )
    folder = migrations_dir(risky)
    linted = uap("--lint", "--format", "json", directory=folder)
    found = json.loads(linted.out)["findings"]
    assert not [f for f in found if "002_v1.1_b" in f["path"] and f["level"] == "error"]
    (folder / "002_v1.1_b.sql").write_text(risky["002_v1.1_b.sql"].replace(WHY, ""))
    linted = uap("--lint", directory=folder)
    assert linted.code == 2 and "retired-reason" in linted.out
    assert uap(directory=folder).code == 2


def test_evidence_bundle_with_a_retired_file_verifies(uap, migrations_dir, tmp_path):
    """The shipped file keeps its Retired line; the bundle still verifies offline."""
    folder = migrations_dir(files(retired=True))
    assert uap(directory=folder).code == 0
    bundle = tmp_path / "evidence.zip"
    assert uap("--evidence", str(bundle), directory=folder).code == 0
    verified = uap("--verify-evidence", str(bundle), directory=folder)
    assert verified.code == 0, verified.out + verified.err
