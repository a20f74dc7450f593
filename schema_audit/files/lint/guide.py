"""The migration guide's own rules over one file's parse tree: IF NOT EXISTS, constraint
names, ON DELETE, destructive changes, renames. Pure; findings, no database."""

from __future__ import annotations

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, DropBehavior, ObjectType

from schema_audit.files.header import Header
from schema_audit.files.lint.finding import Finding
from schema_audit.files.lint.safety import visit
from schema_audit.files.source import line_of
from schema_audit.files.statements import Statement

_DESTRUCTIVE_AT = {
    AlterTableType.AT_DropColumn: ("drops column", "ban-drop-column"),
    AlterTableType.AT_AlterColumnType: ("changes the type of column", "changing-column-type"),
    AlterTableType.AT_DropNotNull: ("drops NOT NULL of column", "ban-drop-not-null"),
}
_RENAMES = {ObjectType.OBJECT_COLUMN: "renaming-column", ObjectType.OBJECT_TABLE: "renaming-table"}


class GuideChecker:
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
        visit(self, statements)
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
