"""Where the fleet meets approvals, the trace and the output formats."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import override_settings

from schema_audit import api
from schema_audit.engine.approvals import APPROVERS_GROUP
from tests.conftest import migration

pytestmark = pytest.mark.django_db
FILE = "001_v1.0_create_orders.sql"
EVENTS = "SELECT count(*) FROM schema_migration_events WHERE action = 'apply'"


@pytest.fixture
def approved_folder(migrations_dir):
    """One file by alice; bob is an approver."""
    get_user_model().objects.create_user("alice", "alice@example.com", "pw-123456789")
    user = get_user_model().objects.create_user("bob", "bob@example.com", "pw-123456789")
    user.groups.add(Group.objects.get_or_create(name=APPROVERS_GROUP)[0])
    body = migration("001", "CREATE TABLE orders (id int);")
    return migrations_dir({FILE: body.replace("-- Status: LIVE\n", "-- Author: alice\n", 1)})


@override_settings(UAP_REQUIRE_APPROVAL=True)
def test_fleet_refuses_before_the_canary_applies_when_another_target_lacks_approval(
    fleet, uap_fleet, approved_folder
):
    """Approved on the canary only: exit 2, nothing applied anywhere, the target named."""
    dbs = fleet(2)
    api.approve("001", approved_by="bob", directory=approved_folder, database=dbs[0].alias)
    result = uap_fleet(dbs, "--canary", dbs[0].alias, directory=approved_folder)
    assert result.code == 2
    assert "orders" not in dbs[0].tables()
    assert dbs[0].scalar(EVENTS) == 0
    assert dbs[1].alias in result.err and "has no approval" in result.err


@override_settings(UAP_REQUIRE_APPROVAL=True)
def test_fleet_applies_when_every_target_is_approved(fleet, uap_fleet, approved_folder):
    """Each target's own ledger holds its approval: the rollout goes through."""
    dbs = fleet(2)
    for db in dbs:
        api.approve("001", approved_by="bob", directory=approved_folder, database=db.alias)
    result = uap_fleet(dbs, "--canary", dbs[0].alias, directory=approved_folder)
    assert result.code == 0, result.err
    assert all("orders" in db.tables() for db in dbs)


def test_resume_of_a_traced_fleet_run_stays_a_dry_run(fleet, uap_fleet, migrations_dir):
    """A --trace rollout that needs attention suggests a command that traces, never applies."""
    folder = migrations_dir({"001_v1.0_bad.sql": migration("001", "SELECT 1/0;")})
    dbs = fleet(2)
    result = uap_fleet(dbs, "--trace", "--format", "json", directory=folder)
    assert result.code == 1
    document = json.loads(result.out)
    assert "--trace" in document["resume"]
    assert "--format json" in document["resume"] or "--json" in document["resume"]


def test_resume_after_a_failed_canary_keeps_it_first(fleet, uap_fleet, migrations_dir):
    """The canary failed: the resumed rollout still runs it alone before the others."""
    folder = migrations_dir({"001_v1.0_bad.sql": migration("001", "SELECT 1/0;")})
    dbs = fleet(3)
    result = uap_fleet(dbs, "--canary", dbs[1].alias, "--parallel", "2", directory=folder)
    assert result.code == 1
    resume = next(line for line in result.err.splitlines() if line.startswith("Resume with:"))
    assert f"--canary {dbs[1].alias}" in resume and "--parallel 2" in resume


def test_markdown_trace_on_a_fleet_is_refused_before_anything_runs(
    fleet, uap_fleet, migrations_dir
):
    """The fleet prints a table per target, never Markdown: say so instead of ignoring it."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE t (id int);")})
    dbs = fleet(2)
    result = uap_fleet(dbs, "--trace", "--format", "markdown", directory=folder)
    assert result.code == 2
    assert "--format markdown" in result.err and "one database" in result.err
    assert all("schema_migration_events" not in db.tables() for db in dbs)


def test_trace_alone_on_a_fleet_reports_every_target_like_a_dry_run(
    fleet, uap_fleet, migrations_dir
):
    """--trace implies --dry-run: a file failing on one target does not stop the others."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE t (id int);")})
    dbs = fleet(3)
    with dbs[0].connect() as conn:
        conn.execute("CREATE TABLE t (id int)")
    result = uap_fleet(dbs, "--trace", "--json", directory=folder)
    assert result.code == 1
    statuses = [t["status"] for t in json.loads(result.out)["targets"]]
    assert statuses == ["failed", "ok", "ok"]


@override_settings(UAP_REQUIRE_APPROVAL=True)
def test_modes_that_apply_no_file_need_no_approval_on_a_fleet(fleet, uap_fleet, approved_folder):
    """Installing the DDL capture or a dry run over a fleet is not an apply: no refusal."""
    dbs = fleet(2)
    for args in (("--install-ddl-audit",), ("--dry-run",), ("--plan",)):
        result = uap_fleet(dbs, *args, directory=approved_folder)
        assert "no target was run" not in result.err, args
    assert uap_fleet(dbs, "--install-ddl-audit", directory=approved_folder).code == 0


def test_traced_fleet_events_verify_and_their_evidence_verifies_offline(
    fleet, uap_fleet, migrations_dir, tmp_path
):
    """Events carrying both a trace and a rollout id: --verify and the fleet bundle hold."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "CREATE TABLE t (id int);")})
    dbs = fleet(2)
    assert uap_fleet(dbs, "--trace", directory=folder).code == 0
    for db in dbs:
        rows = db.query("SELECT trace IS NOT NULL, rollout FROM schema_migration_events")
        assert len(rows) == 1 and rows[0][0] and rows[0][1]
    result = uap_fleet(dbs, "--verify", directory=folder)
    assert result.code == 0, result.out + result.err
    bundle = tmp_path / "fleet.zip"
    assert uap_fleet(dbs, "--evidence", str(bundle), directory=folder).code == 0
    assert api.verify_evidence(bundle)["verified"]
