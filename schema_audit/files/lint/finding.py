"""The lint rules, their levels, squawk's names for them, and one finding. Pure."""

from __future__ import annotations

from dataclasses import dataclass

ERROR, WARNING = "error", "warning"
RULES = {
    "file-name": (ERROR, "file name is not NNN_vX.Y_description.sql"),
    "duplicate-version": (ERROR, "two files use the same version"),
    "layout-format": (ERROR, "another runner's file that runner would refuse (markers, metadata)"),
    "encoding": (ERROR, "file is not UTF-8, or holds a NUL byte"),
    "unreadable": (ERROR, "file cannot be read"),
    "empty-file": (ERROR, "no header and no SQL statements"),
    "header-missing": (ERROR, "header lacks Migration, Version, Description or Rollback"),
    "rollback-placeholder": (ERROR, "Rollback is still a TODO placeholder"),
    "depends-format": (ERROR, "Depends names something that is not app_label.migration_name"),
    "depends-unknown": (ERROR, "Depends names an app or migration Django does not know"),
    "retired-reason": (ERROR, "a Retired line without the reason the file never runs"),
    "version-mismatch": (ERROR, "header Version differs from the file name"),
    "psql-meta": (ERROR, "psql meta-command (\\i, \\set, ...) is not SQL"),
    "parse-error": (ERROR, "SQL does not parse"),
    "transaction-control": (ERROR, "BEGIN/COMMIT/ROLLBACK inside a migration"),
    "needs-transaction-none": (ERROR, "statement cannot run in a transaction"),
    "if-not-exists": (ERROR, "CREATE TABLE/INDEX without IF NOT EXISTS"),
    "fk-on-delete": (ERROR, "foreign key without ON DELETE"),
    "lint-ignore": (ERROR, "Lint-ignore names an unknown rule"),
    "secret-in-migration": (ERROR, "password literal in the SQL (shown to auditors, in git)"),
    "column-without-index": (WARNING, "new column without an index in the same file"),
    "index-not-concurrent": (WARNING, "CREATE INDEX on an existing table without CONCURRENTLY"),
    "destructive-change": (WARNING, "DROP, type change, rename or truncate not declared Breaking"),
    "empty-migration": (WARNING, "a header and no statements: applies as a recorded no-op"),
    "dry-run-side-effect": (WARNING, "acts beyond a rollback, even in a dry run or trace"),
    # Lock and rewrite rules, named as squawk names them.
    "adding-field-with-default": (WARNING, "ADD COLUMN whose DEFAULT rewrites the table"),
    "adding-required-field": (WARNING, "NOT NULL column without a DEFAULT on an existing table"),
    "adding-not-nullable-field": (WARNING, "SET NOT NULL scans the table under ACCESS EXCLUSIVE"),
    "constraint-missing-not-valid": (WARNING, "CHECK on an existing table without NOT VALID"),
    "adding-foreign-key-constraint": (WARNING, "foreign key on an existing table, not NOT VALID"),
    "disallowed-unique-constraint": (WARNING, "UNIQUE/PRIMARY KEY without USING INDEX"),
    "changing-column-type": (WARNING, "column type change rewrites an existing table"),
    "require-concurrent-index-deletion": (WARNING, "DROP INDEX without CONCURRENTLY"),
    "require-concurrent-reindex": (WARNING, "REINDEX without CONCURRENTLY (PostgreSQL 12+)"),
    "require-concurrent-partition-detach": (WARNING, "DETACH PARTITION without CONCURRENTLY"),
    # Column type preferences: only with UAP_LINT_TYPE_RULES (the guide's own schema uses these).
    "prefer-bigint-over-int": (WARNING, "int column: use bigint"),
    "prefer-bigint-over-smallint": (WARNING, "smallint column: use bigint"),
    "prefer-identity": (WARNING, "serial column: use an identity column"),
    "prefer-timestamptz": (WARNING, "timestamp without time zone: use timestamptz"),
    "prefer-text-field": (WARNING, "varchar(n) column: use text with a CHECK"),
    "ban-char-field": (WARNING, "char(n) column: use text"),
}
TYPE_RULES = frozenset(
    {
        "prefer-bigint-over-int",
        "prefer-bigint-over-smallint",
        "prefer-identity",
        "prefer-timestamptz",
        "prefer-text-field",
        "ban-char-field",
    }
)
# Rules that carry squawk's own name.
SQUAWK_NAMED = frozenset(
    {
        "adding-field-with-default",
        "adding-required-field",
        "adding-not-nullable-field",
        "constraint-missing-not-valid",
        "adding-foreign-key-constraint",
        "disallowed-unique-constraint",
        "changing-column-type",
        "require-concurrent-index-deletion",
        "require-concurrent-reindex",
        "require-concurrent-partition-detach",
        *TYPE_RULES,
    }
)
# squawk's names for our rules that check the same thing; a new rule above takes squawk's name.
SQUAWK_ALIASES = {
    "parse-error": ("syntax-error",),
    "transaction-control": ("transaction-nesting", "ban-uncommitted-transaction"),
    "needs-transaction-none": ("ban-concurrent-index-creation-in-transaction",),
    "if-not-exists": ("prefer-robust-stmts",),
    "index-not-concurrent": ("require-concurrent-index-creation",),
    "adding-foreign-key-constraint": ("constraint-missing-not-valid",),
    "prefer-bigint-over-int": ("prefer-big-int",),
    "prefer-bigint-over-smallint": ("prefer-big-int",),
}
# Every rule name squawk has documented: accepted in `-- Lint-ignore:` so that ignores written
# for squawk keep working, including rules this linter has no counterpart for.
SQUAWK_RULES = frozenset(
    {
        *SQUAWK_NAMED,
        *(alias for aliases in SQUAWK_ALIASES.values() for alias in aliases),
        "adding-serial-primary-key-field",
        "ban-drop-column",
        "ban-drop-database",
        "ban-drop-not-null",
        "ban-drop-table",
        "ban-truncate-cascade",
        "renaming-column",
        "renaming-table",
        "ban-create-domain-with-constraint",
        "ban-alter-domain-with-add-constraint",
        "require-timeout-settings",
        "require-lock-timeout",
        "require-statement-timeout",
        "identifier-too-long",
        "require-enum-value-ordering",
        "require-table-schema",
        "ban-drop-default",
        "ban-drop-function",
        "ban-drop-trigger",
        "ban-drop-type",
        "ban-drop-view",
    }
)


@dataclass(frozen=True)
class Finding:
    """One checklist item a file breaks: where, which rule, and what to do."""

    path: str
    line: int
    rule: str
    message: str
    # squawk's names for this very finding where one rule of ours covers several of theirs
    # (destructive-change is ban-drop-column, renaming-table, ...).
    aliases: tuple[str, ...] = ()

    @property
    def level(self) -> str:
        """`error` or `warning`."""
        return RULES[self.rule][0]

    @property
    def squawk(self) -> tuple[str, ...]:
        """squawk's rule names for this finding, which `-- Lint-ignore:` also accepts."""
        own = (self.rule,) if self.rule in SQUAWK_NAMED else ()
        return own + SQUAWK_ALIASES.get(self.rule, ()) + self.aliases

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "path": self.path,
            "line": self.line,
            "rule": self.rule,
            "message": self.message,
            "level": self.level,
            "squawk": list(self.squawk),
        }
