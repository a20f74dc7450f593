"""Which tool a table at the ledger's name belongs to, told apart by its columns."""

from __future__ import annotations

import pytest

from schema_audit.ledger import foreign
from schema_audit.ledger.schema import MIGRATION_COLUMNS

LEDGER = "public.schema_migrations"
LEDGER_COLUMNS = [name for name, _ in MIGRATION_COLUMNS]


def relation(*columns: str, kind: str = "r") -> foreign.Relation:
    return foreign.Relation(LEDGER, "schema_migrations", kind, columns)


@pytest.mark.parametrize(
    "columns, owner",
    [
        (("version",), "dbmate"),
        (("version", "dirty"), "golang-migrate"),
        (
            (
                "installed_rank",
                "version",
                "description",
                "type",
                "script",
                "checksum",
                "installed_by",
                "installed_on",
                "execution_time",
                "success",
            ),
            "Flyway",
        ),
        (("id", "version_id", "is_applied", "tstamp"), "goose"),
        (("migration_hash", "migration_id", "applied_at_utc"), "yoyo"),
        (("version", "run_on"), "diesel"),
        (("change_id", "script_hash", "change", "project", "note"), "sqitch"),
        (("version", "applied_at"), ""),  # hand-made: UNKNOWN, named by its columns
        (("id", "version", "name", "up", "down", "run_at"), ""),
        (tuple(LEDGER_COLUMNS), None),
        (("version", "name", "status"), None),  # the guide's older shape: upgraded in place
        (("version", "name", "applied_at", "duration_ms", "status", "error_message"), None),
        # A golang-migrate table an older release took over: the ledger's columns are all there.
        (("version", "dirty", *LEDGER_COLUMNS[1:]), None),
    ],
)
def test_tables_are_told_apart_by_their_columns(columns, owner):
    """Which tool a table at the ledger's name belongs to; None is the ledger itself."""
    found = foreign.owner(relation(*columns), LEDGER_COLUMNS)
    assert (found.name if found else None) == owner


def test_refusal_lists_the_columns_of_a_relation_that_is_no_table():
    """A materialized view: named as such, no tool, no import."""
    error = foreign.problem(relation("version", kind="m"), LEDGER_COLUMNS)
    assert error.tool is None
    assert str(error).startswith(f"{LEDGER} is a materialized view (columns: version)")
    assert foreign.problem(None, LEDGER_COLUMNS) is None
