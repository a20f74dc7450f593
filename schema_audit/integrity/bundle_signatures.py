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


def rules_of(info: dict | None, since: int | None) -> authorship.Authorship:
    """The authorship rules a bundle's signing.json describes (no keys when it has none);
    `since`: the id of the first signed event."""
    info = info if isinstance(info, dict) else {}
    keys = signing.trusted_from_pems(info.get("public_keys") or {})
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


class AuditedEvents:
    """A bundle's events, each checked for its signature as it passes, so that one streamed
    read serves both the chain and the signatures. `result` is authorship.audit()'s (masked
    events checked by their digest); `vouched` holds the masked events a signature binds,
    filled before chain.verify reaches them. `len()` reads the rest, auditing it too."""

    def __init__(self, events, rules: authorship.Authorship):
        self.rules, self._events = rules, iter(events)
        self.result = authorship.empty_audit(rules)
        self.vouched: set[int] = set()
        self.signed_seen = False  # any event carrying a signature, valid or not
        self._count = 0

    def __iter__(self):
        for event in self._events:
            self._count += 1
            self._check(event)
            yield event
        self.result["invalid"].sort()

    def __len__(self) -> int:
        for _ in self:
            pass
        return self._count

    def _check(self, event: dict) -> None:
        self.signed_seen = self.signed_seen or bool(event.get("signature"))
        if not event.get(chain.REDACTED):
            authorship.audit_event(self.result, event, self.rules)
        elif _state(event, self.rules) == signing.VALID:
            self.vouched.add(event["id"])
            if self.rules.keys.configured:
                self.result["signed"] += 1
        elif self.rules.keys.configured:
            self.result["invalid"].append(event["id"])  # unbound content: never accepted
