"""`--rollback-to VERSION`: every applied version above it rolled back, newest first, each with
its own event; refused before anything runs when one has no Rollback SQL."""

from __future__ import annotations

import json

import pytest

from tests.conftest import migration

STATUS = "SELECT version, status FROM schema_migrations ORDER BY version"
EVENTS = (
    "SELECT version, action, status, reason FROM schema_migration_events "
    "WHERE action IN ('rollback', 'dry_run') ORDER BY id"
)


def three(rollback_of_002: str = "DROP TABLE b;") -> dict[str, str]:
    """001-003, each creating a table its Rollback drops."""
    return {
        "001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);", rollback="DROP TABLE a;"),
        "002_v1.1_b.sql": migration("002", "CREATE TABLE b (id int);", rollback=rollback_of_002),
        "003_v1.2_c.sql": migration("003", "CREATE TABLE c (id int);", rollback="DROP TABLE c;"),
    }


@pytest.fixture
def applied(uap, migrations_dir):
    """Factory: the files written and applied; their folder."""

    def make(files: dict[str, str]):
        folder = migrations_dir(files)
        assert uap(directory=folder).code == 0
        return folder

    return make


def test_rolls_back_every_version_above_newest_first_each_recorded(uap, database, applied):
    """003 then 002 are rolled back, each with its rollback event; 001 stays."""
    folder = applied(three())
    result = uap("--rollback-to", "001", "--reason", "bad release", directory=folder)
    assert result.code == 0, result.err
    assert result.out.index("003 v1.2_c") < result.out.index("002 v1.1_b")
    assert "Rolled back 2 version(s) to 001" in result.out
    assert "database at version 001" in result.out
    assert database.tables() >= {"a"} and not database.tables() & {"b", "c"}
    assert database.query(STATUS) == [
        ("001", "completed"),
        ("002", "rolled_back"),
        ("003", "rolled_back"),
    ]
    assert database.query(EVENTS) == [
        ("003", "rollback", "rolled_back", "bad release"),
        ("002", "rollback", "rolled_back", "bad release"),
    ]
    assert uap("--verify", directory=folder).code == 0
    assert uap(directory=folder).code == 0 and "b" not in database.tables()  # never re-run


@pytest.mark.parametrize("version", ["0", "none"])
def test_zero_or_none_rolls_back_every_version(uap, database, applied, version):
    """0 and none both mean every applied version."""
    folder = applied(three())
    result = uap("--rollback-to", version, "--json", directory=folder)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert [item["version"] for item in document["rollbacks"]] == ["003", "002", "001"]
    assert document["current_version"] is None and document["version"] == "none"
    assert not database.tables() & {"a", "b", "c"}


def test_the_current_version_rolls_back_nothing(uap, database, applied):
    """Rolling back to where the database is: exit 0, nothing changes."""
    folder = applied(three())
    result = uap("--rollback-to", "003", directory=folder)
    assert result.code == 0, result.err
    assert "Nothing to roll back; database at version 003." in result.out
    assert database.query(EVENTS) == []


@pytest.mark.parametrize(
    "version, message",
    [
        ("004", "above the current version (003)"),
        ("007", "above the current version (003)"),
        ("abc", "'abc': no migration with that version"),
    ],
)
def test_a_version_above_the_current_one_is_refused(uap, database, applied, version, message):
    """Exit 2 and nothing runs for a version above the current one or not a number."""
    folder = applied(three())
    result = uap("--rollback-to", version, directory=folder)
    assert result.code == 2 and message in result.err
    assert database.query(EVENTS) == []


def test_a_version_that_is_not_applied_is_refused(uap, database, applied):
    """A rolled-back version is no place to stop at: exit 2, nothing runs."""
    folder = applied(three())
    assert uap("--rollback", "003", directory=folder).code == 0
    migrations_dir_files = {"004_v1.3_d.sql": migration("004", "CREATE TABLE d (id int);")}
    (folder / "004_v1.3_d.sql").write_text(migrations_dir_files["004_v1.3_d.sql"])
    assert uap(directory=folder).code == 0
    result = uap("--rollback-to", "003", directory=folder)
    assert result.code == 2 and "it is rolled_back" in result.err
    assert "d" in database.tables()


def test_every_version_without_rollback_sql_is_named_before_anything_runs(
    uap, database, migrations_dir
):
    """An empty Rollback and a TODO placeholder: both named, exit 2, nothing rolled back."""
    files = three(rollback_of_002="TODO: the SQL that undoes this migration")
    files["003_v1.2_c.sql"] = files["003_v1.2_c.sql"].replace(
        "-- Rollback: DROP TABLE c;", "-- Rollback:"
    )
    folder = migrations_dir(files)
    assert uap(directory=folder).code == 0
    for extra in ([], ["--json"], ["--dry-run"]):
        result = uap("--rollback-to", "001", *extra, directory=folder)
        assert result.code == 2
        assert "003 v1.2_c (no Rollback SQL)" in result.err
        assert "002 v1.1_b (a placeholder Rollback ('TODO:" in result.err
    assert "nothing was rolled back" in result.err
    assert json.loads(uap("--rollback-to", "001", "--json", directory=folder).out)["errors"]
    assert database.query(EVENTS) == []
    assert database.tables() >= {"a", "b", "c"}


def test_rollback_refuses_a_placeholder_rollback(uap, database, migrations_dir):
    """--rollback NNN does not send `TODO: ...` to PostgreSQL: exit 2, nothing recorded."""
    files = {
        "001_v1.0_a.sql": migration(
            "001", "CREATE TABLE a (id int);", rollback="FIXME write the rollback"
        )
    }
    folder = migrations_dir(files)
    assert uap(directory=folder).code == 0
    result = uap("--rollback", "001", directory=folder)
    assert result.code == 2 and "a placeholder Rollback ('FIXME" in result.err
    assert database.query(EVENTS) == [] and "a" in database.tables()


def test_stops_at_the_first_failure_and_reports_what_was_rolled_back(uap, database, applied):
    """002's Rollback fails: 003 stays rolled back, 002 and 001 stay completed, exit 1."""
    folder = applied(three(rollback_of_002="DROP TABLE nope;"))
    result = uap("--rollback-to", "0", "--json", directory=folder)
    assert result.code == 1
    document = json.loads(result.out)
    assert [(i["version"], i["status"]) for i in document["rollbacks"]] == [
        ("003", "rolled_back"),
        ("002", "failed"),
    ]
    assert document["current_version"] == "002" and document["failed"] == 1
    assert "42P01" in document["errors"][0]["message"]
    assert document["errors"][0]["exit_code"] == 1
    assert database.query(STATUS) == [
        ("001", "completed"),
        ("002", "completed"),
        ("003", "rolled_back"),
    ]
    assert database.query(EVENTS) == [
        ("003", "rollback", "rolled_back", None),
        ("002", "rollback", "failed", None),
    ]
    text = uap("--rollback-to", "0", directory=folder)
    assert text.code == 1 and "42P01" in text.err
    assert "Rolled back 0 version(s), then 002 failed; database at version 002" in text.out


def test_a_dry_run_rehearses_the_rollbacks_and_changes_nothing(uap, database, applied):
    """--dry-run runs each Rollback in a transaction that is rolled back; dry_run events."""
    folder = applied(three())
    result = uap("--rollback-to", "001", "--dry-run", directory=folder)
    assert result.code == 0, result.err
    assert "Dry run of --rollback-to 001: 2 would roll back, 0 would fail" in result.out
    assert "database still at version 003" in result.out
    assert database.tables() >= {"a", "b", "c"}
    assert database.query(STATUS)[-1] == ("003", "completed")
    assert database.query(EVENTS) == [
        ("003", "dry_run", "completed", "dry run of --rollback-to 001"),
        ("002", "dry_run", "completed", "dry run of --rollback-to 001"),
    ]


def test_a_dry_run_says_which_rollback_would_fail(uap, database, applied):
    """A failing Rollback in a dry run: exit 1, the later ones not tried, nothing changed."""
    folder = applied(three(rollback_of_002="DROP TABLE nope;"))
    result = uap("--rollback-to", "0", "--dry-run", "--json", directory=folder)
    assert result.code == 1
    document = json.loads(result.out)
    assert document["rehearsed"] is True
    assert [(i["version"], i["status"]) for i in document["rollbacks"]] == [
        ("003", "completed"),
        ("002", "failed"),
        ("001", "skipped"),
    ]
    assert document["rollbacks"][1]["sqlstate"] == "42P01"
    assert database.tables() >= {"a", "b", "c"}


def test_trace_measures_each_rollback(uap, database, applied):
    """--trace implies the dry run and keeps each Rollback's locks on its dry_run event."""
    folder = applied(three())
    result = uap("--rollback-to", "001", "--trace", "--json", directory=folder)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    trace = document["rollbacks"][0]["trace"]
    assert trace["version"] == "003"
    assert any("AccessExclusiveLock" in lock["mode"] for lock in trace["locks"])
    traced = "SELECT count(*) FROM schema_migration_events WHERE trace IS NOT NULL"
    assert database.scalar(traced) == 2
    text = uap("--rollback-to", "001", "--dry-run", "--trace", directory=folder)
    assert text.code == 0 and "AccessExclusiveLock public.c" in text.out
    assert database.tables() >= {"b", "c"}


def test_other_modes_do_not_go_with_it(uap, applied):
    """--rollback-to takes --dry-run and --trace only: another mode is exit 2."""
    folder = applied(three())
    result = uap("--rollback-to", "001", "--plan", directory=folder)
    assert result.code == 2
    assert "--plan does not go with --rollback-to (only --dry-run or --trace do)" in result.err


def test_a_fleet_rolls_back_each_target_and_resumes_the_one_that_failed(
    fleet, uap_fleet, migrations_dir
):
    """Each target rolled back in turn; one whose Rollback fails is resumed with --rollback-to."""
    folder = migrations_dir(three())
    dbs = fleet(2)
    assert uap_fleet(dbs, directory=folder).code == 0
    with dbs[1].connect() as conn:
        conn.execute("DROP TABLE c")  # 003's Rollback fails there
    dry = uap_fleet(dbs, "--rollback-to", "001", "--dry-run", "--json", directory=folder)
    assert dry.code == 1
    document = json.loads(dry.out)
    assert [t["exit_code"] for t in document["targets"]] == [0, 1]
    assert "--rollback-to 001" in document["resume"] and "--dry-run" in document["resume"]
    result = uap_fleet(dbs, "--rollback-to", "001", "--on-error", "continue", directory=folder)
    assert result.code == 1
    assert "003 → 001" in result.out and "2 rolled back" in result.out
    resume = next(line for line in result.err.splitlines() if line.startswith("Resume with:"))
    assert f"--database {dbs[1].alias} " in resume and "--rollback-to 001" in resume
    assert "--dry-run" not in resume
    assert dbs[0].query(STATUS)[1:] == [("002", "rolled_back"), ("003", "rolled_back")]
    assert dbs[1].query(STATUS)[1:] == [("002", "completed"), ("003", "completed")]
