"""The guide's library API in Python (docs/reference.md, "Python API")."""

from __future__ import annotations

from schema_audit import api
from tests.conftest import UAP_MIGRATIONS


def test_api_round_trip(database):
    """Status, pending, run and completed agree with each other."""
    status = api.migration_status(UAP_MIGRATIONS, database.alias)
    assert (status["current_version"], status["total_completed"], status["total_pending"]) == (
        None,
        0,
        4,
    )
    assert [m["version"] for m in api.pending_migrations(UAP_MIGRATIONS, database.alias)] == [
        "001",
        "002",
        "003",
        "004",
    ]
    events = []
    result = api.run_pending(
        UAP_MIGRATIONS,
        database.alias,
        target="003",
        progress=lambda event, migration, outcome: events.append((event, migration.version)),
    )
    assert (result["successful"], result["failed"], result["errors"]) == (3, 0, [])
    assert events[:2] == [("start", "001"), ("done", "001")]
    assert [row["version"] for row in api.completed_migrations(database.alias)] == [
        "001",
        "002",
        "003",
    ]
    status = api.migration_status(UAP_MIGRATIONS, database.alias)
    assert (status["current_version"], status["total_completed"], status["total_pending"]) == (
        "003",
        3,
        1,
    )
    assert api.initialize_tracking(database.alias) is False
