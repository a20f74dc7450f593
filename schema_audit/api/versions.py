"""The public API for one version at a time: rollbacks, baselines, another runner's history
imported, repairs, accepted checksums, patches, what a version runs, and approvals.
Re-exported by `schema_audit.api`."""

from __future__ import annotations

from pathlib import Path

from schema_audit.api.common import migration_files
from schema_audit.engine import importing, manual, patches, reading, rollbacks, showing
from schema_audit.engine.options import Options
from schema_audit.files import discovery


def approve(
    version: str,
    approved_by: object,
    directory: Path | str | None = None,
    database: str = "default",
    comment: str | None = None,
    ticket: str | None = None,
    checksum: str | None = None,
) -> dict:
    """Approve pending `version`'s current file as Django user `approved_by` (user or name).

    A patch is approved by its path (`db/patches/patch_x.sql`): its version is its file name.
    RefusedRequest when the user is not an active "Schema approvers" member, is the file's
    Author, the file names no Author who is a Django user, the version is not pending on
    disk, or `checksum` (what the approver reviewed) is not the file's checksum now.
    """
    return patches.consent_to(
        "approve", version, approved_by, lambda: migration_files(directory), database,
        checksum=checksum, comment=comment, ticket=ticket,
    )  # fmt: skip


def revoke(
    version: str,
    revoked_by: object,
    directory: Path | str | None = None,
    database: str = "default",
    comment: str | None = None,
    ticket: str | None = None,
    checksum: str | None = None,
) -> dict:
    """Revoke the approvals of pending `version`'s current file (a `revoke` event);
    `checksum` as for approve()."""
    return patches.consent_to(
        "revoke", version, revoked_by, lambda: migration_files(directory), database,
        checksum=checksum, comment=comment, ticket=ticket,
    )  # fmt: skip


def approval_states(
    directory: Path | str | None = None,
    database: str = "default",
    *,
    pending: list[discovery.MigrationFile] | None = None,
) -> dict:
    """`{version: {state, approved_by, approved_at, event_id}}` of every pending file.

    A caller that already knows the pending files passes them as `pending`: only their
    approve and revoke events are read, not every ledger row and a plan of the directory.
    """
    files = None if pending is not None else migration_files(directory)
    return reading.approval_states(files, database, pending)


def rollback(
    version: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    force: bool = False,
    lock_wait: float | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
) -> dict:
    """Run `version`'s Rollback SQL and mark it rolled_back (`force`: not the newest)."""
    options = Options.resolve(lock_wait, lock_timeout, statement_timeout)
    return manual.rollback(
        migration_files(directory), database, version, options, reason=reason, force=force
    )


def rollback_to(
    version: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    dry_run: bool = False,
    trace: bool = False,
    lock_wait: float | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
) -> dict:
    """Roll back every applied version above `version` (`0` or `none`: every one), newest
    first, each with its Rollback SQL and event; `{rollbacks, successful, failed, errors, ...}`.

    RefusedRequest before anything runs when `version` is not applied or is above the current
    one, or naming every version whose Rollback is missing or a TODO placeholder. The first
    failing Rollback stops it, reported in the result (recorded), not raised. `dry_run`: the
    Rollbacks run in one transaction that is rolled back (`trace`: each statement measured).
    """
    options = Options.resolve(lock_wait, lock_timeout, statement_timeout)
    return rollbacks.rollback_to(
        migration_files(directory), database, version, options,
        reason=reason, dry_run=dry_run or trace, trace=trace,
    )  # fmt: skip


def show(
    version: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    lock_retries: int | None = None,
    lock_retry_wait: float | None = None,
) -> dict:
    """`version`'s SQL as the runner sends it (session prefix, one transaction or statement by
    statement, lock-retry policy, Rollback) and, once applied, what it ran (`ran`) and `drift`.

    Reads only. RefusedRequest when no file and no ledger row has that version.
    """
    options = Options.resolve(
        None,
        lock_timeout,
        statement_timeout,
        lock_retries=lock_retries,
        lock_retry_wait=lock_retry_wait,
    )
    return showing.show(migration_files(directory), database, version, options)


def baseline(
    version: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    force: bool = False,
    lock_wait: float | None = None,
) -> dict:
    """Mark versions up to `version` as baseline on a database without history."""
    options = Options.resolve(lock_wait, timeouts=False)
    return manual.baseline(
        migration_files(directory), database, version, options, reason=reason, force=force
    )


def import_history(
    tool: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    lock_wait: float | None = None,
) -> dict:
    """Record every version `tool`'s own table (dbmate, golang-migrate, goose, diesel, Flyway,
    yoyo, sqitch) says was applied as a baseline, with the tool's applied time and user;
    runs nothing and only reads the tool's table. `{tool, table, imported, already,
    missing_files, not_applied, after}`."""
    options = Options.resolve(lock_wait, timeouts=False)
    files = migration_files(directory)
    return importing.import_history(files, database, tool, options, reason=reason)


def repair(
    version: str,
    mark: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    lock_wait: float | None = None,
) -> dict:
    """Resolve a `running` row as completed or failed, with a repair event."""
    options = Options.resolve(lock_wait, timeouts=False)
    return manual.repair(
        migration_files(directory), database, version, mark, options, reason=reason
    )


def accept_checksum(
    version: str,
    directory: Path | str | None = None,
    database: str = "default",
    *,
    reason: str | None = None,
    lock_wait: float | None = None,
) -> dict:
    """Record the current checksum of an applied version's changed file."""
    options = Options.resolve(lock_wait, timeouts=False)
    return manual.accept_checksum(
        migration_files(directory), database, version, options, reason=reason
    )


def apply_patch(
    path: Path | str,
    database: str = "default",
    *,
    reason: str | None = None,
    force: bool = False,
    lock_wait: float | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
) -> dict:
    """Run an emergency patch file in one transaction, recorded as a `patch` event."""
    options = Options.resolve(lock_wait, lock_timeout, statement_timeout)
    return patches.apply_patch(path, database, options, reason=reason, force=force)
