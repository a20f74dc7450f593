"""The Python API (docs/reference/api.md), one test per public function, against PostgreSQL."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connections
from django.test import override_settings

from schema_audit import api, conf
from schema_audit.engine.approvals import APPROVERS_GROUP
from schema_audit.exceptions import MigrationFailed
from schema_audit.files.discovery import checksum
from tests.conftest import UAP_MIGRATIONS, migration

FILES = {
    f"{version}_v1.{n}_create_{table}.sql": migration(
        version, f"CREATE TABLE {table} (id int);", rollback=f"DROP TABLE {table};"
    )
    for n, (version, table) in enumerate((("001", "a"), ("002", "b"), ("003", "c")))
}
STATUS_KEYS = {
    "current_version",
    "total_completed",
    "total_pending",
    "migrations",
    "problems",
    "successful",
    "failed",
    "errors",
}


@pytest.fixture
def folder(migrations_dir) -> Path:
    """Three files, 001 to 003, each creating one table and dropping it in its Rollback."""
    return migrations_dir(FILES)


def sums(folder: Path) -> dict[str, str]:
    return {path.name[:3]: checksum(path.read_text()) for path in folder.glob("*.sql")}


def ledger(database) -> list[tuple]:
    return database.query("SELECT version, status FROM schema_migrations ORDER BY version")


def events(database) -> list[tuple]:
    return database.query(
        "SELECT version, action, status FROM schema_migration_events ORDER BY id"
    )


def test_all_lists_every_documented_function():
    """Every public name is a function documented here, and tested below."""
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(api.__all__) <= tested
    assert all(callable(getattr(api, name)) for name in api.__all__)


def test_migrations_dir(settings):
    """The argument as a Path, else the UAP_MIGRATIONS_DIR setting."""
    assert api.migrations_dir("sql/here") == Path("sql/here")
    settings.UAP_MIGRATIONS_DIR = "/srv/migrations"
    assert api.migrations_dir() == Path("/srv/migrations")
    assert api.migrations_dir(None) == conf.UAP_MIGRATIONS_DIR


def test_initialize_tracking(database):
    """Creates the tracking tables once: True, then False with nothing to change."""
    assert api.initialize_tracking(database.alias) is True
    assert {"schema_migrations", "schema_migration_events"} <= database.tables()
    assert api.initialize_tracking(database.alias) is False


def test_completed_migrations(database, folder):
    """Completed rows only, in version order, each with its checksum and name."""
    assert api.completed_migrations(database.alias) == []
    api.run_pending(folder, database.alias, target="002")
    rows = api.completed_migrations(database.alias)
    assert [(r["version"], r["name"], r["status"]) for r in rows] == [
        ("001", "v1.0_create_a", "completed"),
        ("002", "v1.1_create_b", "completed"),
    ]
    assert [r["checksum"].strip() for r in rows] == [sums(folder)["001"], sums(folder)["002"]]
    api.rollback("002", folder, database.alias)
    assert [r["version"] for r in api.completed_migrations(database.alias)] == ["001"]


def test_pending_migrations(database, folder):
    """Files not yet applied, in order, each with its file, checksum, kind and Retired reason."""
    pending = api.pending_migrations(folder, database.alias)
    assert pending[0] == {
        "version": "001",
        "name": "v1.0_create_a",
        "status": "pending",
        "file": str(folder / "001_v1.0_create_a.sql"),
        "checksum": sums(folder)["001"],
        "transactional": True,
        "author": None,
        "retired": None,
    }
    assert [p["version"] for p in pending] == ["001", "002", "003"]
    assert "schema_migrations" not in database.tables()  # reading creates nothing
    api.run_pending(folder, database.alias, target="001")
    assert [p["version"] for p in api.pending_migrations(folder, database.alias)] == [
        "002",
        "003",
    ]


def test_migration_status(database, folder):
    """Every version with its status, what a run would apply, and what would stop it."""
    api.run_pending(folder, database.alias, target="001")
    status = api.migration_status(folder, database.alias, target="002")
    assert STATUS_KEYS | {"pending", "approval_required"} == set(status)
    assert (status["current_version"], status["total_completed"], status["total_pending"]) == (
        "001",
        1,
        1,
    )
    assert [(m["version"], m["status"], m["on_disk"]) for m in status["migrations"]] == [
        ("001", "completed", True),
        ("002", "pending", True),
        ("003", "pending", True),
    ]
    first = status["migrations"][0]
    assert first["checksum"] == sums(folder)["001"] and first["drift"] is None
    assert first["applied_at"] is not None and first["error_message"] is None
    assert [p["version"] for p in status["pending"]] == ["002"]
    assert status["pending"][0]["approval"]["state"] == "no_author"
    assert (status["problems"], status["approval_required"]) == ([], False)


def test_migration_status_names_drift_as_a_problem(database, folder):
    """An applied file edited afterwards shows as drift and as a problem."""
    api.run_pending(folder, database.alias, target="001")
    path = folder / "001_v1.0_create_a.sql"
    path.write_text(path.read_text() + "-- edited\n")
    status = api.migration_status(folder, database.alias)
    assert status["migrations"][0]["drift"].startswith("file changed since it was applied")
    assert status["problems"] == [f"001 v1.0_create_a: {status['migrations'][0]['drift']}"]


def test_run_pending(database, folder):
    """Applies in order up to the target, reports each file through `progress`."""
    seen = []
    result = api.run_pending(
        folder,
        database.alias,
        target="002",
        progress=lambda event, migration, outcome: seen.append((event, migration.version)),
    )
    assert STATUS_KEYS | {"applied", "schema_drift"} <= set(result)
    assert (result["successful"], result["failed"], result["errors"]) == (2, 0, [])
    assert [(a["version"], a["status"]) for a in result["applied"]] == [
        ("001", "completed"),
        ("002", "completed"),
    ]
    assert seen == [("start", "001"), ("done", "001"), ("start", "002"), ("done", "002")]
    assert (result["current_version"], result["total_pending"]) == ("002", 1)
    assert {"a", "b"} <= database.tables() and "c" not in database.tables()
    again = api.run_pending(folder, database.alias)
    assert (again["successful"], again["current_version"]) == (1, "003")
    nothing = api.run_pending(folder, database.alias)
    assert (nothing["successful"], nothing["applied"]) == (0, [])


def test_run_pending_applies_the_shipped_migrations(database):
    """The project's own db/migrations: status, pending, run and completed agree."""
    status = api.migration_status(UAP_MIGRATIONS, database.alias)
    assert (status["current_version"], status["total_pending"]) == (None, 4)
    result = api.run_pending(UAP_MIGRATIONS, database.alias)
    assert (result["successful"], result["failed"], result["errors"]) == (4, 0, [])
    assert [r["version"] for r in api.completed_migrations(database.alias)] == [
        "001",
        "002",
        "003",
        "004",
    ]
    status = api.migration_status(UAP_MIGRATIONS, database.alias)
    assert (status["current_version"], status["total_completed"], status["total_pending"]) == (
        "004",
        4,
        0,
    )
    assert api.initialize_tracking(database.alias) is False


def test_run_pending_reports_a_failing_file_without_raising(database, migrations_dir):
    """A failing file is in `errors` and recorded failed; later files are not run."""
    folder = migrations_dir(
        {
            "001_v1.0_ok.sql": migration("001", "CREATE TABLE a (id int);"),
            "002_v1.0_bad.sql": migration("002", "CREATE TABLE a (id int);"),
            "003_v1.0_later.sql": migration("003", "CREATE TABLE c (id int);"),
        }
    )
    result = api.run_pending(folder, database.alias)
    assert (result["successful"], result["failed"]) == (1, 1)
    [error] = result["errors"]
    assert (error["version"], error["status"], error["sqlstate"]) == ("002", "failed", "42P07")
    assert error["file"] == str(folder / "002_v1.0_bad.sql")
    assert error["message"].startswith(f"{folder / '002_v1.0_bad.sql'}:")
    assert ledger(database) == [("001", "completed"), ("002", "failed")]
    assert "c" not in database.tables()


def approver(username: str, *, member: bool = True):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "pw-1234567")
    if member:
        user.groups.add(Group.objects.get_or_create(name=APPROVERS_GROUP)[0])
    return user


@pytest.fixture
def authored(migrations_dir):
    """One pending file whose Author is alice; bob may approve it."""
    approver("alice")
    approver("bob")
    body = migration("001", "CREATE TABLE a (id int);").replace(
        "-- Status: LIVE\n", "-- Author: alice\n", 1
    )
    return migrations_dir({"001_v1.0_a.sql": body})


@pytest.mark.django_db
def test_approve(database, authored):
    """An approve event binding bob to the file's checksum; the gate then opens."""
    result = api.approve(
        "001", approved_by="bob", directory=authored, database=database.alias, ticket="CHG-1"
    )
    assert {k: result[k] for k in ("action", "version", "name", "actor", "ticket", "author")} == {
        "action": "approve",
        "version": "001",
        "name": "v1.0_a",
        "actor": "bob",
        "ticket": "CHG-1",
        "author": "alice",
    }
    assert result["checksum"] == sums(authored)["001"]
    assert events(database) == [("001", "approve", "completed")]
    with override_settings(UAP_REQUIRE_APPROVAL=True):
        assert api.run_pending(authored, database.alias)["successful"] == 1


@pytest.mark.django_db
def test_revoke(database, authored):
    """A revoke event; the file is then revoked, not approved."""
    api.approve("001", approved_by="bob", directory=authored, database=database.alias)
    result = api.revoke("001", revoked_by="bob", directory=authored, database=database.alias)
    assert (result["action"], result["version"], result["actor"]) == ("revoke", "001", "bob")
    assert [e[1] for e in events(database)] == ["approve", "revoke"]
    assert api.approval_states(authored, database.alias)["001"]["state"] == "revoked"


@pytest.mark.django_db
def test_approval_states(database, authored):
    """One state per pending file: missing, then approved by bob with its event."""
    assert api.approval_states(authored, database.alias) == {
        "001": {
            "version": "001",
            "state": "missing",
            "approved_by": None,
            "approved_at": None,
            "event_id": None,
        }
    }
    api.approve("001", approved_by="bob", directory=authored, database=database.alias)
    state = api.approval_states(authored, database.alias)["001"]
    assert (state["state"], state["approved_by"]) == ("approved", "bob")
    assert state["event_id"] == database.scalar("SELECT max(id) FROM schema_migration_events")
    assert datetime.fromisoformat(state["approved_at"]).tzinfo is not None


def test_load_sql(database, tmp_path):
    """Runs a plain SQL file in one transaction, not recorded; a failure rolls it all back."""
    seed = tmp_path / "seed.sql"
    seed.write_text("CREATE TABLE s (id int); INSERT INTO s VALUES (1), (2);")
    assert api.load_sql(seed, database.alias) is None
    assert database.scalar("SELECT count(*) FROM s") == 2
    assert "schema_migrations" not in database.tables()
    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE TABLE t (id int); SELECT 1/0;")
    with pytest.raises(MigrationFailed, match=r"\[SQLSTATE 22012\]"):
        api.load_sql(bad, database.alias)
    assert "t" not in database.tables()


def test_dry_run(database, folder):
    """Every pending file run and rolled back: reported per file, schema unchanged."""
    result = api.dry_run(folder, database.alias, target="002")
    assert (result["action"], result["current_version"]) == ("dry_run", None)
    assert [(f["version"], f["status"], f["file"]) for f in result["dry_run"]] == [
        ("001", "completed", str(folder / "001_v1.0_create_a.sql")),
        ("002", "completed", str(folder / "002_v1.1_create_b.sql")),
    ]
    assert (result["successful"], result["failed"], result["skipped"], result["errors"]) == (
        2,
        0,
        0,
        [],
    )
    assert "a" not in database.tables()
    assert ledger(database) == []
    assert [e[1] for e in events(database)] == ["dry_run", "dry_run"]


def test_rollback(database, folder):
    """Runs the newest version's Rollback SQL and marks it rolled_back."""
    api.run_pending(folder, database.alias)
    result = api.rollback("003", folder, database.alias, reason="bad deploy")
    assert {k: result[k] for k in ("action", "version", "status", "sql")} == {
        "action": "rollback",
        "version": "003",
        "status": "rolled_back",
        "sql": "DROP TABLE c;",
    }
    assert isinstance(result["duration_ms"], int)
    assert "c" not in database.tables()
    assert ledger(database)[-1] == ("003", "rolled_back")
    assert events(database)[-1] == ("003", "rollback", "rolled_back")


def test_rollback_to(database, folder):
    """Rolls back every version above the one given, newest first; a dry run changes nothing."""
    api.run_pending(folder, database.alias)
    rehearsed = api.rollback_to("001", folder, database.alias, dry_run=True)
    assert rehearsed["rehearsed"] and rehearsed["current_version"] == "003"
    assert [(i["version"], i["status"]) for i in rehearsed["rollbacks"]] == [
        ("003", "completed"),
        ("002", "completed"),
    ]
    assert {"b", "c"} <= database.tables()
    result = api.rollback_to("001", folder, database.alias, reason="bad release")
    assert {k: result[k] for k in ("action", "version", "rehearsed", "successful", "failed")} == {
        "action": "rollback_to",
        "version": "001",
        "rehearsed": False,
        "successful": 2,
        "failed": 0,
    }
    assert [(i["version"], i["sql"]) for i in result["rollbacks"]] == [
        ("003", "DROP TABLE c;"),
        ("002", "DROP TABLE b;"),
    ]
    assert result["errors"] == [] and result["current_version"] == "001"
    assert ledger(database) == [
        ("001", "completed"),
        ("002", "rolled_back"),
        ("003", "rolled_back"),
    ]
    assert events(database)[-2:] == [
        ("003", "rollback", "rolled_back"),
        ("002", "rollback", "rolled_back"),
    ]


def test_show(database, folder):
    """A pending file as it will run; once applied, what it ran and no drift. Reads only."""
    pending = api.show("002", folder, database.alias, lock_timeout="2s", lock_retries=0)
    assert pending["status"] == "pending" and pending["ran"] is None
    assert pending["session_prefix"] == (
        "SET LOCAL lock_timeout = '2s'; SET LOCAL statement_timeout = '0'; "
    )
    assert pending["lock_retry"]["retries"] == 0 and pending["rollback"] == "DROP TABLE b;"
    assert "CREATE TABLE b (id int);" in pending["sql"]
    assert database.tables() == set()
    api.run_pending(folder, database.alias)
    applied = api.show("002", folder, database.alias)
    assert applied["status"] == "completed" and applied["drift"] is None
    assert applied["ran"]["sql_text"] == pending["sql"]
    assert applied["ran"]["checksum"] == sums(folder)["002"]


def test_baseline(database, folder):
    """On a database built by other means, marks versions up to one as baseline, unrun."""
    with database.connect() as conn:
        conn.execute("CREATE TABLE a (id int); CREATE TABLE b (id int)")
    result = api.baseline("002", folder, database.alias, reason="adopted")
    assert result == {
        "action": "baseline",
        "version": "002",
        "status": "baseline",
        "versions": ["001", "002"],
    }
    assert ledger(database) == [("001", "baseline"), ("002", "baseline")]
    assert [e[1:] for e in events(database)] == [("baseline", "baseline")] * 2
    assert [p["version"] for p in api.pending_migrations(folder, database.alias)] == ["003"]


def test_import_history(database, folder):
    """goose's applied versions are recorded as baselines with goose's time; nothing runs."""
    with database.connect() as conn:
        conn.execute(
            "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, "
            "is_applied boolean NOT NULL, tstamp timestamp DEFAULT now())"
        )
        conn.execute(
            "INSERT INTO goose_db_version (version_id, is_applied, tstamp) "
            "VALUES (0, true, now()), (1, true, '2024-03-04'), (2, true, '2024-03-05')"
        )
    result = api.import_history("goose", folder, database.alias)
    assert result["imported"] == ["001", "002"] and result["after"] == ["003"]
    assert result["table"] == "public.goose_db_version" and result["tool"] == "goose"
    assert ledger(database) == [("001", "baseline"), ("002", "baseline")]
    assert database.tables() & {"a", "b"} == set()
    again = api.import_history("goose", folder, database.alias)
    assert again["imported"] == [] and again["already"] == ["001", "002"]


def test_repair(database, migrations_dir):
    """A failed version fixed by hand is marked completed, with a repair event."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE a (id int);")})
    with database.connect() as conn:
        conn.execute("CREATE TABLE a (id int)")
    assert api.run_pending(folder, database.alias)["failed"] == 1
    result = api.repair("001", "completed", folder, database.alias, reason="INC-7")
    assert result == {
        "action": "repair",
        "version": "001",
        "status": "completed",
        "previous": "failed",
    }
    assert ledger(database) == [("001", "completed")]
    assert events(database)[-1] == ("001", "repair", "completed")


def test_accept_checksum(database, folder):
    """Records an applied file's new checksum; a second call changes nothing."""
    api.run_pending(folder, database.alias, target="001")
    old = sums(folder)["001"]
    path = folder / "001_v1.0_create_a.sql"
    path.write_text(path.read_text() + "-- a comment\n")
    new = sums(folder)["001"]
    result = api.accept_checksum("001", folder, database.alias, reason="comment only")
    assert result == {
        "action": "accept_checksum",
        "version": "001",
        "status": "accepted",
        "previous": old,
        "checksum": new,
    }
    assert database.scalar("SELECT checksum FROM schema_migrations") == new
    assert api.accept_checksum("001", folder, database.alias) == {
        "action": "accept_checksum",
        "version": "001",
        "status": "unchanged",
        "checksum": new,
    }


def test_apply_patch(database, tmp_path):
    """Runs an emergency patch in a transaction: a patch event, no ledger row."""
    api.initialize_tracking(database.alias)
    patch = tmp_path / "patch_add_index.sql"
    text = "CREATE TABLE p (id int);\n"
    patch.write_text(text)
    result = api.apply_patch(patch, database.alias, reason="INC-9")
    assert {k: result[k] for k in ("action", "version", "status", "checksum")} == {
        "action": "patch",
        "version": "patch_add_index.sql",
        "status": "completed",
        "checksum": checksum(text),
    }
    assert "p" in database.tables()
    assert ledger(database) == []
    assert events(database) == [("patch_add_index.sql", "patch", "completed")]


def test_lint_migrations(database, migrations_dir):
    """The checklist over a directory or given files, with counts; the version's source."""
    folder = migrations_dir(
        {
            "001_v1.0_ok.sql": migration("001", "CREATE TABLE IF NOT EXISTS a (id int);"),
            "002_v1.0_bad.sql": migration("002", "CREATE TABLE b (id int);"),
        }
    )
    with override_settings(UAP_LINT_PG_VERSION="15"):
        result = api.lint_migrations(directory=folder, database=database.alias)
        one = api.lint_migrations([folder / "001_v1.0_ok.sql"], database=database.alias)
    assert (result["files"], result["errors"], result["pg_version"]) == (2, 1, 15)
    assert result["pg_version_source"] == "setting"
    [finding] = [f for f in result["findings"] if f["level"] == "error"]
    assert finding["path"].endswith("002_v1.0_bad.sql")
    assert (one["files"], one["errors"]) == (1, 0)
    # A plain PostgreSQL alias's server is asked; the embedded server is never started for
    # lint, so there the default version stands.
    server = api.lint_migrations(directory=folder, database=database.alias)
    engine = connections.settings[database.alias]["ENGINE"]
    if engine == "django.db.backends.postgresql":
        assert server["pg_version_source"] == "server"
        assert server["pg_version"] == int(database.scalar("SHOW server_version_num")) // 10000
    else:
        assert (server["pg_version_source"], server["pg_version"]) == ("default", 15)


def test_verify_history(database, folder):
    """The event log's hash chain: every event chained and verified."""
    api.run_pending(folder, database.alias)
    history = api.verify_history(database.alias)
    assert {"verified", "events", "chained", "unchained", "first_break", "head"} <= set(history)
    assert (history["verified"], history["events"], history["chained"]) == (True, 3, 3)
    assert history["first_break"] is None and len(history["head"]) == 64


def test_verify_schema(database, folder):
    """The live schema against the recorded fingerprint: equal, then drift naming the table."""
    api.run_pending(folder, database.alias)
    assert api.verify_schema(database.alias)["drift"] is False
    with database.connect() as conn:
        conn.execute("CREATE TABLE sneaky (id int)")
    schema = api.verify_schema(database.alias)
    assert schema["drift"] is True
    assert [(c["kind"], c["change"]) for c in schema["changes"] if "sneaky" in c["name"]] == [
        ("tables", "added")
    ]


def test_verify(database, folder):
    """Both checks of --verify in one result; ok until the schema drifts."""
    api.run_pending(folder, database.alias)
    result = api.verify(database.alias)
    assert set(result) == {"ok", "access_log", "history", "schema", "out_of_band_ddl", "ddl_audit"}
    assert (result["ok"], result["out_of_band_ddl"]) == (True, [])
    assert result["ddl_audit"] == {"installed": False, "enabled": False}
    assert api.verify(database.alias, incremental=True)["access_log"] is None
    with database.connect() as conn:
        conn.execute("DROP TABLE c")
    assert api.verify(database.alias)["ok"] is False


def test_install_ddl_audit(database):
    """Installs the event triggers; installing again is harmless."""
    assert api.install_ddl_audit(database.alias) == {"installed": True, "enabled": True}
    assert api.install_ddl_audit(database.alias) == {"installed": True, "enabled": True}


def test_ddl_audit_state(database):
    """Not installed on a fresh database; installed and enabled afterwards."""
    api.initialize_tracking(database.alias)
    assert api.ddl_audit_state(database.alias) == {"installed": False, "enabled": False}
    api.install_ddl_audit(database.alias)
    assert api.ddl_audit_state(database.alias) == {"installed": True, "enabled": True}


def test_out_of_band_ddl(database, folder):
    """DDL run outside uap_migrate is listed, newest first; uap_migrate's own is not."""
    api.install_ddl_audit(database.alias)
    api.run_pending(folder, database.alias)
    assert api.out_of_band_ddl(database.alias) == []
    with database.connect() as conn:
        conn.execute("CREATE TABLE by_hand (id int)")
        conn.execute("CREATE INDEX by_hand_id ON by_hand (id)")
    found = api.out_of_band_ddl(database.alias)
    assert [(e["action"], e["status"]) for e in found] == [("out_of_band_ddl", "detected")] * 2
    assert "CREATE INDEX" in found[0]["sql_text"] and "CREATE TABLE" in found[1]["sql_text"]
    assert len(api.out_of_band_ddl(database.alias, limit=1)) == 1


def test_event_filter_choices(database, folder):
    """Distinct operators and tickets of the event log; empty before the tables exist."""
    assert api.event_filter_choices(database.alias) == {"operators": [], "tickets": []}
    with override_settings(UAP_CHANGE_TICKET="CHG-42"):
        api.run_pending(folder, database.alias, target="001")
    api.run_pending(folder, database.alias)
    choices = api.event_filter_choices(database.alias)
    assert choices["tickets"] == ["CHG-42"]
    [operator] = choices["operators"]
    assert operator["applied_by"] == database.params.get("user", "postgres")
    assert operator["os_user"]


def test_export_evidence(database, folder, tmp_path):
    """Writes the zip and returns its manifest with the checks it ran."""
    api.run_pending(folder, database.alias)
    out = tmp_path / "evidence.zip"
    manifest = api.export_evidence(out, folder, database.alias)
    assert {"format", "created_at", "files", "manifest_sha256", "history", "schema"} <= set(
        manifest
    )
    assert manifest["history"]["verified"] is True and manifest["schema"]["drift"] is False
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
    assert set(manifest["files"]) <= names


def test_evidence_bundle(database, folder):
    """The same bundle as bytes: a zip that verifies offline."""
    api.run_pending(folder, database.alias)
    data = api.evidence_bundle(folder, database.alias)
    assert data[:2] == b"PK"
    assert api.verify_evidence(io.BytesIO(data))["intact"] is True


def test_verify_evidence(database, folder, tmp_path):
    """An exported bundle verifies; one altered byte of a member does not."""
    api.run_pending(folder, database.alias)
    good = tmp_path / "good.zip"
    manifest = api.export_evidence(good, folder, database.alias)
    result = api.verify_evidence(good)
    assert (result["intact"], result["verified"], result["problems"]) == (True, True, [])
    assert result["manifest_sha256"] == manifest["manifest_sha256"]
    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(altered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith(".csv") or item.filename.endswith(".jsonl"):
                data = data.replace(b"003", b"004", 1)
            target.writestr(item, data)
    broken = api.verify_evidence(altered)
    assert broken["intact"] is False and broken["problems"]


def test_fleet_databases(database, settings):
    """UAP_FLEET when set, else every PostgreSQL alias."""
    settings.UAP_FLEET = [database.alias]
    assert api.fleet_databases() == [database.alias]
    settings.UAP_FLEET = None
    assert database.alias in api.fleet_databases() and "default" in api.fleet_databases()


def test_fleet_status(database, folder, settings):
    """Where each fleet database stands: version, pending count, state."""
    settings.UAP_FLEET = [database.alias]
    api.run_pending(folder, database.alias, target="002")
    [entry] = api.fleet_status(folder)
    assert {k: entry[k] for k in ("alias", "state", "current_version", "pending", "failed")} == {
        "alias": database.alias,
        "state": "pending",
        "current_version": "002",
        "pending": 1,
        "failed": 0,
    }
    assert (entry["problems"], entry["error"]) == ([], None)
    assert database.name in entry["database"]
