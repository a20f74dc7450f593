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
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schema_audit.ledger import chain

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
DATABASE_ACTIONS = ("out_of_band_ddl",)
VALID, UNSIGNED, UNKNOWN_KEY, INVALID = "valid", "unsigned", "unknown key", "invalid"
_PEM = "-----BEGIN"


@dataclass(frozen=True)
class Keys:
    """The signing key (or None) and every trusted public key by id."""

    signer: Ed25519PrivateKey | None = None
    trusted: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        """True when signatures can be checked (some key is trusted)."""
        return bool(self.trusted)


def key_id(public: Ed25519PublicKey) -> str:
    """A short, stable name of a public key: 16 hex digits of the SHA-256 of its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    """The public key as PEM text (SubjectPublicKeyInfo), for settings and evidence bundles."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def private_pem(key: Ed25519PrivateKey) -> str:
    """The private key as unencrypted PKCS#8 PEM text."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _pem_text(value: str) -> str:
    """PEM text given inline or as the path of a file holding it; ValueError if neither."""
    text = value.strip()
    if text.startswith(_PEM):
        return text
    # Never repeat the value: a key pasted with quotes or without its BEGIN line is taken
    # for a path here, and an error naming that "path" would print the private key.
    if _PEM in text or "\n" in text or len(text) > 4096:
        raise ValueError("PEM text that does not start with its -----BEGIN line (quotes kept?)")
    path = Path(text).expanduser()
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ValueError(f"not PEM text and not a readable PEM file ({reason})") from None


@lru_cache(maxsize=16)
def _load_private(text: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"a {type(key).__name__}, not an Ed25519 private key")
    return key


@lru_cache(maxsize=64)
def _load_public(text: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"a {type(key).__name__}, not an Ed25519 public key")
    return key


def private_key(value: object) -> Ed25519PrivateKey | None:
    """UAP_SIGNING_KEY: PEM text or a path to a PEM file; None when empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, (str, Path)):
        raise ValueError(f"{type(value).__name__} is not PEM text or a file path")
    return _load_private(_pem_text(str(value)))


def public_keys(value: object) -> tuple[Ed25519PublicKey, ...]:
    """UAP_SIGNING_PUBLIC_KEYS: PEM blocks, or paths (a list, or one comma-separated string)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        if _PEM in value:
            blocks = value.split(_PEM)[1:]
            items = [_PEM + block for block in blocks]
        else:
            items = [item for item in value.split(",") if item.strip()]
    elif isinstance(value, (list, tuple)) and all(isinstance(i, (str, Path)) for i in value):
        items = [str(item) for item in value]
    else:
        raise ValueError(f"{value!r} is not a list of PEM public keys or paths")
    return tuple(_load_public(_pem_text(item)) for item in items)


def keys(signer: Ed25519PrivateKey | None, extra: tuple[Ed25519PublicKey, ...] = ()) -> Keys:
    """The Keys of a signing key and the other trusted public keys."""
    trusted = {key_id(public): public for public in extra}
    if signer is not None:
        trusted[key_id(signer.public_key())] = signer.public_key()
    return Keys(signer, trusted)


def trusted_from_pems(pems: dict[str, str]) -> Keys:
    """Keys trusting `{key id: PEM}` (an evidence bundle's); ValueError if an id is wrong."""
    trusted = {}
    for wanted, pem in pems.items():
        public = _load_public(pem)
        if key_id(public) != wanted:
            raise ValueError(f"public key listed as {wanted} has id {key_id(public)}")
        trusted[wanted] = public
    return Keys(None, trusted)


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
