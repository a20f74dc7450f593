"""Fixtures: a fresh PostgreSQL database per test, migration folders, and command runners."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from psycopg import sql

from schema_audit.engine import postgres

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
UAP_MIGRATIONS = ROOT / "db" / "migrations"


@dataclass
class Result:
    """Exit code and output of one `uap_migrate` run."""

    code: int
    out: str
    err: str


def server_params() -> dict:
    """libpq parameters of the test server, without a database name."""
    params = postgres.connection_params("default")
    params.pop("dbname", None)
    return params


def url_for(params: dict, dbname: str) -> str:
    """A DATABASE_URL for `dbname` on the server described by `params`."""
    user = quote(params.get("user") or "postgres")
    password = f":{quote(str(params['password']))}" if params.get("password") else ""
    host = quote(str(params.get("host") or "localhost"), safe="")
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{password}@{host}{port}/{dbname}"


@pytest.fixture(scope="session", autouse=True)
def _fast_embedded_server():
    """The test-only embedded server need not survive a power cut: skip fsync."""
    if settings.DATABASES["default"]["ENGINE"] != "schema_audit.embedded":
        return
    with psycopg.connect(**server_params(), dbname="postgres", autocommit=True) as conn:
        if conn.execute("SHOW fsync").fetchone()[0] == "on":
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("ALTER SYSTEM SET synchronous_commit = off")
            conn.execute("ALTER SYSTEM SET full_page_writes = off")
            conn.execute("SELECT pg_reload_conf()")


@dataclass
class Database:
    """A fresh database registered as a Django alias."""

    alias: str
    name: str
    params: dict

    @property
    def url(self) -> str:
        """DATABASE_URL for subprocesses."""
        return url_for(self.params, self.name)

    def connect(self, **kwargs) -> psycopg.Connection:
        """A new autocommit psycopg connection to this database."""
        return psycopg.connect(**self.params, dbname=self.name, autocommit=True, **kwargs)

    def query(self, text: str, params: tuple = ()) -> list[tuple]:
        """Rows of one query."""
        with self.connect() as conn:
            return conn.execute(text, params).fetchall()

    def scalar(self, text: str, params: tuple = ()):
        """First column of the first row."""
        return self.query(text, params)[0][0]

    def tables(self) -> set[str]:
        """Tables in the public schema."""
        return {
            r[0] for r in self.query("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }


@pytest.fixture
def database() -> Database:
    """A new, empty database for one test, dropped afterwards."""
    params = server_params()
    name = f"sa_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    alias = name
    config = {**settings.DATABASES["default"], "NAME": name}
    settings.DATABASES[alias] = config
    connections.settings[alias] = config
    yield Database(alias, name, params)
    connections[alias].close()
    del connections[alias]
    connections.settings.pop(alias, None)
    settings.DATABASES.pop(alias, None)
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def migrations_dir(tmp_path):
    """Factory: write `{filename: sql}` into a fresh folder and return its path."""

    def make(files: dict[str, str | bytes], name: str = "migrations") -> Path:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        for filename, body in files.items():
            path = folder / filename
            if isinstance(body, bytes):
                path.write_bytes(body)
            else:
                path.write_text(body, encoding="utf-8")
        return folder

    return make


def migration(version: str, body: str, title: str = "step", rollback: str = "SELECT 1;") -> str:
    """A migration file's text with the standard header."""
    return (
        f"-- Migration: {title} {version}\n-- Version: {version}\n-- Date: 2026-01-01\n"
        f"-- Description: test migration {version}\n-- Status: LIVE\n--\n"
        f"-- Impact: Non-breaking\n-- Rollback: {rollback}\n--\n\n{body}\n"
    )


def numbered(count: int, body: str = "CREATE TABLE t{n} (id int);") -> dict[str, str]:
    """`count` migration files 001..count, each running `body` with {n} substituted."""
    return {
        f"{n:03d}_v1.{n}_step_{n}.sql": migration(f"{n:03d}", body.format(n=n))
        for n in range(1, count + 1)
    }


@pytest.fixture
def uap(database):
    """Run `uap_migrate` in-process against the test database; returns a Result."""

    def run(*args: str, directory: Path | None = None) -> Result:
        out, err = io.StringIO(), io.StringIO()
        argv = ["--database", database.alias, *args]
        if directory is not None:
            argv += ["--dir", str(directory)]
        try:
            call_command("uap_migrate", *argv, stdout=out, stderr=err)
            code = 0
        except SystemExit as exc:
            code = exc.code
        return Result(code, out.getvalue(), err.getvalue())

    return run


def run_subprocess(url: str, *args: str, timeout: float = 120, env: dict | None = None):
    """Start `manage.py uap_migrate` in a child process against `url`."""
    environ = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    environ.update(env or {})
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "uap_migrate", *args],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    """In the child: SIGINT as a shell gives a command in the foreground. A suite started in
    the background (`cmd &` from a script) inherits SIGINT ignored, and Python then installs
    no KeyboardInterrupt handler, so the Ctrl-C tests would wait for a signal never seen."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def register_alias(alias: str, config: dict) -> None:
    """Add a Django database alias for one test (unregister_alias removes it)."""
    settings.DATABASES[alias] = config
    connections.settings[alias] = config


def unregister_alias(alias: str) -> None:
    """Close and forget an alias, so a later test reusing the name gets a fresh connection."""
    if alias in connections.settings:
        connections[alias].close()
        del connections[alias]
    connections.settings.pop(alias, None)
    settings.DATABASES.pop(alias, None)


@pytest.fixture
def fleet():
    """Factory: `fleet(n)` creates n fresh databases, each its own alias; dropped afterwards."""
    created: list[Database] = []
    params = server_params()

    def make(count: int) -> list[Database]:
        made = []
        with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
            for _ in range(count):
                name = f"sa_{uuid.uuid4().hex[:12]}"
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                register_alias(name, {**settings.DATABASES["default"], "NAME": name})
                made.append(Database(name, name, params))
        created.extend(made)
        return made

    yield make
    for db in created:
        unregister_alias(db.alias)
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        for db in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name))
            )


def run_command(*args: str) -> Result:
    """`uap_migrate` in-process with exactly these arguments."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("uap_migrate", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def uap_fleet():
    """Run `uap_migrate --database a,b,...` in-process over the given databases."""

    def run(dbs, *args: str, directory: Path | None = None, extra=()) -> Result:
        aliases = ",".join([*(db.alias for db in dbs), *extra])
        folder = ["--dir", str(directory)] if directory is not None else []
        return run_command("--database", aliases, *args, *folder)

    return run
