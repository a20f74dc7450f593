"""Signing keys: a key from a file, rotation with the old public key kept, untrusted keys."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import override_settings

from schema_audit.ledger import signing
from tests.conftest import numbered

pytestmark = pytest.mark.django_db


def key_file(tmp_path, name: str) -> tuple[str, Ed25519PrivateKey]:
    """A new private key written to `name` (0600), and the key."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / name
    path.write_text(signing.private_pem(key), encoding="ascii")
    path.chmod(0o600)
    return str(path), key


def signatures(uap) -> dict:
    result = uap("--verify", "--json")
    return {**json.loads(result.out)["history"]["signatures"], "code": result.code}


def test_rotation_keeps_events_of_the_old_key_verifying(uap, database, migrations_dir, tmp_path):
    """Old key's public half in UAP_SIGNING_PUBLIC_KEYS: both keys' events verify; drop it and
    the old events fail, named."""
    folder = migrations_dir(numbered(2))
    old_path, old = key_file(tmp_path, "old.pem")
    new_path, _ = key_file(tmp_path, "new.pem")
    with override_settings(UAP_SIGNING_KEY=old_path):
        assert uap("--target", "001", directory=folder).code == 0
    old_public = signing.public_pem(old.public_key())
    with override_settings(UAP_SIGNING_KEY=new_path, UAP_SIGNING_PUBLIC_KEYS=[old_public]):
        assert uap(directory=folder).code == 0
        found = signatures(uap)
    assert found["code"] == 0 and found["signed"] == 2 and found["invalid"] == []
    assert signing.key_id(old.public_key()) in found["keys"]
    with override_settings(UAP_SIGNING_KEY=new_path):
        found = signatures(uap)
    assert found["code"] == 2 and found["invalid"] == [1]


def test_a_bundle_signed_with_a_key_this_installation_does_not_trust_is_altered(
    uap, migrations_dir, tmp_path
):
    """A bundle whose events verify with the keys it ships, but not with ours: ALTERED."""
    folder = migrations_dir(numbered(1))
    other_path, _ = key_file(tmp_path, "other.pem")
    with override_settings(UAP_SIGNING_KEY=other_path):
        assert uap(directory=folder).code == 0
        assert uap("--evidence", str(tmp_path / "a.zip"), directory=folder).code == 0
        assert uap("--verify-evidence", str(tmp_path / "a.zip")).code == 0
    result = uap("--verify-evidence", str(tmp_path / "a.zip"))
    assert result.code == 2 and "is ALTERED" in result.out
    assert "is not one this installation trusts" in result.err
