"""The restricted role a dry run and a trace may run the files as (UAP_DRY_RUN_ROLE)."""

from __future__ import annotations

import psycopg

from schema_audit.exceptions import InvalidMigration, RefusedRequest, raise_all
from schema_audit.files.discovery import MigrationFile
from schema_audit.files.effects import changes_role
from schema_audit.files.statements import parse

_ROLE_SQL = """
SELECT r.oid IS NOT NULL, pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
FROM (SELECT %s::text AS name) AS wanted
LEFT JOIN pg_catalog.pg_roles AS r ON r.rolname = wanted.name
"""


def check(conn: psycopg.Connection, role: str, pending: list[MigrationFile]) -> None:
    """RefusedRequest unless the runner's login may SET ROLE to `role`; InvalidMigration for
    files that change the role themselves, since they would leave it."""
    exists, member = conn.execute(_ROLE_SQL, (role,)).fetchone()
    if not exists:
        raise RefusedRequest(
            f"dry-run role {role!r} (--dry-run-role / UAP_DRY_RUN_ROLE) does not exist in this "
            "database; create it (CREATE ROLE ... NOLOGIN) with only the rights a dry run needs"
        )
    if not member:
        raise RefusedRequest(
            f"dry-run role {role!r}: the runner's login may not SET ROLE to it; grant it "
            "(GRANT <role> TO <login>)"
        )
    problems = []
    for migration in pending:
        try:
            statements = parse(migration.sql, migration.path)
        except InvalidMigration:
            continue  # PostgreSQL rejects the file when it runs
        problems += [
            InvalidMigration(
                "changes the role (SET ROLE, SESSION AUTHORIZATION or set_config), which would "
                f"leave the dry-run role {role!r}; run it without a dry-run role",
                migration.path,
                statement.line,
            )
            for statement in statements
            if changes_role(statement.node)
        ]
    raise_all(problems)
