"""What the directory and the ledger say together, read without the runners' lock: status,
pending files, completed rows, approval states; and the lint checklist over the files.
Reads only: the tracking tables are not created."""

from __future__ import annotations

from schema_audit import conf, db
from schema_audit.engine import approvals, operations, plan
from schema_audit.engine.results import PendingStatus, file_dict
from schema_audit.exceptions import InvalidMigration, RefusedRequest
from schema_audit.files.discovery import MigrationFile
from schema_audit.files.naming import version_key
from schema_audit.ledger import store
from schema_audit.ledger.terms import Status


def completed(database: str) -> list[dict]:
    """Ledger rows whose status is completed, ordered by version."""
    with db.open_connection(database, "read") as conn:
        rows = store.read_rows(conn)
    done = [row for row in rows.values() if row.status == Status.COMPLETED]
    return [row.as_dict() for row in sorted(done, key=lambda row: version_key(row.version))]


def pending(files: list[MigrationFile], database: str) -> list[dict]:
    """Files on disk not yet applied (or whose last attempt failed), in order."""
    with db.open_connection(database, "read") as conn:
        rows = store.read_rows(conn)
    found = plan.build_plan(files, rows, out_of_order=True)
    return [file_dict(m) for m in found.pending]


def status(
    files: list[MigrationFile], database: str, *, target: str | None, out_of_order: bool
) -> PendingStatus:
    """Every version, what a run with the same target would apply, and what would stop it."""
    with db.open_connection(database, "read") as conn:
        rows = store.read_rows(conn)
        found = plan.build_plan(files, rows, target=target, out_of_order=out_of_order)
        consent = approvals.states(conn, found.pending)
        # What a run would refuse up front, so --plan and --check say it: Django migrations
        # a file depends on that are unknown or not applied here, transaction control.
        refusals = []
        try:
            operations.check_depends(conn, found.pending)
        except (InvalidMigration, RefusedRequest) as exc:
            refusals.append(str(exc))
    refusals += [str(problem) for problem in operations.runnable_problems(found.pending)]
    required = conf.UAP_REQUIRE_APPROVAL
    if required:
        refusals += [
            f"{m.label}: not approved ({consent[m.version].state}: "
            f"{approvals.reason(consent[m.version].state)}); an apply would be refused"
            for m in found.pending
            if not consent[m.version].valid
        ]
    return PendingStatus(found, consent, refusals, required)


def approval_states(
    files: list[MigrationFile] | None, database: str, pending: list[MigrationFile] | None
) -> dict:
    """`{version: {state, approved_by, approved_at, event_id}}` of `pending`, else of every
    file of `files` a run would apply."""
    with db.open_connection(database, "read") as conn:
        if pending is None:
            pending = plan.build_plan(files, store.read_rows(conn), out_of_order=True).pending
        return {v: s.as_dict() for v, s in approvals.states(conn, pending).items()}


def lint(files, directory, pg_version: tuple[int, str]) -> dict:
    """The pre-deploy checklist over `files` (else the directory's) at `(version, source)`."""
    from schema_audit.files import lint  # PostgreSQL's parser: loaded only to lint

    version, source = pg_version
    result = lint.check(files, directory, pg_version=version, type_rules=conf.UAP_LINT_TYPE_RULES)
    return {**result, "pg_version_source": source}
