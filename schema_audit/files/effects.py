"""Statements whose effect outlasts a rollback, read from pglast's parse tree. No database.

A dry run and a trace run the pending files for real and roll back; PostgreSQL cannot roll
back a call to another database, a program, a signal to another session, a replication slot,
a sequence value, a session-level advisory lock or a file written on the server.
"""

from __future__ import annotations

from pglast import ast, visitors
from pglast.enums import AlterTableType

# Function (last name part, lower case) -> what it does that no rollback undoes.
FUNCTIONS = {
    "dblink": "runs SQL in another session (dblink), which commits there",
    "dblink_exec": "runs SQL in another session (dblink), which commits there",
    "dblink_send_query": "runs SQL in another session (dblink), which commits there",
    "pg_terminate_backend": "terminates another session",
    "pg_cancel_backend": "cancels another session's query",
    "pg_create_physical_replication_slot": "creates a replication slot",
    "pg_create_logical_replication_slot": "creates a replication slot",
    "pg_copy_physical_replication_slot": "creates a replication slot",
    "pg_copy_logical_replication_slot": "creates a replication slot",
    "pg_drop_replication_slot": "drops a replication slot",
    "pg_replication_slot_advance": "advances a replication slot",
    "pg_logical_slot_get_changes": "consumes a replication slot's changes",
    "pg_logical_slot_get_binary_changes": "consumes a replication slot's changes",
    "pg_logical_emit_message": "writes a message to the WAL",
    "setval": "sets a sequence, which no rollback resets",
    "nextval": "advances a sequence, which no rollback gives back",
    "pg_advisory_lock": "takes a session-level advisory lock, held after the rollback",
    "pg_advisory_lock_shared": "takes a session-level advisory lock, held after the rollback",
    "pg_try_advisory_lock": "takes a session-level advisory lock, held after the rollback",
    "pg_try_advisory_lock_shared": "takes a session-level advisory lock, held after the rollback",
    "lo_export": "writes a file on the database server",
    "lo_import": "reads a file on the database server",
    "pg_file_write": "writes a file on the database server",
    "pg_file_rename": "renames a file on the database server",
    "pg_file_unlink": "deletes a file on the database server",
    "pg_reload_conf": "reloads the server's configuration",
    "pg_rotate_logfile": "rotates the server's log file",
    "pg_switch_wal": "switches the server's WAL file",
    "pg_create_restore_point": "writes a restore point to the WAL",
    "pg_promote": "promotes a standby server",
    "pg_stat_reset": "resets statistics",
    "pg_stat_reset_shared": "resets statistics",
    "pg_stat_reset_single_table_counters": "resets statistics",
    "pg_stat_reset_slru": "resets statistics",
}


class _Calls(visitors.Visitor):
    def __init__(self):
        self.found: list[str] = []

    # Defaults, checks, views and function definitions call nothing when they are created.
    def visit_ColumnDef(self, ancestors, node):
        return visitors.Skip

    def visit_Constraint(self, ancestors, node):
        return visitors.Skip

    def visit_ViewStmt(self, ancestors, node):
        return visitors.Skip

    def visit_CreateFunctionStmt(self, ancestors, node):
        return visitors.Skip

    def visit_AlterTableCmd(self, ancestors, node):
        return visitors.Skip if node.subtype == AlterTableType.AT_ColumnDefault else None

    def visit_FuncCall(self, ancestors, node):
        name = node.funcname[-1].sval.lower() if node.funcname else ""
        if name in FUNCTIONS:
            self.found.append(f"{name}(): {FUNCTIONS[name]}")


_ROLE_SETTINGS = frozenset({"role", "session_authorization"})


def changes_role(node: object) -> bool:
    """True for SET/RESET ROLE, SET/RESET SESSION AUTHORIZATION, and `set_config` of them
    (or of a name that is not a literal)."""
    if isinstance(node, ast.VariableSetStmt):
        return (node.name or "").lower() in _ROLE_SETTINGS
    calls = _SetConfig()
    calls(node)
    return calls.found


class _SetConfig(visitors.Visitor):
    found = False

    def visit_FuncCall(self, ancestors, node):
        if node.funcname and node.funcname[-1].sval.lower() == "set_config" and node.args:
            name = node.args[0]
            literal = isinstance(name, ast.A_Const) and isinstance(name.val, ast.String)
            if not literal or name.val.sval.lower() in _ROLE_SETTINGS:
                self.found = True


def side_effects(node: object) -> list[str]:
    """What the statement `node` does that a rollback does not undo; [] for most.

    Calls inside a `DO` block or a function body are strings to the parser and not seen.
    """
    if node is None:
        return []
    found = []
    if isinstance(node, ast.CopyStmt) and node.is_program:
        found.append("COPY ... PROGRAM: runs a program on the database server")
    elif isinstance(node, ast.CopyStmt) and node.filename and not node.is_from:
        found.append("COPY ... TO a file: writes a file on the database server")
    elif isinstance(node, ast.AlterSystemStmt):
        found.append("ALTER SYSTEM: changes the server's configuration file")
    calls = _Calls()
    calls(node)
    return found + sorted(set(calls.found), key=calls.found.index)
