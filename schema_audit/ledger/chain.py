"""Hash chain over the event log: hash = sha256(prev_hash || canonical row). Pure, no DB.

The same canonical row is built in SQL by the BEFORE INSERT trigger (`trigger_sql`) and in
Python by `canonical_row`, so the log can be verified offline from an export.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from schema_audit.db import names
from schema_audit.db.names import CHAIN_LOCK_KEY

# Columns covered by the hash, in order, with how each is rendered as text. Adding a column
# here would change every hash: new columns are appended to the event log, not to this list.
FIELDS = (
    ("id", "int"),
    ("version", "text"),
    ("action", "text"),
    ("status", "text"),
    ("started_at", "timestamp"),
    ("duration_ms", "int"),
    ("error_message", "text"),
    ("sqlstate", "text"),
    ("applied_by", "text"),
    ("os_user", "text"),
    ("host", "text"),
    ("app_version", "text"),
    ("checksum", "char"),
    ("sql_text", "text"),
    ("reason", "text"),
    ("ticket", "text"),
    ("application", "text"),
    ("ddl_objects", "text"),
    ("fingerprint", "char"),
)
# Columns added after events were first chained: hashed only when set, each tagged with its name
# (as `|name=length:value` after FIELDS), so events written before the column existed (NULL
# there) keep the hashes they were given, and setting or clearing the value later breaks the
# chain like any other edit. Append new columns here, never to FIELDS.
OPTIONAL_FIELDS = (
    ("trace", "jsonb"),
    ("rollout", "text"),
    ("actor", "text"),
    ("recorded_at", "timestamp"),
    ("signature", "text"),  # ledger/signing.py: who wrote the event
)
# Marks an event whose sql_text an export masked (redact): its hash cannot be recomputed from
# the masked text, so its content counts as checked only when its signature binds the original
# (integrity/bundle_signatures.py); the flag alone skips nothing.
REDACTED = "sql_text_redacted"
# Set by the trigger from the server clock (an optional field above).
RECORDED_AT = "recorded_at"
# How far a writer's started_at may lie outside its own session's lifetime (clock skew).
CLOCK_TOLERANCE = "15 minutes"
# Serialises chain appends across every writer (runner, DDL audit trigger, other tools).
LOCK_KEY = CHAIN_LOCK_KEY
_NULL = "~"
# The search_path of every function the app creates in the database (triggers, the DDL audit):
# nothing a user may create in is searched, so no planted name can shadow a built-in.
PINNED_SEARCH_PATH = "pg_catalog, pg_temp"

_SQL_TEXT = {
    "int": "{0}::text",
    "text": "{0}",
    "char": "{0}::text",  # bpchar to text drops the blank padding, as _python_text does
    "timestamp": "pg_catalog.to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')",
    "jsonb": "{0}::text",  # jsonb's own normal form; jsonb_text renders the same in Python
}


def canonical_row_sql(record: str = "NEW") -> str:
    """SQL expression building the canonical row of `record` (used by the trigger)."""
    parts = []
    for name, kind in FIELDS:
        value = _SQL_TEXT[kind].format(f"{record}.{name}")
        parts.append(
            f"CASE WHEN {value} IS NULL THEN '{_NULL}' "
            f"ELSE pg_catalog.length({value}) || ':' || {value} END"
        )
    optional = [
        f"CASE WHEN {record}.{name} IS NULL THEN '' ELSE '|{name}=' || "
        f"pg_catalog.length({_SQL_TEXT[kind].format(f'{record}.{name}')}) || ':' || "
        f"{_SQL_TEXT[kind].format(f'{record}.{name}')} END"
        for name, kind in OPTIONAL_FIELDS
    ]
    return " || ".join([" || '|' || ".join(parts), *optional])


def canonical_row(event: dict) -> str:
    """One event as text: each field `length:value`, or `~` for NULL, joined by `|`."""
    parts = []
    for name, kind in FIELDS:
        text = _python_text(event.get(name), kind)
        parts.append(_NULL if text is None else f"{len(text)}:{text}")
    for name, kind in OPTIONAL_FIELDS:
        text = _python_text(event.get(name), kind)
        if text is not None:
            parts[-1] += f"|{name}={len(text)}:{text}"
    return "|".join(parts)


def jsonb_text(value: object) -> str:
    """`value` as PostgreSQL prints a jsonb: keys by length then bytes, `, ` and `: `."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: (len(key.encode("utf-8")), key.encode("utf-8")))
        items = (f"{json.dumps(k, ensure_ascii=False)}: {jsonb_text(value[k])}" for k in keys)
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(jsonb_text(item) for item in value) + "]"
    # Strings escape exactly as PostgreSQL's escape_json; the traces hold integers only.
    return json.dumps(value, ensure_ascii=False)


def link_hash(prev_hash: str | None, event: dict) -> str:
    """sha256(prev_hash || canonical row) as hex; the first chained event has no prev_hash."""
    data = (prev_hash or "") + canonical_row(event)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def field_text(value: object, kind: str) -> str | None:
    """`value` rendered as the canonical row renders a field of `kind`; None for NULL."""
    return _python_text(value, kind)


def _python_text(value: object, kind: str) -> str | None:
    if value is None:
        return None
    if kind == "timestamp":
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        d = moment.astimezone(timezone.utc)
        return (
            f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:"
            f"{d.second:02d}.{d.microsecond:06d}"
        )
    if kind == "jsonb":
        return jsonb_text(value)
    if kind == "char":
        return str(value).rstrip(" ")
    return str(value)


def verify(
    events: list[dict], previous: str | None = None, vouched: set[int] | frozenset = frozenset()
) -> dict:
    """Check the chain over events in id order: `{verified, events, chained, unchained,
    first_break, head}`; events before the first hashed one are pre-chain history.

    `previous` resumes after an already verified head: the first event must link to it.
    `vouched`: ids of masked events whose content a verified signature binds instead.
    """
    started = previous is not None
    chained = unchained = 0
    for event in events:
        stored = _strip(event.get("hash"))
        if stored is None:
            if started:
                return _result(events, chained, unchained, _break(event, "event has no hash"))
            unchained += 1
            continue
        started = True
        if _strip(event.get("prev_hash")) != previous:
            problem = "prev_hash is not the previous event's hash (event removed or reordered)"
            return _result(events, chained, unchained, _break(event, problem, previous))
        expected = link_hash(previous, event)
        if expected != stored and event.get("id") not in vouched:
            problem = "hash does not match the event's content (event edited)"
            if event.get(REDACTED):
                problem = (
                    "its SQL is masked in this export and no valid signature binds the "
                    "original, so its content cannot be checked (edited, or unsigned)"
                )
            return _result(events, chained, unchained, _break(event, problem, previous, expected))
        if not _description_matches(event):
            problem = "schema_description does not hash to the event's fingerprint (edited)"
            return _result(events, chained, unchained, _break(event, problem, previous))
        previous = stored
        chained += 1
    return _result(events, chained, unchained, None, previous)


def _description_matches(event: dict) -> bool:
    """The stored schema description is covered through its hash, the chained fingerprint."""
    description, recorded = event.get("schema_description"), _strip(event.get("fingerprint"))
    if description is None or recorded is None:
        return True
    return hashlib.sha256(description.encode("utf-8")).hexdigest() == recorded


def _strip(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _break(event: dict, problem: str, previous: str | None = None, expected: str | None = None):
    return {
        "id": event.get("id"),
        "version": event.get("version"),
        "action": event.get("action"),
        "problem": problem,
        "stored_hash": _strip(event.get("hash")),
        "stored_prev_hash": _strip(event.get("prev_hash")),
        "expected_prev_hash": previous,
        "expected_hash": expected,
    }


def _result(events, chained, unchained, first_break, head=None) -> dict:
    return {
        "verified": first_break is None,
        "events": len(events),
        "chained": chained,
        "unchained": unchained,
        "first_break": first_break,
        "head": head if first_break is None else None,
    }


# The id and the head a chained row takes, run under the chain's lock by both chain triggers
# (this one and the access log's): ids come from the sequence, never from the writer, and
# `previous` is the hash of the newest row among the ids the sequence issued. Needs the
# variables sequence, issued, last_id, taken and previous.
ISSUED_ID_SQL = """\
    issued := coalesce(pg_catalog.pg_sequence_last_value(sequence), 0);
    EXECUTE pg_catalog.format(
        'SELECT pg_catalog.max(id), (SELECT hash FROM %1$s WHERE hash IS NOT NULL '
        'AND id <= $1 ORDER BY id DESC LIMIT 1) FROM %1$s WHERE id <= $1', TG_RELID::regclass)
        INTO last_id, previous USING issued;
    IF NEW.id IS NULL OR NEW.id > issued OR NEW.id <= last_id THEN
        NEW.id := greatest(pg_catalog.nextval(sequence), coalesce(last_id, 0) + 1);
    END IF;
    LOOP  -- the sequence may reach an id such a row holds
        EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM %s WHERE id = $1)',
                                  TG_RELID::regclass) INTO taken USING NEW.id;
        EXIT WHEN NOT taken;
        NEW.id := pg_catalog.nextval(sequence);
    END LOOP;
"""


def trigger_sql(table: str) -> str:
    """The BEFORE INSERT trigger that fills id order, prev_hash and hash under a lock."""
    # search_path pinned and every name qualified: the trigger runs as whoever writes, a
    # superuser runner or the DDL audit's SECURITY DEFINER function, so a function, operator
    # or table planted in a schema the writer can create in must never be reached from here.
    function, target = names.qualified(f"{table}_chain"), names.qualified(table)
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql SET search_path = {PINNED_SEARCH_PATH} AS $$
DECLARE
    last_id bigint;
    issued bigint;
    taken boolean;
    previous text;
    sequence regclass := pg_catalog.pg_get_serial_sequence(TG_RELID::regclass::text, 'id');
BEGIN
    -- Who and when come from the server, not the writer: a role with INSERT alone cannot
    -- sign as someone else or date an event outside its own session. Owners and superusers
    -- (who could disable this trigger anyway) may backdate, e.g. to import history.
    NEW.applied_by := session_user;
    NEW.{RECORDED_AT} := pg_catalog.clock_timestamp();
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user)
       AND NOT pg_catalog.pg_has_role(session_user,
                           (SELECT relowner FROM pg_catalog.pg_class WHERE oid = TG_RELID),
                           'USAGE')
       AND (NEW.started_at > NEW.{RECORDED_AT} + interval '{CLOCK_TOLERANCE}'
            OR NEW.started_at < coalesce(
                -- Hidden after SET SESSION AUTHORIZATION: the server's start still bounds it.
                (SELECT backend_start FROM pg_catalog.pg_stat_activity
                 WHERE pid = pg_catalog.pg_backend_pid()),
                pg_catalog.pg_postmaster_start_time()) - interval '{CLOCK_TOLERANCE}')
    THEN
        RAISE EXCEPTION 'started_at % is outside this session (connected at %, now %)',
            NEW.started_at,
            (SELECT backend_start FROM pg_catalog.pg_stat_activity
             WHERE pid = pg_catalog.pg_backend_pid()),
            NEW.{RECORDED_AT}
            USING ERRCODE = 'check_violation',
                  HINT = 'started_at must be when this session began the attempt; check '
                         'the client clock ({CLOCK_TOLERANCE} tolerance).';
    END IF;
    -- Held to commit: the next writer sees this row before choosing its prev_hash.
    PERFORM pg_catalog.pg_advisory_xact_lock({LOCK_KEY});
    -- Ids come from the sequence, never from the writer: an id the sequence has not issued
    -- yet (one near the bigint maximum would leave no id for any later event) is replaced.
    -- Rows above what it issued (set by hand, or by a version that let writers choose) stay
    -- out of the chain's order, so --verify reports the break they make. An id taken before
    -- the lock is renumbered after the newest row, so that id order is chain order.
{ISSUED_ID_SQL}    NEW.application := coalesce(NEW.application,
                                pg_catalog.current_setting('application_name', true));
    NEW.prev_hash := previous;
    NEW.hash := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
        coalesce(NEW.prev_hash, '') || {canonical_row_sql()}, 'UTF8')), 'hex');
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS {table}_chain ON {target};
CREATE TRIGGER {table}_chain BEFORE INSERT ON {target}
    FOR EACH ROW EXECUTE FUNCTION {function}();
"""
