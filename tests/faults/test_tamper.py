"""A schema_migrations row edited by hand disagrees with the append-only event log: exit 2.

The event log itself refuses UPDATE, DELETE and TRUNCATE (test_ledger.py).
"""

from __future__ import annotations

import pytest

from schema_audit.files.discovery import read_migration
from tests.conftest import migration

LOGGED = "INSERT INTO applied_log VALUES ('{v}');"


@pytest.fixture
def applied(uap, database, migrations_dir):
    """001 and 002 applied, 003 failed; each file logs its version when it runs."""
    folder = migrations_dir(
        {
            "001_v1.0_a.sql": migration(
                "001", "CREATE TABLE applied_log (v text);\n" + LOGGED.format(v="001")
            ),
            "002_v1.0_b.sql": migration("002", LOGGED.format(v="002")),
            "003_v1.0_c.sql": migration("003", LOGGED.format(v="003") + "\nSELECT 1/0;"),
        }
    )
    assert uap(directory=folder).code == 1
    return folder


def edit(database, statement: str) -> None:
    """What someone with write access to the ledger might do."""
    with database.connect() as conn:
        conn.execute(statement)


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        (
            "UPDATE schema_migrations SET status = 'completed' WHERE version = '003'",
            "003 v1.0_c: row says completed but its last event (#3, apply) says failed",
        ),
        (
            "UPDATE schema_migrations SET status = 'failed' WHERE version = '002'",
            "002 v1.0_b: row says failed but its last event (#2, apply) says completed",
        ),
        (
            "UPDATE schema_migrations SET status = 'rolled_back' WHERE version = '001'",
            "001 v1.0_a: row says rolled_back but its last event (#1, apply) says completed",
        ),
    ],
)
def test_hand_edited_status_is_drift(uap, database, applied, statement, fragment):
    """--check and a run exit 2 naming the row; --status marks it; nothing runs again."""
    edit(database, statement)
    check = uap("--check", directory=applied)
    assert check.code == 2
    assert fragment in check.err and "edited outside uap_migrate" in check.err
    status = uap("--status", directory=applied)
    assert status.code == 0 and "DRIFT" in status.out
    events = database.scalar("SELECT count(*) FROM schema_migration_events")
    run = uap(directory=applied)
    assert run.code == 2 and fragment in run.err
    assert database.query("SELECT v FROM applied_log ORDER BY v") == [("001",), ("002",)]
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == events


def test_deleted_row_of_an_applied_version_is_drift_not_a_rerun(uap, database, applied):
    """Deleting an applied version's row does not make it pending: the log says it ran."""
    edit(database, "DELETE FROM schema_migrations WHERE version = '002'")
    check = uap("--check", directory=applied)
    assert check.code == 2
    assert (
        "002 v1.0_b: row deleted from schema_migrations, but its last event (#2, apply) "
        "applied it" in check.err
    )
    status = uap("--status", "--json", directory=applied)
    assert '"status": "deleted"' in status.out
    run = uap(directory=applied)
    assert run.code == 2
    assert database.query("SELECT v FROM applied_log ORDER BY v") == [("001",), ("002",)]


def test_deleted_row_of_a_failed_version_is_simply_pending(uap, database, applied):
    """A failed attempt's row may go: the version never completed, so it is retried."""
    edit(database, "DELETE FROM schema_migrations WHERE version = '003'")
    (applied / "003_v1.0_c.sql").write_text(migration("003", LOGGED.format(v="003")))
    assert uap(directory=applied).code == 0
    assert database.query("SELECT v FROM applied_log ORDER BY v") == [
        ("001",),
        ("002",),
        ("003",),
    ]


def test_hand_edited_checksum_hiding_a_changed_file_is_drift(uap, database, applied):
    """Editing an applied file and copying its new checksum into the row is still caught."""
    path = applied / "002_v1.0_b.sql"
    path.write_text(migration("002", "INSERT INTO applied_log VALUES ('002 edited');"))
    assert "file changed since it was applied" in uap("--check", directory=applied).err
    edit(
        database,
        f"UPDATE schema_migrations SET checksum = '{read_migration(path).checksum}' "
        "WHERE version = '002'",
    )
    check = uap("--check", directory=applied)
    assert check.code == 2
    assert "002 v1.0_b: row checksum " in check.err
    assert "recorded by its last event (#2, apply)" in check.err
    assert uap(directory=applied).code == 2


def test_untouched_ledger_is_not_flagged(uap, database, applied):
    """The runner's own rows always agree with their events: fixing 003 deploys cleanly."""
    (applied / "003_v1.0_c.sql").write_text(migration("003", LOGGED.format(v="003")))
    assert uap(directory=applied).code == 0
    result = uap("--check", directory=applied)
    assert result.code == 0 and result.err == ""
    assert "DRIFT" not in uap("--status", directory=applied).out
