"""Decisions from files on disk and ledger rows: pending, drift, dirty, out-of-order. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

from schema_audit.exceptions import RefusedRequest
from schema_audit.files.discovery import MigrationFile
from schema_audit.files.flyway import REPEATABLE_PREFIX
from schema_audit.files.naming import version_key
from schema_audit.ledger.rows import LastEvent, LedgerRow
from schema_audit.ledger.store import APPLIED, DELETED
from schema_audit.ledger.terms import Action, Status
from schema_audit.records import whole
from schema_audit.remedies import Advice, Fix, Remedy


@dataclass(frozen=True)
class Entry:
    """One version as seen on disk and in the ledger, for status reports."""

    version: str
    name: str
    file: MigrationFile | None
    row: LedgerRow | None
    drift: str = ""
    # Where reconcile placed it (keys_of); empty: the file's key, else the version's own.
    placed: tuple = ()

    @property
    def status(self) -> str:
        """The ledger's status, or `pending` for a file never recorded."""
        return self.row.status if self.row else Status.PENDING

    @property
    def key(self) -> tuple:
        """Where the version stands in the run order (MigrationFile.key)."""
        return self.placed or (self.file.key if self.file else version_key(self.version))

    @property
    def repeatable(self) -> bool:
        """A Flyway `R__` file: not a version, so never the current or newest one."""
        return bool(self.file and self.file.repeatable)

    @property
    def rerun(self) -> bool:
        """A repeatable file applied with other contents: it runs again."""
        return bool(
            self.repeatable
            and self.row
            and self.row.status in APPLIED
            and not edited_row(self.row)
            and (self.row.checksum or "").strip() != self.file.checksum
        )


@dataclass(frozen=True)
class Plan:
    """What a run would do: the files to apply, in order, and what blocks them."""

    entries: list[Entry]
    pending: list[MigrationFile] = field(default_factory=list)
    # Each reads as the command prints it; `.message` and `.remedy` split it (remedies.py).
    problems: list[Advice] = field(default_factory=list)

    @property
    def current_version(self) -> str | None:
        """Highest version whose row is completed or baseline."""
        done = [e for e in versions(self.entries) if e.status in _IN_EFFECT]
        return max(done, key=lambda e: e.key).version if done else None


# Events whose checksum is the one the row must carry afterwards.
_CHECKSUM_ACTIONS = (Action.APPLY, Action.ACCEPT_CHECKSUM, Action.BASELINE)
# Read once: an enum member looked up on its class costs a descriptor call, and edited_row
# runs for every ledger row on every run.
_APPLY, _COMPLETED, _RUNNING = Action.APPLY, Status.COMPLETED, Status.RUNNING
# What a run applies: a file never recorded, or whose last attempt failed.
_RUNNABLE = (Status.PENDING, Status.FAILED)


def edited_row(row: LedgerRow) -> str:
    """Why a ledger row disagrees with its last event (edited by hand), or '' when it agrees."""
    event = row.last_event
    if not event:
        return ""  # rows older than the event log have nothing to be compared with
    if row.status == DELETED:
        return f"row deleted from schema_migrations, but {_last(event)} applied it{_RESTORE}"
    # A `running` row is the dirty state reported on its own; other actions own their statuses.
    if event.action == _APPLY and row.status != event.status and row.status != _RUNNING:
        return f"row says {row.status} but {_last(event)} says {event.status}{_RESTORE}"
    recorded = (row.checksum or "").strip()
    logged = (event.checksum or "").strip()
    if (
        event.action in _CHECKSUM_ACTIONS
        and event.status == _COMPLETED
        and row.status in APPLIED
        and logged
        and recorded != logged
    ):
        return (
            f"row checksum {recorded[:12] or 'empty'}… differs from {logged[:12]}… "
            f"recorded by {_last(event)}{_RESTORE}"
        )
    return ""


def _last(event: LastEvent) -> str:
    return f"its last event (#{event.id}, {event.action})"


_RESTORE = (
    "; the row was edited outside uap_migrate. Restore it from schema_migration_events "
    "before deploying"
)


def drift_of(file: MigrationFile | None, row: LedgerRow | None) -> str | Advice:
    """Why a version's row no longer matches disk or its own history, or '' when it does."""
    if not row:
        return ""
    edited = edited_row(row)
    if edited or row.status not in APPLIED:
        return edited
    if file is None:
        return "applied, but its file is missing from the migrations directory"
    recorded = (row.checksum or "").strip()
    if recorded and recorded != file.checksum and not file.repeatable:
        return Advice(
            f"file changed since it was applied (checksum {recorded[:12]}… recorded, "
            f"{file.checksum[:12]}… on disk)",
            Remedy(Fix.ACCEPT_CHECKSUM, "; restore it or run {fix}", row.version),
        )
    return ""


def reconcile(files: list[MigrationFile], rows: dict[str, LedgerRow]) -> list[Entry]:
    """Every version on disk or in the ledger, in run order, with its drift."""
    by_key = {f.key: f for f in files}
    key_of = keys_of(files)
    # A row named by no number (a patch's, `patch_fix.sql`) is not a version, unless the
    # folder's own versions are names (sqitch's changes, placed by their plan) or it is a
    # Flyway repeatable's, whose file may be gone.
    named = any(f.order for f in files)
    row_by_key = {
        key: r
        for v, r in rows.items()
        if (key := key_of(v))[0] == 0 or named or v.startswith(REPEATABLE_PREFIX)
    }
    entries = []
    for key in sorted(by_key.keys() | row_by_key.keys()):
        file, row = by_key.get(key), row_by_key.get(key)
        # Every field, in declaration order (records.whole): one entry per version per run.
        state = {
            "version": row.version if row else file.version,
            "name": file.name if file else (row.name or ""),
            "file": file,
            "row": row,
            "drift": drift_of(file, row),
            "placed": key,
        }
        entries.append(whole(Entry, state))
    return entries


def keys_of(files: list[MigrationFile]):
    """A function giving a version's sort key: its file's (a sqitch change orders by its
    plan), or, with no file of that version on disk, the version's own (version_key)."""
    by_version = {f.version: f.key for f in files}
    if any(f.order and not f.repeatable for f in files):
        # A folder placed by its plan: a version gone from it has no place there, and its
        # own key could be a plan's (`2` is the third change's place), so it goes last.
        return lambda version: by_version.get(version) or (1, version)
    return lambda version: by_version.get(version) or version_key(version)


def versions(entries: list[Entry]) -> list[Entry]:
    """The entries that are versions: every one but the repeatable files."""
    return [e for e in entries if not e.repeatable]


def find(entries: list, version: str):
    """The entry (or file) `version` names: the same version text, else the same version
    (`5` is `005`, `1.0` is `1`); None when none is."""
    wanted = version_key(version)
    found = next((e for e in entries if e.version == version), None)
    return found or next((e for e in entries if version_key(e.version) == wanted), None)


def build_plan(
    files: list[MigrationFile],
    rows: dict[str, LedgerRow],
    *,
    target: str | None = None,
    out_of_order: bool = False,
) -> Plan:
    """The files to apply next, and the problems that must stop a run before it starts."""
    entries = reconcile(files, rows)
    limit = _target_key(target, entries)
    # One pass (it runs over every version on every run); the problems are listed drift
    # first, then dirty, then retired, each in run order.
    drifted, dirty, retired, pending = [], [], [], []
    newest = None  # the last applied version: entries are in run order
    for e in entries:
        status, file = e.status, e.file
        if e.drift:
            drifted.append(_problem(e, e.drift))
        if status == _RUNNING:
            dirty.append(_problem(e, _dirty(e.version)))
        if file and file.retired and status in _IN_EFFECT:
            retired.append(_problem(e, _retired(e)))
        if status in APPLIED and not e.repeatable:
            newest = e
        if file and (status in _RUNNABLE or e.rerun) and (limit is None or e.key <= limit):
            pending.append(file)
    problems = drifted + dirty + retired
    if not out_of_order:
        problems += [
            _problem(m, _out_of_order(newest.version))
            for m in pending
            if newest and m.key < newest.key and not m.repeatable
        ]
    return Plan(entries, pending, problems)


def _dirty(version: str) -> Advice:
    return Advice(
        "marked running, a run stopped inside this non-transactional migration",
        Remedy(
            Fix.REPAIR, ". Check the schema, then run {fix} (or failed)", version, Status.COMPLETED
        ),
    )


# Where a retired file's SQL took effect: its change is in this schema though its file says no
# database keeps it. (rolled_back already says it is undone; pending ones are recorded unrun.)
_IN_EFFECT = (Status.COMPLETED, Status.BASELINE)


def _retired(entry: Entry) -> Advice:
    return Advice(
        f"retired ({entry.file.retired}) but {entry.status} here: its change is still in this "
        "schema",
        Remedy(
            Fix.ROLLBACK,
            "; roll it back with {fix} (add --force if later versions depend "
            "on it), or remove the Retired line if it should stay",
            entry.version,
        ),
    )


def _out_of_order(newest: str) -> Advice:
    return Advice(
        f"pending but older than applied version {newest}",
        Remedy(Fix.OUT_OF_ORDER, "; renumber it, or pass {fix} to apply it anyway"),
    )


def _problem(subject: Entry | MigrationFile, finding: str) -> Advice:
    """A finding about a version, as a plan's problem: `003 v1.2_name: <finding>`."""
    prefix = f"{subject.version} {subject.name}: "
    return finding.prefixed(prefix) if isinstance(finding, Advice) else Advice(prefix + finding)


def _target_key(target: str | None, entries: list[Entry]) -> tuple | None:
    if target is None:
        return None
    entry = find(entries, target)
    if entry is None:
        raise RefusedRequest(f"--target {target}: no migration with that version on disk")
    return entry.key


def ensure_runnable(plan: Plan) -> None:
    """Raise RefusedRequest listing every problem, so nothing runs on a drifted or dirty DB;
    each problem reads as the command prints it (an Advice)."""
    if plan.problems:
        raise RefusedRequest("refusing to run:\n  " + "\n  ".join(plan.problems))
