"""What every API function resolves first: the migrations directory and its files."""

from __future__ import annotations

from pathlib import Path

from schema_audit import conf
from schema_audit.files import discovery


def migrations_dir(directory: Path | str | None = None) -> Path:
    """The migrations directory: the argument, else the UAP_MIGRATIONS_DIR setting."""
    return Path(directory) if directory else conf.UAP_MIGRATIONS_DIR


def migration_files(directory: Path | str | None) -> list[discovery.MigrationFile]:
    """Every migration file of the directory (see `migrations_dir`), validated."""
    return discovery.discover(migrations_dir(directory))
