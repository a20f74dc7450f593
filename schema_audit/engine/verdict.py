"""The verdict on one traced file: safe, review or dangerous, each with the reasons. Pure."""

from __future__ import annotations

from schema_audit.engine.locks import strongest_locks
from schema_audit.ledger.terms import Status

SAFE, REVIEW, DANGEROUS = "safe", "review", "dangerous"
RANKED = (SAFE, REVIEW, DANGEROUS)


def judge(trace: dict, limits: dict) -> tuple[str, list[str]]:
    """`(verdict, reasons)`; limits: big_rows, big_bytes, slow_ms (the UAP_TRACE_* settings)."""
    found: list[tuple[str, str]] = []
    held = {(lock["relation"], lock["mode"]): lock["held_ms"] for lock in trace["locks"]}
    for statement in trace["statements"]:
        where = f"statement {statement['index']} (line {statement['line']})"
        status = statement["status"]
        found += [
            (
                REVIEW,
                f"{where} {effect}; it acted in this dry run, and the rollback did not undo it",
            )
            for effect in statement.get("side_effects", ())
        ]
        if status == "not traced":
            found.append((REVIEW, f"{where} not traced: {statement['reason']}"))
            continue
        if status == Status.FAILED:
            found.append((REVIEW, f"{where} fails: {statement['error']}"))
            continue
        found += _rewrites(statement, trace["locks"], limits)
        found += _locks(statement, held, limits, where)
        if statement["duration_ms"] >= limits["slow_ms"]:
            found.append((REVIEW, f"{where} runs {statement['duration_ms']:,} ms"))
    if not found:
        return SAFE, ["no lock that blocks reads or writes on an existing table, no rewrite"]
    worst = max((level for level, _ in found), key=RANKED.index)
    return worst, [text for level, text in found if level == worst] + [
        text for level, text in found if level != worst
    ]


def big(rows: int, size: int, limits: dict) -> bool:
    """True when a relation has at least the big-table rows or bytes."""
    return rows >= limits["big_rows"] or size >= limits["big_bytes"]


def human_size(size: int) -> str:
    """Bytes as kB, MB or GB with one decimal (PostgreSQL's pg_size_pretty units)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if abs(size) >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _describe(rows: int, size: int) -> str:
    counted = f"{rows:,} rows" if rows >= 0 else "rows not yet counted by ANALYZE"
    return f"{counted}, {human_size(size)}"


def _rewrites(statement: dict, file_locks: list[dict], limits: dict) -> list[tuple[str, str]]:
    found = []
    # The lock may come from an earlier statement of the file, held since (same transaction).
    held = [
        lock
        for lock in (*file_locks, *statement["locks"])
        if lock["blocks"] and lock.get("statement", statement["index"]) <= statement["index"]
    ]
    modes = {lock["relation"]: lock["mode"] for lock in strongest_locks(held)}
    rewrites = statement["rewrites"]
    # A table's indexes are rebuilt with it: name the table, not each index again.
    tables = [r for r in rewrites if r["kind"] != "index"] or rewrites
    for rewrite in tables:
        name, rows, size = rewrite["relation"], rewrite["rows"], rewrite["bytes_before"]
        under = modes.get(name, "the lock an earlier pending file took")
        level = DANGEROUS if big(rows, size, limits) else REVIEW
        size_word = "big " if level == DANGEROUS else ""
        found.append(
            (
                level,
                f"rewrites {size_word}{rewrite['kind']} {name} ({_describe(rows, size)}) "
                f"under {under} for {statement['duration_ms']:,} ms",
            )
        )
    return found


def _locks(statement: dict, held: dict, limits: dict, where: str) -> list[tuple[str, str]]:
    found = []
    rewritten = {r["relation"] for r in statement["rewrites"]}
    for lock in strongest_locks(statement["locks"]):
        if not lock["blocks"] or lock["relation"] in rewritten:
            continue
        name, mode = lock["relation"], lock["mode"]
        held_ms = held.get((name, mode), statement["duration_ms"])
        is_big = big(lock["rows"], lock["bytes"], limits)
        what = (
            f"{'big ' if is_big else ''}{lock['kind']} {name} "
            f"({_describe(lock['rows'], lock['bytes'])})"
        )
        blocking = f"blocking {lock['blocks']}, for {held_ms:,} ms"
        if is_big and statement.get("scans"):
            text = f"{where} reads every row of {what} holding {mode}, {blocking}"
            found.append((DANGEROUS, text))
        else:
            level = DANGEROUS if is_big and held_ms >= limits["slow_ms"] else REVIEW
            found.append((level, f"{where} holds {mode} on {what}, {blocking}"))
    return found
