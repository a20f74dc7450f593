"""The audit stream: committed ledger events as JSON lines on the `schema_audit.audit` logger."""

from __future__ import annotations

import json
import logging

import pytest

from schema_audit import api
from tests.conftest import migration, numbered

AUDIT = "schema_audit.audit"


def streamed(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT]


def test_each_committed_event_of_a_run_is_one_json_line(uap, database, migrations_dir, caplog):
    """Same ids and hashes as the event log; the SQL text stays in the database."""
    folder = migrations_dir(numbered(2))
    with caplog.at_level(logging.INFO, logger=AUDIT):
        assert uap(directory=folder).code == 0
    lines = streamed(caplog)
    stored = database.query(
        "SELECT id, version, action, status, hash FROM schema_migration_events ORDER BY id"
    )
    assert [(x["id"], x["version"], x["action"], x["status"], x["hash"]) for x in lines] == [
        (i, v, a, s, h.strip()) for i, v, a, s, h in stored
    ]
    assert {x["kind"] for x in lines} == {"event"}
    assert lines[0]["database"] == database.alias and lines[0]["applied_by"]
    assert all("sql_text" not in x and "schema_description" not in x for x in lines)


def test_a_failed_attempt_is_streamed_and_a_rolled_back_one_is_not_invented(
    uap, migrations_dir, caplog
):
    """The failure is recorded and streamed once; nothing is streamed for the rolled-back SQL."""
    folder = migrations_dir({"001_v1.0_bad.sql": migration("001", "SELECT * FROM missing;")})
    with caplog.at_level(logging.INFO, logger=AUDIT):
        assert uap(directory=folder).code == 1
    assert [(x["action"], x["status"], x["sqlstate"]) for x in streamed(caplog)] == [
        ("apply", "failed", "42P01")
    ]


def test_events_written_by_other_sessions_are_not_streamed_by_this_one(
    database, migrations_dir, caplog
):
    """A run streams its own events: a row another tool commits meanwhile is not its own."""

    def other_tool(event, migration, outcome):
        if event == "start":
            with database.connect() as conn:
                conn.execute(
                    "INSERT INTO schema_migration_events (version, action, status) "
                    "VALUES ('other', 'repair', 'completed')"
                )

    with caplog.at_level(logging.INFO, logger=AUDIT):
        api.run_pending(migrations_dir(numbered(2)), database.alias, progress=other_tool)
    assert [x["version"] for x in streamed(caplog)] == ["001", "002"]
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == 4


def test_the_library_attaches_no_handler():
    """Where the lines go is the host project's LOGGING, never the app's."""
    assert logging.getLogger(AUDIT).handlers == []


@pytest.mark.django_db
def test_approvals_are_streamed_with_the_approver(database, migrations_dir, caplog):
    """The approve event's line names the Django user and the checksum."""
    from tests.engine.test_approvals import FILE, approver, authored

    approver("bob")
    approver("alice")
    folder = migrations_dir({FILE: authored("001", "SELECT 1;", "alice")})
    with caplog.at_level(logging.INFO, logger=AUDIT):
        done = api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    (line,) = streamed(caplog)
    assert (line["action"], line["actor"], line["checksum"]) == (
        "approve",
        "bob",
        done["checksum"],
    )
