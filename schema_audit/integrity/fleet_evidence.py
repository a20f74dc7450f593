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

from schema_audit.exceptions import InvalidBundle
from schema_audit.integrity import bundle, evidence

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
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, NotImplementedError):
        return False
    if hasattr(bundle, "seek"):
        bundle.seek(0)
    return found


def verify(source: str | Path | BinaryIO) -> dict:
    """Verify every database's folder as its own bundle; the same keys as `evidence.verify`.

    The zip is read in place, folder by folder, each member streamed (never inflated whole);
    duplicate names, encrypted, damaged or unknown members are InvalidBundle (exit 2).
    """
    archive = bundle.open_zip(source)
    with archive:
        infos = bundle.check_entries(archive.infolist(), source)
        named = {info.filename: info for info in infos}
        fleet_bytes = bundle.read_small(archive, named.get(FLEET_MANIFEST), FLEET_MANIFEST, source)
        try:
            fleet = json.loads(fleet_bytes)
        except ValueError as exc:
            raise InvalidBundle(f"{FLEET_MANIFEST} is not JSON: {exc}", source) from exc
        expected = fleet.get("databases") if isinstance(fleet, dict) else None
        if not isinstance(expected, dict) or not all(
            isinstance(sha, str) and "/" not in alias for alias, sha in expected.items()
        ):
            raise InvalidBundle(f"{FLEET_MANIFEST} lists no databases", source)
        folders = {name.split("/", 1)[0] for name in named if "/" in name}
        problems = [
            f"folder {name}/ is not listed in {FLEET_MANIFEST}"
            for name in sorted(folders - set(expected))
        ]
        stray = sorted(name for name in named if "/" not in name and name != FLEET_MANIFEST)
        problems += [
            f"{name}: outside every database's folder (added); not read" for name in stray
        ]
        findings: list[str] = []
        databases: dict[str, dict] = {}
        for alias, manifest_sha in sorted(expected.items()):
            result = _verify_folder(archive, named, alias, manifest_sha)
            databases[alias] = result
            problems += [f"{alias}: {problem}" for problem in result["problems"]]
            findings += [f"{alias}: {finding}" for finding in result["findings"]]
    if not databases:
        problems.append(f"{FLEET_MANIFEST} lists no database: there is nothing to verify")
    return {
        "manifest_sha256": hashlib.sha256(fleet_bytes).hexdigest(),
        "created_at": fleet.get("created_at"),
        "rollout": fleet.get("rollout"),
        "databases": databases,
        "intact": not problems,
        "verified": not problems and not findings,
        "problems": problems,
        "findings": findings,
        "files": sum(r.get("files", 0) for r in databases.values()),
    }


def _verify_folder(archive, named: dict, alias: str, manifest_sha: str) -> dict:
    prefix = f"{alias}/"
    if prefix + evidence.MANIFEST not in named:
        return {"problems": ["folder missing or has no manifest.json"], "findings": []}
    result = evidence.verify(archive, prefix)
    if result["manifest_sha256"] != manifest_sha:
        result["problems"].append("manifest.json differs from the one fleet.json lists")
        result["intact"] = result["verified"] = False
    return result
