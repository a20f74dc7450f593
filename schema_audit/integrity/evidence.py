"""Evidence bundle: a zip an auditor archives and re-verifies offline (no database needed).

Members: history.csv (schema_migrations), events.json (every event, every column),
migrations/<file> with migrations.json (checksums), fingerprint.json (the live schema, its
description and drift), chain.json (the hash-chain check), and manifest.json listing the
SHA-256 of every other member.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from schema_audit import csv_safe
from schema_audit.exceptions import InvalidMigration
from schema_audit.files import discovery, redact
from schema_audit.integrity import bundle, fingerprint
from schema_audit.ledger import chain, store

FORMAT = "uap-evidence/1"
MANIFEST = bundle.MANIFEST
# Every column of schema_migrations, in the table's own order.
# Members whose content the verifier checks, beyond their SHA-256.
CHECKED_MEMBERS = ("events.json", "chain.json", "fingerprint.json", "migrations.json")
HISTORY_COLUMNS = tuple(name for name, _ in store.MIGRATION_COLUMNS)


def _json(data: object) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True, default=_default).encode("utf-8") + b"\n"


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def members(
    rows: dict[str, dict],
    events: list[dict],
    files: list[discovery.MigrationFile],
    schema: dict,
    history: dict,
) -> dict[str, bytes]:
    """Every member of the bundle except the manifest, as bytes."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for version in sorted(rows, key=lambda v: (len(v.lstrip("0")), v.lstrip("0"))):
        row = rows[version]
        # Rollback and header text may quote a password (rows written before masking, too).
        writer.writerow([_cell(_masked(row.get(name))) for name in HISTORY_COLUMNS])
    events = [_redacted_event(event) for event in events]
    listing = []
    out = {"history.csv": table.getvalue().encode("utf-8"), "events.json": _json(events)}
    for migration in files:
        member = f"migrations/{migration.path.name}"
        # The text discovery read and checked, never the path again (a link could be swapped).
        text = redact.redact(migration.sql)
        out[member] = text.encode("utf-8")
        row = rows.get(migration.version) or {}
        item = {
            "version": migration.version,
            "name": migration.name,
            "file": member,
            "checksum": migration.checksum,
            "ledger_checksum": (row.get("checksum") or "").strip() or None,
            "status": row.get("status") or "pending",
        }
        if text != migration.sql:
            # The checksum stays the file's as written; the shipped text is checked by its own.
            item.update(redacted=True, shipped_checksum=discovery.checksum(text))
        listing.append(item)
    out["migrations.json"] = _json(listing)
    out["fingerprint.json"] = _json(schema)
    out["chain.json"] = _json(
        {"chain": chain.verify(events), "trigger": history.get("trigger"), "live": history}
    )
    return out


def _redacted_event(event: dict) -> dict:
    """The event with its SQL's password literals masked (events written before redaction)."""
    text = redact.redact(event.get("sql_text"))
    if text == event.get("sql_text"):
        return event
    return {**event, "sql_text": text, chain.REDACTED: True}


def _masked(value: object) -> object:
    return redact.redact(value) if isinstance(value, str) else value


def _cell(value: object) -> object:
    # char(64) checksums come back blank-padded; the cell is the value, neutralised.
    return csv_safe.cell(value.rstrip(" ") if isinstance(value, str) else value)


def write(contents: dict[str, bytes], out: str | Path | BinaryIO, database: str) -> dict:
    """Write the zip with its manifest to a path or binary file; the manifest and its SHA-256."""
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "database": database,
        "files": {name: _sha256(data) for name, data in sorted(contents.items())},
        # The verifier inflates no member beyond its size here.
        "sizes": {name: len(data) for name, data in sorted(contents.items())},
    }
    manifest_bytes = _json(manifest)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, manifest_bytes)
        for name, data in sorted(contents.items()):
            archive.writestr(name, data)
    return {**manifest, "manifest_sha256": _sha256(manifest_bytes)}


def verify(source: str | Path | BinaryIO) -> dict:
    """Re-check a bundle offline: `{intact, verified, problems, findings, manifest_sha256, ...}`.

    `problems` mean the bundle was altered; `findings` are what it shows (a broken chain,
    schema drift, a file that differs from the ledger). InvalidBundle when it is malformed.
    """
    checked = bundle.read(source)
    problems, manifest = list(checked.problems), checked.manifest
    if manifest["format"] != FORMAT:
        problems.append(f"unknown bundle format {manifest['format']!r}")
    findings: list[str] = []
    result = {"manifest_sha256": checked.manifest_sha256, "created_at": manifest.get("created_at")}
    try:
        _content_checks(checked, problems, findings, result)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        problems.append(f"missing or malformed member: {type(exc).__name__}: {exc}")
    result.update(
        intact=not problems,
        verified=not problems and not findings,
        problems=problems,
        findings=findings,
        files=len(manifest["files"]),
    )
    return result


def _content_checks(checked: bundle.Bundle, problems: list, findings: list, result: dict) -> None:
    """What the members say: the chain recomputed, the fingerprint, each file's checksum."""
    data = checked.members
    unread = [name for name in CHECKED_MEMBERS if name not in data]
    problems += [f"{name}: missing" for name in unread if name not in checked.manifest["files"]]
    if unread:  # a listed member that was not read already has its problem
        return
    events = json.loads(data["events.json"])
    history = chain.verify(events)
    result["history"] = history
    if history != json.loads(data["chain.json"])["chain"]:
        problems.append("chain.json does not match the chain recomputed from events.json")
    if not history["verified"]:
        findings.append(f"event log hash chain broken: {history['first_break']}")
    schema = json.loads(data["fingerprint.json"])
    result["schema"] = {k: schema.get(k) for k in ("current", "drift", "recorded")}
    problems += _schema_problems(schema)
    if schema.get("drift"):
        changed = ", ".join(f"{c['change']} {c['kind']} {c['name']}" for c in schema["changes"])
        findings.append(f"schema drift from the last recorded fingerprint: {changed}")
    listing = json.loads(data["migrations.json"])
    problems += _file_problems(listing, data, findings, set(checked.manifest["files"]))


def _schema_problems(schema: dict) -> list[str]:
    description = schema.get("description")
    if description is None:
        return ["fingerprint.json has no schema description"]
    if fingerprint.digest(fingerprint.canonical(description)) != schema.get("current"):
        return ["fingerprint.json: the description does not hash to its fingerprint"]
    return []


def _file_problems(
    listing: list[dict], data: dict[str, bytes], findings: list[str], listed: set[str]
) -> list[str]:
    problems = []
    for item in listing:
        member = item["file"]
        if member not in data:
            if member not in listed:  # a listed member that was not read has its problem
                problems.append(f"{member}: missing")
            continue
        try:
            actual = discovery.checksum(discovery.decode(data[member], member))
        except InvalidMigration as exc:
            problems.append(str(exc))
            continue
        as_written = item["checksum"]
        if actual != (item["shipped_checksum"] if item.get("redacted") else as_written):
            problems.append(f"{member}: checksum differs from migrations.json (modified)")
        elif item["ledger_checksum"] and item["ledger_checksum"] != as_written:
            findings.append(f"{member}: file differs from the checksum recorded when applied")
    return problems
