"""Errors raised by schema_audit; each carries its `uap_migrate` exit code (docs/reference.md)."""

from __future__ import annotations

from schema_audit.remedies import Remedy


class SchemaAuditError(Exception):
    """Base class of every schema_audit error."""

    exit_code = 2
    # What resolves it; the message stays neutral and each edge words the remedy for its
    # readers (remedies.py).
    remedy: Remedy | None = None


class InvalidMigration(SchemaAuditError, ValueError):
    """A migration file or directory is malformed; nothing was run."""

    def __init__(self, message: str, path: object = None, line: int | None = None, rule: str = ""):
        self.path = path
        self.line = line
        self.reason = message
        # The lint rule that reports the same problem, so lint and the runner agree.
        self.rule = rule
        where = f"{path}:{line}: " if path and line else f"{path}: " if path else ""
        super().__init__(f"{where}{message}")

    def as_dict(self) -> dict:
        """JSON-ready form: file, line, reason and the full message."""
        path = None if self.path is None else str(self.path)
        return {"file": path, "line": self.line, "reason": self.reason, "message": str(self)}


class InvalidMigrations(InvalidMigration):
    """Several files (or problems) are invalid, each in `problems`; nothing was run."""

    def __init__(self, problems: list[InvalidMigration]):
        self.problems = list(problems)
        first = self.problems[0]
        self.path, self.line, self.rule = first.path, first.line, first.rule
        self.reason = f"{len(self.problems)} problems in the migration files; nothing was run"
        ValueError.__init__(self, "\n".join(str(problem) for problem in self.problems))


def raise_all(problems: list[InvalidMigration]) -> None:
    """Raise the one problem, or every problem at once; nothing when the list is empty."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidMigrations(problems)


class RefusedRequest(SchemaAuditError):
    """The ledger's state forbids the request (drift, dirty row, out-of-order, bad target)."""

    def __init__(self, message: str, *, remedy: Remedy | None = None):
        self.remedy = remedy
        super().__init__(message)


class ForeignLedger(RefusedRequest):
    """The ledger's table name is taken by a table the runner did not create (another
    runner's); nothing was changed."""

    def __init__(self, message: str, *, table: str, tool: str | None, columns: tuple[str, ...]):
        self.table = table
        self.tool = tool  # None when the table is no known runner's
        self.columns = columns
        super().__init__(message)


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


class TransactionEscaped(SchemaAuditError):
    """A file's SQL ended the runner's transaction: what it ran before that point may be
    committed. Recorded as a failure; the run stops."""

    exit_code = 2  # like transaction control found before the run: the file is refused

    def __init__(self, message: str, outcome: object = None):
        self.outcome = outcome
        super().__init__(message)


ESCAPED = (
    "ended the runner's transaction (a COMMIT, ROLLBACK or BEGIN the checks before the run "
    "did not see, or a procedure that commits): what it ran before that point may be "
    "committed and stay applied; what was still open was rolled back. Check the schema and "
    "remove the transaction control before running it again"
)
