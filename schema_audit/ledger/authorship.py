"""Which events the app wrote: their signatures checked against the trusted keys.

Used by the approval gate (only signed approvals count), the drift verdict (its reference
fingerprint comes from signed events) and `--verify` (a missing or bad signature fails it).
Events before the first signed one are history from before signing was set up: they count
where an unsigned event may (the drift reference), never as approvals.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from schema_audit import conf
from schema_audit.ledger import signing
from schema_audit.ledger.schema import EVENTS_TABLE, ledger_sql, qualified

_SINCE_SQL = "SELECT min(id) FROM {events} WHERE signature IS NOT NULL"
_HAS_COLUMN_SQL = """
SELECT current_database(), EXISTS (
    SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'signature'
    AND NOT attisdropped)
"""


@dataclass(frozen=True)
class Authorship:
    """The trusted keys, the database's name and the first signed event id of one log."""

    keys: signing.Keys
    database: str
    since: int | None  # id of the first event carrying a signature; None: none yet

    @classmethod
    def read(cls, conn: psycopg.Connection, keys: signing.Keys | None = None) -> Authorship:
        """The authorship rules of the log behind `conn` (keys from settings by default)."""
        keys = conf.signing_keys() if keys is None else keys
        database, has_column = conn.execute(_HAS_COLUMN_SQL, (qualified(EVENTS_TABLE),)).fetchone()
        since = conn.execute(ledger_sql(_SINCE_SQL)).fetchone()[0] if has_column else None
        return cls(keys, database, since)

    def state(self, event: dict) -> str:
        """signing.VALID, UNSIGNED, UNKNOWN_KEY or INVALID for one stored event."""
        return signing.check(event, self.keys, self.database)

    def signed_by_app(self, event: dict) -> bool:
        """True only for an event whose signature verifies with a trusted key."""
        return self.keys.configured and self.state(event) == signing.VALID

    def may_be_trusted(self, event: dict) -> bool:
        """True unless signing is set up and the event, written after it, is not validly signed."""
        if not self.keys.configured:
            return True
        if self.since is None or event["id"] < self.since:
            return True  # history from before signing
        return self.state(event) == signing.VALID


def audit(events: list[dict], rules: Authorship) -> dict:
    """`{configured, keys, signed, legacy, missing, invalid}` over `events` in id order.

    `missing`: ids of events after signing began that carry no signature (other than the
    database's own DDL records); `invalid`: ids whose signature does not verify with a
    trusted key. Both are empty when no key is configured.
    """
    result = empty_audit(rules)
    for event in events:
        audit_event(result, event, rules)
    return result


def empty_audit(rules: Authorship) -> dict:
    """audit()'s result before any event."""
    return {
        "configured": rules.keys.configured,
        "keys": sorted(rules.keys.trusted),
        "signed": 0,
        "legacy": 0,
        "missing": [],
        "invalid": [],
        "first": None,  # {id, action, version} of the first event in missing or invalid
    }


def audit_event(result: dict, event: dict, rules: Authorship) -> None:
    """Count one event (the next in id order) into an audit() result."""
    if not rules.keys.configured:
        return
    state = rules.state(event)
    if state == signing.VALID:
        result["signed"] += 1
        return
    if state != signing.UNSIGNED:
        result["invalid"].append(event["id"])
    elif rules.since is None or event["id"] < rules.since:
        result["legacy"] += 1
        return
    elif event.get("action") not in signing.DATABASE_ACTIONS:
        result["missing"].append(event["id"])
    else:
        return
    if result["first"] is None:
        result["first"] = {k: event.get(k) for k in ("id", "action", "version")}
