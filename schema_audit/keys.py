"""Ed25519 keys as settings give them: PEM text or a file's path, loaded, named by a short id.

UAP_SIGNING_KEY and UAP_SIGNING_PUBLIC_KEYS convert through these (schema_audit.conf); the
ledger signs and checks events with the keys (ledger/signing.py). Key id: the first 16 hex
digits of the SHA-256 of the raw public key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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
