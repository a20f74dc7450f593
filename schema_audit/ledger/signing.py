"""Ed25519 signatures on the events the app writes, made with a key the database never sees.

The hash chain proves order and that nothing was edited, not who wrote a row: any role with
INSERT on the event log gets its row chained like the app's. So every event the app writes
carries `signature` = `<key id>:<base64 signature>`, made with UAP_SIGNING_KEY; a row without a
valid one was not written by the app and never opens the approval gate, never becomes the
drift reference, and fails `--verify` and `--verify-evidence`.

What is signed. The log is append-only, so the signature travels in the INSERT itself, before
the chain trigger sets the row's id, prev_hash and hash. The writer takes the chain's advisory
lock first (the trigger takes the same lock, held to commit, so nobody appends in between),
reads the chain head, and signs `payload()`: the database's name, that head (the row's
prev_hash to be), every field the writer fills (large texts by their SHA-256), and the two
the trigger takes from the session (applied_by, application). Only id and recorded_at, set by
the trigger under the lock, are left to the hash chain. The verifier
rebuilds the payload from the stored row. Binding the head ties a signature to one place in one
chain: a signed row copied later, or into another database, does not verify.

Key id: the first 16 hex digits of the SHA-256 of the raw public key. Verification trusts the
public half of UAP_SIGNING_KEY and every key of UAP_SIGNING_PUBLIC_KEYS (old keys stay there
after a rotation so older events still verify).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schema_audit.keys import (  # noqa: F401 (the keys' names, where signatures are made)
    Keys,
    key_id,
    keys,
    private_key,
    private_pem,
    public_keys,
    public_pem,
    trusted_from_pems,
)
from schema_audit.ledger import chain
from schema_audit.ledger.terms import Action

FORMAT = "uap-event-signature/1"
# The fields a writer fills, in payload order, with how each is rendered (chain.py's kinds;
# "digest": the SHA-256 of the text). New fields are appended, never inserted.
SIGNED_FIELDS = (
    ("version", "text"),
    ("action", "text"),
    ("status", "text"),
    ("started_at", "timestamp"),
    ("duration_ms", "int"),
    ("error_message", "text"),
    ("sqlstate", "text"),
    ("os_user", "text"),
    ("host", "text"),
    ("app_version", "text"),
    ("checksum", "char"),
    ("sql_text", "digest"),
    ("reason", "text"),
    ("ticket", "text"),
    ("fingerprint", "char"),
    ("schema_description", "digest"),
    ("trace", "jsonb"),
    ("rollout", "text"),
    ("actor", "text"),
    # Set by the chain trigger from the session, known to the writer before the INSERT: signed
    # so that an event whose SQL an export masks (its hash not recomputable) still binds them.
    ("applied_by", "text"),
    ("application", "text"),
)
# Events the database writes itself (the DDL audit trigger): never signed, never trusted.
DATABASE_ACTIONS = (Action.OUT_OF_BAND_DDL,)
VALID, UNSIGNED, UNKNOWN_KEY, INVALID = "valid", "unsigned", "unknown key", "invalid"


def _text(value: object, kind: str) -> str | None:
    if kind != "digest":
        return chain.field_text(value, kind)
    if value is None:
        return None
    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()


def payload(
    event: dict, database: str, prev_hash: str | None, digests: dict | None = None
) -> bytes:
    """The bytes signed for `event` written in `database` after chain head `prev_hash`.

    `digests` gives the SHA-256 of a large field whose text is not at hand (a masked export).
    """
    parts = [FORMAT, f"database={len(database)}:{database}", f"prev={prev_hash or '~'}"]
    for name, kind in SIGNED_FIELDS:
        if digests and name in digests:
            text = digests[name]
        else:
            text = _text(event.get(name), kind)
        parts.append(f"{name}=~" if text is None else f"{name}={len(text)}:{text}")
    return "|".join(parts).encode("utf-8")


def sign(key: Ed25519PrivateKey, event: dict, database: str, prev_hash: str | None) -> str:
    """`<key id>:<base64 signature>` of `event` at its place in the chain."""
    signature = key.sign(payload(event, database, prev_hash))
    return f"{key_id(key.public_key())}:{base64.b64encode(signature).decode('ascii')}"


def check(event: dict, trusted: Keys, database: str, digests: dict | None = None) -> str:
    """VALID, UNSIGNED, UNKNOWN_KEY or INVALID: `event`'s signature against its stored row."""
    stored = (event.get("signature") or "").strip()
    if not stored:
        return UNSIGNED
    kid, _, encoded = stored.partition(":")
    public = trusted.trusted.get(kid)
    if public is None:
        return UNKNOWN_KEY
    try:
        signature = base64.b64decode(encoded, validate=True)
        prev = (event.get("prev_hash") or "").strip() or None
        public.verify(signature, payload(event, database, prev, digests))
    except (InvalidSignature, ValueError):
        return INVALID
    return VALID
