"""`manage.py uap_seed [FILE]`: load the demo's idempotent sample data in one transaction."""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from schema_audit import api
from schema_audit.exceptions import SchemaAuditError


class Command(BaseCommand):
    help = "Load sample data (default db/seed.sql) into the database in one transaction."
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default=str(settings.BASE_DIR / "db" / "seed.sql"))
        parser.add_argument("--database", default="default", help="Django database alias")

    def handle(self, *args, **options):
        try:
            api.load_sql(Path(options["file"]), options["database"])
        except SchemaAuditError as exc:
            self.stderr.write(self.style.ERROR(f"error: {exc}"))
            sys.exit(exc.exit_code)
        self.stdout.write(f"Loaded {options['file']}.")
