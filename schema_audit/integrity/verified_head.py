"""The event log's hash chain verified incrementally, from the last head verified in-process.

Re-hashing 100k events on every admin page costs seconds. A verified prefix is remembered per
database with a digest of its rows' physical identity (ctid and xmin change whenever a row is
updated, deleted and re-inserted, or rewritten with its triggers off), so the next check
re-reads only the events added since; if any row of the prefix was touched, the whole chain is
verified again. The command's `--verify` and the evidence bundle always verify in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from schema_audit.ledger import authorship, chain, store

MAX_DATABASES = 64  # heads remembered per process (one per database of a fleet)

# A hash of each row's physical identity, summed: order-free, so a parallel scan gives the
# same value, and the digest of a grown log is the old digest plus the new rows'. hashtext()
# is the cheapest hash PostgreSQL has (a third of md5's time at 100k rows); the digest is
# compared only with one taken by this process on the same server.
_ROW_DIGEST = "hashtext(ctid::text || ':' || xmin::text)::bigint"
_PREFIX_SQL = f"SELECT coalesce(sum({_ROW_DIGEST}), 0)::text FROM {{events}} WHERE id <= %s"
_AFTER_SQL = f"SELECT *, {_ROW_DIGEST} AS row_digest FROM {{events}} WHERE id > %s ORDER BY id"


@dataclass(frozen=True)
class Head:
    """A verified prefix of the log: its last event, hash, counts and digest."""

    event_id: int
    hash: str | None
    events: int
    chained: int
    unchained: int
    digest: int
    signatures: dict = field(default_factory=dict)  # authorship.audit() of the prefix


_heads: dict[tuple, Head] = {}


def verify(conn: psycopg.Connection, rules: authorship.Authorship) -> dict:
    """`chain.verify()`'s result for the whole log, with `signatures` (authorship.audit),
    re-checking only events after the last head this process verified when nothing before it
    changed."""
    key = (conn.info.host, conn.info.port, conn.info.dbname)
    head = _heads.get(key)
    if head is not None and _prefix_digest(conn, head.event_id) == head.digest:
        result, head = _extend(conn, head, rules)
    else:
        result, head = _verify_all(conn, rules)
    if head is None:
        _heads.pop(key, None)
    else:
        if len(_heads) >= MAX_DATABASES and key not in _heads:
            _heads.pop(next(iter(_heads)))
        _heads[key] = head
    return result


def _prefix_digest(conn: psycopg.Connection, event_id: int) -> int:
    return int(conn.execute(store.ledger_sql(_PREFIX_SQL), (event_id,)).fetchone()[0])


def _read_after(conn: psycopg.Connection, event_id: int) -> list[dict]:
    if not store.tables_exist(conn):
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(store.ledger_sql(_AFTER_SQL), (event_id,)).fetchall()


def _extend(
    conn: psycopg.Connection, head: Head, rules: authorship.Authorship
) -> tuple[dict, Head | None]:
    """Verify the events after `head`, chained to its hash."""
    events = _read_after(conn, head.event_id)
    result = chain.verify(events, previous=head.hash)
    if not events:
        result = {**result, **_counts(head), "head": head.hash}
        return {**result, "signatures": head.signatures}, head
    result["events"] += head.events
    result["chained"] += head.chained
    result["unchained"] += head.unchained
    result["signatures"] = _add(head.signatures, authorship.audit(events, rules))
    return result, _next_head(result, events, head.digest)


def _add(before: dict, after: dict) -> dict:
    """authorship.audit() of a prefix and of the events after it, as one."""
    merged = dict(after)
    for name in ("signed", "legacy"):
        merged[name] = before.get(name, 0) + after[name]
    for name in ("missing", "invalid"):
        merged[name] = before.get(name, []) + after[name]
    merged["first"] = before.get("first") or after["first"]
    return merged


def _counts(head: Head) -> dict:
    return {"events": head.events, "chained": head.chained, "unchained": head.unchained}


def _verify_all(
    conn: psycopg.Connection, rules: authorship.Authorship
) -> tuple[dict, Head | None]:
    events = _read_after(conn, 0)
    result = chain.verify(events)
    result["signatures"] = authorship.audit(events, rules)
    return result, _next_head(result, events, 0)


def _next_head(result: dict, events: list[dict], digest: int) -> Head | None:
    """The head to remember after a check, or None when the chain is broken."""
    if not result["verified"] or result["signatures"]["missing"]:
        return None
    if result["signatures"]["invalid"]:
        return None
    if not events:
        return None  # an empty log: nothing to remember
    return Head(
        event_id=events[-1]["id"],
        hash=result["head"],
        events=result["events"],
        chained=result["chained"],
        unchained=result["unchained"],
        digest=digest + sum(e["row_digest"] for e in events),
        signatures=result["signatures"],
    )
