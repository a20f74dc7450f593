"""Schema fingerprint: canonical, blind to the tracking tables, sensitive to every object kind."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from psycopg import sql

from schema_audit import api
from schema_audit.integrity import fingerprint
from schema_audit.ledger import store
from tests.conftest import migration, numbered, server_params

BASE = """
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TABLE teams (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE players (
    id bigserial PRIMARY KEY,
    team_id bigint REFERENCES teams (id) ON DELETE CASCADE,
    email varchar(200) NOT NULL UNIQUE,
    score numeric(6, 2) DEFAULT 0 CHECK (score >= 0),
    state mood DEFAULT 'calm'
);
CREATE INDEX players_team_idx ON players (team_id);
CREATE VIEW rich_players AS SELECT id, email FROM players WHERE score > 10;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER players_touch BEFORE UPDATE ON players FOR EACH ROW EXECUTE FUNCTION touch();
CREATE SEQUENCE tickets_seq INCREMENT 5;
"""

# The same schema reached by small steps, in another order where order does not matter.
STEPWISE = """
CREATE SEQUENCE tickets_seq;
ALTER SEQUENCE tickets_seq INCREMENT BY 5;
CREATE TYPE mood AS ENUM ('calm');
ALTER TYPE mood ADD VALUE 'busy';
CREATE TABLE teams (id bigserial PRIMARY KEY);
ALTER TABLE teams ADD COLUMN name text;
ALTER TABLE teams ALTER COLUMN name SET NOT NULL;
CREATE TABLE players (id bigserial PRIMARY KEY);
ALTER TABLE players ADD COLUMN team_id bigint;
ALTER TABLE players ADD COLUMN email varchar(100) NOT NULL;
ALTER TABLE players ALTER COLUMN email TYPE varchar(200);
ALTER TABLE players ADD COLUMN score numeric(6, 2);
ALTER TABLE players ALTER COLUMN score SET DEFAULT 0;
ALTER TABLE players ADD COLUMN state mood DEFAULT 'calm';
ALTER TABLE players ADD CONSTRAINT players_score_check CHECK (score >= 0);
ALTER TABLE players ADD CONSTRAINT players_email_key UNIQUE (email);
ALTER TABLE players ADD CONSTRAINT players_team_id_fkey FOREIGN KEY (team_id)
    REFERENCES teams (id) ON DELETE CASCADE;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER players_touch BEFORE UPDATE ON players FOR EACH ROW EXECUTE FUNCTION touch();
CREATE VIEW rich_players AS SELECT id, email FROM players WHERE score > 10;
CREATE INDEX players_team_idx ON players (team_id);
"""

# (change, kind, object name, how) — every kind of object the fingerprint describes.
CHANGES = [
    ("ALTER TABLE players ADD COLUMN nick text", "tables", "public.players", "altered"),
    ("ALTER TABLE teams ALTER COLUMN name TYPE varchar(50)", "tables", "public.teams", "altered"),
    (
        "ALTER TABLE players ALTER COLUMN score SET DEFAULT 1",
        "tables",
        "public.players",
        "altered",
    ),
    ("ALTER TABLE teams ALTER COLUMN name DROP NOT NULL", "tables", "public.teams", "altered"),
    ("CREATE TABLE extra (id int)", "tables", "public.extra", "added"),
    ("DROP VIEW rich_players", "views", "public.rich_players", "removed"),
    (
        "ALTER TABLE players ADD CONSTRAINT positive CHECK (id > 0)",
        "constraints",
        "public.players.positive",
        "added",
    ),
    (
        "ALTER TABLE players DROP CONSTRAINT players_score_check",
        "constraints",
        "public.players.players_score_check",
        "removed",
    ),
    (
        "CREATE INDEX players_email_idx ON players (email)",
        "indexes",
        "public.players_email_idx",
        "added",
    ),
    (
        "CREATE OR REPLACE VIEW rich_players AS SELECT id, email FROM players WHERE score > 20",
        "views",
        "public.rich_players",
        "altered",
    ),
    (
        "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql "
        "AS $$BEGIN NEW.score := 0; RETURN NEW; END$$",
        "functions",
        "public.touch()",
        "altered",
    ),
    (
        "ALTER TABLE players DISABLE TRIGGER players_touch",
        "triggers",
        "public.players.players_touch",
        "altered",
    ),
    ("ALTER SEQUENCE tickets_seq INCREMENT BY 1", "sequences", "public.tickets_seq", "altered"),
    ("ALTER TYPE mood ADD VALUE 'angry'", "types", "public.mood", "altered"),
    ("CREATE SCHEMA reporting", "schemas", "reporting", "added"),
    ("CREATE EXTENSION citext", "extensions", "citext", "added"),
    (
        "CREATE POLICY own ON players USING (email = current_user)",
        "policies",
        "public.players.own",
        "added",
    ),
    (
        "CREATE FUNCTION on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$; "
        "CREATE EVENT TRIGGER on_ddl ON ddl_command_end EXECUTE FUNCTION on_ddl()",
        "event_triggers",
        "on_ddl",
        "added",
    ),
]


@pytest.fixture
def other_database():
    """A second empty database on the same server."""
    params = server_params()
    name = f"sa_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(**params, dbname=name, autocommit=True) as conn:
        yield conn
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_same_schema_built_two_ways_has_the_same_fingerprint(database, other_database):
    """One script or many small steps (and tracking tables or none) give one fingerprint."""
    with database.connect() as conn:
        store.ensure_schema(conn)
        conn.execute(BASE)
        first = fingerprint.take(conn)
    other_database.execute(STEPWISE)
    second = fingerprint.take(other_database)
    assert '"public.players"' in first[1]
    assert second == first


def test_every_kind_of_change_alters_the_fingerprint_and_is_named(database):
    """Each object change gives a new fingerprint and a diff naming the object."""
    with database.connect() as conn:
        conn.execute(BASE)
        before_text = fingerprint.canonical(before := fingerprint.describe(conn))
        seen = set()
        for statement, kind, name, how in CHANGES:
            with pytest.raises(_Undo), conn.transaction():
                conn.execute(statement)
                after = fingerprint.describe(conn)
                assert fingerprint.digest(fingerprint.canonical(after)) != fingerprint.digest(
                    before_text
                ), statement
                found = [
                    (c["kind"], c["name"], c["change"]) for c in fingerprint.diff(before, after)
                ]
                assert (kind, name, how) in found, (statement, found)
                seen.add(kind)
                raise _Undo
        assert seen == set(fingerprint.KINDS)
        assert fingerprint.canonical(fingerprint.describe(conn)) == before_text


class _Undo(Exception):
    """Rolls back one change."""


def test_diff_names_the_column_and_attribute_that_changed(database):
    """An altered table lists which column changed and how."""
    with database.connect() as conn:
        conn.execute(BASE)
        before = fingerprint.describe(conn)
        conn.execute("ALTER TABLE teams ALTER COLUMN name TYPE varchar(50)")
        (change,) = fingerprint.diff(before, fingerprint.describe(conn))
    assert change["name"] == "public.teams"
    assert change["details"] == ["columns name type: text -> character varying(50)"]


def test_tracking_tables_and_triggers_are_not_fingerprinted(database):
    """The ledger, its triggers and the DDL audit do not change the fingerprint."""
    with database.connect() as conn:
        conn.execute(BASE)
        bare = fingerprint.take(conn)
        store.ensure_schema(conn)
        api.install_ddl_audit(database.alias)
        assert fingerprint.take(conn) == bare


def test_same_named_objects_outside_the_ledger_are_drift(uap, database, migrations_dir):
    """Only the ledger's own objects are left out: look-alikes added out of band are named."""
    assert uap(directory=migrations_dir(numbered(1))).code == 0
    with database.connect() as conn:
        conn.execute("CREATE SCHEMA reporting")
        conn.execute(f"CREATE TABLE reporting.{store.MIGRATIONS_TABLE} (version text)")
        conn.execute(
            f"CREATE FUNCTION public.{store.EVENTS_TABLE}_chain(text) RETURNS text "
            "LANGUAGE sql SECURITY DEFINER AS 'SELECT $1'"
        )
        conn.execute(
            f"CREATE FUNCTION reporting.{store.DDL_AUDIT_FUNCTION}() RETURNS event_trigger "
            "LANGUAGE plpgsql AS 'BEGIN END'"
        )
        conn.execute(
            f"CREATE EVENT TRIGGER {store.DDL_AUDIT_TRIGGERS[0]} ON ddl_command_end "
            f"EXECUTE FUNCTION reporting.{store.DDL_AUDIT_FUNCTION}()"
        )
    try:
        result = uap("--verify")
    finally:
        with database.connect() as conn:
            conn.execute(f"DROP EVENT TRIGGER {store.DDL_AUDIT_TRIGGERS[0]}")
    assert result.code == 2, result.out
    assert f"table reporting.{store.MIGRATIONS_TABLE} added" in result.err
    assert f"function public.{store.EVENTS_TABLE}_chain(text) added" in result.err
    assert f"function reporting.{store.DDL_AUDIT_FUNCTION}() added" in result.err
    assert f"event trigger {store.DDL_AUDIT_TRIGGERS[0]} added" in result.err


def test_fingerprint_does_not_change_the_callers_search_path(database):
    """The runner's transaction keeps its search_path after the fingerprint is taken."""
    with database.connect() as conn, conn.transaction():
        conn.execute("SET LOCAL search_path = public, pg_temp")
        fingerprint.take(conn)
        assert conn.execute("SHOW search_path").fetchone()[0] == "public, pg_temp"


def test_fingerprint_of_a_100_table_schema_takes_under_a_second(database):
    """100 tables with keys, foreign keys, checks and indexes: well under one second."""
    statements = [
        f"CREATE TABLE t{n} (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT 'x', "
        f"ref bigint REFERENCES t{max(n - 1, 0)} (id) ON DELETE CASCADE, "
        f"amount numeric(10, 2) CHECK (amount >= 0)); CREATE INDEX t{n}_name ON t{n} (name);"
        for n in range(100)
    ]
    with database.connect() as conn:
        conn.execute("\n".join(statements))
        clock = time.perf_counter()
        fingerprint.take(conn)
        elapsed = time.perf_counter() - clock
    assert elapsed < 1.0


def test_last_event_of_a_run_carries_the_fingerprint(uap, database, migrations_dir):
    """One fingerprint per run, on its last event, matching the live schema."""
    folder = migrations_dir(numbered(3))
    assert uap(directory=folder).code == 0
    rows = database.query(
        "SELECT version, fingerprint IS NOT NULL, schema_description IS NOT NULL "
        "FROM schema_migration_events ORDER BY id"
    )
    assert rows == [("001", False, False), ("002", False, False), ("003", True, True)]
    assert api.verify_schema(database.alias)["drift"] is False


def test_failed_run_records_the_fingerprint_of_the_unchanged_schema(uap, database, migrations_dir):
    """A failure's event carries the fingerprint of the schema it left untouched."""
    files = numbered(1)
    files["002_v1.2_bad.sql"] = migration("002", "CREATE TABLE x (id int); SELECT * FROM nope;")
    assert uap(directory=migrations_dir(files)).code == 1
    status, recorded = database.query(
        "SELECT status, fingerprint FROM schema_migration_events ORDER BY id DESC LIMIT 1"
    )[0]
    assert status == "failed"
    assert recorded == api.verify_schema(database.alias)["current"]


def test_verify_reports_out_of_band_change_as_drift_with_a_diff(uap, database, migrations_dir):
    """--verify exits 2 and shows what changed; the next migration records the new schema."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    assert uap("--verify").code == 0
    with database.connect() as conn:
        conn.execute("ALTER TABLE t1 ADD COLUMN secret text")
        conn.execute("DROP TABLE t2")
    result = uap("--verify")
    assert result.code == 2
    assert "Schema DRIFT from the fingerprint recorded by event 2 (apply 002" in result.err
    assert "~ table public.t1 altered" in result.err
    assert "columns secret added" in result.err
    assert "- table public.t2 removed" in result.err
    migrations_dir({"003_v1.3_more.sql": migration("003", "CREATE TABLE t3 (id int);")})
    assert uap(directory=folder).code == 0
    assert uap("--verify").code == 0


def test_verify_detects_an_edited_schema_description(uap, database, migrations_dir):
    """A stored description that no longer hashes to its fingerprint is a problem (exit 2)."""
    assert uap(directory=migrations_dir(numbered(1))).code == 0
    with database.connect() as conn:
        conn.execute("ALTER TABLE schema_migration_events DISABLE TRIGGER USER")
        conn.execute("UPDATE schema_migration_events SET schema_description = '{}'")
        conn.execute("ALTER TABLE schema_migration_events ENABLE TRIGGER USER")
    result = uap("--verify", "--json")
    assert result.code == 2
    assert "schema_description does not hash to the event's fingerprint" in result.out
    assert "no valid signature of this app" in result.out  # not the drift reference either


def test_a_catalog_error_never_fails_the_migration(uap, database, migrations_dir, monkeypatch):
    """If the fingerprint cannot be taken, the migration still commits, without one."""
    broken = {**fingerprint._QUERIES, "broken": "SELECT 'x', 1 / 0"}
    monkeypatch.setattr(fingerprint, "_QUERIES", broken)
    assert uap(directory=migrations_dir(numbered(1))).code == 0
    assert database.query("SELECT status, fingerprint FROM schema_migration_events") == [
        ("completed", None)
    ]
    assert "t1" in database.tables()


def test_drift_before_a_run_is_recorded_not_absorbed(uap, database, migrations_dir):
    """A run that starts on a drifted schema records a schema_drift event first."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    with database.connect() as conn:
        conn.execute("CREATE TABLE rogue (id int)")
    migrations_dir({"002_v1.2_next.sql": migration("002", "CREATE TABLE t2 (id int);")})
    result = uap("--json", directory=folder)
    assert result.code == 0
    assert '"name": "public.rogue"' in result.out
    rows = database.query(
        "SELECT action, status, error_message, fingerprint IS NOT NULL "
        "FROM schema_migration_events ORDER BY id"
    )
    assert rows == [
        ("apply", "completed", None, True),
        (
            "schema_drift",
            "detected",
            "schema changed since event 1: added tables public.rogue",
            True,
        ),
        ("apply", "completed", None, True),
    ]
    assert uap("--verify").code == 0
    assert uap(directory=folder).code == 0  # nothing pending: no fingerprint taken, no event
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == 3
