"""Emergency patches (`db/patches/patch_*.sql`): run on request, recorded only as events.

Under UAP_REQUIRE_APPROVAL a patch needs an approval like a migration file: an `approve` event
whose version is the patch's file name and whose checksum is the patch's (`consent`).
"""

from __future__ import annotations

import re
from pathlib import Path

from schema_audit import conf, db
from schema_audit.engine import approvals, transactional
from schema_audit.engine.operations import done, fingerprinted, locked, session_for, utcnow
from schema_audit.engine.options import Options
from schema_audit.exceptions import InvalidMigration, RefusedRequest
from schema_audit.files import discovery
from schema_audit.files.header import parse_header
from schema_audit.files.statements import parse, transaction_control
from schema_audit.ledger import audit_log, store
from schema_audit.ledger.terms import Action, Status
from schema_audit.remedies import Fix, Remedy

PATCH_NAME_RE = re.compile(r"^patch_[A-Za-z0-9_.-]+\.sql$")


def apply_patch(path, database, options: Options, *, reason=None, force=False):
    """Run an emergency patch in one transaction; recorded only as a `patch` event."""
    path = Path(path)
    text = _read_patch(path)
    checksum = discovery.checksum(text)
    with locked(database, options.lock_wait) as (conn, guard):
        if conf.UAP_REQUIRE_APPROVAL:
            _ensure_approved(conn, as_file(path, text))
        earlier = store.last_patch(conn, checksum)
        if earlier and not force:
            raise RefusedRequest(
                f"{path}: this exact patch already completed at {earlier:%Y-%m-%d %H:%M:%S%z}",
                remedy=Remedy(Fix.FORCE, "; pass {fix} to run it again"),
            )
        attempt = store.Attempt(
            version=path.name,
            action=Action.PATCH,
            status=Status.COMPLETED,
            started_at=utcnow(),
            checksum=checksum,
            sql_text=text,
            reason=reason,
        )
        session = session_for(conn, guard, options)

        def record(duration: int) -> None:
            store.record_event(conn, fingerprinted(conn, attempt, duration), session.app_version)

        duration = transactional.run_recorded(session, text, attempt, record)
    return done(Action.PATCH, path.name, Status.COMPLETED, duration_ms=duration, checksum=checksum)


def is_patch_name(version: object) -> bool:
    """True when `version` names a patch file (`patch_*.sql`, bare or as a path)."""
    return bool(PATCH_NAME_RE.match(Path(str(version)).name))


def as_file(path: Path, text: str) -> discovery.MigrationFile:
    """The patch as the approvals see a file: its version is its file name."""
    return discovery.MigrationFile(
        version=path.name,
        name="(patch)",
        path=path,
        sql=text,
        checksum=discovery.checksum(text),
        header=parse_header(text),
    )


def consent(action: str, path, user: object, database: str = "default", **details) -> dict:
    """`give` or `revoke` (by `action`) an approval of the patch at `path` as it is now."""
    path = Path(path)
    patch = as_file(path, _read_patch(path))
    record = approvals.give if action == store.APPROVE_ACTION else approvals.revoke
    with db.open_connection(database, "approve") as conn, audit_log.emitting(conn, database):
        store.ensure_schema(conn)
        return record(conn, patch, user, **details)


def consent_to(
    action: str, version: str, user: object, files, database: str, *, checksum=None, **details
) -> dict:
    """`give` or `revoke` (by `action`) an approval of `version`: a patch's path, else a
    pending file of `files()` (the directory is read only then)."""
    if is_patch_name(version):
        return consent(action, version, user, database, **details)
    return approvals.consent(
        action, files(), version, user, database, checksum=checksum, **details
    )


def approval_state(path, database: str = "default") -> approvals.ApprovalState:
    """Whether the patch at `path` may run on `database` under UAP_REQUIRE_APPROVAL (reads)."""
    path = Path(path)
    patch = as_file(path, _read_patch(path))
    with db.open_connection(database, "read") as conn:
        if not store.tables_exist(conn):
            return approvals.ApprovalState(patch.version, approvals.MISSING)
        return approvals.states(conn, [patch])[patch.version]


def _ensure_approved(conn, patch: discovery.MigrationFile) -> None:
    try:
        approvals.ensure_approved(conn, [patch])
    except RefusedRequest as exc:
        raise RefusedRequest(
            f"{exc}\n  A patch is approved by its path: "
            f"schema_audit.api.approve({str(patch.path)!r}, approved_by=...)"
        ) from exc


def _read_patch(path: Path) -> str:
    if not PATCH_NAME_RE.match(path.name):
        raise InvalidMigration("a patch file is named patch_<description>.sql", path)
    text = discovery.read_text(path)
    if not parse_header(text).transactional:
        raise InvalidMigration(
            "patches run in one transaction; ship `-- Transaction: none` work as a migration",
            path,
        )
    if not parse(text, path):
        raise InvalidMigration("contains no SQL statements", path)
    for found in transaction_control(text):
        raise InvalidMigration(
            f"{found.words}: the patch already runs in one transaction", path, found.line
        )
    return text
