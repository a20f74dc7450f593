"""`--baseline NNN`: adopt an existing database without running what it already has."""

from __future__ import annotations

from tests.conftest import UAP_MIGRATIONS, migration

STATUS = "SELECT version, status, checksum IS NOT NULL FROM schema_migrations ORDER BY version"


def _existing_schema(database, *files, sql=""):
    """Build tables by hand, as a database that predates uap_migrate would have them."""
    with database.connect() as conn:
        for name in files:
            conn.execute((UAP_MIGRATIONS / name).read_text())
        if sql:
            conn.execute(sql)


def test_baseline_then_apply_runs_only_later_files(uap, database):
    """A database built by hand up to 002 is baselined at 002; the run applies 003 and 004."""
    _existing_schema(database, "001_v1.0_initial_schema.sql", "002_v1.1_add_audit_logs.sql")
    result = uap("--baseline", "002", "--reason", "adopting prod", directory=UAP_MIGRATIONS)
    assert result.code == 0, result.err
    assert "Marked 2 version(s) as baseline (001, 002)" in result.out
    assert database.query(STATUS) == [("001", "baseline", True), ("002", "baseline", True)]
    assert database.query(
        "SELECT version, action, status, reason FROM schema_migration_events ORDER BY id"
    ) == [
        ("001", "baseline", "baseline", "adopting prod"),
        ("002", "baseline", "baseline", "adopting prod"),
    ]
    applied = uap(directory=UAP_MIGRATIONS)
    assert applied.code == 0, applied.err
    assert "✓ 001" not in applied.out and "✓ 003" in applied.out and "✓ 004" in applied.out
    assert [r[1] for r in database.query(STATUS)] == [
        "baseline",
        "baseline",
        "completed",
        "completed",
    ]


def test_baseline_records_checksums_so_drift_is_detected(uap, database, migrations_dir):
    """Editing a baselined file afterwards is drift: exit 2."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);")})
    _existing_schema(database, sql="CREATE TABLE a (id int)")
    assert uap("--baseline", "001", directory=folder).code == 0
    (folder / "001_v1.0_a.sql").write_text(migration("001", "CREATE TABLE a (id bigint);"))
    result = uap(directory=folder)
    assert result.code == 2 and "file changed since it was applied" in result.err


def test_baseline_refused_on_a_database_with_history(uap, database):
    """Any applied version makes --baseline exit 2 without writing anything."""
    assert uap("--target", "001", directory=UAP_MIGRATIONS).code == 0
    events = database.scalar("SELECT count(*) FROM schema_migration_events")
    result = uap("--baseline", "002", directory=UAP_MIGRATIONS)
    assert result.code == 2 and "already has history" in result.err
    assert database.scalar("SELECT count(*) FROM schema_migration_events") == events


def test_baseline_refused_on_an_empty_database_unless_forced(uap, database):
    """No user tables means nothing to adopt: exit 2; --force marks them anyway."""
    result = uap("--baseline", "001", directory=UAP_MIGRATIONS)
    assert result.code == 2 and "has no tables" in result.err
    assert uap("--baseline", "001", "--force", directory=UAP_MIGRATIONS).code == 0


def test_baseline_overwrites_a_failed_first_attempt(uap, database, migrations_dir):
    """A failed run before adopting does not block --baseline (rows only failed)."""
    _existing_schema(database, sql="CREATE TABLE a (id int)")
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);")})
    assert uap(directory=folder).code == 1  # a already exists
    assert uap("--baseline", "001", directory=folder).code == 0
    assert database.query(STATUS) == [("001", "baseline", True)]
    assert uap("--check", directory=folder).code == 0


def test_baseline_of_a_version_not_on_disk_is_refused(uap, database):
    """--baseline 009 names no file: exit 2."""
    result = uap("--baseline", "009", directory=UAP_MIGRATIONS)
    assert result.code == 2 and "no migration with that version" in result.err
