"""`manage.py uap_makemigration`: write the next numbered SQL file with its header."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from schema_audit import conf
from schema_audit.cli.reporter import Reporter
from schema_audit.exceptions import InvalidMigration, SchemaAuditError, raise_all
from schema_audit.files import authoring, django_names
from schema_audit.files.guide import GUIDE
from schema_audit.files.header import parse_depends


class Command(BaseCommand):
    help = (
        "Write the next migration file NNN_vX.Y_description.sql in the migrations directory: "
        "the next version, padded like the existing files, one vX.Y minor on, the name as "
        "lower-case words, and a header (Migration, Version, Date, Author, Description, "
        "Rollback). `uap_migrate --lint` reports the Rollback placeholder until it is filled."
    )
    requires_system_checks: list = []  # an authoring step: no URLconf or admin needed

    def create_parser(self, prog_name, subcommand, **kwargs):
        # The writing guide ends the help, laid out as written.
        kwargs.setdefault("epilog", GUIDE)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "description",
            help='what the file does, in words ("add report index"); it names the file',
        )
        parser.add_argument(
            "--non-transactional",
            action="store_true",
            help="write `-- Transaction: none` (CREATE INDEX CONCURRENTLY, VACUUM, ...)",
        )
        parser.add_argument(
            "--depends",
            action="append",
            default=[],
            metavar="APP.MIGRATION",
            help="a Django migration to be applied first (`-- Depends:`); repeatable",
        )
        parser.add_argument("--dir", help="migrations directory (default UAP_MIGRATIONS_DIR)")
        parser.add_argument(
            "--json", action="store_true", help="print {path, version, name} as JSON"
        )

    def handle(self, *args, **options):
        report = Reporter(self.stdout, self.stderr, self.style, as_json=options["json"])
        try:
            written = authoring.write_next(
                Path(options["dir"]) if options["dir"] else conf.UAP_MIGRATIONS_DIR,
                options["description"],
                depends=checked_depends(options["depends"]),
                transactional=not options["non_transactional"],
            )
        except SchemaAuditError as exc:
            sys.exit(report.error(exc))
        if options["json"]:
            self.stdout.write(json.dumps(written.as_dict(), indent=2))
        else:
            self.stdout.write(str(written.path))


def checked_depends(values: list[str]) -> tuple[tuple[str, str], ...]:
    """The `--depends` values as `(app_label, name)`; every malformed or unknown one raised."""
    names, malformed = parse_depends(", ".join(values))
    problems = [
        InvalidMigration(f"--depends {entry!r}: give app_label.migration_name (e.g. auth.0012)")
        for entry in malformed
    ]
    problems += [
        InvalidMigration(f"--depends {app}.{name}: {why}")
        for (app, name), why in django_names.unknown(names).items()
    ]
    raise_all(problems)
    return names
