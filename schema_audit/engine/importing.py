"""`--import-history TOOL`: take over another runner's applied history without running it.

Each version the tool's table records as applied (ledger/foreign_history.py) is recorded as a
baseline, as `--baseline` records one: a row and a chained event with the file's checksum, the
tool's own applied time (the event's started_at and the row's applied_at) and user (the event's
actor) where the tool stores them, and a reason naming the tool and its table. Nothing runs,
the tool's table is only read, and a version already in the ledger is left as it is, so a
second import records nothing. The last recorded version carries the schema's fingerprint,
the reference `--verify` compares the live schema with.
"""

from __future__ import annotations

import psycopg

from schema_audit.engine.operations import fingerprinted, locked, utcnow
from schema_audit.engine.options import Options
from schema_audit.engine.session import file_attempt
from schema_audit.exceptions import RefusedRequest
from schema_audit.files import flyway
from schema_audit.files.discovery import MigrationFile
from schema_audit.files.naming import version_key
from schema_audit.ledger import foreign_history, store

ACTION = "import_history"


def import_history(
    files: list[MigrationFile], database: str, tool_name: str, options: Options, *, reason=None
) -> dict:
    """Record what `tool_name`'s table says was applied as baselines; the result lists what
    was imported, what the ledger had already, the tool's versions without a file on disk, and
    the files on disk the tool never applied."""
    tool = foreign_history.tool_named(tool_name)
    with locked(database, options.lock_wait) as (conn, guard):
        history = foreign_history.read(conn, tool)
        applied, missing = _on_disk(history, files)
        applied, changed = _unchanged(applied)
        rows = store.read_rows(conn)
        new = [(m, entry) for m, entry in applied if m.version not in rows]
        why = f"imported from {tool.name}'s {history.table}"
        started = utcnow()
        with conn.transaction():
            for m, entry in new:
                attempt = file_attempt(
                    m,
                    entry.applied_at if entry and entry.applied_at else started,
                    None,
                    status="baseline",
                    action="baseline",
                    reason=f"{why}: {reason}" if reason else why,
                    actor=entry.applied_by if entry else None,
                )
                if m is new[-1][0]:  # the schema the import adopts
                    attempt = fingerprinted(conn, attempt, None)
                try:
                    store.record(conn, attempt, "")
                except psycopg.errors.CheckViolation as exc:
                    raise RefusedRequest(
                        f"--import-history {tool.name}: {exc.diag.message_primary}. Only the "
                        "ledger's owner (or a superuser) may record the times another tool "
                        "applied versions at; run the import as that role. Nothing was recorded"
                    ) from exc
            guard()
    newest = _newest(history, applied)
    done = {m.version for m, _ in applied}
    return {
        "action": ACTION,
        "tool": tool.name,
        "table": history.table,
        "imported": [m.version for m, _ in new],
        "already": [m.version for m, _ in applied if m.version in rows],
        "missing_files": missing,
        "not_applied": [
            m.version
            for m in files
            if newest is not None
            and m.key < newest
            and not m.repeatable
            and m.version not in {a.version for a, _ in applied}
        ],
        "after": [
            m.version
            for m in files
            if (newest is None or m.key > newest) and m.version not in done
        ],
        # Repeatables changed since the tool ran them: left pending, they run again.
        "changed": [m.version for m, _ in changed],
    }


def _newest(history: foreign_history.History, applied: list) -> tuple | None:
    """The sort key of the newest version the tool applied, with or without its file on
    disk."""
    keys = [m.key for m, _ in applied if not m.repeatable]
    if not any(m.order and not m.repeatable for m, _ in applied):
        # A tool's version with no file on disk counts by its own number; in a plan-placed
        # folder a key is a place in the plan, which no name of the tool's stands for.
        keys += [a.key for a in history.applied if a.key is not None]
    if history.up_to:
        keys.append(version_key(str(history.up_to)))
    return max(keys, default=None)


def _on_disk(
    history: foreign_history.History, files: list[MigrationFile]
) -> tuple[list[tuple[MigrationFile, foreign_history.Applied | None]], list[str]]:
    """The files on disk the tool applied, in version order, each with the tool's entry; and
    the tool's applied versions with no file on disk."""
    if history.up_to is not None:  # golang-migrate: everything up to its one version
        up_to = version_key(str(history.up_to))
        known = any(m.key == up_to for m in files)
        missing = [] if known or history.up_to == 0 else [str(history.up_to)]
        return [(m, None) for m in files if m.key <= up_to], missing
    found, missing = {}, []
    for entry, m in _matched(history, files):
        if m is None:
            missing.append(entry.version)
        else:
            found[m.key] = (m, entry)
    return [found[key] for key in sorted(found)], missing


def _matched(
    history: foreign_history.History, files: list[MigrationFile]
) -> list[tuple[foreign_history.Applied, MigrationFile | None]]:
    """Each of the tool's entries with its file on disk, or None.

    A name placed by a plan (a sqitch change) may stand for several files: a reworked change
    is deployed once per occurrence, so the tool's n-th entry of that name (in the order it
    applied them) is the n-th occurrence in the plan, not always the latest script. A row of
    another project than the folder's (sqitch keeps every project's in one registry) is not
    one of its versions, and is left out.
    """
    index = _index(files)
    projects = {m.header.get("Project") for m in files} - {""}
    planned: dict[str, list[MigrationFile]] = {}
    for m in files:
        if m.order and not m.repeatable:
            planned.setdefault(m.name, []).append(m)
    seen: dict[str, int] = {}
    matched = []
    for entry in history.applied:
        if projects and entry.project and entry.project not in projects:
            continue
        name = entry.version.strip()
        if planned:  # a plan-placed folder: its versions are names, even `2_users`
            occurrences = planned.get(name, [])
            n = seen[name] = seen.get(name, -1) + 1
            matched.append((entry, occurrences[n] if n < len(occurrences) else None))
        else:
            matched.append((entry, _file_of(entry, index)))
    return matched


def _index(files: list[MigrationFile]) -> dict:
    """Files by sort key, and by version and name without its `vX.Y_` (sqitch's changes
    are names)."""
    index: dict = {m.key: m for m in files}
    for m in files:
        index.setdefault(m.version, m)
        index.setdefault(m.name, m)
        index.setdefault(m.name.split("_", 1)[-1], m)
    return index


def _file_of(entry: foreign_history.Applied, index: dict) -> MigrationFile | None:
    """The file the tool's entry is: the same number, or (a sqitch change, a Flyway
    repeatable) the same name."""
    if entry.key is not None:
        return index.get(entry.key)
    exact = index.get(entry.version.strip())
    return exact or index.get(entry.version.strip().lower().replace("-", "_"))


def _unchanged(applied: list) -> tuple[list, list]:
    """The tool's applied files split in two: as the tool ran them, and repeatables whose
    file has changed since (by the tool's own checksum), which run again instead."""
    kept, changed = [], []
    for m, entry in applied:
        rerun = m.repeatable and entry and entry.checksum is not None
        (changed if rerun and flyway.checksum(m.sql) != entry.checksum else kept).append(
            (m, entry)
        )
    return kept, changed
