"""What the admin needs besides the ORM: whether the tables are ready, and the files on disk.

The admin reads the ledger rows through the ORM; these tell it what only the catalog and the
files on disk know. They never create or change anything.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.db import connections, router

from schema_audit import api
from schema_audit.files import discovery
from schema_audit.ledger import store
from schema_audit.models import SchemaMigration

_READY_SQL = """
SELECT c.relname, a.attname::text
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.oid IN (to_regclass(%s), to_regclass(%s))
"""
_disk_cache: dict[Path, tuple[tuple, dict[int, discovery.MigrationFile]]] = {}


def ledger_database() -> str:
    """The alias the admin reads the ledger from: `default`, or where the routers send it."""
    return router.db_for_read(SchemaMigration)


def tracking_tables_ready(database: str | None = None) -> bool:
    """True when both tracking tables exist with every column the admin reads."""
    with connections[database or ledger_database()].cursor() as cursor:
        cursor.execute(_READY_SQL, (store.MIGRATIONS_TABLE, store.EVENTS_TABLE))
        found = {(table, column) for table, column in cursor.fetchall()}
    wanted = {(store.MIGRATIONS_TABLE, name) for name, _ in store.MIGRATION_COLUMNS}
    wanted |= {(store.EVENTS_TABLE, name) for name, _ in store.EVENT_COLUMNS}
    return wanted <= found


def disk_migrations(directory: Path | str | None = None) -> dict[int, discovery.MigrationFile]:
    """`{version number: MigrationFile}` on disk; InvalidMigration when unreadable.

    Files are re-read only when a name, size or mtime in the directory changed, so a page that
    checks drift on every request does not hash every file every time.
    """
    folder = api.migrations_dir(directory)
    try:
        signature = tuple(
            sorted(
                (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
                for entry in os.scandir(folder)
                if entry.name.endswith(".sql")
            )
        )
    except OSError:
        signature = None  # discover() raises the precise error
    cached = _disk_cache.get(folder)
    if signature is not None and cached and cached[0] == signature:
        return cached[1]
    files = {m.number: m for m in discovery.discover(folder)}
    if signature is not None:
        _disk_cache[folder] = (signature, files)
    return files


def shown_path(path: Path | str | None = None) -> str:
    """A migrations path as auditors see it: relative to BASE_DIR, or just its name.

    The server's absolute layout (home directories, release folders) is none of the audit.
    """
    where = Path(path or api.migrations_dir())
    base = getattr(settings, "BASE_DIR", None)
    if base:
        try:
            return str(where.resolve().relative_to(Path(base).resolve()))
        except (ValueError, OSError):
            pass
    return where.name


def shown_error(exc: Exception, directory: Path | str | None = None) -> str:
    """`exc`'s message with the migrations directory's absolute path shown as `shown_path`."""
    folder = api.migrations_dir(directory)
    message = str(exc)
    for spelling in {str(folder), str(folder.resolve())}:
        message = message.replace(spelling, shown_path(folder))
    return message
