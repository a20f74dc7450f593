"""`manage.py uap_migrate`: arguments to the API, results to the terminal. No SQL here."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from schema_audit import api
from schema_audit.exceptions import Interrupted, SchemaAuditError
from schema_audit.report import Reporter


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
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--target", metavar="NNN", help="apply up to and including NNN")
        parser.add_argument(
            "--out-of-order",
            action="store_true",
            help="allow pending versions lower than the newest applied one",
        )
        parser.add_argument("--dir", help="migrations directory (default UAP_MIGRATIONS_DIR)")
        parser.add_argument("--database", default="default", help="Django database alias")
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

    def handle(self, *args, **options):
        report = Reporter(self.stdout, self.stderr, self.style, as_json=options["json"])
        try:
            code = self._dispatch(report, options)
        except SchemaAuditError as exc:
            code = report.error(exc)
        except KeyboardInterrupt:
            # psycopg cancels the running statement and the file's transaction rolls back on
            # the way out; what is left to do is say so instead of printing a traceback.
            code = report.error(Interrupted())
        if code:
            sys.exit(code)

    def _dispatch(self, report: Reporter, options: dict) -> int:
        where = {"directory": options["dir"], "database": options["database"]}
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
            lock_wait=options["lock_wait"],
            lock_timeout=options["lock_timeout"],
            statement_timeout=options["statement_timeout"],
            progress=None if options["json"] else report.progress,
        )
        return report.applied(result)
