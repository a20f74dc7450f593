"""What `uap_migrate` prints for the auditor's modes: --verify, --evidence, --verify-evidence."""

from __future__ import annotations

import json

from schema_audit.cli.terminal import Block

_MARK = {"added": "+", "removed": "-", "altered": "~"}
_SINGULAR = {"indexes": "index", "policies": "policy", "event_triggers": "event trigger"}


def dump_json(data: dict) -> Block:
    """The command's JSON document: indented, anything unusual as text (its strings escaped)."""
    return Block(json.dumps(data, indent=2, default=str))


def history_line(history: dict) -> str:
    """One sentence on the hash chain: verified, or where it breaks."""
    if history["verified"]:
        before = f" ({history['unchained']} from before chaining)" if history["unchained"] else ""
        head = f", head {history['head'][:16]}" if history["head"] else ""
        return f"History verified: {history['chained']} events chained{before}{head}."
    broken = history["first_break"]
    where = f"event {broken['id']} ({broken.get('action')} {broken.get('version') or ''})"
    where = where.replace(" )", ")") if broken["id"] is not None else "the event log"
    return f"History NOT verified: {where}: {broken['problem']}."


def access_line(access: dict) -> str:
    """One sentence on the access log's hash chain."""
    if access["verified"]:
        before = f" ({access['unchained']} from before chaining)" if access["unchained"] else ""
        return f"Access log verified: {access['chained']} records chained{before}."
    broken = access["first_break"]
    return f"Access log NOT verified: record {broken['id']}: {broken['problem']}."


def schema_lines(schema: dict) -> list[str]:
    """The fingerprint verdict and, on drift, what changed."""
    took = f"({schema['elapsed_ms']:g} ms)"
    recorded = schema["recorded"]
    if recorded is None:
        return [
            f"Schema fingerprint {schema['current'][:16]} {took}; none recorded yet, nothing to "
            "compare (the next run of uap_migrate records one)."
        ] + ([f"problem: {schema['problem']}"] if schema["problem"] else [])
    source = (
        f"event {recorded['event_id']} ({recorded['action']} {recorded['version'] or ''}, "
        f"{recorded['started_at'][:19].replace('T', ' ')})"
    )
    if not schema["drift"]:
        lines = [f"Schema matches the fingerprint recorded by {source} {took}."]
    else:
        lines = [f"Schema DRIFT from the fingerprint recorded by {source} {took}:"]
        for change in schema["changes"]:
            kind = _SINGULAR.get(change["kind"], change["kind"].rstrip("s"))
            lines.append(f"  {_MARK[change['change']]} {kind} {change['name']} {change['change']}")
            lines += [f"      {detail}" for detail in change["details"]]
    if schema["problem"]:
        lines.append(f"problem: {schema['problem']}")
    return lines


class IntegrityReport:
    """The auditor's modes of the command as text; mixed into Reporter (needs out, err, style)."""

    def verify(self, result: dict, code: int) -> None:
        """`--verify`: the hash chains, the schema against its fingerprint, DDL capture."""
        history = history_line(result["history"])
        (self.out if result["history"]["verified"] else self.err).write(history)
        if result.get("access_log") is not None:
            access = result["access_log"]
            (self.out if access["verified"] else self.err).write(access_line(access))
        stream = (
            self.out
            if not (result["schema"]["drift"] or result["schema"]["problem"])
            else self.err
        )
        for line in schema_lines(result["schema"]):
            stream.write(line)
        for event in result["out_of_band_ddl"]:
            stream.write(
                f"out-of-band DDL, event {event['id']} at {event['started_at']:%Y-%m-%d %H:%M:%S} "
                f"by {event['applied_by']} ({event['application'] or 'no application_name'}, "
                f"{event['host']}): {event['ddl_objects']}"
            )
        capture = result["ddl_audit"]
        state = (
            "on" if capture["enabled"] else "DISABLED" if capture["installed"] else "not installed"
        )
        self.out.write(f"Out-of-band DDL capture: {state}.")

    def ddl_audit_installed(self, state: dict, code: int) -> None:
        """`--install-ddl-audit`."""
        self.out.write(
            "Out-of-band DDL audit installed: DDL not run by uap_migrate is recorded as "
            "out_of_band_ddl events."
        )

    def exported(self, manifest: dict, code: int) -> None:
        """`--evidence OUT.zip`: where, how many files, and the manifest hash to write down."""
        path = manifest["path"]
        self.out.write(f"Evidence bundle written to {path}: {len(manifest['files'])} files.")
        self.out.write(
            f"Manifest SHA-256: {manifest['manifest_sha256']} (record it with the bundle)"
        )
        self.out.write(history_line(manifest["history"]))
        for line in schema_lines(manifest["schema"]):
            self.out.write(line)

    def evidence_verified(self, result: dict, code: int) -> None:
        """`--verify-evidence IN.zip`: intact or altered, and what the checks found."""
        for problem in result["problems"]:
            self.err.write(self.style.ERROR(f"problem: {problem}"))
        for finding in result["findings"]:
            self.err.write(f"finding: {finding}")
        state = "intact" if result["intact"] else "ALTERED"
        self.out.write(
            f"Evidence bundle {result['path']} is {state}: {result['files']} files, "
            f"manifest SHA-256 {result['manifest_sha256']}."
        )
        if "history" in result:
            self.out.write(history_line(result["history"]))
