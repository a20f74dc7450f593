"""Event signatures in an evidence bundle: what is shipped and how the verifier checks it.

The bundle ships `signing.json` (the database's name and the trusted public keys by id) so
every event's signature can be checked offline. An event whose SQL an export masks carries
`sql_text_sha256`, the digest of the text the ledger holds: its chain hash cannot be
recomputed from the masked text, so it is accepted only when its signature, which covers that
digest and every other field, verifies. No flag in the bundle skips a check.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.exceptions import InvalidSignature

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


def sealed(info: dict, events_json: bytes, key) -> dict:
    """signing.json with the exporter's seal: its signature over the database's name, the
    shipped key ids and the digest of events.json. Without the private key nobody can strip
    signatures, cut events or swap the keys and seal the bundle again."""
    digest = hashlib.sha256(events_json).hexdigest()
    body = _seal_body(info, digest)
    seal = base64.b64encode(key.sign(body)).decode("ascii")
    return {**info, "events_sha256": digest, "seal": f"{signing.key_id(key.public_key())}:{seal}"}


def seal_verdict(info: dict | None, events_digest: str | None, local: set[str]) -> tuple:
    """`(problems, findings)` of a bundle's seal, checked against `local`, the key ids this
    installation trusts. A bundle no key of this installation vouches for is not intact."""
    seal = (info or {}).get("seal") if isinstance(info, dict) else None
    if not seal:
        if local:
            return [
                f"{MEMBER}: the bundle is not sealed by this installation's key (a bundle "
                "of a signing installation always is: signatures stripped?)"
            ], []
        return [], []
    kid, _, encoded = str(seal).partition(":")
    pem = (info.get("public_keys") or {}).get(kid)
    try:
        public = signing.trusted_from_pems({kid: pem}).trusted.get(kid) if pem else None
        if public is None or events_digest != info.get("events_sha256"):
            raise InvalidSignature
        public.verify(base64.b64decode(encoded, validate=True), _seal_body(info, events_digest))
    except (InvalidSignature, ValueError, TypeError):
        return [f"{MEMBER}: the seal does not match (events.json or the keys were changed)"], []
    if local and kid not in local:
        return [f"{MEMBER}: sealed with key {kid}, which this installation does not trust"], []
    if not local:
        return [], [
            f"sealed with key {kid}, but no trusted key is configured here: compare {kid} "
            "with the key id you were given, then set UAP_SIGNING_PUBLIC_KEYS to that public "
            "key to verify against it"
        ]
    return [], []


def _seal_body(info: dict, events_digest: str) -> bytes:
    body = {
        "database": info.get("database"),
        "keys": sorted(info.get("public_keys") or {}),
        "events_sha256": events_digest,
    }
    return json.dumps(body, sort_keys=True).encode("utf-8")
