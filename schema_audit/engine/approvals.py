"""Approvals of pending files, with separation of duties: give, revoke, and which are valid.

An approval is an `approve` event binding a version and its file's checksum to a Django user
(the event's `actor`); a `revoke` event voids the approvals given before it for that checksum.
A valid approval is one the app wrote (its signature verifies with a trusted key: rows anyone
else inserts never count, ledger/signing.py), for the file's current checksum, not revoked
since, and by someone other than the file's `-- Author:` (engine/authors.py). A file without
an Author, or whose Author names no Django user, cannot be approved.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import psycopg
from django.contrib.auth import get_user_model
from django.db import DatabaseError

from schema_audit import conf, db
from schema_audit.engine import plan
from schema_audit.engine.authors import Author, matching_usernames, usernames_by_author
from schema_audit.exceptions import InvalidConfiguration, RefusedRequest
from schema_audit.files.discovery import MigrationFile
from schema_audit.ledger import audit_log, store
from schema_audit.ledger.authorship import Authorship
from schema_audit.ledger.terms import Status

logger = logging.getLogger(__name__)

APPROVERS_GROUP = "Schema approvers"
APPROVAL_LOCK_WAIT = 10  # seconds an approval waits for the event log's chain lock
APPROVED, MISSING, REVOKED, STALE, SELF = "approved", "missing", "revoked", "stale", "self"
UNSIGNED, NO_AUTHOR, UNKNOWN_AUTHOR = "unsigned", "no_author", "unknown_author"
# States in which nobody has approved or revoked anything: shown only where approvals are
# required, since without the gate they are the normal case, not a finding.
NOT_GIVEN = (MISSING, NO_AUTHOR, UNKNOWN_AUTHOR)
_WHY = {
    MISSING: "has no approval",
    REVOKED: "its approval was revoked",
    STALE: "the file changed after it was approved (the approval was for another checksum)",
    SELF: "its only approval is by its own author, which does not count",
    UNSIGNED: "its only approvals carry no valid signature of this app (rows written outside "
    "it, or before UAP_SIGNING_KEY was set), which do not count",
    NO_AUTHOR: "it has no '-- Author:' header line, so it cannot be approved (separation of "
    "duties needs to know who wrote it)",
    UNKNOWN_AUTHOR: "its '-- Author:' names no Django user (by username or e-mail), so it "
    "cannot be approved; fix the header",
}


@dataclass(frozen=True)
class ApprovalState:
    """Whether one pending file may run: its state and the approval that decides it."""

    version: str
    state: str
    approved_by: str | None = None
    approved_at: datetime | None = None
    event_id: int | None = None

    @property
    def valid(self) -> bool:
        """True when the file may run under UAP_REQUIRE_APPROVAL."""
        return self.state == APPROVED

    def as_dict(self) -> dict:
        """JSON-ready, for --plan/--check and the admin."""
        data = asdict(self)
        data["approved_at"] = self.approved_at.isoformat() if self.approved_at else None
        return data


def reason(state: str) -> str:
    """Why a file in `state` may not run (`has no approval`, ...); '' when it may."""
    return _WHY.get(state, "")


def state_of(
    migration: MigrationFile,
    events: list[dict],
    emails: dict[str, str],
    rules: Authorship,
    authors: set[str] | None = None,
) -> ApprovalState:
    """The approval state of `migration` from its approve/revoke events, oldest first.

    `authors`: usernames of the users its Author names (None: users could not be read).
    """
    author = Author.parse(migration.header.author)
    if not author.spellings:
        return ApprovalState(migration.version, NO_AUTHOR)
    valid: dict | None = None
    seen = {MISSING}
    for event in events:
        if event["status"] != Status.COMPLETED or not rules.signed_by_app(event):
            seen.add(UNSIGNED)  # inserted by someone else: never opens (or closes) the gate
            continue
        if (event["checksum"] or "").strip() != migration.checksum:
            seen.add(STALE if event["action"] == store.APPROVE_ACTION else MISSING)
            continue
        actor = event["actor"] or ""
        if event["action"] == store.REVOKE_ACTION:
            valid = None
            seen.add(REVOKED)
        elif author.names(actor, emails.get(actor)) or actor in (authors or ()):
            seen.add(SELF)
        else:
            valid = event
    if valid is not None:
        return ApprovalState(
            migration.version, APPROVED, valid["actor"], valid["started_at"], valid["id"]
        )
    if authors is not None and not authors:
        return ApprovalState(migration.version, UNKNOWN_AUTHOR)
    for state in (REVOKED, SELF, STALE, UNSIGNED):
        if state in seen:
            return ApprovalState(migration.version, state)
    return ApprovalState(migration.version, MISSING)


def _emails(usernames: set[str]) -> dict[str, str]:
    """`{username: e-mail}` of Django users, to catch an Author written as an e-mail."""
    if not usernames:
        return {}
    try:
        users = get_user_model().objects.filter(username__in=usernames)
        return {name: email or "" for name, email in users.values_list("username", "email")}
    except DatabaseError as exc:  # no auth tables: compare usernames only
        logger.warning("approvals: cannot read Django users (%s); comparing usernames only", exc)
        return {}


def states(conn: psycopg.Connection, files: list[MigrationFile]) -> dict[str, ApprovalState]:
    """`{version: ApprovalState}` of `files`, read from the event log."""
    events = store.read_approvals(conn, [m.version for m in files])
    by_version: dict[str, list[dict]] = {}
    for event in events:
        by_version.setdefault(event["version"], []).append(event)
    rules = Authorship.read(conn)
    emails = _emails({e["actor"] for e in events if e["actor"]})
    authors = {m.version: Author.parse(m.header.author) for m in files}
    users = usernames_by_author(list(authors.values()))  # one query for every file
    return {
        m.version: state_of(
            m, by_version.get(m.version, []), emails, rules, users[authors[m.version].text]
        )
        for m in files
    }


def ensure_approved(conn: psycopg.Connection, pending: list[MigrationFile]) -> None:
    """Raise RefusedRequest naming every pending file without a valid approval."""
    _require_signing("UAP_REQUIRE_APPROVAL is on")
    found = states(conn, pending)
    missing = [m for m in pending if not found[m.version].valid]
    if missing:
        lines = [f"{m.label} ({m.path}): {_WHY[found[m.version].state]}" for m in missing]
        raise RefusedRequest(
            "UAP_REQUIRE_APPROVAL is on and these files are not approved; nothing was run. "
            "A member of the 'Schema approvers' group other than the file's Author approves "
            "each one in the admin summary, or with schema_audit.api.approve():\n  "
            + "\n  ".join(lines)
        )


def _require_signing(why: str) -> None:
    """InvalidConfiguration without UAP_SIGNING_KEY: an unsigned approval proves nothing."""
    if conf.get("UAP_SIGNING_KEY") is None:
        raise InvalidConfiguration(
            f"{why}, but UAP_SIGNING_KEY is not set: approvals must be signed by the app, or "
            "anyone with INSERT on the event log could write one. Create a key with "
            "`manage.py uap_signing_key` and set UAP_SIGNING_KEY."
        )


def approver(user: object) -> tuple[str, str]:
    """`(username, e-mail)` of an active member of APPROVERS_GROUP; RefusedRequest if not."""
    model = get_user_model()
    if isinstance(user, str):
        try:
            user = model.objects.get(**{model.USERNAME_FIELD: user})
        except model.DoesNotExist as exc:
            raise RefusedRequest(f"no Django user named {user!r}") from exc
    name = user.get_username()
    if not user.is_active or not user.groups.filter(name=APPROVERS_GROUP).exists():
        raise RefusedRequest(
            f"{name} may not approve schema migrations: only active members of the "
            f"'{APPROVERS_GROUP}' group may (superusers too must be added to it)"
        )
    return name, getattr(user, "email", "") or ""


def give(
    conn: psycopg.Connection,
    migration: MigrationFile,
    user: object,
    *,
    comment: str | None = None,
    ticket: str | None = None,
) -> dict:
    """Record an approval of `migration`'s current checksum by `user`; refuse self-approval."""
    name, email = approver(user)
    author = Author.parse(migration.header.author)
    where = f"{migration.label} ({migration.path})"
    if not author.spellings:
        raise RefusedRequest(f"{where}: {_WHY[NO_AUTHOR]}; add one naming its author")
    authors = matching_usernames(author)
    if authors is not None and not authors:
        raise RefusedRequest(
            f"{where}: the Author {author.text!r} names no Django user (by username or "
            "e-mail), so it cannot be approved; fix the header"
        )
    if author.names(name, email) or name in (authors or ()):
        raise RefusedRequest(
            f"{migration.label}: {name} is the file's Author and may not approve it; "
            "another member of the approvers group must"
        )
    return _record(conn, migration, store.APPROVE_ACTION, name, comment, ticket)


def revoke(
    conn: psycopg.Connection,
    migration: MigrationFile,
    user: object,
    *,
    comment: str | None = None,
    ticket: str | None = None,
) -> dict:
    """Record that the approvals of `migration`'s current checksum no longer stand."""
    name, _ = approver(user)
    if not states(conn, [migration])[migration.version].valid:
        raise RefusedRequest(f"{migration.label}: there is no valid approval to revoke")
    return _record(conn, migration, store.REVOKE_ACTION, name, comment, ticket)


def _record(conn, migration: MigrationFile, action: str, name: str, comment, ticket) -> dict:
    attempt = store.Attempt(
        version=migration.version,
        action=action,
        status=Status.COMPLETED,
        started_at=datetime.now(timezone.utc),
        duration_ms=0,
        checksum=migration.checksum,
        reason=(comment or "").strip() or None,
        ticket=(ticket or "").strip() or None,
        actor=name,
    )
    store.record_event(conn, attempt)
    logger.info("%s %s (checksum %s) by %s", action, migration.label, migration.checksum, name)
    return {
        "action": action,
        "version": migration.version,
        "name": migration.name,
        "checksum": migration.checksum,
        "actor": name,
        "comment": attempt.reason,
        "ticket": attempt.ticket,
        "author": migration.header.author or None,
    }


def consent(
    action: str,
    files: list[MigrationFile],
    version: str,
    user: object,
    database: str = "default",
    *,
    checksum: str | None = None,
    **details: str | None,
) -> dict:
    """`give` or `revoke` (by `action`) for pending `version` among `files`, on `database`.

    `checksum`: the checksum the user saw; RefusedRequest, with nothing written, if the file
    now has another.
    """
    _require_signing("approvals are recorded")
    migration = plan.find(files, str(version))
    if migration is None:
        raise RefusedRequest(f"{version}: no migration file with that version on disk")
    seen = str(checksum).strip().lower() if checksum is not None else None
    if seen is not None and seen != migration.checksum:
        raise RefusedRequest(
            f"{migration.label} ({migration.path}) changed since it was shown: checksum "
            f"{migration.checksum[:12]}… now, {seen[:12]!r} when reviewed. Nothing was "
            "recorded; review the file again"
        )
    record = give if action == store.APPROVE_ACTION else revoke
    # A person waits for this (the admin's approve button): a held chain lock ends it soon.
    wait = APPROVAL_LOCK_WAIT
    with (
        db.open_connection(database, "approve", lock_wait=wait) as conn,
        audit_log.emitting(conn, database),
    ):
        store.ensure_schema(conn)
        found = plan.build_plan(files, store.read_rows(conn), out_of_order=True)
        if migration not in found.pending:
            raise RefusedRequest(
                f"{migration.label}: only a pending file can be approved or revoked; "
                "this one is already applied (or blocked)"
            )
        return record(conn, migration, user, **details)
