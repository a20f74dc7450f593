"""The ledger's words: the statuses a row or event takes and the actions events record."""

from __future__ import annotations

APPLIED = ("completed", "baseline", "rolled_back")
STATUSES = ("completed", "failed", "running", "rolled_back", "baseline")
# Not stored: the status read_rows gives a version whose row was deleted while the log says
# it was applied.
DELETED = "deleted"
# Events also record dry-run files that were not tried, and changes detected by the audits.
DETECTED = "detected"
EVENT_STATUSES = (*STATUSES, "skipped", DETECTED)
OUT_OF_BAND_ACTION = "out_of_band_ddl"  # DDL by a session that is not uap_migrate
DRIFT_ACTION = "schema_drift"  # the schema moved since the last recorded fingerprint
APPROVE_ACTION, REVOKE_ACTION = "approve", "revoke"  # a Django user (actor) on a file checksum
DJANGO_MIGRATE_ACTION = "django_migrate"  # Django's own migrate changed the schema
ACTIONS = (
    "apply",
    "dry_run",
    "rollback",
    "baseline",
    "repair",
    "accept_checksum",
    "patch",
    OUT_OF_BAND_ACTION,
    DRIFT_ACTION,
    APPROVE_ACTION,
    REVOKE_ACTION,
    DJANGO_MIGRATE_ACTION,
)
# Events that change a row; every other action says nothing about what the row should be.
ROW_ACTIONS = ("apply", "rollback", "baseline", "repair", "accept_checksum")
ROW_NEUTRAL_ACTIONS = [action for action in ACTIONS if action not in ROW_ACTIONS]
# Actions whose events record the schema the app left behind: the drift reference. A dry run's
# changes were rolled back; approvals, audits and checksum acceptances change nothing.
SCHEMA_ACTIONS = (
    "apply",
    "rollback",
    "baseline",
    "repair",
    "patch",
    DRIFT_ACTION,
    DJANGO_MIGRATE_ACTION,
)
