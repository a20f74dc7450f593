"""Event signatures in an evidence bundle: what is shipped and how the verifier checks it.

The bundle ships `signing.json` (the database's name and the trusted public keys by id) so
every event's signature can be checked offline. An event whose SQL an export masks carries
`sql_text_sha256`, the digest of the text the ledger holds: its chain hash cannot be
recomputed from the masked text, so it is accepted only when its signature, which covers that
digest and every other field, verifies. No flag in the bundle skips a check.
"""

from __future__ import annotations

import hashlib

from schema_audit.ledger import authorship, chain, signing

MEMBER = "signing.json"
SQL_DIGEST = "sql_text_sha256"


def shipped(rules: authorship.Authorship) -> dict:
    """The content of signing.json for a bundle of the log `rules` describes."""
    return {
        "database": rules.database,
        "public_keys": {kid: signing.public_pem(key) for kid, key in rules.keys.trusted.items()},
    }


def masked(event: dict, text: str) -> dict:
    """`event` with its SQL replaced by the masked `text`, bound by the original's digest."""
    original = event.get("sql_text") or ""
    digest = hashlib.sha256(original.encode("utf-8")).hexdigest()
    return {**event, "sql_text": text, chain.REDACTED: True, SQL_DIGEST: digest}


def rules_of(info: dict | None, events: list[dict]) -> authorship.Authorship:
    """The authorship rules a bundle's signing.json describes (no keys when it has none)."""
    info = info or {}
    keys = signing.trusted_from_pems(info.get("public_keys") or {})
    since = min((e["id"] for e in events if e.get("signature")), default=None)
    return authorship.Authorship(keys, str(info.get("database") or ""), since)


def _state(event: dict, rules: authorship.Authorship) -> str:
    digests = {"sql_text": str(event.get(SQL_DIGEST))} if event.get(chain.REDACTED) else None
    return signing.check(event, rules.keys, rules.database, digests)


def vouched(events: list[dict], rules: authorship.Authorship) -> set[int]:
    """Ids of masked events whose signature binds their original content."""
    return {
        event["id"]
        for event in events
        if event.get(chain.REDACTED) and _state(event, rules) == signing.VALID
    }


def audit(events: list[dict], rules: authorship.Authorship) -> dict:
    """authorship.audit() over a bundle's events, masked ones checked by their digest."""
    plain = [e for e in events if not e.get(chain.REDACTED)]
    result = authorship.audit(plain, rules)
    if not rules.keys.configured:
        return result  # nothing to check against; masked events break the chain instead
    for event in events:
        if event.get(chain.REDACTED):
            if _state(event, rules) == signing.VALID:
                result["signed"] += 1
            else:
                result["invalid"].append(event["id"])  # unbound content: never accepted
    result["invalid"].sort()
    return result
