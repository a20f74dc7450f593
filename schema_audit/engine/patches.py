"""Emergency patches (`db/patches/patch_*.sql`): run on request, recorded only as events."""

from __future__ import annotations

import re
from pathlib import Path

from schema_audit.engine.operations import (
    done,
    fingerprinted,
    locked,
    run_recorded_or_fail,
    runner_for,
    utcnow,
)
from schema_audit.exceptions import InvalidMigration, RefusedRequest
from schema_audit.files import discovery
from schema_audit.files.header import parse_header
from schema_audit.files.statements import parse
from schema_audit.ledger import store

PATCH_NAME_RE = re.compile(r"^patch_[A-Za-z0-9_.-]+\.sql$")


def apply_patch(path, database, *, reason=None, force=False, lock_wait=None, **timeouts):
    """Run an emergency patch in one transaction; recorded only as a `patch` event."""
    path = Path(path)
    text = _read_patch(path)
    checksum = discovery.checksum(text)
    with locked(database, lock_wait) as (conn, guard):
        earlier = store.last_patch(conn, checksum)
        if earlier and not force:
            raise RefusedRequest(
                f"{path}: this exact patch already completed at {earlier:%Y-%m-%d %H:%M:%S%z}; "
                "pass --force to run it again"
            )
        attempt = store.Attempt(
            version=path.name,
            action="patch",
            status="completed",
            started_at=utcnow(),
            checksum=checksum,
            sql_text=text,
            reason=reason,
        )
        runner = runner_for(conn, guard, **timeouts)
        duration = run_recorded_or_fail(
            runner,
            text,
            attempt,
            lambda d: store.record_event(
                conn, fingerprinted(conn, attempt, d), runner.app_version
            ),
            path.name,
        )
    return done("patch", path.name, "completed", duration_ms=duration, checksum=checksum)


def _read_patch(path: Path) -> str:
    if not PATCH_NAME_RE.match(path.name):
        raise InvalidMigration("a patch file is named patch_<description>.sql", path)
    text = discovery.read_text(path)
    if not parse_header(text).transactional:
        raise InvalidMigration(
            "patches run in one transaction; ship `-- Transaction: none` work as a migration",
            path,
        )
    statements = parse(text, path)
    from pglast import ast  # loaded by parse(); deferred so that start-up does not load it

    if not statements:
        raise InvalidMigration("contains no SQL statements", path)
    for statement in statements:
        if isinstance(statement.node, ast.TransactionStmt):
            raise InvalidMigration(
                "BEGIN/COMMIT/ROLLBACK: the patch already runs in one transaction",
                path,
                statement.line,
            )
    return text
