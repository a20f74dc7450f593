"""Approvals with separation of duties, enforced where the SQL runs (UAP_REQUIRE_APPROVAL)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import override_settings

from schema_audit import api
from schema_audit.engine import postgres
from schema_audit.engine.approvals import APPROVERS_GROUP
from schema_audit.exceptions import RefusedRequest
from schema_audit.files.discovery import checksum
from schema_audit.ledger import chain, store
from tests.conftest import migration

pytestmark = pytest.mark.django_db
FILE = "001_v1.0_create_orders.sql"
required = override_settings(UAP_REQUIRE_APPROVAL=True)


def authored(version: str, body: str, author: str) -> str:
    """A migration whose header names its Author."""
    return migration(version, body).replace("-- Status: LIVE\n", f"-- Author: {author}\n", 1)


def approver(username: str, email: str = "", *, member: bool = True, **extra):
    """A Django user, in the approvers group unless `member` is False."""
    user = get_user_model().objects.create_user(username, email, "pw-123456789", **extra)
    if member:
        user.groups.add(Group.objects.get_or_create(name=APPROVERS_GROUP)[0])
    return user


@pytest.fixture
def folder(migrations_dir):
    """One file, 001, whose Author is alice; bob and alice are approvers."""
    approver("alice", "alice@example.com")
    approver("bob", "bob@example.com")
    return migrations_dir({FILE: authored("001", "CREATE TABLE orders (id int);", "alice")})


def approve_events(database) -> list[tuple]:
    return database.query(
        "SELECT action, actor, checksum, reason, ticket FROM schema_migration_events "
        "WHERE action IN ('approve', 'revoke') ORDER BY id"
    )


@required
def test_unapproved_apply_exits_2_and_runs_nothing(uap, database, folder):
    """Nothing runs and nothing is recorded; the message names the file and what to do."""
    result = uap(directory=folder)
    assert result.code == 2
    assert "001 v1.0_create_orders" in result.err and "has no approval" in result.err
    assert "orders" not in database.tables()
    assert database.scalar("SELECT count(*) FROM schema_migrations") == 0


@required
def test_approval_by_the_author_is_refused_and_does_not_let_it_run(uap, database, folder):
    """alice wrote the file: her approval is refused and leaves no event."""
    with pytest.raises(RefusedRequest, match="is the file's Author"):
        api.approve("001", approved_by="alice", directory=folder, database=database.alias)
    assert approve_events(database) == []
    assert uap(directory=folder).code == 2
    assert "orders" not in database.tables()


@required
def test_approval_by_bob_lets_it_run_and_names_bob_and_the_checksum(uap, database, folder):
    """The approve event records bob, the checksum, the comment and the ticket."""
    result = api.approve(
        "001", approved_by="bob", directory=folder, database=database.alias,
        comment="reviewed in PR 12", ticket="CHG-7",
    )  # fmt: skip
    text = (folder / FILE).read_text(encoding="utf-8")
    assert result["actor"] == "bob" and result["checksum"] == checksum(text)
    assert approve_events(database) == [
        ("approve", "bob", checksum(text), "reviewed in PR 12", "CHG-7")
    ]
    run = uap(directory=folder)
    assert run.code == 0, run.err
    assert "orders" in database.tables()


@required
def test_file_edited_after_its_approval_is_refused_again(uap, database, folder):
    """The approval is bound to the checksum: an edit voids it."""
    api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    path = folder / FILE
    path.write_text(path.read_text(encoding="utf-8") + "-- one more line\n", encoding="utf-8")
    result = uap(directory=folder)
    assert result.code == 2 and "changed after it was approved" in result.err
    assert "orders" not in database.tables()


@required
def test_revoked_approval_no_longer_counts(uap, database, folder):
    """A revoke event voids the approvals before it; a new approval counts again."""
    api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    api.revoke("001", revoked_by="alice", directory=folder, database=database.alias)
    result = uap(directory=folder)
    assert result.code == 2 and "was revoked" in result.err
    api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    assert uap(directory=folder).code == 0
    assert [row[:2] for row in approve_events(database)] == [
        ("approve", "bob"),
        ("revoke", "alice"),
        ("approve", "bob"),
    ]


@required
def test_self_approval_written_into_the_log_is_ignored(uap, database, folder):
    """An approve event by the Author (forged past the API) does not count."""
    text = (folder / FILE).read_text(encoding="utf-8")
    with postgres.connect(database.alias) as conn:
        store.ensure_schema(conn)
        forged = store.Attempt(
            version="001", action="approve", status="completed",
            started_at=datetime.now(timezone.utc), checksum=checksum(text), actor="ALICE",
        )  # fmt: skip
        store.record_event(conn, forged)
    result = uap(directory=folder)
    assert result.code == 2 and "by its own author" in result.err


@required
def test_author_given_as_an_email_cannot_approve(uap, database, migrations_dir):
    """`-- Author: carol@example.com` matches the Django user whose e-mail that is."""
    approver("carol", "Carol@Example.com")
    folder = migrations_dir({FILE: authored("001", "SELECT 1;", "carol@example.com")})
    with pytest.raises(RefusedRequest, match="Author"):
        api.approve("001", approved_by="carol", directory=folder, database=database.alias)


def test_only_active_members_of_the_approvers_group_may_approve(database, folder):
    """A superuser outside the group, an outsider and an unknown name are all refused."""
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    approver("mallory", member=False)
    approver("gone", is_active=False)
    for user, problem in ((root, "may not approve"), ("mallory", "may not approve"),
                          ("gone", "may not approve"), ("nobody", "no Django user")):  # fmt: skip
        with pytest.raises(RefusedRequest, match=problem):
            api.approve("001", approved_by=user, directory=folder, database=database.alias)
    assert approve_events(database) == []


def test_applied_or_unknown_versions_cannot_be_approved(uap, database, folder):
    """Approvals are for pending files on disk."""
    assert uap(directory=folder).code == 0  # approval not required here
    with pytest.raises(RefusedRequest, match="only a pending file"):
        api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    with pytest.raises(RefusedRequest, match="no migration file"):
        api.approve("042", approved_by="bob", directory=folder, database=database.alias)


@required
def test_plan_and_check_show_the_approval_state(uap, database, folder):
    """--plan lists each file's state and exits 2 while one is unapproved; so does --check."""
    plan = uap("--plan", directory=folder)
    assert plan.code == 2 and "[not approved: missing]" in plan.out
    assert uap("--check", directory=folder).code == 2
    api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    plan = uap("--plan", "--json", directory=folder)
    pending = json.loads(plan.out)["pending"]
    assert plan.code == 0 and pending[0]["approval"]["state"] == "approved"
    assert pending[0]["approval"]["approved_by"] == "bob" and pending[0]["author"] == "alice"
    check = uap("--check", directory=folder)
    assert check.code == 1 and "[approved by bob]" in check.out


@required
def test_dry_run_never_needs_an_approval(uap, database, folder):
    """A dry run is rolled back: it runs without approval."""
    result = uap("--dry-run", directory=folder)
    assert result.code == 0, result.err
    assert "orders" not in database.tables()


def test_approvals_are_chained_and_the_approver_is_covered_by_the_hash(database, folder):
    """Changing an approval's actor breaks the chain; the log still verifies untouched."""
    api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    with postgres.connect(database.alias) as conn:
        events = store.read_events(conn)
    assert chain.verify(events)["verified"]
    forged = [{**event, "actor": "alice"} for event in events]
    assert chain.verify(forged)["first_break"]["action"] == "approve"


def test_evidence_bundle_with_approvals_verifies_offline(database, folder, tmp_path):
    """events.json carries the approver, and the offline chain check covers it."""
    api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    bundle = tmp_path / "evidence.zip"
    api.export_evidence(bundle, folder, database.alias)
    checked = api.verify_evidence(bundle)
    assert checked["intact"] and checked["verified"] and not checked["problems"], checked
    assert checked["history"]["chained"] == 1


def test_hostile_version_arguments_are_refused(database, folder):
    """Huge or non-numeric versions name the problem instead of crashing."""
    for version in ("9" * 5000, "../001", "", "1e3"):
        with pytest.raises(RefusedRequest, match="no migration file"):
            api.approve(version, approved_by="bob", directory=folder, database=database.alias)


@override_settings(UAP_REQUIRE_APPROVAL="sometimes")
def test_an_unusable_require_approval_setting_is_exit_2(uap, folder, database):
    """A value that is not on or off stops the run instead of guessing."""
    result = uap(directory=folder)
    assert result.code == 2 and "UAP_REQUIRE_APPROVAL" in result.err
    assert "orders" not in database.tables()


def test_plan_shows_no_approval_state_while_approvals_are_off(uap, migrations_dir, settings):
    """`--plan` says nothing of approvals unless they are required or one was given."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "SELECT 1;")})
    settings.UAP_REQUIRE_APPROVAL = False
    assert "approved" not in uap("--plan", directory=folder).out
    settings.UAP_REQUIRE_APPROVAL = True
    assert "[not approved: " in uap("--plan", directory=folder).out
