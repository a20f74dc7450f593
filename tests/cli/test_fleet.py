"""`uap_migrate` over several databases: canary, parallel, on-error, every mode, exit codes."""

from __future__ import annotations

import json
import threading
import time
import zipfile
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import override_settings

from schema_audit.ledger import store
from tests.conftest import migration, numbered, register_alias, run_command, unregister_alias

ROLLOUTS = "SELECT DISTINCT rollout FROM schema_migration_events"
COMPLETED = "SELECT count(*) FROM schema_migrations WHERE status = 'completed'"


def execute(db, text: str) -> None:
    """Run one statement on a fleet database (to make a file fail there, or fix it)."""
    with db.connect() as conn:
        conn.execute(text)


def test_fleet_applies_everywhere_canary_first_with_one_rollout_id(
    fleet, uap_fleet, migrations_dir
):
    """Five databases, canary first then three at a time: every one at 003, one rollout id."""
    folder = migrations_dir(numbered(3))
    dbs = fleet(5)
    result = uap_fleet(dbs, "--canary", dbs[0].alias, "--parallel", "3", directory=folder)
    assert result.code == 0, result.err
    for db in dbs:
        assert {"t1", "t2", "t3"} <= db.tables()
        assert db.scalar(COMPLETED) == 3
    ids = {row for db in dbs for row in db.query(ROLLOUTS)}
    assert len(ids) == 1 and None not in ids
    assert result.out.index(dbs[0].alias) < min(result.out.index(d.alias) for d in dbs[1:])
    assert "TARGET" in result.out and "5 ok" in result.out
    # The canary's events all precede the first event of any other target.
    canary_last = dbs[0].scalar("SELECT max(started_at) FROM schema_migration_events")
    others_first = min(
        d.scalar("SELECT min(started_at) FROM schema_migration_events") for d in dbs[1:]
    )
    assert canary_last <= others_first


def test_failure_on_one_target_under_continue_exits_1_and_others_apply(
    fleet, uap_fleet, migrations_dir
):
    """A file failing on one target: exit 1, the others at 003, the summary names the target."""
    folder = migrations_dir(numbered(3))
    dbs = fleet(4)
    execute(dbs[2], "CREATE TABLE t2 (id int)")
    result = uap_fleet(dbs, "--on-error", "continue", "--parallel", "2", directory=folder)
    assert result.code == 1
    for db in (dbs[0], dbs[1], dbs[3]):
        assert db.scalar(COMPLETED) == 3
    assert dbs[2].query("SELECT version, status FROM schema_migrations ORDER BY 1") == [
        ("001", "completed"),
        ("002", "failed"),
    ]
    assert f"Needs attention: {dbs[2].alias} (failed)" in result.err
    assert f"--database {dbs[2].alias}" in result.err and "--on-error continue" in result.err


def test_canary_failure_leaves_other_targets_unattempted(fleet, uap_fleet, migrations_dir):
    """The canary fails: no other target has a ledger, let alone an event."""
    folder = migrations_dir(numbered(3))
    dbs = fleet(3)
    execute(dbs[0], "CREATE TABLE t2 (id int)")
    result = uap_fleet(dbs, "--canary", dbs[0].alias, "--parallel", "3", directory=folder)
    assert result.code == 1
    for db in dbs[1:]:
        assert "schema_migration_events" not in db.tables()
    assert "not started" in result.out


def test_fixed_failure_rerun_converges_and_fleet_check_passes(fleet, uap_fleet, migrations_dir):
    """After the failing target is fixed, a re-run applies only what is pending; --check 0."""
    folder = migrations_dir(numbered(3))
    dbs = fleet(3)
    execute(dbs[1], "CREATE TABLE t2 (id int)")
    assert uap_fleet(dbs, "--on-error", "continue", directory=folder).code == 1
    assert uap_fleet(dbs, "--check", directory=folder).code == 2  # a failed row
    execute(dbs[1], "DROP TABLE t2")
    before = dbs[0].scalar("SELECT count(*) FROM schema_migration_events")
    result = uap_fleet(dbs, directory=folder)
    assert result.code == 0, result.err
    assert dbs[0].scalar("SELECT count(*) FROM schema_migration_events") == before
    assert uap_fleet(dbs, "--check", directory=folder).code == 0


def test_on_error_stop_starts_no_new_target(fleet, uap_fleet, migrations_dir):
    """One at a time: after the second target fails, the third is never started."""
    folder = migrations_dir(numbered(2))
    dbs = fleet(3)
    execute(dbs[1], "CREATE TABLE t1 (id int)")
    result = uap_fleet(dbs, directory=folder)
    assert result.code == 1
    assert {"t1", "t2"} <= dbs[0].tables()
    assert "schema_migrations" not in dbs[2].tables()
    assert f"{dbs[2].alias} (not started)" in result.err


def test_json_has_one_object_per_target_and_totals(fleet, uap_fleet, migrations_dir):
    """--json: targets in order with their own result, totals, the exit code and rollout id."""
    folder = migrations_dir(numbered(2))
    dbs = fleet(2)
    result = uap_fleet(dbs, "--json", directory=folder)
    assert result.code == 0
    data = json.loads(result.out)
    assert [t["alias"] for t in data["targets"]] == [d.alias for d in dbs]
    assert data["totals"] == {"targets": 2, "ok": 2}
    assert data["exit_code"] == 0 and data["resume"] is None
    assert all(t["result"]["current_version"] == "002" for t in data["targets"])
    assert dbs[0].scalar(ROLLOUTS) == data["rollout"]


def test_every_read_mode_works_on_a_fleet(fleet, uap_fleet, migrations_dir):
    """--plan, --status, --check and --dry-run report each target; nothing is applied."""
    folder = migrations_dir(numbered(2))
    dbs = fleet(2)
    assert uap_fleet(dbs, "--plan", directory=folder).code == 0
    assert uap_fleet(dbs, "--status", directory=folder).code == 0
    assert uap_fleet(dbs, "--check", directory=folder).code == 1
    dry = uap_fleet(dbs, "--dry-run", "--json", directory=folder)
    assert dry.code == 0
    assert [len(t["result"]["dry_run"]) for t in json.loads(dry.out)["targets"]] == [2, 2]
    for db in dbs:
        assert "t1" not in db.tables()


def test_operations_work_on_a_fleet(fleet, uap_fleet, migrations_dir):
    """--baseline adopts every target; --accept-checksum records a changed file on each."""
    files = numbered(2)
    folder = migrations_dir(files)
    dbs = fleet(2)
    for db in dbs:
        execute(db, "CREATE TABLE legacy (id int)")
    assert uap_fleet(dbs, "--baseline", "001", directory=folder).code == 0
    for db in dbs:
        assert db.scalar("SELECT status FROM schema_migrations WHERE version='001'") == "baseline"
    name = next(iter(files))
    (folder / name).write_text(files[name] + "\n-- edited\n", encoding="utf-8")
    assert uap_fleet(dbs, "--check", directory=folder).code == 2
    assert uap_fleet(dbs, "--accept-checksum", "001", directory=folder).code == 0
    assert uap_fleet(dbs, directory=folder).code == 0
    assert uap_fleet(dbs, "--verify").code == 0


def test_evidence_bundle_holds_a_folder_per_database(fleet, uap_fleet, migrations_dir, tmp_path):
    """One zip, one folder per database; it verifies offline and a swapped member is caught."""
    folder = migrations_dir(numbered(2))
    dbs = fleet(2)
    assert uap_fleet(dbs, directory=folder).code == 0
    out = tmp_path / "fleet.zip"
    assert uap_fleet(dbs, "--evidence", str(out), directory=folder).code == 0
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    for db in dbs:
        assert f"{db.alias}/manifest.json" in names and f"{db.alias}/events.json" in names
    assert uap_fleet(dbs[:1], "--verify-evidence", str(out)).code == 0
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == f"{dbs[1].alias}/events.json":
                data = data.replace(b'"apply"', b'"dry_run"', 1)
            dst.writestr(info, data)
    result = uap_fleet(dbs[:1], "--verify-evidence", str(tampered))
    assert result.code == 2 and dbs[1].alias in result.err


def test_fleet_evidence_bundle_of_no_database_is_malformed(tmp_path):
    """A fleet.json listing no database, and nothing else: exit 2, never "intact, 0 files"."""
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        manifest = {"format": "uap-fleet-evidence/1", "rollout": "r1", "databases": {}}
        archive.writestr("fleet.json", json.dumps(manifest))
    result = run_command("--verify-evidence", str(empty))
    assert result.code == 2, result.out
    assert "fleet.json lists no database" in result.err
    assert "intact" not in result.out


def test_unknown_alias_is_refused_before_anything_runs(fleet, uap_fleet, migrations_dir):
    """A misspelt alias in the list: exit 2 naming it; no target was touched."""
    folder = migrations_dir(numbered(1))
    dbs = fleet(2)
    result = uap_fleet(dbs, directory=folder, extra=["nope"])
    assert result.code == 2 and "nope" in result.err
    assert all("schema_migrations" not in db.tables() for db in dbs)


def test_canary_must_be_a_target(fleet, uap_fleet, migrations_dir):
    """--canary naming an alias outside the targets is refused (exit 2)."""
    dbs = fleet(2)
    result = uap_fleet(dbs, "--canary", "default", directory=migrations_dir(numbered(1)))
    assert result.code == 2 and "--canary default" in result.err


def test_all_databases_narrowed_by_uap_fleet(fleet, migrations_dir):
    """--all-databases takes UAP_FLEET's aliases only."""
    folder = migrations_dir(numbered(1))
    dbs = fleet(3)
    with override_settings(UAP_FLEET=[dbs[0].alias, dbs[2].alias]):
        result = run_command("--all-databases", "--dir", str(folder))
    assert result.code == 0, result.err
    assert "t1" in dbs[0].tables() and "t1" in dbs[2].tables()
    assert "t1" not in dbs[1].tables()


@pytest.mark.parametrize("value", ["0", "-1"])
def test_parallel_must_be_positive(fleet, uap_fleet, migrations_dir, value):
    """--parallel 0 is refused with exit 2."""
    dbs = fleet(2)
    result = uap_fleet(dbs, "--parallel", value, directory=migrations_dir(numbered(1)))
    assert result.code == 2


def test_single_target_output_is_unchanged(fleet, uap_fleet, migrations_dir):
    """A list of one alias prints the single-database output, without a rollout id."""
    dbs = fleet(1)
    result = uap_fleet(dbs, directory=migrations_dir(numbered(1)))
    assert result.code == 0
    assert "Applied 1 migration(s)" in result.out and "TARGET" not in result.out
    assert dbs[0].query(ROLLOUTS) == [(None,)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--database", "default,,default"], "an empty alias"),
        (["--database", "default", "--all-databases"], "exclude each other"),
        (["--database", ",".join(f"x{n}" for n in range(5000))], "and 4990 more"),
    ],
)
def test_malformed_target_lists_exit_2(args, message):
    """Empty aliases, conflicting flags and huge lists are refused with a short message."""
    result = run_command(*args, "--status")
    assert result.code == 2 and message in result.err
    assert len(result.err) < 1000


@pytest.mark.parametrize("value", [[1, 2], "", "default,,x", ["default", "nope"]])
def test_unusable_uap_fleet_exits_2(value):
    """UAP_FLEET that is not a list of configured aliases: exit 2 naming the setting."""
    with override_settings(UAP_FLEET=value):
        result = run_command("--all-databases", "--status")
    assert result.code == 2 and "UAP_FLEET" in result.err


def test_non_postgresql_alias_is_refused(fleet, uap_fleet, migrations_dir):
    """An alias of another engine in the list: exit 2, nothing runs anywhere."""
    dbs = fleet(1)
    register_alias(
        "lite", {**settings.DATABASES[dbs[0].alias], "ENGINE": "django.db.backends.sqlite3"}
    )
    try:
        result = uap_fleet(dbs, directory=migrations_dir(numbered(1)), extra=["lite"])
    finally:
        unregister_alias("lite")
    assert result.code == 2 and "lite: not a PostgreSQL database" in result.err
    assert "schema_migrations" not in dbs[0].tables()


def test_unreachable_canary_stops_the_rollout_with_exit_3(fleet, uap_fleet, migrations_dir):
    """The canary's server is down: exit 3, and no other target gets a ledger."""
    dbs = fleet(2)
    down = {**settings.DATABASES[dbs[0].alias], "HOST": "/nonexistent/uap"}
    down["ENGINE"] = "django.db.backends.postgresql"  # not the embedded one, which finds a server
    register_alias("gone", down)
    try:
        result = uap_fleet(
            dbs,
            "--canary",
            "gone",
            "--json",
            directory=migrations_dir(numbered(1)),
            extra=["gone"],
        )
    finally:
        unregister_alias("gone")
    assert result.code == 3
    report = json.loads(result.out)
    assert [(t["alias"], t["status"]) for t in report["targets"]] == [
        ("gone", "unreachable"),
        (dbs[0].alias, "not_started"),
        (dbs[1].alias, "not_started"),
    ]
    assert report["resume"].startswith("python manage.py uap_migrate --database gone,")
    assert all("schema_migrations" not in db.tables() for db in dbs)


def test_on_error_stop_lets_running_targets_finish_their_file_then_stop(
    fleet, uap_fleet, migrations_dir
):
    """A fails while B is inside 001: B commits 001 and never starts 002."""
    files = {
        "001_v1.1_wait.sql": migration(
            "001", "SELECT pg_advisory_lock(4242);\nCREATE TABLE t1 (id int);"
        ),
        "002_v1.2_next.sql": migration("002", "CREATE TABLE t2 (id int);"),
    }
    folder = migrations_dir(files)
    a, b = fleet(2)
    execute(a, "CREATE TABLE t1 (id int)")  # 001 fails on A once it gets past the lock
    with a.connect() as hold_a, b.connect() as hold_b:
        for holder in (hold_a, hold_b):
            holder.execute("SELECT pg_advisory_lock(4242)")  # each target's 001 waits here
        results = []
        run = threading.Thread(
            target=lambda: results.append(uap_fleet([a, b], "--parallel", "2", directory=folder))
        )
        run.start()
        for db in (a, b):
            wait_until(db, WAITING_FOR_4242)
        hold_a.execute("SELECT pg_advisory_unlock(4242)")
        wait_until(a, "SELECT count(*) FROM schema_migrations WHERE status = 'failed'")
        hold_b.execute("SELECT pg_advisory_unlock(4242)")
    run.join(timeout=120)
    assert results and results[0].code == 1
    assert b.query("SELECT version, status FROM schema_migrations") == [("001", "completed")]
    assert f"{b.alias} (stopped)" in results[0].err


WAITING_FOR_4242 = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = 4242 "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def wait_until(db, query: str) -> None:
    """Poll `query` on `db` until its first column is truthy (at most a minute)."""
    deadline = time.monotonic() + 60
    while not db.scalar(query):
        assert time.monotonic() < deadline, query
        time.sleep(0.05)


def test_repair_and_dry_run_on_a_fleet_carry_the_rollout_id(fleet, uap_fleet, migrations_dir):
    """--repair resolves a running row on every target; each event names its rollout."""
    folder = migrations_dir(numbered(2))
    dbs = fleet(2)
    assert uap_fleet(dbs, "--target", "001", directory=folder).code == 0
    for db in dbs:
        with db.connect() as conn:
            attempt = store.Attempt(
                version="002", action="apply", status="running", started_at=datetime.now(UTC)
            )
            store.record(conn, attempt)  # what a crash inside a non-transactional file leaves
    assert uap_fleet(dbs, directory=folder).code == 2  # dirty: refused everywhere
    repaired = uap_fleet(dbs, "--repair", "002", "--mark", "failed", "--json", directory=folder)
    assert repaired.code == 0
    rollout = json.loads(repaired.out)["rollout"]
    assert uap_fleet(dbs, "--dry-run", directory=folder).code == 0
    for db in dbs:
        assert db.scalar("SELECT status FROM schema_migrations WHERE version = '002'") == "failed"
        actions = db.query(
            "SELECT action, rollout IS NOT NULL FROM schema_migration_events ORDER BY id"
        )
        assert actions == [("apply", True), ("apply", False), ("repair", True), ("dry_run", True)]
        repair = "SELECT rollout FROM schema_migration_events WHERE action = 'repair'"
        assert db.scalar(repair) == rollout


def test_fleet_evidence_says_where_it_wrote_and_the_hash_to_keep(
    fleet, uap_fleet, migrations_dir, tmp_path
):
    """Text and JSON name the zip and the SHA-256 of fleet.json; no in-memory object leaks."""
    import hashlib

    folder = migrations_dir(numbered(1))
    dbs = fleet(2)
    assert uap_fleet(dbs, directory=folder).code == 0
    out = tmp_path / "fleet.zip"
    text = uap_fleet(dbs, "--evidence", str(out), directory=folder)
    with zipfile.ZipFile(out) as archive:
        digest = hashlib.sha256(archive.read("fleet.json")).hexdigest()
    assert f"Fleet evidence bundle written to {out}: 2 database folder(s)." in text.out
    assert f"Fleet manifest SHA-256: {digest}" in text.out
    document = json.loads(uap_fleet(dbs, "--evidence", str(out), "--json", directory=folder).out)
    assert document["evidence"]["path"] == str(out)
    assert len(document["evidence"]["manifest_sha256"]) == 64
    for target in document["targets"]:
        assert target["result"]["path"] == str(out)
        assert target["result"]["folder"] == f"{target['alias']}/"
    assert "BytesIO" not in json.dumps(document)


def test_resume_continues_the_same_rollout(fleet, uap_fleet, migrations_dir):
    """The Resume with: line carries --rollout: the resumed file's events join the rollout."""
    folder = migrations_dir(numbered(2))
    dbs = fleet(2)
    execute(dbs[1], "CREATE TABLE t2 (id int)")
    result = uap_fleet(dbs, "--on-error", "continue", directory=folder)
    assert result.code == 1
    resume = next(line for line in result.err.splitlines() if line.startswith("Resume with:"))
    rollout = dbs[0].scalar("SELECT DISTINCT rollout FROM schema_migration_events")
    assert f"--rollout {rollout}" in resume
    execute(dbs[1], "DROP TABLE t2")
    argv = resume.removeprefix("Resume with: python manage.py uap_migrate ").split()
    assert run_command(*argv).code == 0
    assert dbs[1].query(ROLLOUTS) == [(rollout,)]
    assert dbs[1].scalar(COMPLETED) == 2
    bad = run_command("--database", dbs[0].alias, "--rollout", "x; DROP", "--dir", str(folder))
    assert bad.code == 2 and "not a rollout id" in bad.err
