"""Hash chain over the access log (`schema_audit_access`), as the event log has one.

A BEFORE INSERT trigger sets `at` from the server clock (a writer cannot backdate a view)
and links each row to the previous one: hash = sha256(prev_hash || canonical row). The same
canonical row is built here in Python, so `uap_migrate --verify` re-hashes the log and finds
a row inserted out of order, removed or edited (with the append-only trigger disabled).
The user name is the app's claim: the database cannot know which Django user was served.
"""

from __future__ import annotations

import hashlib

from schema_audit.db import names
from schema_audit.ledger import chain

# Columns covered by the hash, in order, with how each is rendered as text.
FIELDS = (
    ("id", "int"),
    ("at", "timestamp"),
    ("username", "text"),
    ("action", "text"),
    ("method", "text"),
    ("path", "text"),
    ("query_string", "text"),
    ("status_code", "int"),
    ("rows_exported", "int"),
    ("address", "text"),
)
# Serialises appends to the access log (apart from the event log's own key).
LOCK_KEY = 0x5541505F41434353  # "UAP_ACCS"
_NULL = "~"
_SQL_TEXT = {
    "int": "{0}::pg_catalog.text",
    "text": "{0}",
    "timestamp": "pg_catalog.to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')",
}


def _canonical_row_sql() -> str:
    parts = []
    for name, kind in FIELDS:
        value = _SQL_TEXT[kind].format(f"NEW.{name}")
        parts.append(
            f"CASE WHEN {value} IS NULL THEN '{_NULL}' "
            f"ELSE pg_catalog.length({value}) || ':' || {value} END"
        )
    return " || '|' || ".join(parts)


def trigger_sql(table: str) -> str:
    """The BEFORE INSERT trigger that sets `at` and fills prev_hash and hash under a lock."""
    # search_path pinned and every name qualified: the function runs with whatever role
    # inserts, and a name that role could shadow must not change what it does.
    function, target = names.qualified(f"{table}_chain"), names.qualified(table)
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sequence pg_catalog.regclass := pg_catalog.pg_get_serial_sequence(
        TG_RELID::pg_catalog.regclass::pg_catalog.text, 'id');
    issued bigint;
    last_id bigint;
    taken boolean;
    previous text;
BEGIN
    NEW.at := pg_catalog.clock_timestamp();
    PERFORM pg_catalog.pg_advisory_xact_lock({LOCK_KEY});
    -- Ids come from the sequence, as in the event log's chain (ledger/chain.py): an id it has
    -- not issued (one near the bigint maximum would leave none for any later record) is
    -- replaced, and rows above what it issued stay out of the chain's order.
{chain.ISSUED_ID_SQL}    NEW.prev_hash := previous;
    NEW.hash := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
        coalesce(NEW.prev_hash, '') || {_canonical_row_sql()}, 'UTF8')), 'hex');
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS {table}_chain ON {target};
CREATE TRIGGER {table}_chain BEFORE INSERT ON {target}
    FOR EACH ROW EXECUTE FUNCTION {function}();
"""


def canonical_row(row: dict) -> str:
    """One access record as text: each field `length:value`, or `~` for NULL, joined by `|`."""
    parts = []
    for name, kind in FIELDS:
        text = chain.field_text(row.get(name), kind)
        parts.append(_NULL if text is None else f"{len(text)}:{text}")
    return "|".join(parts)


def verify(rows) -> dict:
    """Check the chain over access records in id order: `{verified, records, chained,
    unchained, first_break}`; records before the first hashed one predate the chain."""
    previous, started = None, False
    count = chained = unchained = 0
    for row in rows:
        count += 1
        stored = (row.get("hash") or "").strip() or None
        if stored is None:
            if started:
                return _result(count, chained, unchained, row, "record has no hash")
            unchained += 1
            continue
        started = True
        if ((row.get("prev_hash") or "").strip() or None) != previous:
            problem = "prev_hash is not the previous record's hash (record removed or inserted)"
            return _result(count, chained, unchained, row, problem)
        data = (previous or "") + canonical_row(row)
        if hashlib.sha256(data.encode("utf-8")).hexdigest() != stored:
            return _result(count, chained, unchained, row, "hash does not match (edited)")
        previous = stored
        chained += 1
    return _result(count, chained, unchained, None, None)


def _result(count, chained, unchained, row, problem) -> dict:
    broken = None if problem is None else {"id": row.get("id"), "problem": problem}
    return {
        "verified": broken is None,
        "records": count,
        "chained": chained,
        "unchained": unchained,
        "first_break": broken,
    }
