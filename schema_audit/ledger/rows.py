"""A `schema_migrations` row as the ledger reads it: typed, and built from a query's record in
one place (store.read_rows), so the planner reads attributes instead of string keys."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from schema_audit.ledger.terms import Action, Status
from schema_audit.records import whole

# The member for a stored value (`.get(value, value)`): a value edited in by hand stays the
# text it is.
_STATUSES = {member.value: member for member in Status}
_ACTIONS = {member.value: member for member in Action}


@dataclass(frozen=True)
class LastEvent:
    """The newest event that changed a row; dry runs, patches and audits leave rows alone."""

    id: int
    action: Action | str
    status: Status | str
    checksum: str | None


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
    def from_record(cls, record: tuple) -> LedgerRow:
        """From one record of the rows query: its eleven row columns (version, name, checksum,
        status, applied_at, duration_ms, error_message, applied_by, description, impact,
        rollback_sql), then, when the query joins the event log, the last event's id,
        action, status and checksum (the id None for a row without one)."""
        event = None
        if len(record) > 11 and record[11] is not None:
            action, status = record[12], record[13]
            event = whole(
                LastEvent,
                {
                    "id": record[11],
                    "action": _ACTIONS.get(action, action),
                    "status": _STATUSES.get(status, status),
                    "checksum": record[14],
                },
            )
        # Every field, in declaration order (records.whole): one row per version per run.
        return whole(
            cls,
            {
                "version": record[0],
                "status": _STATUSES.get(record[3], record[3]),
                "name": record[1],
                "checksum": record[2],
                "applied_at": record[4],
                "duration_ms": record[5],
                "error_message": record[6],
                "applied_by": record[7],
                "description": record[8],
                "impact": record[9],
                "rollback_sql": record[10],
                "last_event": event,
            },
        )

    def as_dict(self) -> dict:
        """The row's columns and `last_event` (a dict, or None), JSON-ready but for dates."""
        return asdict(self)
