"""Applies a run's pending files in order, each by the applier of its kind, stopping at the
first failure."""

from __future__ import annotations

from collections.abc import Callable

from schema_audit.db import cancel
from schema_audit.engine import placeholder, stepwise, transactional
from schema_audit.engine.outcome import Outcome
from schema_audit.engine.session import Session
from schema_audit.exceptions import MigrationFailed
from schema_audit.files.discovery import MigrationFile

Applier = Callable[..., Outcome]


def applier_for(migration: MigrationFile) -> Applier:
    """How `migration` runs: recorded only (no statements, or retired), statement by
    statement (`-- Transaction: none`), or in one transaction with its record."""
    if migration.empty or migration.retired:
        return placeholder.record
    if not migration.transactional:
        return stepwise.apply
    return transactional.apply


def apply(
    session: Session, migration: MigrationFile, *, take_fingerprint: bool = False
) -> Outcome:
    """Run one file and record it; MigrationFailed after recording a failure.

    With `take_fingerprint` (the last file of a run) the event carries the schema's
    fingerprint; a failure's event always carries one.
    """
    return applier_for(migration)(session, migration, take_fingerprint=take_fingerprint)


def apply_all(session: Session, pending: list[MigrationFile]) -> tuple[list[Outcome], list[dict]]:
    """Apply `pending` in order: each file's Outcome, and the error of the one that failed."""
    outcomes: list[Outcome] = []
    errors: list[dict] = []
    for number, migration in enumerate(pending, 1):
        if cancel.halt_requested():
            break  # another target of the rollout failed or it was interrupted: start no file
        try:
            # One fingerprint per run, on its last event: taking it costs ~15 ms per 100 tables.
            outcomes.append(apply(session, migration, take_fingerprint=number == len(pending)))
        except MigrationFailed as exc:
            failed = exc.outcome
            outcomes.append(failed)
            errors.append({**failed.as_dict_in(migration), "message": str(exc)})
            break  # later files may depend on this one: stop here
    return outcomes, errors
