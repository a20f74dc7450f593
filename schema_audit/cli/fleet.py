"""`uap_migrate` over many databases: the mode (cli/modes.py) run on each target, a line per
target as it finishes, a summary table, and the command that resumes the rest."""

from __future__ import annotations

import io
import shlex
import time

import psycopg

from schema_audit import conf, remedies
from schema_audit import db as postgres
from schema_audit.cli import terminal
from schema_audit.cli.integrity import dump_json
from schema_audit.cli.modes import Mode, resume_flags
from schema_audit.cli.reporter import FAIL, OK, Reporter
from schema_audit.engine import fleet
from schema_audit.exceptions import (
    DatabaseUnavailable,
    LockTimeout,
    RefusedRequest,
    SchemaAuditError,
)
from schema_audit.integrity import fleet_evidence
from schema_audit.ledger.terms import Status

# The options besides the mode that a resumed run carries over.
_CARRIED = (
    *("mark", "reason", "force", "target", "out_of_order", "dir", "lock_wait", "lock_timeout"),
    *("statement_timeout", "ticket", "actor", "parallel", "on_error", "json", "dry_run_role"),
    *("lock_retries", "lock_retry_wait", "layout"),
    "format",
)
_WORDS = {0: "ok", 1: "failed", 2: "refused", 3: "unreachable", 130: "interrupted"}
_APPLIED = (Status.COMPLETED, Status.BASELINE)


def is_fleet(targets: list[str]) -> bool:
    """A fleet run when more than one target is addressed."""
    return len(targets) > 1


def run(mode: Mode, report: Reporter, options: dict, targets: list[str]) -> int:
    """Roll the command out to `targets`; print as targets finish; the fleet's exit code."""
    if report.fmt not in ("text", "json"):
        raise RefusedRequest(
            f"--format {report.fmt} is for one database; a fleet prints a table (text) or "
            "one JSON document (json): give --database with one alias for that output"
        )
    if conf.UAP_REQUIRE_APPROVAL and mode.approval:
        mode.approval(options, targets)
    bundles: dict[str, bytes] = {}
    work = _work(mode, options, bundles)
    view = FleetView(report, options)
    rollout = fleet.roll_out(
        targets,
        work,
        canary=options["canary"],
        parallel=options["parallel"],
        # A mode that changes no schema never needs protecting from the next target: report all.
        on_error=options["on_error"] if mode.writes else "continue",
        listener=view.event,
        rollout_id=options.get("rollout"),
    )
    if options["evidence"]:
        written = fleet_evidence.write(bundles, options["evidence"], rollout.rollout_id)
        view.evidence = {
            "path": str(options["evidence"]),
            "databases": sorted(written["databases"]),
            "manifest_sha256": written["manifest_sha256"],
        }
    return view.summary(rollout)


def _work(mode: Mode, options: dict, bundles: dict):
    """The per-target work: the mode on one database, its result kept as --json prints it."""

    def work(alias: str) -> fleet.TargetResult:
        mine = {**options, "database": alias}
        if options["evidence"]:
            mine["evidence"] = io.BytesIO()
        try:
            result, code = mode.run(mine)
        except SchemaAuditError as exc:
            error = remedies.for_command(exc)
            return fleet.TargetResult(alias, exc.exit_code, _failure_word(exc), error=error)
        except psycopg.OperationalError as exc:
            # A connection lost where no layer below turned it into DatabaseUnavailable: this
            # target is unreachable, the others go on.
            return fleet.TargetResult(alias, 3, "unreachable", error=f"lost the connection: {exc}")
        result = mode.document(result, code)
        if options["evidence"]:
            bundles[alias] = mine["evidence"].getvalue()
            # This database's bundle is the folder `alias/` of the fleet's zip.
            result = {**result, "path": str(options["evidence"]), "folder": f"{alias}/"}
        message = _first_problem(result)
        status = _status_word(mode, code, result)
        return fleet.TargetResult(alias, code, status, result=result, error=message)

    return work


def _first_problem(result: dict) -> str | None:
    errors = result.get("errors") or []
    if errors and isinstance(errors[0], dict):
        return errors[0].get("message") or errors[0].get("error")
    problems = result.get("problems") or []
    return problems[0] if problems else None


def _failure_word(exc: SchemaAuditError) -> str:
    if isinstance(exc, LockTimeout):
        return "locked"
    if isinstance(exc, DatabaseUnavailable):
        return "unreachable"
    return _WORDS.get(exc.exit_code, "failed")


def _status_word(mode: Mode, code: int, result: dict) -> str:
    if mode.words:
        return mode.words.get(code, "failed")
    if code == 0 and fleet.halt_requested() and result.get("total_pending"):
        return "stopped"  # finished its current file and stopped after another target failed
    return _WORDS.get(code, "failed")


def span(result: dict | None) -> tuple[str, str, str]:
    """(from version, to version, files) of one target's result, as shown in the table."""
    if not result:
        return "", "", ""
    now = result.get("current_version") or "none"
    if "applied" in result:
        done = {a["version"] for a in result["applied"] if a["status"] == Status.COMPLETED}
        before = [
            m["version"]
            for m in result.get("migrations", [])
            if m["status"] in _APPLIED and m["version"] not in done
        ]
        start = max(before, key=int) if before else "none"
        failed = f", {result['failed']} failed" if result.get("failed") else ""
        return start, now, f"{result['successful']} applied{failed}"
    if "rollbacks" in result:  # --rollback-to: from the newest it rolled back, to where it is
        start = result["rollbacks"][0]["version"] if result["rollbacks"] else now
        word = "rehearsed" if result["rehearsed"] else "rolled back"
        return start, now, f"{result['successful']} {word}"
    if "dry_run" in result:
        return now, now, f"{len(result['dry_run'])} tried"
    if "total_pending" in result:
        return now, now, f"{result['total_pending']} pending"
    return now if "current_version" in result else "", "", ""


class FleetView:
    """The fleet's human or JSON output: a line per finished target, a table, the totals."""

    def __init__(self, report: Reporter, options: dict):
        self.report, self.options = report, options
        self.started = time.perf_counter()
        self.running: list[str] = []
        self.finished = 0
        self.evidence: dict | None = None  # the fleet bundle written, once it is

    def event(self, kind: str, alias: str, result: fleet.TargetResult | None) -> None:
        """Listener of the rollout: progress on a terminal, a line per finished target."""
        if kind == "start":
            self.running.append(alias)
        else:
            self.running.remove(alias)
            self.finished += 1
            if not self.report.as_json:
                self._clear()
                self.report.out.write(self._line(result))
        if self.report.tty and not self.report.as_json and self.running:
            status = terminal.escape(f"{self.finished} done, running: {', '.join(self.running)}")
            self.report.err.raw.write(f"\r\033[K… {status}", ending="")
            self.report.err.flush()

    def _clear(self) -> None:
        if self.report.tty:
            self.report.err.raw.write("\r\033[K", ending="")

    def _line(self, target: fleet.TargetResult) -> str:
        start, end, files = span(target.result)
        versions = f"{start} → {end}" if start and end and start != end else end or start
        mark = self.report.style.SUCCESS(OK) if target.code == 0 else self.report.style.ERROR(FAIL)
        if target.status == "stopped":
            mark = "-"
        parts = [mark, target.alias, where(target.alias), versions, files]
        parts += [f"{target.seconds:.1f} s", target.status]
        line = "  ".join(part for part in parts if part)
        if not (target.error and target.code):
            return line
        return f"{line}: {target.error.removeprefix(target.status + ': ')}"

    def summary(self, rollout: fleet.Rollout) -> int:
        """The summary table (or JSON document) and the fleet's exit code."""
        code = rollout.exit_code
        targets = rollout.ordered()
        attention = [t for t in targets if t.code != 0 or t.status in ("stopped", "not_started")]
        resume = (
            resume_command(self.options, [t.alias for t in attention], rollout.rollout_id)
            if attention
            else None
        )
        if self.report.as_json:
            self.report.out.write(dump_json(self._document(rollout, targets, code, resume)))
            return code
        self._clear()
        self._table(targets)
        self.report.out.write(self._totals(rollout, targets))
        if self.evidence:
            self.report.out.write(
                f"Fleet evidence bundle written to {self.evidence['path']}: "
                f"{len(self.evidence['databases'])} database folder(s)."
            )
            self.report.out.write(
                f"Fleet manifest SHA-256: {self.evidence['manifest_sha256']} "
                "(record it with the bundle)"
            )
        if attention:
            names = ", ".join(f"{t.alias} ({t.status.replace('_', ' ')})" for t in attention)
            self.report.err.write(self.report.style.ERROR(f"Needs attention: {names}"))
            self.report.err.write(f"Resume with: {resume}")
        return code

    def _table(self, targets: list[fleet.TargetResult]) -> None:
        header = ("TARGET", "DATABASE", "FROM", "TO", "FILES", "TIME", "STATUS")
        rows = []
        for t in targets:
            start, end, files = span(t.result)
            seconds = f"{t.seconds:.1f} s" if t.status != fleet.NOT_STARTED else ""
            rows.append((t.alias, where(t.alias), start, end, files, seconds, t.status))
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        self.report.out.write("")
        for row in [header, *rows]:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.report.out.write("  ".join(cells).rstrip())

    def _totals(self, rollout: fleet.Rollout, targets: list[fleet.TargetResult]) -> str:
        counts: dict[str, int] = {}
        for t in targets:
            counts[t.status] = counts.get(t.status, 0) + 1
        listed = ", ".join(f"{n} {word.replace('_', ' ')}" for word, n in counts.items())
        seconds = time.perf_counter() - self.started
        return (
            f"Rollout {rollout.rollout_id}: {len(targets)} databases, {listed} "
            f"in {seconds:.1f} s; exit code {rollout.exit_code}."
        )

    def _document(self, rollout, targets, code, resume) -> dict:
        totals: dict[str, int] = {"targets": len(targets)}
        for t in targets:
            totals[t.status] = totals.get(t.status, 0) + 1
        return {
            "rollout": rollout.rollout_id,
            "canary": rollout.canary,
            "targets": [
                {**t.as_dict(), "database": where(t.alias), "exit_code": t.code} for t in targets
            ],
            "totals": totals,
            "exit_code": code,
            "resume": resume,
            "evidence": self.evidence,
        }


def where(alias: str) -> str:
    """`host:port/dbname` of an alias, never its password."""
    try:
        return postgres.describe(postgres.connection_params(alias))
    except SchemaAuditError:
        return "misconfigured"


def resume_command(options: dict, aliases: list[str], rollout_id: str) -> str:
    """The command that runs the same mode again on `aliases` only, in the same rollout."""
    argv = ["python", "manage.py", "uap_migrate", "--database", ",".join(aliases)]
    argv += ["--rollout", rollout_id]
    if options.get("canary") in aliases:
        argv += ["--canary", options["canary"]]  # the canary did not pass: it still goes first
    argv += resume_flags(options)
    for key in _CARRIED:
        value, flag = options.get(key), "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (None, False, "") and not (key == "parallel" and value == 1):
            if key == "on_error" and value == "stop":
                continue
            argv += [flag, str(value)]
    return shlex.join(argv)
