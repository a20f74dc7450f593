"""Records built in one step (schema_audit.records) are the records the dataclasses build."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timezone

import pytest

from schema_audit.engine import plan
from schema_audit.files.naming import version_key
from schema_audit.ledger.rows import LastEvent, LedgerRow
from schema_audit.ledger.terms import Action, Status
from schema_audit.records import whole

CHECKSUM = "ab" * 32
ROW = ("001", "v1.0_init", CHECKSUM, "completed", datetime(2026, 1, 2, tzinfo=timezone.utc))
ROW += (12, None, "deployer", "the first", "low", "DROP TABLE t;")


def test_whole_takes_the_state_as_the_instance_own_dict():
    state = {"id": 1, "action": Action.APPLY, "status": Status.COMPLETED, "checksum": None}
    event = whole(LastEvent, state)
    assert event == LastEvent(**state) and vars(event) is state
    with pytest.raises(AttributeError):
        event.id = 2  # still frozen


@pytest.mark.parametrize(
    "record, event",
    [
        pytest.param(ROW, None, id="no-event-log"),
        pytest.param((*ROW, None, None, None, None), None, id="row-without-event"),
        pytest.param(
            (*ROW, 7, "apply", "completed", CHECKSUM),
            LastEvent(7, Action.APPLY, Status.COMPLETED, CHECKSUM),
            id="with-event",
        ),
        pytest.param(
            (*ROW[:3], "done by hand", *ROW[4:], 8, "hand", "odd", None),
            LastEvent(8, "hand", "odd", None),
            id="values-edited-in",
        ),
    ],
)
def test_a_ledger_row_is_what_its_constructor_builds(record, event):
    """Every field set, laid out as __init__ lays them out; unknown values stay text."""
    row = LedgerRow.from_record(record)
    status = Status(record[3]) if record[3] in set(Status) else record[3]
    expected = LedgerRow(record[0], status, *record[1:3], *record[4:11], last_event=event)
    assert row == expected
    assert list(vars(row)) == [f.name for f in fields(LedgerRow)] == list(vars(expected))
    assert row.status is status or row.status == status


def test_a_plan_entry_is_what_its_constructor_builds():
    """reconcile builds each Entry in one step (records.whole): equal to, and laid out like,
    the dataclass's own."""
    row = LedgerRow.from_record(ROW)
    (entry,) = plan.reconcile([], {row.version: row})
    expected = plan.Entry(
        "001", "v1.0_init", None, row, "applied, but its file is missing from the migrations "
        "directory", version_key("001"),
    )  # fmt: skip
    assert entry == expected
    assert list(vars(entry)) == [f.name for f in fields(plan.Entry)] == list(vars(expected))
