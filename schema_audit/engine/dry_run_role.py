"""The restricted login a dry run and a trace run the files as (UAP_DRY_RUN_ROLE).

The files run on a session of their own that logs in as that role, so nothing in them (RESET
ROLE, set_config('role', ...) inside a DO body or a function) can reach the rights of the
runner's login: a session cannot leave the role it logged in as. The runner's own session
keeps the lock, reads the ledger and records the dry_run events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from schema_audit import conf, db
from schema_audit.db import cancel
from schema_audit.exceptions import InvalidMigration, RefusedRequest, raise_all
from schema_audit.files.discovery import MigrationFile
from schema_audit.files.effects import changes_role
from schema_audit.files.statements import parse

# What the role may do, seen from the runner's session: it exists, may log in, is or may
# become a superuser, or may become the runner's login (and so take its rights).
_ROLE_SQL = """
SELECT r.oid IS NOT NULL, r.rolcanlogin,
       r.rolsuper OR EXISTS (
           SELECT FROM pg_catalog.pg_roles AS s
           WHERE s.rolsuper AND pg_catalog.pg_has_role(r.oid, s.oid, 'MEMBER')),
       r.rolname = session_user,
       pg_catalog.pg_has_role(r.oid, session_user::pg_catalog.name, 'MEMBER')
FROM (SELECT %s::text AS name) AS wanted
LEFT JOIN pg_catalog.pg_roles AS r ON r.rolname = wanted.name
"""
_WHERE = "(--dry-run-role / UAP_DRY_RUN_ROLE)"


def check(conn: psycopg.Connection, role: str, pending: list[MigrationFile]) -> None:
    """RefusedRequest unless `role` is a login the runner's rights are out of reach from;
    InvalidMigration for files that change the role themselves."""
    exists, login, superuser, itself, member = conn.execute(_ROLE_SQL, (role,)).fetchone()
    if not exists:
        raise RefusedRequest(
            f"dry-run role {role!r} {_WHERE} does not exist in this database; create it "
            "(CREATE ROLE ... LOGIN) with only the rights a dry run needs"
        )
    if itself or (member and not superuser):
        raise RefusedRequest(
            f"dry-run role {role!r} {_WHERE} is the runner's own login {conn.info.user!r} or a "
            "member of it, so it would restrict nothing; use a role of its own"
        )
    if superuser:
        raise RefusedRequest(
            f"dry-run role {role!r} {_WHERE} is a superuser or a member of one, so it would "
            "restrict nothing; give the dry run a role with only the rights it needs"
        )
    if not login:
        raise RefusedRequest(
            f"dry-run role {role!r} {_WHERE} may not log in: the dry run runs the files on a "
            f"session of its own logged in as it; ALTER ROLE {role} LOGIN (its password from "
            "UAP_DRY_RUN_PASSWORD, else .pgpass or the server's trust rules)"
        )
    raise_all(_role_changes(role, pending))


def _role_changes(role: str, pending: list[MigrationFile]) -> list[InvalidMigration]:
    """Top-level statements that change the role: refused up front, as they would run as
    another role than the one the dry run stands for."""
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
    return problems


@contextmanager
def session(database: str, role: str, runner: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """An autocommit connection to `database`'s server and database, logged in as `role`.

    RefusedRequest when it cannot log in, or when the server says it is someone else (a
    superuser, or the runner's login) after all.
    """
    params = db.connection_params(database)
    params.pop("password", None)  # the runner's; the role's own comes from libpq, or:
    password = conf.UAP_DRY_RUN_PASSWORD
    if password:
        params["password"] = password
    params["user"] = role
    name = f"{db.APPLICATION_NAME} dry-run pid={os.getpid()}"
    try:
        conn = psycopg.connect(**params, autocommit=True, application_name=name[:63])
    except psycopg.OperationalError as exc:
        reason = db.refusal(exc)
        raise RefusedRequest(
            f"dry-run role {role!r} {_WHERE} cannot log in to {db.describe(params)}: "
            f"{reason}; give it a password in UAP_DRY_RUN_PASSWORD or .pgpass, or a "
            "pg_hba.conf rule that lets it in"
        ) from exc
    try:
        user, superuser = conn.execute(
            "SELECT session_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user"
        ).fetchone()
        if superuser or user != role or user == runner.info.user:
            raise RefusedRequest(
                f"dry-run role {role!r} {_WHERE}: the server logged the dry run in as "
                f"{user!r}, which restricts nothing; use a role of its own without superuser"
            )
        conn.execute(db.lock_timeout_sql(db.lock_wait_seconds()))
        cancel.track_connection(conn)
        yield conn
    finally:
        conn.close()
