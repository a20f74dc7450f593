"""`manage.py uap_migrate`: arguments to the API, results to the terminal. No SQL here."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand

from schema_audit import api
from schema_audit.cli import fleet as fleet_report
from schema_audit.cli.deploy import FORMATS
from schema_audit.cli.reporter import Reporter
from schema_audit.engine import fleet, postgres
from schema_audit.exceptions import Interrupted, RefusedRequest, SchemaAuditError
from schema_audit.ledger import provenance


class Command(BaseCommand):
    help = "Apply versioned SQL migrations from db/migrations and record each in the audit log."
    requires_system_checks: list = []  # a deploy step: do not import the URLconf and admin

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--plan", action="store_true", help="list what would run; change nothing"
        )
        mode.add_argument("--status", action="store_true", help="table of every version")
        mode.add_argument(
            "--check",
            action="store_true",
            help="exit 0 if up to date, 1 if migrations are pending, 2 on drift/failed/dirty",
        )
        mode.add_argument(
            "--dry-run",
            action="store_true",
            help="run pending migrations in a transaction that is rolled back",
        )
        mode.add_argument("--rollback", metavar="NNN", help="run NNN's Rollback SQL")
        mode.add_argument(
            "--baseline", metavar="NNN", help="mark versions up to NNN as applied, unrun"
        )
        mode.add_argument(
            "--repair", metavar="NNN", help="resolve NNN's running row (with --mark)"
        )
        mode.add_argument(
            "--accept-checksum", metavar="NNN", help="record NNN's changed file checksum"
        )
        mode.add_argument("--patch", metavar="FILE", help="apply an emergency patch file")
        mode.add_argument(
            "--lint",
            nargs="*",
            metavar="FILE",
            help="pre-deploy checklist over FILEs (default: every migration); no database",
        )
        # The files of --lint may also follow other options (`--lint --format github a.sql`).
        parser.add_argument("lint_files", nargs="*", metavar="FILE", help=argparse.SUPPRESS)
        parser.add_argument(
            "--mark", choices=("completed", "failed"), help="the status --repair sets"
        )
        parser.add_argument("--reason", help="why (recorded on the event)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="rollback an older version, baseline an empty DB, or re-run a patch",
        )
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument(
            "--format",
            choices=sorted({f for formats in FORMATS.values() for f in formats}),
            help="output: text or json; markdown with --trace; github or gcc with --lint",
        )
        parser.add_argument(
            "--trace",
            action="store_true",
            help="with (or implying) --dry-run: measure each statement's locks, rewrites and "
            "duration, and keep the trace on the dry_run event",
        )
        parser.add_argument(
            "--dry-run-role",
            metavar="ROLE",
            help="with --dry-run/--trace: run the files on a session logged in as this role "
            "(default UAP_DRY_RUN_ROLE)",
        )
        parser.add_argument("--target", metavar="NNN", help="apply up to and including NNN")
        parser.add_argument(
            "--out-of-order",
            action="store_true",
            help="allow pending versions lower than the newest applied one",
        )
        parser.add_argument("--dir", help="migrations directory (default UAP_MIGRATIONS_DIR)")
        parser.add_argument(
            "--database",
            help="Django database alias, or a comma-separated list of them (default: default)",
        )
        parser.add_argument(
            "--all-databases",
            action="store_true",
            help="every PostgreSQL alias in DATABASES (narrowed by UAP_FLEET)",
        )
        parser.add_argument(
            "--canary", metavar="ALIAS", help="run on ALIAS first, alone; stop if it fails"
        )
        parser.add_argument(
            "--parallel", type=int, default=1, metavar="N", help="targets run at once (1)"
        )
        parser.add_argument(
            "--on-error",
            choices=fleet.ON_ERROR,
            default="stop",
            help="after a target fails: start no other (stop) or go on (continue)",
        )
        parser.add_argument(
            "--lock-wait",
            type=float,
            metavar="S",
            help="seconds to wait for another runner's lock (default UAP_LOCK_WAIT)",
        )
        parser.add_argument("--lock-timeout", help="SET LOCAL lock_timeout in each migration")
        parser.add_argument(
            "--statement-timeout", help="SET LOCAL statement_timeout in each migration"
        )
        mode.add_argument(
            "--verify",
            action="store_true",
            help="check the event log's hash chain and the schema fingerprint; exit 2 if not",
        )
        mode.add_argument(
            "--install-ddl-audit",
            action="store_true",
            help="record DDL not run by uap_migrate in the event log (needs a superuser)",
        )
        mode.add_argument("--evidence", metavar="OUT.zip", help="write an evidence bundle")
        mode.add_argument(
            "--verify-evidence",
            metavar="IN.zip",
            help="re-verify an evidence bundle offline (no database)",
        )
        parser.add_argument(
            "--rollout",
            metavar="ID",
            help="continue fleet rollout ID: this run's events carry its id (a fleet run's "
            "Resume with: line gives it)",
        )
        parser.add_argument(
            "--ticket",
            help="change ticket recorded on every event (default UAP_CHANGE_TICKET)",
        )
        parser.add_argument(
            "--actor",
            metavar="NAME",
            help="who deploys, recorded on every event (default UAP_ACTOR, else the CI's "
            "variables, else the OS user)",
        )

    def handle(self, *args, **options):
        report = Reporter(self.stdout, self.stderr, self.style, as_json=options["json"])
        try:
            files = options.pop("lint_files", None) or []
            if files and options["lint"] is None:
                raise RefusedRequest(f"{files[0]}: file arguments go with --lint")
            if files:
                options["lint"] = [*options["lint"], *files]
            # Built again with the chosen format once it is known to fit the mode.
            report = Reporter(
                self.stdout,
                self.stderr,
                self.style,
                as_json=options["json"],
                fmt=output_format(options),
            )
            with (
                provenance.change_ticket(options["ticket"]),
                postgres.run_lock_wait(options["lock_wait"]),
                _terminate_like_ctrl_c(),
                provenance.deploy_actor(actor_of(options)),
            ):
                code = self._run(report, options)
        except SchemaAuditError as exc:
            code = report.error(exc)
        except KeyboardInterrupt:
            # psycopg cancels the running statement and the file's transaction rolls back on
            # the way out; what is left to do is say so instead of printing a traceback.
            code = report.error(Interrupted())
        if code:
            sys.exit(code)

    def _run(self, report: Reporter, options: dict) -> int:
        """One database through _dispatch, or a fleet of them, each through _dispatch."""
        if options["parallel"] < 1:
            raise RefusedRequest(f"--parallel {options['parallel']}: give 1 or more")
        if options.get("dry_run_role") and not (options["dry_run"] or options["trace"]):
            raise RefusedRequest("--dry-run-role goes with --dry-run or --trace")
        if options["lint"] is not None or options["verify_evidence"]:
            return self._dispatch(report, {**options, "database": "default"})  # no database
        targets = fleet.resolve_targets(options["database"], options["all_databases"])
        if fleet_report.is_fleet(targets):
            return fleet_report.run(self._dispatch, report, options, targets)
        if options["canary"] not in (None, targets[0]):
            raise RefusedRequest(f"--canary {options['canary']}: not one of the targets")
        with provenance.fleet_rollout(fleet.checked_rollout_id(options["rollout"])):
            return self._dispatch(report, {**options, "database": targets[0]})

    def _dispatch(self, report: Reporter, options: dict) -> int:
        where = {"directory": options["dir"], "database": options["database"]}
        if options["verify_evidence"]:
            path = options["verify_evidence"]
            return report.evidence_verified(path, api.verify_evidence(path))
        if options["verify"]:
            return report.verify(api.verify(options["database"]))
        if options["install_ddl_audit"]:
            state = api.install_ddl_audit(options["database"])
            return report.ddl_audit_installed(state)
        if options["evidence"]:
            manifest = api.export_evidence(options["evidence"], **where)
            return report.exported(options["evidence"], manifest)
        if options["lint"] is not None:
            return report.lint(
                api.lint_migrations(options["lint"], options["dir"], options["database"])
            )
        operation = self._operation(options, where)
        if operation is not None:
            return report.operation(operation)
        timeouts = {
            "lock_wait": options["lock_wait"],
            "lock_timeout": options["lock_timeout"],
            "statement_timeout": options["statement_timeout"],
        }
        if options["dry_run"] or options["trace"]:
            result = api.dry_run(
                **where,
                target=options["target"],
                out_of_order=options["out_of_order"],
                trace=options["trace"],
                role=options["dry_run_role"],
                **timeouts,
            )
            return report.traced(result) if options["trace"] else report.dry_run(result)
        if options["status"]:
            return report.status(api.migration_status(**where))
        if options["check"]:
            return report.check(api.migration_status(**where))
        if options["plan"]:
            status = api.migration_status(
                **where, target=options["target"], out_of_order=options["out_of_order"]
            )
            return report.plan(status)
        result = api.run_pending(
            **where,
            target=options["target"],
            out_of_order=options["out_of_order"],
            **timeouts,
            progress=None if report.as_json else report.progress,
        )
        return report.applied(result)

    def _operation(self, options: dict, where: dict) -> dict | None:
        """Run --rollback/--baseline/--repair/--accept-checksum/--patch, if one was given."""
        common = {"reason": options["reason"], "lock_wait": options["lock_wait"]}
        timeouts = {
            "lock_timeout": options["lock_timeout"],
            "statement_timeout": options["statement_timeout"],
        }
        if options["repair"]:
            if not options["mark"]:
                raise RefusedRequest("--repair needs --mark completed or --mark failed")
            return api.repair(options["repair"], options["mark"], **where, **common)
        if options["mark"]:
            raise RefusedRequest("--mark goes with --repair NNN")
        force = options["force"]
        if options["rollback"]:
            return api.rollback(options["rollback"], **where, **common, force=force, **timeouts)
        if options["baseline"]:
            return api.baseline(options["baseline"], **where, **common, force=force)
        if options["accept_checksum"]:
            return api.accept_checksum(options["accept_checksum"], **where, **common)
        if options["patch"]:
            return api.apply_patch(
                options["patch"], where["database"], **common, force=force, **timeouts
            )
        return None


_MODES = (
    "plan",
    "status",
    "check",
    "rollback",
    "baseline",
    "repair",
    "accept_checksum",
    "patch",
    "verify",
    "install_ddl_audit",
    "evidence",
    "verify_evidence",
)


def output_format(options: dict) -> str:
    """The --format for this mode; RefusedRequest when the mode has no such format."""
    chosen = options.get("format")
    if options.get("trace") and (
        options.get("lint") is not None or any(options.get(name) for name in _MODES)
    ):
        raise RefusedRequest("--trace goes with --dry-run (or alone, which implies it)")
    mode = "lint" if options.get("lint") is not None else "trace" if options.get("trace") else None
    allowed = FORMATS[mode or "other"]
    if chosen is None:
        return "json" if options.get("json") else "text"
    if options.get("json") and chosen != "json":
        raise RefusedRequest(f"--json and --format {chosen} disagree; give one of them")
    if chosen not in allowed:
        what = {"lint": "--lint", "trace": "--trace"}.get(mode, "this mode")
        raise RefusedRequest(
            f"--format {chosen} is not available for {what}; use one of {', '.join(allowed)}"
        )
    return chosen


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def _terminate_like_ctrl_c() -> Iterator[None]:
    """SIGTERM (a deploy tool stopping the job) takes Ctrl-C's path: the statement in progress
    is cancelled, its file rolls back, a message and exit 130, instead of dying silently."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def actor_of(options: dict) -> str | None:
    """The checked --actor, or None; RefusedRequest (exit 2) when it is not usable."""
    if options.get("actor") is None:
        return None
    try:
        return provenance.check_actor(options["actor"])
    except ValueError as exc:
        raise RefusedRequest(
            f"--actor {options['actor']!r}: {exc}; give a name or e-mail of at most "
            f"{provenance.ACTOR_MAX_LENGTH} printable characters"
        ) from exc
