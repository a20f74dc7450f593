"""Hostile Flyway and sqitch folders, and ledgers they do not expect: versions that collide
under the sort key, links and loops in a Flyway tree, repeatables that fail or go away,
sqitch plans whose change names look like numbers."""

from __future__ import annotations

import json
import os

from schema_audit.files import discovery
from tests.files.test_layouts import write
from tests.files.test_sqitch import line, plan, scripts

EVENTS = "SELECT version, action, status FROM schema_migration_events ORDER BY id"


def problems_of(folder) -> list[str]:
    return [str(p) for p in discovery.collect(folder)[1]]


def linked_in(outside, link, name: str, text: str) -> None:
    """A folder `outside` the migrations directory holding one file, reached through `link`."""
    outside.mkdir()
    (outside / name).write_text(text)
    os.symlink(outside, link)


def test_two_undo_files_of_one_version_are_refused(folder):
    """U1.0 and U1 both undo V1: one of them would be dropped silently."""
    write(folder, {"V1__a.sql": "SELECT 1;\n", "U1.0__a.sql": "SELECT 2;\n",
                   "U1__a.sql": "SELECT 3;\n"})  # fmt: skip
    assert any("U1__a.sql" in p and "also used" in p for p in problems_of(folder)), problems_of(
        folder
    )


def test_a_linked_sub_folder_is_not_skipped_silently(folder, tmp_path):
    """Flyway reads a linked sub-folder; silently leaving its V5 out reads as up to date."""
    write(folder, {"V1__a.sql": "SELECT 1;\n"})
    linked_in(tmp_path / "shared", folder / "shared", "V5__e.sql", "SELECT 5;\n")
    assert any("shared" in p for p in problems_of(folder)), problems_of(folder)


def test_a_link_loop_in_a_flyway_tree_ends(folder):
    write(folder, {"V1__a.sql": "SELECT 1;\n", "sub/V2__b.sql": "SELECT 2;\n"})
    os.symlink(folder, folder / "sub" / "loop")
    found, problems = discovery.collect(folder)
    assert [m.version for m in found] == ["1", "2"]
    assert any("loop" in str(p) for p in problems)


def test_a_long_dotted_version_orders_as_numbers(folder):
    """A file name holds up to 255 bytes: a version of 120 parts orders before 2, and
    1.0.0...0 is version 1, as Flyway compares them."""
    many = ".".join(["1"] * 120)
    write(folder, {f"V{many}__a.sql": "SELECT 1;\n", "V2__b.sql": "SELECT 2;\n"})
    assert [m.name for m in discovery.discover(folder)] == ["a", "b"]
    zeros = "1" + ".0" * 110
    write(folder, {f"V{zeros}__c.sql": "SELECT 1;\n", "V1__d.sql": "SELECT 1;\n"})
    assert any("also used" in p for p in problems_of(folder)), problems_of(folder)


def test_a_failing_repeatable_fails_the_run_and_runs_again(uap, database, folder):
    write(folder, {"V1__a.sql": "CREATE TABLE a (id int);\n",
                   "R__v.sql": "CREATE VIEW v AS SELECT nope FROM a;\n"})  # fmt: skip
    first = uap(directory=folder)
    assert first.code == 1, (first.code, first.out, first.err)
    rows = dict(database.query("SELECT version, status FROM schema_migrations"))
    assert rows == {"1": "completed", "R__v": "failed"}, rows
    write(folder, {"R__v.sql": "CREATE VIEW v AS SELECT id FROM a;\n"})
    assert "R__v" in uap("--plan", directory=folder).out
    second = uap(directory=folder)
    assert second.code == 0, second.err
    assert dict(database.query("SELECT version, status FROM schema_migrations"))["R__v"] == (
        "completed"
    )


def test_a_removed_repeatable_reads_the_same_with_or_without_another(uap, database, folder):
    """Removing R__b while R__a stays, or removing the only repeatable: the same verdict,
    applied but its file missing (exit 2), as Flyway's validate refuses it."""
    write(folder, {"V1__a.sql": "SELECT 1;\n", "R__a.sql": "SELECT 1;\n",
                   "R__b.sql": "SELECT 2;\n"})  # fmt: skip
    assert uap(directory=folder).code == 0
    (folder / "R__b.sql").unlink()
    with_other = uap(directory=folder).code
    (folder / "R__a.sql").unlink()
    alone = uap(directory=folder).code
    assert with_other == alone == 2, (with_other, alone)


def test_target_spelled_differently_names_the_same_flyway_version(uap, database, folder):
    write(folder, {"V1.2__a.sql": "SELECT 1;\n", "V1.10__b.sql": "SELECT 2;\n",
                   "V1.11__c.sql": "SELECT 3;\n"})  # fmt: skip
    result = uap("--target", "1.10.0", directory=folder)
    assert result.code == 0, result.err
    assert sorted(v for (v,) in database.query("SELECT version FROM schema_migrations")) == [
        "1.10",
        "1.2",
    ]
    back = uap("--rollback-to", "01.2", directory=folder)
    assert back.code != 0 or "1.10" in back.out  # no undo: refused, naming 1.10


def test_baseline_at_a_dotted_version(uap, database, folder):
    write(folder, {"V1.2__a.sql": "SELECT 1;\n", "V1.10__b.sql": "CREATE TABLE b (id int);\n"})
    result = uap("--baseline", "1.2", "--force", directory=folder)
    assert result.code == 0, result.err
    run = uap(directory=folder)
    assert run.code == 0, run.err
    assert "b" in database.tables()
    status = json.loads(uap("--status", "--json", directory=folder).out)
    assert status["current_version"] == "1.10"


def test_a_dotted_row_in_a_uap_ledger_is_reported_not_crashed(uap, database, migrations_dir):
    from tests.conftest import numbered

    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    with database.connect() as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum, status) "
            "SELECT '1.2', 'by hand', checksum, 'completed' FROM schema_migrations LIMIT 1"
        )
    status = uap("--status", directory=folder)
    assert status.code in (0, 1, 2) and "Traceback" not in status.err, status.err
    assert "1.2" in status.out + status.err


def sqitch_folder(folder, *names):
    files = {"sqitch.plan": plan(*(line(n, i + 1) for i, n in enumerate(names)))}
    for n in names:
        files.update(scripts(n, f"CREATE TABLE t_{n} (id int);", f"DROP TABLE t_{n};"))
    write(folder, files)


def test_a_numbered_row_of_a_change_gone_from_the_plan_is_not_another_change(
    uap, database, folder
):
    """The plan's change `2` ran and left the plan; its row must not stand for the plan's
    third change (`c`, placed at index 2): c is pending, 2 is applied with no file."""
    sqitch_folder(folder, "2")
    assert uap(directory=folder).code == 0
    for kind in ("deploy", "revert"):
        (folder / kind / "2.sql").unlink()
    sqitch_folder(folder, "a", "b", "c")
    (folder / "sqitch.plan").write_text(plan(line("a", 1), line("b", 2), line("c", 3)))
    status = json.loads(uap("--status", "--json", directory=folder).out)
    by_version = {m["version"]: m for m in status["migrations"]}
    assert by_version["c"]["status"] == "pending", status["migrations"]
    assert by_version["2"]["status"] == "completed", status["migrations"]


def test_versions_too_long_for_an_integer_order_as_text():
    from schema_audit.files.naming import version_key

    assert version_key("9" * 5000)[0] == 1 and version_key(".".join(["1"] * 10000))[0] == 1
    assert version_key("1" + ".0" * 1000) == version_key("1")


def test_sqitch_scripts_behind_a_linked_folder_are_refused(folder, tmp_path):
    """deploy/sub links outside the project: its script would run, show and ship as the
    project's; refused, named, nothing read from there."""
    write(folder, {"sqitch.plan": plan(line("sub/secret")), "deploy/keep.txt": ""})
    linked_in(tmp_path / "elsewhere", folder / "deploy" / "sub", "secret.sql", "SELECT 'no';\n")
    found, problems = discovery.collect(folder)
    assert found == [] and any(
        "through a link to a folder outside the migrations directory" in str(p) for p in problems
    ), problems


def test_a_diesel_folder_that_links_outside_is_refused(folder, tmp_path):
    write(folder, {"2024-01-01-000001_a/up.sql": "SELECT 1;\n"})
    linked_in(tmp_path / "elsewhere", folder / "2024-01-01-000002_b", "up.sql", "SELECT 2;\n")
    found, problems = discovery.collect(folder)
    assert [m.version for m in found] == ["20240101000001"]
    assert any("through a link to a folder outside" in str(p) for p in problems), problems


def test_a_repeatable_is_no_target_for_rollback_to_or_baseline(uap, database, folder):
    write(folder, {"V1__a.sql": "CREATE TABLE a (id int);\n", "U1__a.sql": "DROP TABLE a;\n",
                   "R__v.sql": "CREATE OR REPLACE VIEW v AS SELECT 1 AS x;\n"})  # fmt: skip
    baseline = uap("--baseline", "R__v", "--force", directory=folder)
    assert baseline.code == 2 and "a repeatable migration is not a version" in baseline.err
    assert uap(directory=folder).code == 0
    back = uap("--rollback-to", "R__v", directory=folder)
    assert back.code == 2 and "a repeatable migration is not a version" in back.err
    assert "a" in database.tables()
