"""`-- Depends:` against one database: every Django migration a pending file names must be
known to Django and applied there (Django's `django_migrations`) before the file may run."""

from __future__ import annotations

import psycopg
from django.db.migrations.loader import MigrationLoader

from schema_audit.exceptions import RefusedRequest, raise_all
from schema_audit.files import django_names
from schema_audit.files.discovery import MigrationFile

# Django's recorder owns the table; it is read where Django's own connection finds it (the
# search_path), and a database where `migrate` never ran has none.
_APPLIED = """
SELECT app, name FROM django_migrations WHERE app = ANY(%s)
"""
_TABLE = "SELECT to_regclass('django_migrations') IS NOT NULL"


def check_depends(conn: psycopg.Connection, pending: list[MigrationFile]) -> None:
    """Raise unless every Django migration the pending files depend on is applied.

    InvalidMigration(s) for a name Django's loader does not know (each file and name); then
    RefusedRequest naming every known one not applied on this database.
    """
    wanted = [(m.path, m.header.lines.get("depends"), m.depends) for m in pending if m.depends]
    if not wanted:
        return
    loader = django_names.disk_migrations()
    raise_all(django_names.unknown_problems(wanted, loader))
    missing = not_applied(conn, [name for _, _, names in wanted for name in names], loader)
    if missing:
        needed_by = {name: [m.path.name for m in pending if name in m.depends] for name in missing}
        listed = "; ".join(
            f"{app}.{name} (needed by {', '.join(files)})"
            for (app, name), files in needed_by.items()
        )
        raise RefusedRequest(
            f"Django migrations not applied on database {conn.info.dbname}: {listed}; run "
            "`manage.py migrate` first, then run this again"
        )


def not_applied(
    conn: psycopg.Connection,
    names: list[tuple[str, str]],
    loader: MigrationLoader | None = None,
) -> list[tuple[str, str]]:
    """The names among `names` that Django has not recorded as applied on `conn`'s database.

    A squashed migration counts as applied once every migration it replaces is (Django
    records those first and the squash itself only on a later `migrate`).
    """
    names = list(dict.fromkeys(names))
    if not names:
        return []
    if not conn.execute(_TABLE).fetchone()[0]:
        return names
    apps = sorted({app for app, _ in names})
    applied = {tuple(row) for row in conn.execute(_APPLIED, (apps,)).fetchall()}
    loader = loader or django_names.disk_migrations()

    def done(key: tuple[str, str]) -> bool:
        migration = loader.disk_migrations.get(key)
        replaces = getattr(migration, "replaces", None) or ()
        return key in applied or bool(replaces) and all(tuple(r) in applied for r in replaces)

    return [name for name in names if not done(name)]
