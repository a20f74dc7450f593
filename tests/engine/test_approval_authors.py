"""Separation of duties: the Author is matched to users in every spelling; no Author, no approval;
an approval is for the content the approver saw."""

from __future__ import annotations

import pytest
from django.test import override_settings

from schema_audit import api
from schema_audit.exceptions import RefusedRequest
from schema_audit.files.discovery import checksum
from tests.conftest import migration
from tests.engine.test_approvals import FILE, approve_events, approver, authored, required

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "author",
    [
        "Alice Smith <alice@x.test>",
        "alice smith <ALICE@X.TEST>",
        "  ALICE@x.test ",
        "Alice",
        "alice <someone-else@x.test>",
    ],
)
def test_the_author_in_any_spelling_cannot_approve(database, migrations_dir, author):
    """`Name <e-mail>`, case and spaces: the file's author is refused, nothing is recorded."""
    approver("alice", "alice@x.test")
    folder = migrations_dir({FILE: authored("001", "SELECT 1;", author)})
    with pytest.raises(RefusedRequest, match="is the file's Author"):
        api.approve("001", approved_by="alice", directory=folder, database=database.alias)
    assert approve_events(database) == []


@required
def test_a_file_without_an_author_cannot_be_approved(uap, database, migrations_dir):
    """The refusal names the file; --plan and --check say why it cannot run."""
    approver("bob", "bob@x.test")
    folder = migrations_dir({FILE: migration("001", "CREATE TABLE orders (id int);")})
    with pytest.raises(RefusedRequest, match=r"001_v1.0_create_orders.sql.*no '-- Author:'"):
        api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    assert approve_events(database) == []
    plan = uap("--plan", directory=folder)
    assert plan.code == 2 and "[not approved: no_author]" in plan.out
    check = uap("--check", directory=folder)
    assert check.code == 2 and "no '-- Author:' header line" in check.out + check.err
    assert "no '-- Author:' header line" in uap(directory=folder).err
    assert "orders" not in database.tables()


def test_an_author_who_is_no_user_cannot_be_approved(uap, database, migrations_dir):
    """A typo in the Author would let its author approve: refused, and said so."""
    approver("bob", "bob@x.test")
    folder = migrations_dir({FILE: authored("001", "SELECT 1;", "Mallory <m@elsewhere.test>")})
    with pytest.raises(RefusedRequest, match="names no Django user"):
        api.approve("001", approved_by="bob", directory=folder, database=database.alias)
    assert approve_events(database) == []
    with override_settings(UAP_REQUIRE_APPROVAL=True):
        assert "[not approved: unknown_author]" in uap("--plan", directory=folder).out


def test_an_approval_is_refused_for_content_other_than_the_one_reviewed(database, migrations_dir):
    """The file changed after bob read it: approve(checksum=seen) records nothing."""
    approver("alice", "alice@x.test")
    approver("bob", "bob@x.test")
    folder = migrations_dir({FILE: authored("001", "SELECT 1;", "alice")})
    seen = checksum((folder / FILE).read_text(encoding="utf-8"))
    (folder / FILE).write_text(authored("001", "DROP TABLE accounts;", "alice"), "utf-8")
    with pytest.raises(RefusedRequest, match="changed since it was shown"):
        api.approve(
            "001", approved_by="bob", directory=folder, database=database.alias, checksum=seen
        )
    assert "schema_migration_events" not in database.tables()  # refused before any write
    now = checksum((folder / FILE).read_text(encoding="utf-8"))
    api.approve("001", approved_by="bob", directory=folder, database=database.alias, checksum=now)
    assert approve_events(database)[0][:3] == ("approve", "bob", now)
