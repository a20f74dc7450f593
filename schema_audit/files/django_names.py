"""The Django migrations a `-- Depends:` header names, checked against Django's migration
loader: the migration modules on disk, never the database."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from django.apps import apps
from django.db.migrations.loader import MigrationLoader

from schema_audit.exceptions import InvalidMigration


def disk_migrations() -> MigrationLoader:
    """Django's loader with every installed app's migration modules read (no database)."""
    loader = MigrationLoader(None, load=False)
    loader.load_disk()
    return loader


def unknown(
    names: Iterable[tuple[str, str]], loader: MigrationLoader | None = None
) -> dict[tuple[str, str], str]:
    """`{(app_label, name): why}` for each name Django does not know, in the order given."""
    names = list(dict.fromkeys(names))
    if not names:
        return {}
    loader = loader or disk_migrations()
    return {name: why for name in names if (why := _why_unknown(loader, *name))}


def _why_unknown(loader: MigrationLoader, app_label: str, name: str) -> str:
    """'' when Django knows `app_label.name`, else what is wrong, with the likely fix."""
    if (app_label, name) in loader.disk_migrations:
        return ""
    if app_label not in {config.label for config in apps.get_app_configs()}:
        return f"no installed Django app has the label {app_label!r} (see INSTALLED_APPS)"
    if app_label not in loader.migrated_apps:
        return f"app {app_label!r} has no migrations"
    near = [n for a, n in loader.disk_migrations if a == app_label and n.startswith(name)]
    hint = f"; did you mean {app_label}.{near[0]}?" if len(near) == 1 else ""
    return f"app {app_label!r} has no migration named {name!r}{hint}"


def unknown_problems(
    files: Iterable[tuple[Path, int | None, tuple[tuple[str, str], ...]]],
    loader: MigrationLoader | None = None,
) -> list[InvalidMigration]:
    """An InvalidMigration for each Depends entry of each file that Django does not know.

    `files`: `(path, line of the Depends header, its (app_label, name) pairs)`.
    """
    files = [entry for entry in files if entry[2]]
    if not files:
        return []
    why = unknown([name for _, _, names in files for name in names], loader)
    return [
        InvalidMigration(
            f"Depends: {app_label}.{name}: {why[app_label, name]}",
            path,
            line,
            rule="depends-unknown",
        )
        for path, line, names in files
        for app_label, name in names
        if (app_label, name) in why
    ]
