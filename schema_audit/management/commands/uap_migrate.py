"""`manage.py uap_migrate`: arguments to the API, results to the terminal. No SQL here."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand

from schema_audit import db as postgres
from schema_audit.cli import fleet as fleet_report
from schema_audit.cli import modes
from schema_audit.cli.reporter import Reporter
from schema_audit.engine import fleet
from schema_audit.engine.manual import MARKS
from schema_audit.exceptions import Interrupted, RefusedRequest, SchemaAuditError
from schema_audit.files import layouts
from schema_audit.ledger import provenance


class Command(BaseCommand):
    help = "Apply versioned SQL migrations from db/migrations and record each in the audit log."
    requires_system_checks: list = []  # a deploy step: do not import the URLconf and admin

    def run_from_argv(self, argv):
        # Django's start-up left some 80,000 objects that live as long as the process; the
        # collections a run of thousands of files sets off would walk them again and again.
        # Only from the command line: a process calling call_command keeps its own heap.
        gc.freeze()
        super().run_from_argv(argv)

    def add_arguments(self, parser):
        modes.add_arguments(parser)  # --plan, --rollback NNN, ...: declared in cli/modes.py
        # The files of --lint may also follow other options (`--lint --format github a.sql`).
        parser.add_argument("lint_files", nargs="*", metavar="FILE", help=argparse.SUPPRESS)
        parser.add_argument(
            "--mark",
            # Plain strings: argparse quotes the choices with repr() when it refuses a value.
            choices=[mark.value for mark in MARKS],
            help="the status --repair sets",
        )
        parser.add_argument("--reason", help="why (recorded on the event)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="rollback an older version, baseline an empty DB, or re-run a patch",
        )
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--format", choices=modes.format_choices(), help=modes.format_help())
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
            "--layout",
            choices=layouts.LAYOUTS,
            help="read the directory as this runner's folder (default: what its names show)",
        )
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
            "--lock-retries",
            type=int,
            metavar="N",
            help="run a file again up to N times when its lock is not available within "
            "UAP_LOCK_RETRY_TIMEOUT (default UAP_LOCK_RETRIES; 0: fail at once)",
        )
        parser.add_argument(
            "--lock-retry-wait",
            type=float,
            metavar="S",
            help="seconds a file may wait between its attempts, in all "
            "(default UAP_LOCK_RETRY_WAIT)",
        )
        parser.add_argument(
            "--statement-timeout", help="SET LOCAL statement_timeout in each migration"
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
            mode = modes.mode_of(options)
            # Built again with the chosen format once it is known to fit the mode.
            report = Reporter(
                self.stdout,
                self.stderr,
                self.style,
                as_json=options["json"],
                fmt=modes.output_format(mode, options),
            )
            with (
                provenance.change_ticket(options["ticket"]),
                postgres.run_lock_wait(options["lock_wait"]),
                layouts.forced(options["layout"]),
                _terminate_like_ctrl_c(),
                provenance.deploy_actor(actor_of(options)),
            ):
                code = self._run(report, mode, options)
        except SchemaAuditError as exc:
            code = report.error(exc)
        except KeyboardInterrupt:
            # psycopg cancels the running statement and the file's transaction rolls back on
            # the way out; what is left to do is say so instead of printing a traceback.
            code = report.error(Interrupted())
        if code:
            sys.exit(code)

    def _run(self, report: Reporter, mode: modes.Mode, options: dict) -> int:
        """One database, or a fleet of them (cli/fleet.py), in the given mode."""
        if options["parallel"] < 1:
            raise RefusedRequest(f"--parallel {options['parallel']}: give 1 or more")
        if options.get("dry_run_role") and mode.name not in ("dry_run", "trace"):
            if options.get("dry_run") or options.get("trace"):  # --rollback-to --dry-run
                raise RefusedRequest(
                    f"--dry-run-role does not go with {mode.flag}: its dry run runs the "
                    "Rollback SQL on the runner's own session, in one transaction rolled back "
                    "at the end; leave --dry-run-role out"
                )
            raise RefusedRequest("--dry-run-role goes with --dry-run or --trace")
        if not mode.database:
            return self._one(report, mode, {**options, "database": "default"})
        targets = fleet.resolve_targets(options["database"], options["all_databases"])
        if fleet_report.is_fleet(targets):
            return fleet_report.run(mode, report, options, targets)
        if options["canary"] not in (None, targets[0]):
            raise RefusedRequest(f"--canary {options['canary']}: not one of the targets")
        with provenance.fleet_rollout(fleet.checked_rollout_id(options["rollout"])):
            return self._one(report, mode, {**options, "database": targets[0]})

    def _one(self, report: Reporter, mode: modes.Mode, options: dict) -> int:
        """Run the mode on one database and print its result; its exit code."""
        progress = None if report.as_json else report.progress
        result, code = mode.run({**options, "progress": progress})
        mode.show(report, result, code)
        return code


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
