"""Malformed and unusual input: the documented exit code, file and line named, nothing run.

Bad names, duplicates, header mismatches, non-UTF-8, psql meta-commands, BEGIN/COMMIT, a
missing directory and a bad --target are covered in test_command.py and test_source.py.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import sys
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from psycopg import sql

from tests.conftest import ROOT, migration, numbered, run_subprocess

FIRST = {"000_v0.1_first.sql": migration("000", "CREATE TABLE first_table (id int);")}


def test_bom_and_crlf_file_applies_with_the_lf_checksum(uap, database, migrations_dir):
    """A Windows-saved file runs; its checksum is the LF text's, so an LF checkout is no drift."""
    text = migration("001", "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);")
    folder = migrations_dir(
        {"001_v1.0_a.sql": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")}
    )
    assert uap(directory=folder).code == 0
    assert database.scalar("SELECT checksum FROM schema_migrations") == (
        hashlib.sha256(text.encode("utf-8")).hexdigest()
    )
    sql_text = database.scalar("SELECT sql_text FROM schema_migration_events")
    assert "\r" not in sql_text and not sql_text.startswith("\ufeff")
    (folder / "001_v1.0_a.sql").write_text(text, encoding="utf-8")
    assert uap("--check", directory=folder).code == 0


def _symlink_loop(folder):
    os.symlink("002_v1.0_loop.sql", folder / "002_v1.0_loop.sql")


@pytest.mark.parametrize(
    ("files", "extra", "fragment"),
    [
        ({"002_v1.0_empty.sql": ""}, None, "002_v1.0_empty.sql: contains no SQL statements"),
        (
            {"002_v1.0_notes.sql": "-- superseded upstream\n/* later */\n"},
            None,
            "002_v1.0_notes.sql: contains no SQL statements and no header",
        ),
        ({"002_v1.0_bom.sql": b"\xef\xbb\xbf"}, None, "002_v1.0_bom.sql: contains no SQL"),
        (
            {"002_v1.0_nul.sql": "CREATE TABLE a (id int);\n-- \x00\nCREATE TABLE b (id int);\n"},
            None,
            "002_v1.0_nul.sql:2: contains a NUL byte",
        ),
        ({}, _symlink_loop, "002_v1.0_loop.sql: cannot read file: Too many levels of symbolic"),
        (
            {"002_v1.0_bad.sql": b"SELECT 1;\n-- caf\xe9\n"},
            None,
            "002_v1.0_bad.sql:2: not valid UTF-8 (byte 0xe9)",
        ),
    ],
)
def test_unusable_file_exits_2_and_runs_nothing(
    uap, database, migrations_dir, files, extra, fragment
):
    """Each unusable file stops the run before any SQL, naming the file (and line)."""
    folder = migrations_dir({**FIRST, **files})
    if extra:
        extra(folder)
    result = uap(directory=folder)
    assert result.code == 2, result.err
    assert fragment in result.err
    assert "Traceback" not in result.err
    assert database.tables() == set()


def test_file_changing_search_path_or_role_does_not_leak(uap, database, migrations_dir):
    """pg_dump's empty search_path and a SET ROLE stay inside their file: all three apply."""
    role = f"uap_fault_{uuid.uuid4().hex[:8]}"
    create = sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role))
    with database.connect() as conn:
        conn.execute(create)
    try:
        folder = migrations_dir(
            {
                "001_v1.0_dump.sql": migration(
                    "001",
                    "SELECT pg_catalog.set_config('search_path', '', false);\n"
                    "CREATE TABLE public.a (id int);",
                ),
                "002_v1.0_role.sql": migration("002", f"SET ROLE {role};\nSELECT 1;"),
                "003_v1.0_plain.sql": migration("003", "CREATE TABLE c (id int);"),
            }
        )
        result = uap(directory=folder)
        assert result.code == 0, result.err
        runner_user = database.scalar("SELECT current_user")
        assert database.query(
            "SELECT DISTINCT applied_by FROM schema_migrations WHERE status = 'completed'"
        ) == [(runner_user,)]
        assert database.scalar("SELECT tableowner FROM pg_tables WHERE tablename = 'c'") == (
            runner_user
        )
    finally:
        with database.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


ENCODING_FILES = {
    # pg_dump output starts like this; both settings are session-wide and outlive the file.
    "001_v1.0_latin.sql": migration(
        "001",
        "SET client_encoding = 'LATIN1';\nSET standard_conforming_strings = off;\n"
        "CREATE TABLE latin (a text DEFAULT E'back\\\\slash ''quoted'' %(x)s %s');",
    ),
    "002_v1.0_euro.sql": migration("002", "CREATE TABLE euro (a text DEFAULT '€ 😀 \\ ''');"),
}


def test_file_changing_client_encoding_does_not_leak(uap, database, migrations_dir):
    """A file that switches the session to LATIN1 (and off standard strings) leaves the next
    file, with characters LATIN1 lacks, to run and be recorded character for character."""
    result = uap(directory=migrations_dir(ENCODING_FILES))
    assert result.code == 0, result.err
    recorded = dict(database.query("SELECT version, sql_text FROM schema_migration_events"))
    assert recorded == {
        "001": ENCODING_FILES["001_v1.0_latin.sql"],
        "002": ENCODING_FILES["002_v1.0_euro.sql"],
    }
    default = "SELECT column_default FROM information_schema.columns WHERE table_name = %s"
    assert database.scalar(default, ("euro",)) == "'€ 😀 \\ '''::text"
    assert database.scalar(default, ("latin",)) == "'back\\slash ''quoted'' %(x)s %s'::text"
    assert uap("--verify").code == 0


def test_dry_run_after_a_file_changing_client_encoding(uap, database, migrations_dir):
    """A dry run of the same files runs both and leaves neither table behind."""
    result = uap("--dry-run", directory=migrations_dir(ENCODING_FILES))
    assert result.code == 0, result.err
    assert not database.tables() & {"latin", "euro"}


def test_dir_pointing_at_a_file_exits_2(uap, database, migrations_dir):
    """--dir naming a file, not a folder, is invalid input."""
    folder = migrations_dir(FIRST)
    result = uap(directory=folder / "000_v0.1_first.sql")
    assert result.code == 2
    assert "000_v0.1_first.sql: is not a directory" in result.err
    assert database.tables() == set()


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            "CREATE TABLE a (id int);\nCREATE FUNCTION f() RETURNS int AS $$\nSELECT 1;\n",
            12,
            "unterminated dollar-quoted string",
        ),
        (
            "CREATE TABLE a (id int);\nSELECT 'café';\nSELECT 'open;\nSELECT 2;\n",
            13,
            "unterminated quoted string",
        ),
        (
            'CREATE TABLE a (id int);\nSELECT "open;\nSELECT 2;\n',
            12,
            "unterminated quoted identifier",
        ),
        ("CREATE TABLE a (id int);\n/* open;\nSELECT 2;\n", 12, "unterminated /* comment"),
        ("CREATE TABLE a (id int);\nCREATE TABLE b (id int", 13, "syntax error at end of input"),
    ],
)
def test_unterminated_quote_fails_at_run_time_with_its_line(
    uap, database, migrations_dir, body, line, message
):
    """PostgreSQL rejects the whole file before running any of it: exit 1, failed, line named."""
    folder = migrations_dir({**FIRST, "001_v1.0_open.sql": migration("001", body)})
    result = uap(directory=folder)
    assert result.code == 1
    assert f"001_v1.0_open.sql:{line}: 001 v1.0_open failed [SQLSTATE 42601]: {message}" in (
        result.err
    )
    # The message quotes the file, never the SQL the runner sends after it.
    assert "pg_catalog" not in result.err and "RESET" not in result.err
    assert "a" not in database.tables() and "first_table" in database.tables()
    assert database.query("SELECT version, status FROM schema_migrations ORDER BY version") == [
        ("000", "completed"),
        ("001", "failed"),
    ]


def test_empty_directory_says_there_is_nothing(uap, database, migrations_dir):
    """No files: exit 0 and says so; after files were applied, an empty --dir is drift (exit 2)."""
    empty = migrations_dir({}, "empty")
    result = uap(directory=empty)
    assert result.code == 0
    assert "Nothing to apply; database at version none." in result.out
    assert uap(directory=migrations_dir(numbered(2))).code == 0
    wrong_dir = uap(directory=empty)
    assert wrong_dir.code == 2
    assert "001 v1.1_step_1: applied, but its file is missing" in wrong_dir.err
    assert "002 v1.2_step_2: applied, but its file is missing" in wrong_dir.err


def test_four_digit_versions_run_after_three_digit_ones(uap, database, migrations_dir):
    """998, 999, 1000, 1001 apply in numeric order, not string order."""
    versions = ["1001", "998", "1000", "999"]
    folder = migrations_dir(
        {f"{v}_v1.0_s{v}.sql": migration(v, f"CREATE TABLE t{v} (id int);") for v in versions}
    )
    result = uap(directory=folder)
    assert result.code == 0
    assert "database at version 1001" in result.out
    assert database.query("SELECT version FROM schema_migration_events ORDER BY id") == [
        ("998",),
        ("999",),
        ("1000",),
        ("1001",),
    ]


def test_fifty_megabyte_file_runs_in_bounded_memory(database, migrations_dir):
    """A 50 MB file applies; the runner's peak RSS stays under 8x the file plus 150 MB."""
    literal = "x" * (1 << 20)
    rows = "\n".join(f"INSERT INTO big VALUES ({n}, '{literal}');" for n in range(50))
    folder = migrations_dir(
        {"001_v1.0_big.sql": migration("001", f"CREATE TABLE big (n int, s text);\n{rows}")}
    )
    size = (folder / "001_v1.0_big.sql").stat().st_size
    assert size > 50 << 20
    env = {**os.environ, "DATABASE_URL": database.url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    with open(folder.parent / "out", "w+") as out:
        child = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "uap_migrate", "--dir", str(folder)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    assert child.returncode == 0, output
    assert database.scalar("SELECT count(*) FROM big") == 50
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    assert peak < 8 * size + (150 << 20), f"peak RSS {peak >> 20} MB for a {size >> 20} MB file"


def _without_root_file_access() -> None:
    """In the child: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so root obeys file modes."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_unreadable_file_exits_2_naming_it(database, migrations_dir):
    """A file the runner may not read (mode 000) stops the run with exit 2 before any SQL."""
    folder = migrations_dir({**FIRST, "001_v1.0_secret.sql": migration("001", "SELECT 1;")})
    (folder / "001_v1.0_secret.sql").chmod(0)
    env = {**os.environ, "DATABASE_URL": database.url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    try:
        child = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "uap_migrate", "--dir", str(folder)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_without_root_file_access if os.geteuid() == 0 else None,
        )
    except subprocess.SubprocessError as exc:
        pytest.skip(f"cannot drop root's file capabilities here: {exc}")
    assert child.returncode == 2, child.stderr
    assert "001_v1.0_secret.sql: cannot read file: Permission denied" in child.stderr
    assert database.tables() == set()


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("001_v1.0_pipe.sql", ["--lint"]),
        ("patch_pipe.sql", ["--patch", "{path}", "--reason", "fifo"]),
    ],
)
def test_fifo_is_refused_by_lint_and_patch_not_read_forever(database, tmp_path, name, args):
    """A FIFO named like a migration or a patch is refused (exit 2, no hang): the opened
    file itself is checked, so `--lint`, `--patch` and a FIFO put in place after the
    directory was listed all get the runner's answer."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    os.mkfifo(folder / name)
    argv = [a.format(path=folder / name) for a in args]
    child = run_subprocess(database.url, "--dir", str(folder), *argv)
    try:
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 2, out + err
    reported = [line for line in (out + err).splitlines() if "is not a regular file" in line]
    assert reported and name in reported[0], out + err
    assert database.tables() == set()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "DATABASE_URL must be a postgresql:// URL (scheme: none)"),
        ("mysql://app:s3cret@db/app", "DATABASE_URL must be a postgresql:// URL (scheme: mysql)"),
        ("postgresql://app:s3cret@db:port/app", "DATABASE_URL is not a valid URL"),
        ("postgresql://app:s3cret@db:5432/", "DATABASE_URL names no database"),
        ("postgresql://u:S3cr/etDbPass@db:5432/app", "the port is not a number"),
        ("postgresql://dbuser:s3cret@db:99999/app", "the port is out of range"),
    ],
)
def test_invalid_database_url_exits_2_without_traceback(migrations_dir, url, fragment):
    """A malformed DATABASE_URL is invalid input: exit 2, what is wrong, and no part of the
    user-info (user name or password), even when a '/' or '#' in it moves the URL's parts."""
    child = run_subprocess(url, "--dir", str(migrations_dir(FIRST)))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 2, err
    assert fragment in err
    assert "Traceback" not in err
    secrets = url.split("//", 1)[-1].rsplit("@", 1)[0].replace("/", ":").replace("#", ":")
    for part in [p for p in secrets.split(":") if len(p) >= 3]:
        assert part not in out + err, part


def test_unknown_database_alias_exits_2():
    """--database naming no configured alias is invalid input, not a crash."""
    err = StringIO()
    with pytest.raises(SystemExit) as excinfo:
        call_command("uap_migrate", "--database", "nope", stdout=StringIO(), stderr=err)
    assert excinfo.value.code == 2
    assert "--database nope: no such alias in DATABASES" in err.getvalue()
