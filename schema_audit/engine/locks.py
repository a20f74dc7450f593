"""PostgreSQL's table lock modes, ordered, and the strongest one held per relation. Pure."""

from __future__ import annotations

# PostgreSQL's table-level lock modes, weakest first (docs 13.3): each conflicts with more.
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)


def strongest_locks(locks: list[dict]) -> list[dict]:
    """One lock per relation: the strongest mode held on it, in the order relations appear."""
    chosen: dict[str, dict] = {}
    for lock in locks:
        held = chosen.get(lock["relation"])
        if held is None or _strength(lock["mode"]) > _strength(held["mode"]):
            chosen[lock["relation"]] = lock
    return list(chosen.values())


def _strength(mode: str) -> int:
    return LOCK_MODES.index(mode) if mode in LOCK_MODES else -1
