"""Evidence bundle: a zip an auditor archives and re-verifies offline (no database needed).

Members: history.csv (schema_migrations), events.json (every event, every column),
migrations/<each file, by its path in the folder> with migrations.json (checksums),
fingerprint.json (the live schema, its description and drift), chain.json (the hash-chain
check), and manifest.json listing the SHA-256 of every other member.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import ijson
from django.conf import settings

from schema_audit import conf, csv_safe
from schema_audit.files import discovery, naming, redact
from schema_audit.integrity import bundle, bundle_signatures, fingerprint
from schema_audit.ledger import authorship, chain, store
from schema_audit.ledger.terms import Status

FORMAT = "uap-evidence/1"
MANIFEST = bundle.MANIFEST
# Every column of schema_migrations, in the table's own order.
# Members whose content the verifier checks, beyond their SHA-256.
CHECKED_MEMBERS = ("events.json", "chain.json", "fingerprint.json", "migrations.json")
SIGNING = bundle_signatures.MEMBER  # keys and database name for the events' signatures
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
    rules: authorship.Authorship | None = None,
    *,
    root: Path | None = None,
) -> dict[str, bytes]:
    """Every member of the bundle except the manifest, as bytes.

    `rules`: the log's database name and trusted keys, shipped for the signature checks.
    """
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for version in sorted(rows, key=naming.version_key):
        row = rows[version]
        # Rollback and header text may quote a password (rows written before masking, too).
        writer.writerow(
            [_cell(redact.redact_value(getattr(row, name))) for name in HISTORY_COLUMNS]
        )
    events = [_redacted_event(event) for event in events]
    listing = []
    out = {"history.csv": table.getvalue().encode("utf-8"), "events.json": _json(events)}
    root = _folder_of(files, root)
    for migration in files:
        member = f"migrations/{migration.path.relative_to(root).as_posix()}"
        # The text discovery read and checked, never the path again (a link could be swapped).
        text = redact.redact(migration.sql)
        out[member] = text.encode("utf-8")
        row = rows.get(migration.version)
        item = {
            "version": migration.version,
            "name": migration.name,
            "file": member,
            "checksum": migration.checksum,
            "ledger_checksum": ((row.checksum or "").strip() or None) if row else None,
            "status": (row.status if row else None) or Status.PENDING,
        }
        shipped = discovery.checksum(text)
        if shipped != migration.checksum:
            # The checksum stays the file's as written (without a `-- Retired:` line); the
            # shipped text, redacted or retired, is checked by its own.
            item.update(redacted=text != migration.sql, shipped_checksum=shipped)
        listing.append(item)
    out["migrations.json"] = _json(listing)
    out["fingerprint.json"] = _json(schema)
    info = bundle_signatures.shipped(rules) if rules else {"database": "", "public_keys": {}}
    key = conf.get("UAP_SIGNING_KEY") if settings.configured else None
    if key is not None:
        info = bundle_signatures.sealed(info, out["events.json"], key)
    out[SIGNING] = _json(info)
    since = min((e["id"] for e in events if e.get("signature")), default=None)
    vouched = bundle_signatures.vouched(events, bundle_signatures.rules_of(info, since))
    out["chain.json"] = _json(
        {
            "chain": chain.verify(events, vouched=vouched),
            "trigger": history.get("trigger"),
            "live": history,
        }
    )
    return out


def _redacted_event(event: dict) -> dict:
    """The event with its SQL's password literals masked (events written before redaction)."""
    text = redact.redact(event.get("sql_text"))
    if text == event.get("sql_text"):
        return event
    return bundle_signatures.masked(event, text)


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


def verify(source: str | Path | BinaryIO | zipfile.ZipFile, prefix: str = "") -> dict:
    """Re-check a bundle offline: `{intact, verified, problems, findings, manifest_sha256, ...}`.

    `problems` mean the bundle was altered; `findings` are what it shows (a broken chain,
    schema drift, a file that differs from the ledger). InvalidBundle when it is malformed.
    `prefix` names a database's folder inside a fleet's zip.
    """
    with bundle.opened(source, prefix) as checked:
        problems, manifest = checked.problems, checked.manifest
        if manifest["format"] != FORMAT:
            problems.append(f"unknown bundle format {manifest['format']!r}")
        findings: list[str] = []
        created = manifest.get("created_at")
        result = {"manifest_sha256": checked.manifest_sha256, "created_at": created}
        try:
            _content_checks(checked, problems, findings, result)
        except (KeyError, ValueError, TypeError, AttributeError, ijson.JSONError) as exc:
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
    unread = [name for name in CHECKED_MEMBERS if name not in checked.verified]
    problems += [f"{name}: missing" for name in unread if name not in checked.manifest["files"]]
    if unread:  # a listed member that was not read already has its problem
        return
    info = json.loads(checked.read(SIGNING) or b"null") if SIGNING in checked.verified else None
    # events.json is streamed twice, never held: once for where signing began, once to check
    # every event's signature and the chain together (chain.verify reads it to the end).
    with checked.open("events.json") as stream:
        since = min((e["id"] for e in EventStream(stream) if e.get("signature")), default=None)
    rules = bundle_signatures.rules_of(info, since)
    with checked.open("events.json") as stream:
        audited = bundle_signatures.AuditedEvents(EventStream(stream), rules)
        history = chain.verify(audited, vouched=audited.vouched)
    result["history"] = history
    small = {name: checked.read(name) for name in CHECKED_MEMBERS if name != "events.json"}
    if any(data is None for data in small.values()):
        return  # the problem is recorded
    if history != json.loads(small["chain.json"])["chain"]:
        problems.append("chain.json does not match the chain recomputed from events.json")
    if not history["verified"]:
        findings.append(f"event log hash chain broken: {history['first_break']}")
    problems += _signature_checks(audited, rules, findings, result)
    local = set(conf.signing_keys().trusted) if settings.configured else set()
    sealing = bundle_signatures.seal_verdict(
        info, checked.manifest["files"].get("events.json"), local
    )
    problems += sealing[0]
    findings += sealing[1]
    schema = json.loads(small["fingerprint.json"])
    result["schema"] = {k: schema.get(k) for k in ("current", "drift", "recorded")}
    problems += _schema_problems(schema)
    if schema.get("drift"):
        changed = ", ".join(f"{c['change']} {c['kind']} {c['name']}" for c in schema["changes"])
        findings.append(f"schema drift from the last recorded fingerprint: {changed}")
    listing = json.loads(small["migrations.json"])
    problems += _file_problems(listing, checked, findings)


class EventStream:
    """events.json's events, parsed one at a time; `len()` is their number (read to the end)."""

    def __init__(self, stream):
        head = stream.read(1)
        while head and head.isspace():
            head = stream.read(1)
        if head != b"[":
            raise ValueError("events.json is not a JSON list of events")
        self._items = ijson.items(_Prepended(b"[", stream), "item", use_float=True)
        self._count = 0

    def __iter__(self):
        for event in self._items:
            if not isinstance(event, dict):
                raise ValueError(f"events.json: event {self._count + 1} is not a JSON object")
            self._count += 1
            yield event

    def __len__(self) -> int:
        for _ in self:  # after a break in the chain: the rest is counted, not kept
            pass
        return self._count


class _Prepended:
    """A stream with bytes already read put back in front."""

    def __init__(self, head: bytes, stream):
        self._head, self._stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if self._head and size != 0:  # ijson reads 0 bytes to learn the stream's type
            head, self._head = self._head, b""
            return head
        return self._stream.read(size)


def _signature_checks(audited, rules, findings: list, result: dict) -> list[str]:
    """Every event's signature: findings for rows the app did not write; a problem for a key
    this installation does not trust (when it trusts any)."""
    signatures = audited.result
    result["signatures"] = signatures
    bad = sorted(signatures["missing"] + signatures["invalid"])
    if bad:
        shown = ", ".join(str(i) for i in bad[:20]) + (" …" if len(bad) > 20 else "")
        findings.append(f"events not written by the app (signature missing or invalid): {shown}")
    if not rules.keys.configured and audited.signed_seen:
        return [f"events carry signatures but {SIGNING} ships no public key (removed?)"]
    local = set(conf.signing_keys().trusted) if settings.configured else set()
    foreign = sorted(set(rules.keys.trusted) - local) if local else []
    if foreign:
        return [f"{SIGNING}: key {', '.join(foreign)} is not one this installation trusts"]
    return []


def _schema_problems(schema: dict) -> list[str]:
    description = schema.get("description")
    if description is None:
        return ["fingerprint.json has no schema description"]
    if fingerprint.digest(fingerprint.canonical(description)) != schema.get("current"):
        return ["fingerprint.json: the description does not hash to its fingerprint"]
    return []


def _folder_of(files: list, root: Path | None) -> Path | None:
    """The folder members are named from: the migrations directory (`root`) when every file
    is in it, else the folder they all share. A diesel migration is a folder of its own whose
    file is always `up.sql`, a sqitch change's is in `deploy/`, so members keep their path."""
    if root is not None and all(m.path.is_relative_to(root) for m in files):
        return root
    return Path(os.path.commonpath([m.path.parent for m in files])) if files else None


def _file_problems(listing: list[dict], checked: bundle.Bundle, findings: list[str]) -> list[str]:
    problems = []
    listed = set(checked.manifest["files"])
    for item in listing:
        member = item["file"]
        if member not in checked.verified:
            if member not in listed:  # a listed member that was not read has its problem
                problems.append(f"{member}: missing")
            continue
        with checked.open(member) as stream:
            actual, error = text_checksum(stream)
        if error:
            problems.append(f"{member}: {error}")
            continue
        as_written = item["checksum"]
        if actual != (item.get("shipped_checksum") or as_written):
            problems.append(f"{member}: checksum differs from migrations.json (modified)")
        elif item["ledger_checksum"] and item["ledger_checksum"] != as_written:
            findings.append(f"{member}: file differs from the checksum recorded when applied")
    return problems


def text_checksum(stream) -> tuple[str | None, str | None]:
    """`discovery.checksum(discovery.decode(...))` of a stream, chunk by chunk: `(sha256, None)`,
    or `(None, why)` when it is not UTF-8 text without NUL."""
    digest, decoder = hashlib.sha256(), codecs.getincrementaldecoder("utf-8")()
    first, carry = True, b""
    while True:
        chunk = stream.read(bundle.CHUNK_BYTES)
        if first and chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        first = False
        data = carry + chunk
        # A CR at the end of a chunk may be the first half of a CRLF.
        carry = b"\r" if chunk and data.endswith(b"\r") else b""
        data = data[: len(data) - len(carry)]
        try:
            decoder.decode(data, final=not chunk)
        except UnicodeDecodeError:
            return None, "not valid UTF-8"
        if b"\x00" in data:
            return None, "contains a NUL byte"
        digest.update(data.replace(b"\r\n", b"\n"))
        if not chunk:
            return digest.hexdigest(), None
