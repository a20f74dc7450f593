"""`--rollback NNN`: the header's Rollback SQL runs atomically and the version never runs again."""

from __future__ import annotations

import json

import pytest

from schema_audit import api
from schema_audit.exceptions import RefusedRequest
from schema_audit.remedies import Fix
from tests.conftest import UAP_MIGRATIONS, migration

ROW = "SELECT status, error_message, checksum FROM schema_migrations WHERE version = %s"


def test_rollback_of_004_drops_goals_and_a_rerun_does_not_recreate_it(uap, database):
    """004 is rolled_back with the reason; a later run leaves goals absent."""
    assert uap(directory=UAP_MIGRATIONS).code == 0
    checksum = database.scalar("SELECT checksum FROM schema_migrations WHERE version = '004'")
    result = uap("--rollback", "004", "--reason", "goals page broke", directory=UAP_MIGRATIONS)
    assert result.code == 0, result.err
    assert "Rolled back 004" in result.out
    assert "goals" not in database.tables()
    assert database.query(ROW, ("004",)) == [
        ("rolled_back", "rolled back: goals page broke", checksum)
    ]
    event = database.query(
        "SELECT action, status, reason, sql_text FROM schema_migration_events "
        "WHERE version = '004' ORDER BY id DESC LIMIT 1"
    )[0]
    assert event == (
        "rollback",
        "rolled_back",
        "goals page broke",
        "DROP TABLE IF EXISTS goals CASCADE;",
    )
    rerun = uap(directory=UAP_MIGRATIONS)
    assert rerun.code == 0 and "Nothing to apply; database at version 003." in rerun.out
    assert "goals" not in database.tables()
    assert uap("--check", directory=UAP_MIGRATIONS).code == 0


def test_a_refusal_is_neutral_in_the_api_and_names_the_flag_in_the_command(uap, database):
    """The API's error says what is wrong and carries its remedy; the command adds --force."""
    assert uap(directory=UAP_MIGRATIONS).code == 0
    with pytest.raises(RefusedRequest) as refused:
        api.rollback("003", UAP_MIGRATIONS, database.alias)
    neutral = "004 was applied after it and may depend on it; roll back 004 first"
    assert str(refused.value).endswith(neutral) and "--force" not in str(refused.value)
    assert refused.value.remedy.fix == Fix.FORCE
    result = uap("--rollback", "003", "--json", directory=UAP_MIGRATIONS)
    [error] = json.loads(result.out)["errors"]
    assert error["message"] == f"{refused.value}, or pass --force"
    assert f"error: {refused.value}, or pass --force" in result.err


def test_rollback_of_an_older_version_is_refused_unless_forced(uap, database):
    """003 is not the newest applied version: exit 2, nothing changes; --force runs it."""
    assert uap(directory=UAP_MIGRATIONS).code == 0
    result = uap("--rollback", "003", directory=UAP_MIGRATIONS)
    assert result.code == 2
    assert "004 was applied after it" in result.err and "--force" in result.err
    assert database.scalar(ROW, ("003",)) == "completed"
    forced = uap("--rollback", "003", "--force", "--json", directory=UAP_MIGRATIONS)
    assert forced.code == 0, forced.err
    assert json.loads(forced.out)["status"] == "rolled_back"
    columns = database.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
    )
    assert ("theme_preference",) not in columns


def test_rollback_refuses_a_file_without_rollback_sql(uap, database, migrations_dir):
    """An empty Rollback: header is refused with exit 2 before anything runs."""
    text = migration("001", "CREATE TABLE a (id int);").replace(
        "-- Rollback: SELECT 1;", "-- Rollback:"
    )
    folder = migrations_dir({"001_v1.0_a.sql": text})
    assert uap(directory=folder).code == 0
    result = uap("--rollback", "001", directory=folder)
    assert result.code == 2 and "no Rollback SQL" in result.err
    assert "a" in database.tables()


def test_failing_rollback_sql_exits_1_and_keeps_the_version_completed(
    uap, database, migrations_dir
):
    """Rollback SQL that fails is rolled back itself, recorded as a failed rollback event."""
    folder = migrations_dir(
        {
            "001_v1.0_a.sql": migration(
                "001", "CREATE TABLE a (id int);", rollback="DROP TABLE nope;"
            )
        }
    )
    assert uap(directory=folder).code == 0
    result = uap("--rollback", "001", directory=folder)
    assert result.code == 1 and "42P01" in result.err
    assert database.scalar(ROW, ("001",)) == "completed"
    assert database.query(
        "SELECT action, status, sqlstate FROM schema_migration_events ORDER BY id DESC LIMIT 1"
    ) == [("rollback", "failed", "42P01")]


def test_a_fix_ships_as_a_later_version_after_a_rollback(uap, database, migrations_dir):
    """After rolling back 002, a new 003 applies and 002 stays rolled_back."""
    files = {
        "001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);"),
        "002_v1.0_b.sql": migration("002", "CREATE TABLE b (id int);", rollback="DROP TABLE b;"),
    }
    folder = migrations_dir(files)
    assert uap(directory=folder).code == 0
    assert uap("--rollback", "002", directory=folder).code == 0
    migrations_dir({"003_v1.1_b_fixed.sql": migration("003", "CREATE TABLE b2 (id int);")})
    assert uap(directory=folder).code == 0
    assert database.query("SELECT version, status FROM schema_migrations ORDER BY version") == [
        ("001", "completed"),
        ("002", "rolled_back"),
        ("003", "completed"),
    ]
    assert "b" not in database.tables() and "b2" in database.tables()


def test_verify_stays_green_after_a_rollback_and_a_patch(uap, database, migrations_dir, tmp_path):
    """Sanctioned changes record the schema they leave: no lasting drift after them."""
    folder = migrations_dir(
        {
            "001_v1.0_t.sql": migration("001", "CREATE TABLE t (id int, note text);"),
            "002_v1.1_index.sql": migration(
                "002", "CREATE INDEX t_note ON t (note);", rollback="DROP INDEX t_note;"
            ),
        }
    )
    assert uap(directory=folder).code == 0
    assert uap("--verify", directory=folder).code == 0
    assert uap("--rollback", "002", directory=folder).code == 0
    verified = uap("--verify", directory=folder)
    assert verified.code == 0, verified.out + verified.err
    assert uap("--check", directory=folder).code == 0
    patch = tmp_path / "patch_add_flag.sql"
    patch.write_text("ALTER TABLE t ADD COLUMN flag boolean;\n", encoding="utf-8")
    assert uap("--patch", str(patch)).code == 0
    verified = uap("--verify", directory=folder)
    assert verified.code == 0, verified.out + verified.err
    recorded = database.query(
        "SELECT action FROM schema_migration_events WHERE fingerprint IS NOT NULL ORDER BY id"
    )
    assert [action for (action,) in recorded] == ["apply", "rollback", "patch"]


def test_baseline_and_repair_record_the_schema_they_leave(uap, database, migrations_dir):
    """A baseline adopts the live schema as its reference; so does a repair after a hand fix."""
    with database.connect() as conn:
        conn.execute("CREATE TABLE adopted (id int)")
    folder = migrations_dir(
        {
            "001_v1.0_adopted.sql": migration("001", "CREATE TABLE adopted (id int);"),
            "002_v1.1_dirty.sql": migration("002", "SELECT 1;"),
        }
    )
    assert uap("--baseline", "001", directory=folder).code == 0
    assert uap("--verify", directory=folder).code == 0
    with database.connect() as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, status) "
            "VALUES ('002', 'v1.1_dirty', 'running')"
        )
        conn.execute("CREATE TABLE fixed_by_hand (id int)")
    assert uap("--repair", "002", "--mark", "completed", directory=folder).code == 0
    verified = uap("--verify", directory=folder)
    assert verified.code == 0, verified.out + verified.err
    recorded = database.query(
        "SELECT action, version FROM schema_migration_events "
        "WHERE fingerprint IS NOT NULL ORDER BY id"
    )
    assert recorded == [("baseline", "001"), ("repair", "002")]
