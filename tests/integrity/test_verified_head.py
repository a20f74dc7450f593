"""The admin's incremental chain check: as exact as a full one when the log grows or is edited."""

from __future__ import annotations

import pytest

from schema_audit import api
from schema_audit.integrity import verified_head
from tests.conftest import numbered
from tests.ledger.test_chain import tamper


def incremental(database) -> dict:
    return api.verify(database.alias, incremental=True)["history"]


def full(database) -> dict:
    return api.verify(database.alias)["history"]


@pytest.fixture
def applied(uap, database, migrations_dir):
    """Six applied files (six chained events) and an empty head cache for this database."""
    folder = migrations_dir(numbered(6))
    assert uap("--target", "003", directory=folder).code == 0
    assert incremental(database) == full(database)  # verified and remembered
    return folder


def test_growing_log_is_verified_from_the_remembered_head(uap, database, applied):
    """New events are checked against the remembered head; counts match a full check."""
    head = next(h for k, h in verified_head._heads.items() if k[2] == database.name)
    assert (head.event_id, head.events) == (3, 3)
    assert uap(directory=applied).code == 0
    result = incremental(database)
    assert result == full(database)
    assert result["verified"] and result["events"] == result["chained"] == 6
    head = next(h for k, h in verified_head._heads.items() if k[2] == database.name)
    assert head.event_id == 6 and head.hash == result["head"]
    assert incremental(database) == result  # nothing new: the remembered head answers


@pytest.mark.parametrize(
    ("edit", "first_break"),
    [
        ("UPDATE schema_migration_events SET error_message = 'edited' WHERE id = 2", 2),
        ("DELETE FROM schema_migration_events WHERE id = 2", 3),
        # Rewritten with the same content, or the newest event removed: the chain itself
        # still holds (a full check says the same); the counts follow the table.
        ("UPDATE schema_migration_events SET error_message = error_message WHERE id = 1", None),
        ("DELETE FROM schema_migration_events WHERE id = 3", None),
    ],
)
def test_an_edit_before_the_remembered_head_is_found(database, applied, edit, first_break):
    """Rows rewritten or removed behind the head force a full check: the same answer."""
    tamper(database, edit)
    result = incremental(database)
    assert result == full(database)
    assert result["verified"] is (first_break is None)
    assert (result["first_break"] or {}).get("id") == first_break
    assert result["events"] == database.scalar("SELECT count(*) FROM schema_migration_events")


def test_a_forged_event_after_the_head_breaks_the_chain(uap, database, applied):
    """An event appended with the triggers off (no valid hash) is the first broken link."""
    tamper(
        database,
        "INSERT INTO schema_migration_events (id, version, action, status, hash, prev_hash) "
        "VALUES (99, '004', 'apply', 'completed', repeat('0', 64), repeat('1', 64))",
    )
    result = incremental(database)
    assert result == full(database)
    assert not result["verified"] and result["first_break"]["id"] == 99
    assert not any(k[2] == database.name for k in verified_head._heads)
