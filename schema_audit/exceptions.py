"""Errors raised by schema_audit; each carries the exit code of `uap_migrate` (CONTRACT §6)."""

from __future__ import annotations


class SchemaAuditError(Exception):
    """Base class of every schema_audit error."""

    exit_code = 2


class InvalidMigration(SchemaAuditError, ValueError):
    """A migration file or directory is malformed; nothing was run."""

    def __init__(self, message: str, path: object = None, line: int | None = None):
        self.path = path
        self.line = line
        where = f"{path}:{line}: " if path and line else f"{path}: " if path else ""
        super().__init__(f"{where}{message}")


class RefusedRequest(SchemaAuditError):
    """The ledger's state forbids the request (drift, dirty row, out-of-order, bad target)."""


class InvalidConfiguration(SchemaAuditError):
    """A setting (DATABASE_URL, --database) cannot be used; nothing was run."""


class DatabaseUnavailable(SchemaAuditError, ConnectionError):
    """The database could not be reached, or the connection was lost."""

    exit_code = 3


class LockTimeout(SchemaAuditError, TimeoutError):
    """Another runner held the migration lock longer than the lock wait."""

    exit_code = 3


class MigrationFailed(SchemaAuditError):
    """A migration's SQL failed; it was rolled back and recorded as failed."""

    exit_code = 1

    def __init__(self, message: str, outcome: object = None):
        self.outcome = outcome
        super().__init__(message)


class Interrupted(SchemaAuditError):
    """The run was interrupted (Ctrl-C); the file in progress was rolled back."""

    exit_code = 130  # the shell's convention for SIGINT

    def __init__(self):
        super().__init__(
            "interrupted: the migration in progress was rolled back and not recorded; "
            "files applied before it stay applied. Run again to continue."
        )


class InvalidBundle(InvalidMigration):
    """An evidence bundle is malformed or unsafe to read; nothing in it was trusted."""
