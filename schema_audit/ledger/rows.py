"""A `schema_migrations` row as the ledger reads it: typed, and built from a query's record in
one place (store.read_rows), so the planner reads attributes instead of string keys."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from schema_audit.ledger.terms import Action, Status


def _known(enum: type[Status] | type[Action], value: str | None) -> str | None:
    """The member for a stored value; a value edited in by hand stays the text it is."""
    try:
        return enum(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class LastEvent:
    """The newest event that changed a row; dry runs, patches and audits leave rows alone."""

    id: int
    action: Action | str
    status: Status | str
    checksum: str | None

    @classmethod
    def from_record(cls, record: dict) -> LastEvent:
        """From the `event_*` columns of the rows query."""
        return cls(
            id=record["event_id"],
            action=_known(Action, record["event_action"]),
            status=_known(Status, record["event_status"]),
            checksum=record["event_checksum"],
        )


@dataclass(frozen=True)
class LedgerRow:
    """One version's row: its latest status, checksum and the header fields of its apply.

    `status` is a Status member for every value the runner writes; a row edited by hand may
    hold any text, which the planner reports as drift instead of failing to read it.
    """

    version: str
    status: Status | str
    name: str | None = None
    checksum: str | None = None  # char(64): compare it stripped
    applied_at: datetime | None = None
    duration_ms: int | None = None
    error_message: str | None = None
    applied_by: str | None = None
    description: str | None = None
    impact: str | None = None
    rollback_sql: str | None = None
    last_event: LastEvent | None = None  # None for rows older than the event log

    @classmethod
    def from_record(cls, record: dict) -> LedgerRow:
        """From one record of the rows query (a dict_row), with or without its last event."""
        event = LastEvent.from_record(record) if record.get("event_id") is not None else None
        return cls(
            version=record["version"],
            status=_known(Status, record["status"]),
            name=record["name"],
            checksum=record["checksum"],
            applied_at=record["applied_at"],
            duration_ms=record["duration_ms"],
            error_message=record["error_message"],
            applied_by=record["applied_by"],
            description=record["description"],
            impact=record["impact"],
            rollback_sql=record["rollback_sql"],
            last_event=event,
        )

    def as_dict(self) -> dict:
        """The row's columns and `last_event` (a dict, or None), JSON-ready but for dates."""
        return asdict(self)
