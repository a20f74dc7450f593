"""What `uap_migrate` prints as text: a line per file, tables, summaries, errors.

Each mode's renderer writes its result (cli/modes.py decides the exit code and writes JSON).
"""

from __future__ import annotations

from schema_audit import remedies
from schema_audit.cli import terminal
from schema_audit.cli.deploy import DeployReport
from schema_audit.cli.integrity import IntegrityReport, dump_json
from schema_audit.cli.versions import VersionReport
from schema_audit.engine import approvals
from schema_audit.engine.outcome import Outcome
from schema_audit.exceptions import SchemaAuditError
from schema_audit.files.discovery import MigrationFile
from schema_audit.ledger.terms import Action, Status

OK, FAIL = "✓", "✗"


def approval_note(item: dict, required: bool) -> str:
    """`  [approved by bob]` or `  [not approved: stale]` for a pending file; '' if unknown,
    or when approvals are not required and none was ever given."""
    approval = item.get("approval")
    if not approval or not required and approval["state"] in approvals.NOT_GIVEN:
        return ""
    if approval["state"] == "approved":
        return f"  [approved by {approval['approved_by']}]"
    return f"  [not approved: {approval['state']}]"


class Reporter(IntegrityReport, DeployReport, VersionReport):
    """Writes results to the command's stdout and stderr; returns the exit code."""

    def __init__(self, stdout, stderr, style, *, as_json: bool = False, fmt: str = "text"):
        # Every line goes through terminal.SafeStream: data never writes control characters.
        self.style = terminal.SafeStyle(style)
        self.out = terminal.SafeStream(stdout, self.style)
        self.err = terminal.SafeStream(stderr, self.style)
        self.as_json, self.fmt = as_json or fmt == "json", fmt
        self.tty = stdout.isatty() if hasattr(stdout, "isatty") else False

    def progress(self, event: str, migration: MigrationFile, outcome: Outcome | None) -> None:
        """One line per finished file as it finishes; a transient `applying …` line on a TTY."""
        if event == "start":
            if self.tty:
                label = terminal.escape(migration.label)
                self.err.raw.write(f"\r\033[K… applying {label}", ending="")
                self.err.flush()
            return
        if self.tty:
            self.err.raw.write("\r\033[K", ending="")
        if event == "retry":  # the file rolled back and runs again (a lock was held)
            why = terminal.escape(outcome.error or "")
            self.err.write(self.style.WARNING(f"… {migration.label}: {why}; retrying"))
            return
        mark = self.style.SUCCESS(OK) if event == "done" else self.style.ERROR(FAIL)
        suffix = "" if event == "done" else "  FAILED"
        if outcome.status == Status.ROLLED_BACK:  # retired: recorded, its SQL not run
            mark, suffix = "-", f"  retired, not run: {migration.retired}"
        self.out.write(f"{mark} {migration.label}  {outcome.duration_ms} ms{suffix}")
        self.out.flush()

    def applied(self, result: dict, code: int) -> None:
        """Summary of a run."""
        for error in result["errors"]:
            self.err.write(self.style.ERROR(f"error: {error['message']}"))
        total = sum(m["duration_ms"] for m in result["applied"])
        at = result["current_version"] or "none"
        if result["failed"]:
            self.out.write(
                f"{result['successful']} applied, {result['failed']} failed in {total} ms; "
                f"database at version {at}. Fix the file and run again."
            )
        elif result["successful"]:
            self.out.write(
                f"Applied {result['successful']} migration(s) in {total} ms; "
                f"database at version {at}."
            )
        elif retired := sum(m["status"] == Status.ROLLED_BACK for m in result["applied"]):
            self.out.write(
                f"Recorded {retired} retired migration(s) without running them; "
                f"database at version {at}."
            )
        else:
            self.out.write(f"Nothing to apply; database at version {at}.")

    def plan(self, status: dict, code: int) -> None:
        """What a run would apply, and what would stop it."""
        at = status["current_version"] or "none"
        self.out.write(f"Database at version {at}; {len(status['pending'])} to apply:")
        for item in status["pending"]:
            mode = "" if item.get("transactional", True) else ", outside a transaction"
            if item.get("retired"):
                mode = f"; retired: recorded, not run: {item['retired']}"
            self.out.write(
                f"  {item['version']} {item['name']}  ({item['file']}{mode})"
                f"{approval_note(item, status.get('approval_required', False))}"
            )
        self._problems(status)

    def status(self, status: dict, code: int) -> None:
        """Table of every version on disk or in the ledger."""
        header = ("VERSION", "NAME", "STATUS", "APPLIED AT", "MS", "FILE", "CHECKSUM")
        rows = [
            (
                m["version"],
                m["name"],
                m["status"],
                (m["applied_at"] or "")[:19].replace("T", " "),
                "" if m["duration_ms"] is None else str(m["duration_ms"]),
                "on disk" if m["on_disk"] else "MISSING",
                "DRIFT" if m["drift"] else (m["checksum"] or "")[:12],
            )
            for m in status["migrations"]
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.out.write("  ".join(cells).rstrip())
        at = status["current_version"] or "none"
        self.out.write("")
        self.out.write(
            f"Database at version {at}: {status['total_completed']} completed, "
            f"{status['total_pending']} pending."
        )
        self._problems(status)

    def check(self, status: dict, code: int) -> None:
        """The verdict: up to date (0), pending (1), or drift, failed or dirty (2)."""
        failed = [m for m in status["migrations"] if m["status"] == Status.FAILED]
        for m in failed:
            self.err.write(
                self.style.ERROR(f"{m['version']} {m['name']}: failed: {m['error_message']}")
            )
        if status.get("approval_required"):
            for item in status.get("pending", []):
                note = approval_note(item, True)
                self.out.write(f"  {item['version']} {item['name']}{note}")
        self._problems(status)
        verdict = {0: "up to date", 1: f"{status['total_pending']} pending", 2: "not consistent"}
        self.out.write(
            f"Database at version {status['current_version'] or 'none'}: {verdict[code]}."
        )

    def dry_run(self, result: dict, code: int) -> None:
        """One line per file of a dry run, and which would fail."""
        for item in result["dry_run"]:
            label = f"{item['version']} {item['name']}"
            if item["status"] == Status.COMPLETED:
                self.out.write(f"{self.style.SUCCESS(OK)} {label}  {item['duration_ms']} ms  ok")
            elif item["status"] == Status.FAILED:
                where = f"{item['file']}:{item['line']}" if item["line"] else item["file"]
                self.out.write(
                    f"{self.style.ERROR(FAIL)} {label}  {item['duration_ms']} ms  FAILS"
                )
                self.err.write(
                    self.style.ERROR(
                        f"error: {where}: {label} would fail [SQLSTATE {item['sqlstate']}]: "
                        f"{item['error']}"
                    )
                )
            else:
                self.out.write(f"- {label}  skipped: {item['error']}")
        self.out.write(
            f"Dry run: {result['successful']} would apply, {result['failed']} would fail, "
            f"{result['skipped']} skipped; everything was rolled back."
        )

    def operation(self, result: dict, code: int) -> None:
        """The outcome of --rollback, --baseline, --repair, --accept-checksum or --patch."""
        version, status = result["version"], result["status"]
        lines = {
            Action.ROLLBACK: f"Rolled back {version} in {result.get('duration_ms')} ms; it is "
            "rolled_back and will not run again. Ship the fix as a new version.",
            Action.BASELINE: f"Marked {len(result.get('versions', []))} version(s) as baseline "
            f"({', '.join(result.get('versions', []))}); later versions will run.",
            Action.REPAIR: f"{version}: {result.get('previous')} -> {status}.",
            Action.ACCEPT_CHECKSUM: f"{version}: checksum {status}"
            + (f" ({result.get('checksum', '')[:12]}…)." if status == "accepted" else "."),
            Action.PATCH: f"Applied patch {version} in {result.get('duration_ms')} ms "
            f"(checksum {result.get('checksum', '')[:12]}…); recorded as a patch event.",
        }
        self.out.write(self.style.SUCCESS(OK) + " " + lines[result["action"]])

    def imported(self, result: dict, code: int) -> None:
        """The outcome of --import-history: what was recorded, and what the tool and the
        files on disk disagree on."""
        imported, already = result["imported"], result["already"]
        self.out.write(
            self.style.SUCCESS(OK) + f" Imported {len(imported)} version(s) from "
            f"{result['tool']}'s {result['table']} as baseline"
            + (f" ({_shortlist(imported)})" if imported else "")
            + (f"; {len(already)} already in the ledger" if already else "")
            + ". Nothing was run."
        )
        notes = (
            ("missing_files", "applied by {tool} with no file on disk (not recorded)"),
            ("not_applied", "on disk but never applied by {tool}, below its newest version"),
            (
                "after",
                "on disk after the newest version {tool} applied (the next run applies them)",
            ),
        )
        for key, what in notes:
            if result[key]:
                line = f"  {len(result[key])} {what.format(tool=result['tool'])}: "
                self.out.write(line + _shortlist(result[key]))

    def lint(self, result: dict, code: int) -> None:
        """`file:line: rule: message` per finding, or the --format's lines."""
        if self.fmt in ("github", "gcc"):
            self.lint_formatted(result)
            return
        for finding in result["findings"]:
            line = f"{finding['text']} ({finding['level']})"
            self.out.write(self.style.ERROR(line) if finding["level"] == "error" else line)
        self.out.write(
            f"Linted {result['files']} file(s): {result['errors']} error(s), "
            f"{result['warnings']} warning(s)."
        )

    def error(self, exc: SchemaAuditError) -> int:
        """An error that stopped the command, one line per problem it carries, each with its
        remedy in the command's flags; its exit code."""
        problems = getattr(exc, "problems", None) or [exc]
        if self.as_json:
            errors = [_error_dict(problem, exc.exit_code) for problem in problems]
            self.out.write(dump_json({"errors": errors}))
        for problem in problems:
            self.err.write(self.style.ERROR(f"error: {remedies.for_command(problem)}"))
        if len(problems) > 1:
            self.err.write(
                self.style.ERROR(f"{len(problems)} problems; nothing was run. Fix them all.")
            )
        return exc.exit_code

    def _problems(self, status: dict) -> None:
        for problem in status["problems"]:
            self.err.write(self.style.ERROR(f"problem: {problem}"))


def _error_dict(problem: SchemaAuditError, exit_code: int) -> dict:
    """`{message, exit_code}`, with `file`, `line` and `reason` for a file's problem."""
    details = problem.as_dict() if hasattr(problem, "as_dict") else {}
    return {**details, "message": remedies.for_command(problem), "exit_code": exit_code}


def _shortlist(versions: list[str], shown: int = 10) -> str:
    """The first `shown` versions, and how many more."""
    more = len(versions) - shown
    return ", ".join(versions[:shown]) + (f" and {more} more" if more > 0 else "")
