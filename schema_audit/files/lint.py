"""The guide's pre-deploy checklist (CONTRACT §8) over migration files, on pglast's parse tree.

Pure: reads files, never connects to a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

from schema_audit.exceptions import InvalidMigration
from schema_audit.files import discovery, redact
from schema_audit.files.discovery import line_of
from schema_audit.files.header import Header, parse_header
from schema_audit.files.statements import Statement, parse

ERROR, WARNING = "error", "warning"
RULES = {
    "file-name": (ERROR, "file name is not NNN_vX.Y_description.sql"),
    "duplicate-version": (ERROR, "two files use the same version"),
    "encoding": (ERROR, "file is not UTF-8"),
    "header-missing": (ERROR, "header lacks Migration, Version, Description or Rollback"),
    "version-mismatch": (ERROR, "header Version differs from the file name"),
    "psql-meta": (ERROR, "psql meta-command (\\i, \\set, ...) is not SQL"),
    "parse-error": (ERROR, "SQL does not parse"),
    "transaction-control": (ERROR, "BEGIN/COMMIT/ROLLBACK inside a migration"),
    "needs-transaction-none": (ERROR, "statement cannot run in a transaction"),
    "if-not-exists": (ERROR, "CREATE TABLE/INDEX without IF NOT EXISTS"),
    "fk-on-delete": (ERROR, "foreign key without ON DELETE"),
    "lint-ignore": (ERROR, "Lint-ignore names an unknown rule"),
    "column-without-index": (WARNING, "new column without an index in the same file"),
    "index-not-concurrent": (WARNING, "CREATE INDEX on an existing table without CONCURRENTLY"),
    "destructive-change": (WARNING, "DROP, type change, rename or truncate not declared Breaking"),
    "secret-in-migration": (ERROR, "password literal in the SQL (shown to auditors, in git)"),
}
_REQUIRED_HEADER = ("migration", "version", "description", "rollback")
_META_RE = re.compile(r"^[ \t]*\\[A-Za-z!?;]", re.MULTILINE)
_HARMLESS_TXN = {"TRANS_STMT_SAVEPOINT", "TRANS_STMT_RELEASE", "TRANS_STMT_ROLLBACK_TO"}
_DESTRUCTIVE_AT = {
    AlterTableType.AT_DropColumn: "drops column",
    AlterTableType.AT_AlterColumnType: "changes the type of column",
}


@dataclass(frozen=True)
class Finding:
    """One checklist item a file breaks: where, which rule, and what to do."""

    path: str
    line: int
    rule: str
    message: str

    @property
    def level(self) -> str:
        """`error` or `warning`."""
        return RULES[self.rule][0]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {**self.__dict__, "level": self.level}


def check(paths: list[Path] | None, directory: Path) -> dict:
    """Lint the given files, or every `.sql` file in `directory`; findings and counts."""
    if paths is None:
        if not directory.is_dir():
            raise InvalidMigration("migrations directory does not exist; check --dir", directory)
        paths = sorted(p for p in directory.iterdir() if p.suffix == ".sql" and p.name[0] != ".")
    findings = _duplicates(paths)
    for path in paths:
        findings += lint_file(path)
    findings.sort(key=lambda f: (f.path, f.line, f.rule))
    return {
        "files": len(paths),
        "errors": sum(f.level == ERROR for f in findings),
        "warnings": sum(f.level == WARNING for f in findings),
        "findings": [f.as_dict() | {"text": str(f)} for f in findings],
    }


def lint_file(path: Path) -> list[Finding]:
    """Every finding of one file, minus the rules its `-- Lint-ignore:` header disables."""
    where = str(path)
    found: list[Finding] = []
    match = discovery.FILENAME_RE.match(path.name)
    if not match:
        found.append(Finding(where, 1, "file-name", "name it NNN_vX.Y_description.sql"))
    try:
        text = discovery.decode(path.read_bytes(), path)
    except (InvalidMigration, OSError) as exc:
        return found + [Finding(where, getattr(exc, "line", None) or 1, "encoding", str(exc))]
    header = parse_header(text)
    found += _header(where, header, match.group(1) if match else None)
    ignored, unknown = _ignored(header)
    found += [
        Finding(where, header.lines.get("lint_ignore", 1), "lint-ignore", f"unknown rule {r!r}")
        for r in unknown
    ]
    found += _sql(where, text, header)
    found += _secrets(where, text)
    return [f for f in found if f.rule == "lint-ignore" or f.rule not in ignored]


def _secrets(where: str, text: str) -> list[Finding]:
    """A password literal in a file lives on in git and every checkout (stored copies are
    masked, the file is not)."""
    return [
        Finding(
            where,
            line_of(text, start),
            "secret-in-migration",
            "password literal; set it outside migrations (e.g. psql's \\password, or a "
            "deploy step reading a secret store)",
        )
        for start, _ in redact.secret_spans(text)
    ]


def _duplicates(paths: list[Path]) -> list[Finding]:
    seen: dict[int, Path] = {}
    found = []
    for path in paths:
        match = discovery.FILENAME_RE.match(path.name)
        if not match:
            continue
        twin = seen.setdefault(int(match.group(1)), path)
        if twin is not path:
            found.append(
                Finding(str(path), 1, "duplicate-version", f"{twin.name} has the same version")
            )
    return found


def _header(where: str, header: Header, version: str | None) -> list[Finding]:
    found = [
        Finding(where, 1, "header-missing", f"add `-- {name.title()}:` to the header")
        for name in _REQUIRED_HEADER
        if not getattr(header, name).strip()
    ]
    declared = header.version.strip()
    if version and declared and not (declared.isdigit() and int(declared) == int(version)):
        found.append(
            Finding(
                where,
                header.lines.get("version", 1),
                "version-mismatch",
                f"header says {declared}, the file name says {version}",
            )
        )
    return found


def _ignored(header: Header) -> tuple[set[str], list[str]]:
    names = [n for n in re.split(r"[\s,]+", header.lint_ignore.strip()) if n]
    return set(names), [n for n in names if n not in RULES]


def _sql(where: str, text: str, header: Header) -> list[Finding]:
    metas = list(_META_RE.finditer(text))
    if metas:
        return [
            Finding(where, line_of(text, m.start()), "psql-meta", "inline the SQL it refers to")
            for m in metas
        ]
    try:
        statements = parse(text, where)
    except InvalidMigration as exc:
        message = str(exc).removeprefix(f"{where}:{exc.line}: ")
        return [Finding(where, exc.line or 1, "parse-error", message)]
    return _Checker(where, text, header).run(statements)


class _Checker:
    """Walks one file's statements, collecting findings and the indexes it creates."""

    def __init__(self, where: str, text: str, header: Header):
        self.where, self.text = where, text
        self.transactional = header.transactional
        self.breaking = header.impact.strip().lower().startswith("breaking")
        self.found: list[Finding] = []
        self.created: set[str] = set()
        self.indexed: set[tuple[str, str]] = set()
        self.added: list[tuple[str, str, int]] = []

    def run(self, statements: list[Statement]) -> list[Finding]:
        """All findings of the file."""
        for statement in statements:
            handler = getattr(self, f"_{type(statement.node).__name__}", None)
            if handler:
                handler(statement.node, statement.line)
        self.found += [
            self._at(line, "column-without-index", f"{table}.{column} has no index in this file")
            for table, column, line in self.added
            if (table, column) not in self.indexed
        ]
        return self.found

    def _at(self, line: int, rule: str, message: str) -> Finding:
        return Finding(self.where, line, rule, message)

    def _line(self, node, fallback: int) -> int:
        location = getattr(node, "location", None)
        return (
            line_of(self.text, location)
            if isinstance(location, int) and location >= 0
            else fallback
        )

    def _report(self, line: int, rule: str, message: str) -> None:
        self.found.append(self._at(line, rule, message))

    def _destructive(self, line: int, what: str) -> None:
        if not self.breaking:
            self._report(
                line, "destructive-change", f"{what}; declare `-- Impact: Breaking (...)`"
            )

    def _no_transaction(self, line: int, what: str) -> None:
        if self.transactional:
            self._report(
                line, "needs-transaction-none", f"{what}; add `-- Transaction: none` to the header"
            )

    def _TransactionStmt(self, node, line):
        if node.kind.name not in _HARMLESS_TXN:
            self._report(line, "transaction-control", "the runner manages transactions; remove it")

    def _CreateStmt(self, node, line):
        table = node.relation.relname
        self.created.add(table)
        if not node.if_not_exists:
            self._report(line, "if-not-exists", f"write CREATE TABLE IF NOT EXISTS {table}")
        for element in node.tableElts or ():
            if isinstance(element, ast.ColumnDef):
                self._column_constraints(table, element, line)
            elif isinstance(element, ast.Constraint):
                self._constraint(table, element, line)

    def _column_constraints(self, table: str, column: ast.ColumnDef, line: int) -> None:
        for constraint in column.constraints or ():
            if constraint.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE):
                self.indexed.add((table, column.colname))
            self._foreign_key(constraint, self._line(constraint, line), column.colname)

    def _constraint(self, table: str, constraint: ast.Constraint, line: int) -> None:
        if constraint.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE):
            keys = constraint.keys or ()
            if keys:
                self.indexed.add((table, keys[0].sval))
        columns = ", ".join(k.sval for k in constraint.fk_attrs or ())
        self._foreign_key(constraint, self._line(constraint, line), columns)

    def _foreign_key(self, constraint: ast.Constraint, line: int, columns: str) -> None:
        if constraint.contype == ConstrType.CONSTR_FOREIGN and constraint.fk_del_action == "a":
            self._report(
                line,
                "fk-on-delete",
                f"foreign key ({columns}) has no ON DELETE; choose CASCADE, SET NULL or RESTRICT",
            )

    def _AlterTableStmt(self, node, line):
        table = node.relation.relname
        for command in node.cmds or ():
            kind = command.subtype
            if kind == AlterTableType.AT_AddColumn:
                column = command.def_
                self.added.append((table, column.colname, self._line(column, line)))
                self._column_constraints(table, column, line)
            elif kind == AlterTableType.AT_AddConstraint:
                self._constraint(table, command.def_, line)
            elif kind in _DESTRUCTIVE_AT:
                self._destructive(line, f"{_DESTRUCTIVE_AT[kind]} {table}.{command.name}")

    def _IndexStmt(self, node, line):
        table = node.relation.relname
        if not node.if_not_exists:
            name = node.idxname or "..."
            self._report(line, "if-not-exists", f"write CREATE INDEX IF NOT EXISTS {name}")
        if node.indexParams and node.indexParams[0].name:
            self.indexed.add((table, node.indexParams[0].name))
        if node.concurrent:
            self._no_transaction(line, "CREATE INDEX CONCURRENTLY cannot run in a transaction")
        elif table not in self.created:
            self._report(
                line,
                "index-not-concurrent",
                f"{table} already exists: CREATE INDEX blocks its writes while it builds; "
                "use CONCURRENTLY in a `-- Transaction: none` file",
            )

    def _DropStmt(self, node, line):
        if node.concurrent:
            self._no_transaction(line, "DROP INDEX CONCURRENTLY cannot run in a transaction")
        if node.removeType != ObjectType.OBJECT_INDEX:
            kind = ObjectType(node.removeType).name.removeprefix("OBJECT_").lower()
            self._destructive(line, f"drops a {kind}")

    def _TruncateStmt(self, node, line):
        self._destructive(line, "truncates a table")

    def _RenameStmt(self, node, line):
        self._destructive(line, "renames an object that deployed code may still use")

    def _VacuumStmt(self, node, line):
        self._no_transaction(line, "VACUUM cannot run in a transaction")

    def _ReindexStmt(self, node, line):
        if any(p.defname == "concurrently" for p in node.params or ()):
            self._no_transaction(line, "REINDEX CONCURRENTLY cannot run in a transaction")

    def _CreatedbStmt(self, node, line):
        self._no_transaction(line, "CREATE DATABASE cannot run in a transaction")
