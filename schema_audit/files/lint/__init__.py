"""The guide's pre-deploy checklist over migration files, on pglast's parse tree.

Pure: reads files, never connects to a database. The rules: docs/reference.md, "Lint".
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, DropBehavior, ObjectType

from schema_audit.exceptions import InvalidMigration
from schema_audit.files import discovery, django_names, layouts, redact
from schema_audit.files.discovery import line_of
from schema_audit.files.effects import side_effects
from schema_audit.files.header import Header, parse_header
from schema_audit.files.lint.finding import (  # noqa: F401 (the linter's public names)
    ERROR,
    RULES,
    SQUAWK_RULES,
    TYPE_RULES,
    WARNING,
    Finding,
)
from schema_audit.files.lint.safety import SafetyChecker, note_created
from schema_audit.files.paths import shown_path
from schema_audit.files.statements import Statement, parse, transaction_control

# Without UAP_LINT_PG_VERSION and a server to ask: the oldest major version still supported.
DEFAULT_PG_VERSION = 15

_REQUIRED_HEADER = ("migration", "version", "description", "rollback")
_DESTRUCTIVE_AT = {
    AlterTableType.AT_DropColumn: ("drops column", "ban-drop-column"),
    AlterTableType.AT_AlterColumnType: ("changes the type of column", "changing-column-type"),
    AlterTableType.AT_DropNotNull: ("drops NOT NULL of column", "ban-drop-not-null"),
}
_RENAMES = {ObjectType.OBJECT_COLUMN: "renaming-column", ObjectType.OBJECT_TABLE: "renaming-table"}


def check(
    paths: list[Path] | None,
    directory: Path,
    *,
    pg_version: int = DEFAULT_PG_VERSION,
    type_rules: bool = False,
) -> dict:
    """Lint the given files, or every migration in `directory`; findings and counts.

    `pg_version` is the major version the files will run on (some rules depend on it);
    `type_rules` adds squawk's column type preferences (prefer-bigint-over-int, ...).
    Another runner's folder (dbmate, diesel, ...) is linted as the runner reads it: the SQL
    of each up part, without this runner's header and name rules.
    """
    if paths is None:
        listing = layouts.scan(directory)
        layout = layouts.detect(listing, discovery.sniff)
        if layout != layouts.UAP:
            return _summary(*_foreign(directory, layout, pg_version), pg_version, type_rules)
        paths = [path for path, _ in listing.sql]
        count, findings = 0, []
    else:
        paths, count, findings = _given_foreign(paths, pg_version)
    findings += [_finding(problem) for problem in discovery.duplicate_problems(paths)]
    for path in paths:
        findings += lint_file(path, pg_version)
    return _summary(count + len(paths), findings, pg_version, type_rules)


def _given_foreign(paths: list[Path], pg_version: int) -> tuple[list[Path], int, list[Finding]]:
    """Given files that belong to another runner's folder, linted as that runner reads them
    (a pre-commit hook passes the changed files); the others, returned to lint as ours."""
    by_folder: dict[Path, list[Path]] = {}
    for path in paths:
        folder = path.parent
        if path.name in ("up.sql", "down.sql") and layouts.DIESEL_RE.match(folder.name):
            folder = folder.parent  # a diesel migration is a folder of its own
        by_folder.setdefault(folder, []).append(path)
    ours, count, findings = [], 0, []
    for folder, given in by_folder.items():
        try:
            layout = layouts.detect(layouts.scan(folder), discovery.sniff)
        except InvalidMigration:
            layout = layouts.UAP  # each file is then judged as this runner's
        if layout == layouts.UAP:
            ours += given
            continue
        wanted = {str(path) for path in given}
        migrations, problems = discovery.collect(folder, layout)
        chosen = [m for m in migrations if str(m.path) in wanted]
        findings += [_finding(p) for p in problems if str(p.path) in wanted]
        for migration in chosen:
            findings += lint_migration(migration, pg_version)
        count += len(given)
    return ours, count, findings


def _summary(files: int, findings: list[Finding], pg_version: int, type_rules: bool) -> dict:
    if not type_rules:
        findings = [f for f in findings if f.rule not in TYPE_RULES]
    findings = [replace(f, path=shown_path(f.path)) for f in findings]
    findings.sort(key=lambda f: (f.path, f.line, f.rule))
    return {
        "files": files,
        "pg_version": pg_version,
        "errors": sum(f.level == ERROR for f in findings),
        "warnings": sum(f.level == WARNING for f in findings),
        "findings": [f.as_dict() | {"text": str(f)} for f in findings],
    }


def _foreign(directory: Path, layout: str, pg_version: int) -> tuple[int, list[Finding]]:
    """The migrations of another runner's folder and their findings."""
    migrations, problems = discovery.collect(directory, layout)
    findings = [_finding(problem) for problem in problems]
    for migration in migrations:
        findings += lint_migration(migration, pg_version)
    return len(migrations) + len({str(p.path) for p in problems}), findings


def lint_migration(migration: discovery.MigrationFile, pg_version: int) -> list[Finding]:
    """The SQL rules over what a file of another runner's layout runs going up; lines are
    those of its file (a dbmate or goose up section starts at its marker)."""
    where, text = str(migration.path), migration.sql
    found = _sql(where, text, migration.header, pg_version)
    found += [
        Finding(where, c.line, "transaction-control", f"{c.words}: the runner manages it")
        for c in transaction_control(text)
    ]
    found += _secrets(where, text)
    if migration.empty:
        found.append(Finding(where, 1, "empty-migration", "no statements: recorded, nothing run"))
    shift = migration.first_line - 1
    return [replace(f, line=f.line + shift) for f in found]


def lint_file(path: Path, pg_version: int = DEFAULT_PG_VERSION) -> list[Finding]:
    """Every finding of one file, minus the rules its `-- Lint-ignore:` header disables.

    What discovery refuses comes from discovery itself, so lint and the runner agree.
    """
    where = str(path)
    match = discovery.FILENAME_RE.match(path.name)
    found = [] if match else [_finding(discovery.name_problem(path))]
    trouble = discovery.kind_problem(path)
    if trouble:
        return found + [_finding(trouble)]
    try:
        text = discovery.read_text(path)
    except InvalidMigration as exc:
        return found + [_finding(exc)]
    header = parse_header(text)
    version = match.group(1) if match else None
    problems = discovery.text_problems(path, text, header, version)
    found += [_finding(p) for p in problems]
    if not any(p.rule == "empty-file" for p in problems):  # which says to add the header
        found += _header(where, header)
    depends = [(path, header.lines.get("depends"), header.dependencies)]
    found += [_finding(p) for p in django_names.unknown_problems(depends)]
    ignored, unknown = _ignored(header)
    found += [
        Finding(where, header.lines.get("lint_ignore", 1), "lint-ignore", f"unknown rule {r!r}")
        for r in unknown
    ]
    found += _sql(where, text, header, pg_version)
    # The runner's own test, so that lint and a run cannot disagree.
    found += [
        Finding(
            where,
            c.line,
            "transaction-control",
            f"{c.words}: the runner manages transactions; remove it",
        )
        for c in transaction_control(text)
    ]
    found += _secrets(where, text)
    if header.lines and not discovery.has_statements(text):
        found.append(
            Finding(
                where,
                1,
                "empty-migration",
                "no statements: it will be recorded as applied without running anything",
            )
        )
    return [f for f in found if f.rule == "lint-ignore" or not ignored & {f.rule, *f.squawk}]


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


def _finding(problem: InvalidMigration) -> Finding:
    """A discovery problem as a lint error."""
    return Finding(str(problem.path), problem.line or 1, problem.rule, problem.reason)


def _header(where: str, header: Header) -> list[Finding]:
    found = [
        Finding(where, 1, "header-missing", f"add `-- {name.title()}:` to the header")
        for name in _REQUIRED_HEADER
        if not getattr(header, name).strip()
    ]
    if header.rollback_is_placeholder:
        found.append(
            Finding(
                where,
                header.lines.get("rollback", 1),
                "rollback-placeholder",
                "`-- Rollback:` is a placeholder; write the SQL that undoes this file "
                "(`--rollback` runs it)",
            )
        )
    return found


def _ignored(header: Header) -> tuple[set[str], list[str]]:
    names = [n for n in re.split(r"[\s,]+", header.lint_ignore.strip()) if n]
    return set(names), [n for n in names if n not in RULES and n not in SQUAWK_RULES]


def _sql(where: str, text: str, header: Header, pg_version: int) -> list[Finding]:
    if discovery.META_RE.search(text):
        return []  # reported by discovery, line by line; the text is not SQL
    try:
        statements = parse(text, where)
    except InvalidMigration as exc:
        return [Finding(where, exc.line or 1, "parse-error", exc.reason)]
    safety = SafetyChecker(where, pg_version, header.transactional)
    checked = _Checker(where, text, header).run(statements) + safety.run(statements)
    return checked + _side_effects(where, statements)


def _side_effects(where: str, statements: list[Statement]) -> list[Finding]:
    """Statements a dry run or trace cannot take back: they act on the real server."""
    return [
        Finding(
            where,
            statement.line,
            "dry-run-side-effect",
            f"{effect}; a dry run and a trace run it too, and their rollback does not undo it",
        )
        for statement in statements
        for effect in side_effects(statement.node)
    ]


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
            note_created(self.created, statement.node)
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

    def _destructive(self, line: int, what: str, alias: str | None = None) -> None:
        if not self.breaking:
            message = f"{what}; declare `-- Impact: Breaking (...)`"
            aliases = (alias,) if alias else ()
            self.found.append(Finding(self.where, line, "destructive-change", message, aliases))

    def _no_transaction(self, line: int, what: str) -> None:
        if self.transactional:
            self._report(
                line, "needs-transaction-none", f"{what}; add `-- Transaction: none` to the header"
            )

    def _CreateStmt(self, node, line):
        table = node.relation.relname
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
                what, alias = _DESTRUCTIVE_AT[kind]
                self._destructive(line, f"{what} {table}.{command.name}", alias)

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
            alias = "ban-drop-table" if node.removeType == ObjectType.OBJECT_TABLE else None
            self._destructive(line, f"drops a {kind}", alias)

    def _TruncateStmt(self, node, line):
        cascade = node.behavior == DropBehavior.DROP_CASCADE
        self._destructive(line, "truncates a table", "ban-truncate-cascade" if cascade else None)

    def _RenameStmt(self, node, line):
        alias = _RENAMES.get(node.renameType)
        self._destructive(line, "renames an object that deployed code may still use", alias)

    def _VacuumStmt(self, node, line):
        self._no_transaction(line, "VACUUM cannot run in a transaction")

    def _ReindexStmt(self, node, line):
        if any(p.defname == "concurrently" for p in node.params or ()):
            self._no_transaction(line, "REINDEX CONCURRENTLY cannot run in a transaction")

    def _CreatedbStmt(self, node, line):
        self._no_transaction(line, "CREATE DATABASE cannot run in a transaction")
