"""A traced file's statement table as plain cells: one row per statement, shared by the
command's trace output and the admin's trace view. Pure: no database, no output."""

from __future__ import annotations

from schema_audit.engine.locks import strongest_locks
from schema_audit.engine.verdict import human_size

STATEMENT_COLUMNS = ("#", "LINE", "STATEMENT", "MS", "LOCKS", "REWRITES", "SIZE")


def signed_size(size: int) -> str:
    """A size change with its sign; empty when nothing changed."""
    if not size:
        return ""
    return ("+" if size > 0 else "-") + human_size(abs(size))


def lock_text(lock: dict) -> str:
    """`AccessExclusiveLock public.t (blocks reads and writes)`."""
    blocks = f" (blocks {lock['blocks']})" if lock["blocks"] else ""
    return f"{lock['mode']} {lock['relation']}{blocks}"


def statement_cells(statement: dict) -> tuple[str, ...]:
    """One row of a file's statement table, in the order of STATEMENT_COLUMNS."""
    first = (str(statement["index"]), str(statement["line"]), statement.get("statement", ""))
    if statement["status"] != "traced":
        what = statement.get("reason") or statement.get("error") or ""
        return (
            *first,
            str(statement.get("duration_ms", "")),
            f"{statement['status'].upper()}: {what}",
            "",
            "",
        )
    return (
        *first,
        str(statement["duration_ms"]),
        ", ".join(
            lock_text(lock) for lock in strongest_locks(statement["locks"]) if lock["existing"]
        )
        or "-",
        ", ".join(r["relation"] for r in statement["rewrites"]) or "-",
        signed_size(statement["size_change_bytes"]),
    )
