"""`--patch` obeys UAP_REQUIRE_APPROVAL: a patch runs only with an approval of its checksum."""

from __future__ import annotations

import pytest

from schema_audit import api
from schema_audit.exceptions import RefusedRequest
from tests.engine.test_approvals import approver, required

pytestmark = pytest.mark.django_db
PATCH = "-- Author: alice\nCREATE TABLE hotfix (id int);\n"


@pytest.fixture
def patch(tmp_path):
    """A patch written by alice; alice and bob are approvers."""
    approver("alice", "alice@example.com")
    approver("bob", "bob@example.com")
    path = tmp_path / "patches" / "patch_hotfix.sql"
    path.parent.mkdir()
    path.write_text(PATCH, encoding="utf-8")
    return path


def patch_events(database) -> list[tuple]:
    return database.query(
        "SELECT action, version, actor FROM schema_migration_events "
        "WHERE version = 'patch_hotfix.sql' ORDER BY id"
    )


@required
def test_unapproved_patch_exits_2_and_runs_nothing(uap, database, patch):
    """Under the gate an unapproved patch is refused, naming it and how to approve it."""
    result = uap("--patch", str(patch))
    assert result.code == 2, result.out
    assert "patch_hotfix.sql" in result.err and "has no approval" in result.err
    assert f"schema_audit.api.approve({str(patch)!r}" in result.err
    assert "hotfix" not in database.tables()
    assert patch_events(database) == []


@required
def test_approved_patch_runs_and_an_edit_afterwards_needs_a_new_approval(uap, database, patch):
    """bob approves the patch's checksum; it runs. Edited afterwards, it is refused as stale."""
    api.approve(str(patch), approved_by="bob", database=database.alias)
    assert uap("--patch", str(patch)).code == 0
    assert "hotfix" in database.tables()
    from schema_audit.ledger import provenance

    # The approval names its approver; the patch's event, who deployed it.
    assert patch_events(database) == [
        ("approve", "patch_hotfix.sql", "bob"),
        ("patch", "patch_hotfix.sql", provenance.actor()),
    ]
    patch.write_text(PATCH + "CREATE TABLE extra (id int);\n", encoding="utf-8")
    result = uap("--patch", str(patch))
    assert result.code == 2 and "after it was approved" in result.err
    assert "extra" not in database.tables()


@required
def test_patch_approved_by_its_author_or_revoked_does_not_run(uap, database, patch):
    """alice wrote it: her approval is refused; bob's, once revoked, no longer opens the gate."""
    with pytest.raises(RefusedRequest, match="is the file's Author"):
        api.approve(str(patch), approved_by="alice", database=database.alias)
    api.approve(str(patch), approved_by="bob", database=database.alias)
    api.revoke(str(patch), revoked_by="bob", database=database.alias)
    result = uap("--patch", str(patch))
    assert result.code == 2 and "revoked" in result.err
    assert "hotfix" not in database.tables()


def test_patch_runs_without_approval_when_the_gate_is_off(uap, database, patch):
    """UAP_REQUIRE_APPROVAL off: patches run as before."""
    assert uap("--patch", str(patch)).code == 0
    assert "hotfix" in database.tables()


@required
def test_fleet_patch_is_refused_before_any_target_when_one_lacks_approval(fleet, uap_fleet, patch):
    """Approved on the first database only: no database runs the patch, the other is named."""
    dbs = fleet(2)
    for db in dbs:
        api.initialize_tracking(db.alias)
    api.approve(str(patch), approved_by="bob", database=dbs[0].alias)
    result = uap_fleet(dbs, "--patch", str(patch))
    assert result.code == 2, result.out
    assert f"{dbs[1].alias}: patch_hotfix.sql (has no approval)" in result.err
    assert all("hotfix" not in db.tables() for db in dbs)
