"""Rolling back to a version: every applied version above it, newest first, each with its
header's Rollback SQL and its own event as `--rollback` runs one (engine/manual.py); or
rehearsed in one transaction that is rolled back, as a dry run rehearses files."""

from __future__ import annotations

from pathlib import Path

from schema_audit.engine import plan, rehearsal
from schema_audit.engine.manual import (
    ROLLBACK_FROM,
    not_sql,
    refuse_if_dirty,
    rollback_statements,
    rollback_text,
    run_rollback,
)
from schema_audit.engine.operations import locked, session_for
from schema_audit.engine.options import Options
from schema_audit.exceptions import (
    InvalidMigration,
    MigrationFailed,
    RefusedRequest,
    TransactionEscaped,
    raise_all,
)
from schema_audit.files import discovery, redact
from schema_audit.files.header import Header
from schema_audit.files.naming import version_key
from schema_audit.ledger import store
from schema_audit.ledger.terms import Status
from schema_audit.remedies import Fix, Remedy


def rollback_to(
    files, database, version, options: Options, *, reason=None, dry_run=False, trace=False
) -> dict:
    """Roll back every applied version above `version` (0 or none: all), newest first, each
    as `rollback` does one; it stops at the first failure. With `dry_run` the Rollback SQL
    runs in one transaction that is rolled back, a dry_run event per version.

    RefusedRequest before anything runs when `version` is not applied (or above the current
    one), or naming every version whose Rollback is missing or a placeholder.
    """
    with locked(database, options.lock_wait) as (conn, guard):
        entries = plan.reconcile(files, store.read_rows(conn))
        refuse_if_dirty(entries)
        target, chosen = _above(entries, version)
        texts, statements = _checked(chosen, version)
        session = session_for(conn, guard, options)
        if dry_run:
            return _rehearsed(session, chosen, texts, target, reason, trace)
        items, errors = [], []
        for e in chosen:
            try:
                duration = run_rollback(
                    session, e, texts[e.version], statements[e.version], reason
                )
            except (MigrationFailed, TransactionEscaped) as exc:
                items.append({"version": e.version, "name": e.name, "status": Status.FAILED})
                errors.append(
                    {"version": e.version, "message": str(exc), "exit_code": exc.exit_code}
                )
                break
            items.append(
                {"version": e.version, "name": e.name, "status": Status.ROLLED_BACK,
                 "duration_ms": duration, "sql": redact.redact(texts[e.version])}
            )  # fmt: skip
        current = plan.Plan(plan.reconcile(files, store.read_rows(conn))).current_version
    return _to_result(target, items, errors, current, dry_run=False)


def _checked(chosen: list[plan.Entry], version: str) -> tuple[dict, dict]:
    """Each version's Rollback SQL and statements; RefusedRequest naming every version whose
    Rollback is missing or a placeholder, InvalidMigration for every one that is not SQL."""
    texts = {e.version: rollback_text(e) for e in chosen}
    missing = [
        f"{e.version} {e.name} ({why})" for e in chosen if (why := not_sql(texts[e.version]))
    ]
    if missing:
        raise RefusedRequest(
            f"--rollback-to {version}: nothing was rolled back; no Rollback SQL to run for "
            + ", ".join(missing)
            + ". Write the SQL that undoes each",
            remedy=Remedy(Fix.PATCH, ", or undo them by hand with {fix}"),
        )
    problems, statements = [], {}
    for e in chosen:
        try:
            statements[e.version] = rollback_statements(e, texts[e.version])
        except InvalidMigration as exc:
            problems += getattr(exc, "problems", None) or [exc]
    raise_all(problems)
    return texts, statements


def _above(entries: list[plan.Entry], version: str) -> tuple[str, list[plan.Entry]]:
    """The target (`none` for 0) and the completed or baseline versions above it, newest
    first; RefusedRequest unless `version` is applied, or 0/none."""
    applied = [e for e in plan.versions(entries) if e.status in ROLLBACK_FROM]
    current = max(applied, key=lambda e: e.key) if applied else None
    version = str(version)
    entry = plan.find(entries, version)  # a change named 0 in a sqitch plan is a version
    if entry is not None and entry.repeatable:
        raise RefusedRequest(
            f"--rollback-to {version}: a repeatable migration is not a version to roll back "
            "to; give an applied version, or 0 (none) to roll back every one"
        )
    everything = entry is None and (version.lower() == "none" or version_key(version) == (0, 0))
    if not everything:
        if entry is None and version_key(version)[0] != 0:
            raise RefusedRequest(
                f"--rollback-to {version!r}: no migration with that version on disk or in "
                "schema_migrations; give an applied version, or 0 (none) to roll back every one"
            )
        key = entry.key if entry else version_key(version)
        if current is None or key > current.key:
            at = current.version if current else "none"
            raise RefusedRequest(
                f"--rollback-to {version}: above the current version ({at}); give an applied "
                "version, or 0 (none) to roll back every one"
            )
        if entry is None or entry.status not in ROLLBACK_FROM:
            state = entry.status if entry else "not in schema_migrations"
            raise RefusedRequest(
                f"--rollback-to {version}: it is {state}; give a completed or baseline "
                "version to stay at, or 0 (none) to roll back every one"
            )
    above = [e for e in applied if entry is None or e.key > entry.key]
    chosen = sorted(above, key=lambda e: e.key, reverse=True)
    return (entry.version if entry else "none"), chosen


def _rehearsed(session, chosen, texts, target, reason, trace) -> dict:
    """Each Rollback run as a dry run does a file: one transaction rolled back."""
    tracer = None
    if trace:
        # Deferred: the tracer brings PostgreSQL's parser, which an apply never needs.
        from schema_audit.engine.trace import Tracer

        tracer = Tracer(session.conn)
    why = f"dry run of --rollback-to {target}" + (f": {reason}" if reason else "")
    runs = [_as_file(e, texts[e.version]) for e in chosen]
    outcomes = rehearsal.rehearse(session, runs, tracer, reason=why)
    items = [
        {**o.as_dict(), "sql": redact.redact(texts[o.version])}
        | ({"trace": tracer.traces.get(o.version)} if tracer else {})
        for o in outcomes
    ]
    errors = [
        {"version": i["version"], "message": f"{i['version']} {i['name']}: {i['error']}",
         "sqlstate": i["sqlstate"], "exit_code": 1}
        for i in items if i["status"] == Status.FAILED
    ]  # fmt: skip
    current = chosen[0].version if chosen else target
    return _to_result(target, items, errors, None if current == "none" else current, True)


def _as_file(entry: plan.Entry, text: str) -> discovery.MigrationFile:
    """The Rollback of `entry` as a file to rehearse: its header, its SQL the Rollback's."""
    header = entry.file.header if entry.file else Header()
    return discovery.MigrationFile(
        entry.version,
        entry.name,
        entry.file.path if entry.file else Path(f"Rollback of {entry.version}"),
        text,
        (entry.row.checksum or "").strip(),
        header,
        first_line=header.lines.get("rollback", 1),
    )


def _to_result(target, items, errors, current, dry_run) -> dict:
    """`{action, version, rehearsed, rollbacks, successful, failed, errors, current_version}`."""
    done_status = Status.COMPLETED if dry_run else Status.ROLLED_BACK
    return {
        "action": "rollback_to",  # an operation of the command's, not an event's action
        "version": target,
        "rehearsed": dry_run,
        "rollbacks": items,
        "successful": sum(1 for i in items if i["status"] == done_status),
        "failed": sum(1 for i in items if i["status"] == Status.FAILED),
        "errors": errors,
        "current_version": current,
    }
