"""A fleet's evidence: one zip holding a folder per database, each folder one database's bundle.

`fleet.json` at the top names the rollout and the SHA-256 of each folder's manifest, so a
folder swapped for another database's or removed is detected offline.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from schema_audit.exceptions import InvalidMigration
from schema_audit.integrity import evidence

FLEET_MANIFEST = "fleet.json"
FORMAT = "uap-fleet-evidence/1"


def write(bundles: dict[str, bytes], out: str | Path | BinaryIO, rollout: str) -> dict:
    """Write one zip with a folder per database from each database's own bundle bytes."""
    manifests: dict[str, str] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for alias, data in sorted(bundles.items()):
            with zipfile.ZipFile(io.BytesIO(data)) as single:
                for info in single.infolist():
                    member = single.read(info)
                    archive.writestr(f"{alias}/{info.filename}", member)
                    if info.filename == evidence.MANIFEST:
                        manifests[alias] = hashlib.sha256(member).hexdigest()
        fleet = {
            "format": FORMAT,
            "rollout": rollout,
            "created_at": datetime.now(timezone.utc).isoformat(),
            "databases": manifests,
        }
        text = json.dumps(fleet, indent=2, sort_keys=True).encode()
        archive.writestr(FLEET_MANIFEST, text)
    # The hash to keep beside the bundle: fleet.json names every database's manifest hash.
    return {**fleet, "manifest_sha256": hashlib.sha256(text).hexdigest()}


def is_fleet_bundle(bundle: str | Path | BinaryIO) -> bool:
    """True when `bundle` is a readable zip with a fleet manifest at its top."""
    try:
        with zipfile.ZipFile(bundle) as archive:
            found = FLEET_MANIFEST in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    if hasattr(bundle, "seek"):
        bundle.seek(0)
    return found


def verify(bundle: str | Path | BinaryIO) -> dict:
    """Verify every database's folder as its own bundle; the same keys as `evidence.verify`."""
    try:
        with zipfile.ZipFile(bundle) as archive:
            data = {info.filename: archive.read(info) for info in archive.infolist()}
        fleet = json.loads(data[FLEET_MANIFEST])
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidMigration(f"not a readable fleet evidence bundle: {exc}", bundle) from exc
    expected = fleet.get("databases") if isinstance(fleet, dict) else None
    if not isinstance(expected, dict) or not expected:
        # A bundle vouching for no database proves nothing: malformed, never "intact".
        raise InvalidMigration("fleet.json lists no databases", bundle)
    folders = {name.split("/", 1)[0] for name in data if "/" in name}
    problems = [f"folder {name}/ is not listed in fleet.json" for name in folders - set(expected)]
    findings: list[str] = []
    databases: dict[str, dict] = {}
    for alias, manifest_sha in sorted(expected.items()):
        result = _verify_folder(data, alias, manifest_sha)
        databases[alias] = result
        problems += [f"{alias}: {problem}" for problem in result["problems"]]
        findings += [f"{alias}: {finding}" for finding in result["findings"]]
    return {
        "manifest_sha256": hashlib.sha256(data[FLEET_MANIFEST]).hexdigest(),
        "created_at": fleet.get("created_at"),
        "rollout": fleet.get("rollout"),
        "databases": databases,
        "intact": not problems,
        "verified": not problems and not findings,
        "problems": problems,
        "findings": findings,
        "files": sum(r.get("files", 0) for r in databases.values()),
    }


def _verify_folder(data: dict[str, bytes], alias: str, manifest_sha: str) -> dict:
    prefix = f"{alias}/"
    members = {name[len(prefix) :]: body for name, body in data.items() if name.startswith(prefix)}
    if evidence.MANIFEST not in members:
        return {"problems": ["folder missing or has no manifest.json"], "findings": []}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as single:
        for name, body in members.items():
            single.writestr(name, body)
    buffer.seek(0)
    result = evidence.verify(buffer)
    if hashlib.sha256(members[evidence.MANIFEST]).hexdigest() != manifest_sha:
        result["problems"].append("manifest.json differs from the one fleet.json lists")
        result["intact"] = result["verified"] = False
    return result
