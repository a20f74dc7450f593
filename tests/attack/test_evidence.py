"""Attack: evidence bundles rewritten by someone without the signing key.

The verifying installation trusts a signing key (tests.settings sets UAP_SIGNING_KEY), so a
bundle of its ledger is expected to carry events signed with it. A forger who cannot sign
drops what they cannot reproduce, recomputes the unkeyed hash chain and reseals the manifest.
"""

from __future__ import annotations

import json
import zipfile

from schema_audit.integrity import evidence
from schema_audit.ledger import chain
from tests.conftest import numbered


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _write(path, members: dict[str, bytes]) -> None:
    manifest = json.loads(members[evidence.MANIFEST])
    manifest["files"] = {
        name: evidence._sha256(data) for name, data in members.items() if name != evidence.MANIFEST
    }
    members = {**members, evidence.MANIFEST: json.dumps(manifest).encode()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _rechain(members: dict[str, bytes], events: list[dict]) -> dict[str, bytes]:
    previous = None
    for event in events:
        event["prev_hash"] = previous
        event["hash"] = previous = chain.link_hash(previous, event)
    chain_json = json.loads(members["chain.json"])
    chain_json["chain"] = chain.verify(events)
    return {
        **members,
        "events.json": json.dumps(events).encode(),
        "chain.json": json.dumps(chain_json).encode(),
    }


def test_stripped_signatures_and_keys_do_not_verify(uap, migrations_dir, tmp_path):
    """Every signature and signing.json removed, who applied rewritten, chain recomputed."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    assert uap("--evidence", str(tmp_path / "a.zip"), directory=folder).code == 0
    members = _members(tmp_path / "a.zip")
    events = json.loads(members["events.json"])
    assert all(e.get("signature") for e in events)
    for event in events:
        event.pop("signature", None)
        event["applied_by"] = "somebody_else"
    members.pop(evidence.SIGNING)
    _write(tmp_path / "b.zip", _rechain(members, events))
    result = uap("--verify-evidence", str(tmp_path / "b.zip"))
    assert result.code != 0, result.out


def test_events_cut_from_the_end_do_not_verify(uap, migrations_dir, tmp_path):
    """The last apply removed from events.json (signed events kept as they were)."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    assert uap("--evidence", str(tmp_path / "a.zip"), directory=folder).code == 0
    members = _members(tmp_path / "a.zip")
    events = json.loads(members["events.json"])
    cut = events[:-1]
    chain_json = json.loads(members["chain.json"])
    chain_json["chain"] = chain.verify(cut)
    members["events.json"] = json.dumps(cut).encode()
    members["chain.json"] = json.dumps(chain_json).encode()
    _write(tmp_path / "b.zip", members)
    result = uap("--verify-evidence", str(tmp_path / "b.zip"))
    assert result.code != 0, result.out


def test_a_bundle_signed_with_its_own_new_key_is_not_intact_offline(
    uap, migrations_dir, tmp_path, settings
):
    """Forger's key in signing.json, every event rewritten and re-signed with it, chain
    recomputed; checked offline on a machine with no key configured (the auditor's case)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from schema_audit.ledger import signing

    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    assert uap("--evidence", str(tmp_path / "a.zip"), directory=folder).code == 0
    members = _members(tmp_path / "a.zip")
    events = json.loads(members["events.json"])
    info = json.loads(members[evidence.SIGNING])
    forger = Ed25519PrivateKey.generate()
    previous = None
    for event in events:
        event["applied_by"] = "somebody_else"
        event["prev_hash"] = previous
        event["signature"] = signing.sign(forger, event, info["database"], previous)
        event["hash"] = previous = chain.link_hash(previous, event)
    info["public_keys"] = {
        signing.key_id(forger.public_key()): signing.public_pem(forger.public_key())
    }
    chain_json = json.loads(members["chain.json"])
    chain_json["chain"] = chain.verify(events)
    members["events.json"] = json.dumps(events).encode()
    members["chain.json"] = json.dumps(chain_json).encode()
    members[evidence.SIGNING] = json.dumps(info).encode()
    _write(tmp_path / "b.zip", members)
    settings.UAP_SIGNING_KEY = None
    settings.UAP_SIGNING_PUBLIC_KEYS = None
    result = uap("--verify-evidence", str(tmp_path / "b.zip"))
    # Refused, or at least the forger's key named as unpinned so the reader can compare it.
    kid = signing.key_id(forger.public_key())
    assert result.code != 0 or kid in result.out + result.err, result.out
