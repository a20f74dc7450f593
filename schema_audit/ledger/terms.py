"""The ledger's words: the statuses a row or event takes and the actions events record.

Each is a `StrEnum`: a member is its string (it compares, formats, serialises to JSON and binds
to PostgreSQL as the value stored in the tables), and a misspelt member fails at import.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A row's status in `schema_migrations`, an event's status, or a version's in a plan."""

    COMPLETED = "completed"
    FAILED = "failed"
    RUNNING = "running"  # a `-- Transaction: none` file in progress, or a run that stopped in it
    ROLLED_BACK = "rolled_back"
    BASELINE = "baseline"
    # Events only: a dry-run file that was not tried, a change the audits detected.
    SKIPPED = "skipped"
    DETECTED = "detected"
    # Never stored: a version the log says was applied whose row was deleted by hand (read_rows),
    # and a file on disk without a row (the planner).
    DELETED = "deleted"
    PENDING = "pending"


class Action(StrEnum):
    """What an event in `schema_migration_events` records."""

    APPLY = "apply"
    DRY_RUN = "dry_run"
    ROLLBACK = "rollback"
    BASELINE = "baseline"
    REPAIR = "repair"
    ACCEPT_CHECKSUM = "accept_checksum"
    PATCH = "patch"
    OUT_OF_BAND_DDL = "out_of_band_ddl"  # DDL by a session that is not uap_migrate
    SCHEMA_DRIFT = "schema_drift"  # the schema moved since the last recorded fingerprint
    APPROVE = "approve"  # a Django user (actor) on a file checksum
    REVOKE = "revoke"
    DJANGO_MIGRATE = "django_migrate"  # Django's own migrate changed the schema


APPLIED = (Status.COMPLETED, Status.BASELINE, Status.ROLLED_BACK)
STATUSES = (
    Status.COMPLETED,
    Status.FAILED,
    Status.RUNNING,
    Status.ROLLED_BACK,
    Status.BASELINE,
)
DELETED = Status.DELETED
DETECTED = Status.DETECTED
EVENT_STATUSES = (*STATUSES, Status.SKIPPED, Status.DETECTED)
OUT_OF_BAND_ACTION = Action.OUT_OF_BAND_DDL
DRIFT_ACTION = Action.SCHEMA_DRIFT
APPROVE_ACTION, REVOKE_ACTION = Action.APPROVE, Action.REVOKE
DJANGO_MIGRATE_ACTION = Action.DJANGO_MIGRATE
ACTIONS = tuple(Action)
# Events that change a row; every other action says nothing about what the row should be.
ROW_ACTIONS = (
    Action.APPLY,
    Action.ROLLBACK,
    Action.BASELINE,
    Action.REPAIR,
    Action.ACCEPT_CHECKSUM,
)
ROW_NEUTRAL_ACTIONS = [action for action in ACTIONS if action not in ROW_ACTIONS]
# Actions whose events record the schema the app left behind: the drift reference. A dry run's
# changes were rolled back; approvals, audits and checksum acceptances change nothing.
SCHEMA_ACTIONS = (
    Action.APPLY,
    Action.ROLLBACK,
    Action.BASELINE,
    Action.REPAIR,
    Action.PATCH,
    Action.SCHEMA_DRIFT,
    Action.DJANGO_MIGRATE,
)
