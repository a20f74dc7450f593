"""sqitch project folders read as they are: the plan's order, the BEGIN/COMMIT wrapper taken
out, verify in the deploy's transaction, revert as the rollback; hostile plans refused."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from schema_audit.exceptions import InvalidMigration
from schema_audit.files import discovery
from tests.files.test_layouts import write
from tests.ledger import foreign_tables

WHO = "Marge N. O'Vera <marge@example.com>"


def line(name: str, day: int = 1, requires: str = "", note: str = "") -> str:
    """A plan line as `sqitch add` writes it."""
    deps = f" [{requires}]" if requires else ""
    return f"{name}{deps} 2024-01-{day:02d}T00:00:00Z {WHO}" + (f" # {note}" if note else "")


def scripts(name: str, deploy: str, revert: str, verify: str = "") -> dict[str, str]:
    """deploy/, revert/ and verify/ scripts of one change, in sqitch's pg templates."""
    files = {
        f"deploy/{name}.sql": f"-- Deploy flipr:{name} to pg\n\nBEGIN;\n\n{deploy}\nCOMMIT;\n",
        f"revert/{name}.sql": f"-- Revert flipr:{name} from pg\n\nBEGIN;\n\n{revert}\nCOMMIT;\n",
    }
    if verify:
        files[f"verify/{name}.sql"] = (
            f"-- Verify flipr:{name} on pg\n\nBEGIN;\n\n{verify}\nROLLBACK;\n"
        )
    return files


def plan(*lines: str, project: str = "flipr") -> str:
    head = f"%syntax-version=1.0.0\n%project={project}\n%uri=https://example.com/{project}/\n\n"
    return head + "\n".join(lines) + "\n"


def flipr() -> dict[str, str]:
    """A project with a schema, a table reworked after tag v1.0, and an index."""
    files = {
        "sqitch.plan": plan(
            line("appschema", 1, note="Add schema for all flipr objects."),
            line("users", 2, "appschema"),
            f"@v1.0 2024-01-03T00:00:00Z {WHO} # Tag v1.0.",
            "",
            "# reworked: users gains a twitter column",
            line("users", 4, "users@v1.0"),
            line("users_nickname", 5, "!gone users"),
        ),
        "sqitch.conf": "[core]\n\tengine = pg\n",
        **scripts(
            "appschema",
            "CREATE SCHEMA flipr;\n",
            "DROP SCHEMA flipr;\n",
            "SELECT pg_catalog.has_schema_privilege('flipr', 'usage');\n",
        ),
        **scripts("users", "ALTER TABLE flipr.users ADD COLUMN twitter text;\n",
                  "ALTER TABLE flipr.users DROP COLUMN twitter;\n",
                  "SELECT twitter FROM flipr.users WHERE FALSE;\n"),
        "deploy/users_nickname.sql":
            "CREATE INDEX CONCURRENTLY users_nick ON flipr.users (lower(nickname));\n",
        "revert/users_nickname.sql": "DROP INDEX flipr.users_nick;\n",
    }  # fmt: skip
    for kind, body in (("deploy", "CREATE TABLE flipr.users (nickname text PRIMARY KEY);\n"),
                       ("revert", "DROP TABLE flipr.users;\n")):  # fmt: skip
        files[f"{kind}/users@v1.0.sql"] = f"BEGIN;\n{body}COMMIT;\n"
    return files


def test_a_sqitch_folder_applies_in_plan_order_and_rolls_back_by_its_revert(uap, database, folder):
    """Plan, apply, status, check, then --rollback of the newest runs its revert script."""
    write(folder, flipr())
    planned = uap("--plan", directory=folder)
    assert planned.code == 0, planned.err
    assert (
        planned.out.index("appschema") < planned.out.index("users ") < planned.out.index("users#2")
    )
    applied = uap(directory=folder)
    assert applied.code == 0, applied.err
    rows = database.query("SELECT version, status FROM schema_migrations")
    assert {v for v, _ in rows} == {"appschema", "users", "users#2", "users_nickname"}
    assert all(status == "completed" for _, status in rows)
    columns = database.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'flipr'"
    )
    assert {c for (c,) in columns} == {"nickname", "twitter"}
    status = uap("--status", directory=folder)
    assert status.code == 0 and "users#2" in status.out, status.err
    assert uap("--check", directory=folder).code == 0
    assert uap(directory=folder).code == 0  # nothing left: a second run applies nothing
    assert uap("--rollback", "users_nickname", directory=folder).code == 0
    rolled = uap("--rollback", "users#2", directory=folder)
    assert rolled.code == 0, rolled.err
    columns = database.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'flipr'"
    )
    assert {c for (c,) in columns} == {"nickname"}
    recorded = database.scalar(
        "SELECT sql_text FROM schema_migration_events "
        "WHERE version = 'users#2' AND action = 'apply'"
    )
    assert "-- verify/users.sql: sqitch's verify" in recorded and "COMMIT" not in recorded


def test_what_the_plan_says_becomes_the_migration(folder):
    """Versions are change names (`users#2` for the rework); the wrapper is gone with
    every line kept at its number; checksum over the deploy file; revert is the rollback."""
    write(folder, flipr())
    found = discovery.discover(folder)
    assert [m.version for m in found] == ["appschema", "users", "users#2", "users_nickname"]
    assert [m.key for m in found] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    schema = found[0]
    deploy = (folder / "deploy/appschema.sql").read_text()
    assert schema.sql.startswith(
        "-- Deploy flipr:appschema to pg\n\n\n\nCREATE SCHEMA flipr;\n\n\n"
    )
    assert (
        schema.sql.split("\n")[:7]
        == deploy.replace("BEGIN;", "").replace("COMMIT;", "").split("\n")[:7]
    )
    assert "ROLLBACK" not in schema.sql and "has_schema_privilege" in schema.sql
    assert (
        schema.checksum
        == hashlib.sha256((folder / "deploy/appschema.sql").read_bytes()).hexdigest()
    )
    assert (
        schema.header.rollback
        == "-- Revert flipr:appschema from pg\n\n\n\nDROP SCHEMA flipr;\n\n\n"
    )
    assert found[1].path.name == "users@v1.0.sql" and found[1].name == "users"
    assert all(m.transactional for m in found[:3]) and not found[3].transactional  # fmt: skip


def test_a_reworked_change_reads_the_first_tag_whose_script_exists(folder):
    """Between two occurrences of a change, sqitch takes the first tag with a script."""
    files = {
        "sqitch.plan": plan(
            line("a"), f"@v1 2024-01-02T00:00:00Z {WHO}", f"@v2 2024-01-03T00:00:00Z {WHO}",
            line("a", 4),
        ),
        "deploy/a@v2.sql": "SELECT 'old';\n",
        "deploy/a.sql": "SELECT 'new';\n",
    }  # fmt: skip
    write(folder, files)
    old, new = discovery.discover(folder)
    assert (old.version, old.sql, new.version) == ("a", "SELECT 'old';\n", "a#2")
    assert old.path.name == "a@v2.sql"


HOSTILE = [
    pytest.param({"sqitch.plan": plan(line("a"), line("b"), line("c"))}, "sqitch.plan:7",
                 "plans change c, but its deploy script deploy/c.sql is missing",
                 id="deploy-missing"),
    pytest.param({"deploy/c.sql": "SELECT 3;\n"}, "deploy/c.sql",
                 "is in no line of sqitch.plan; sqitch never runs it", id="unplanned-deploy"),
    pytest.param({"sqitch.plan": plan(line("a"), line("b"), line("a", 3))}, "sqitch.plan:7",
                 "plans change a again with no tag since line 5", id="duplicate-without-tag"),
    pytest.param({"sqitch.plan": plan(line("a"), "b 2024-01-02 Someone", line("b"))},
                 "sqitch.plan:6", "is not a line sqitch reads: `b 2024-01-02 Someone`",
                 id="malformed-line"),
    pytest.param({"sqitch.plan": ""}, "sqitch.plan:1", "has no `%project=<name>` line",
                 id="empty-plan"),
    pytest.param({"sqitch.plan": plan(line("a", requires="b"), line("b"))}, "sqitch.plan:5",
                 "a requires change b, which comes later (line 6)", id="requires-later"),
    pytest.param({"sqitch.plan": plan(line("a"), line("b", requires="nope"))}, "sqitch.plan:6",
                 "b requires change nope, which is not in the plan", id="requires-unknown"),
    pytest.param({"sqitch.plan": plan(line("a"), line("b", requires="other:x"))},
                 "sqitch.plan:6", "b depends on other:x of another sqitch project",
                 id="cross-project"),
    pytest.param({"sqitch.plan": plan(line("a"), line("b", requires="!a"))}, "sqitch.plan:6",
                 "b conflicts with a, which the plan deploys before it (line 5)",
                 id="conflict-deployed-before"),
    pytest.param({"sqitch.plan": plan(line("a"), "-" + line("b"))}, "sqitch.plan:6",
                 "reverts b (`-b`)", id="revert-line"),
    pytest.param({"sqitch.plan": plan(line("a"), f"@t 2024-01-02T00:00:00Z {WHO}",
                                      line("b"), f"@t 2024-01-03T00:00:00Z {WHO}")},
                 "sqitch.plan:8", "declares tag @t again (first on line 6)", id="duplicate-tag"),
    pytest.param({"deploy/b.sql": "BEGIN;\nSELECT 1;\nCOMMIT;\nSELECT 2;\nCOMMIT;\n"},
                 "deploy/b.sql:3", "COMMIT inside a sqitch deploy script", id="commit-inside"),
    pytest.param({"deploy/b.sql": "BEGIN ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nCOMMIT;\n"},
                 "deploy/b.sql:1", "BEGIN inside a sqitch deploy script", id="begin-with-options"),
    pytest.param({"deploy/b.sql": "\\set ON_ERROR_STOP 1\nSELECT 1;\n"}, "deploy/b.sql:1",
                 "psql meta-command `\\set`", id="psql-meta"),
    pytest.param({"sqitch.plan": plan(line("a"), line("../b"))}, "sqitch.plan:6",
                 "starts or ends with punctuation", id="name-leaves-the-folder"),
]  # fmt: skip


@pytest.mark.parametrize("files, where, message", HOSTILE)
def test_hostile_sqitch_folders_exit_2_naming_plan_line_or_script(
    files, where, message, uap, database, folder
):
    """Nothing runs; the plan's line (or the script and its line) is named, in lint too."""
    base = {
        "sqitch.plan": plan(line("a"), line("b", requires="a")),
        "deploy/a.sql": "CREATE TABLE a (id int);\n",
        "deploy/b.sql": "CREATE TABLE b (id int);\n",
    }
    write(folder, {**base, **files})
    result = uap(directory=folder)
    assert result.code == 2, result.out
    assert where in result.err and message in result.err, result.err
    assert "a" not in database.tables()
    linted = uap("--lint", directory=folder)
    assert linted.code == 2 and message in linted.out, linted.out


def test_a_verify_that_fails_fails_the_change_and_nothing_of_it_stays(uap, database, folder):
    """The verify runs in the deploy's transaction: exit 1, the table gone, a failed event."""
    write(
        folder,
        {
            "sqitch.plan": plan(line("items")),
            **scripts("items", "CREATE TABLE items (id int);\n", "DROP TABLE items;\n",
                      "SELECT 1 / count(*) FROM items;\n"),
        },
    )  # fmt: skip
    result = uap(directory=folder)
    assert result.code == 1, result.err
    assert "division by zero" in result.err + result.out
    assert "items" not in database.tables()
    # Named where it is: the verify script's own line, not a line of the deploy.
    document = json.loads(uap("--json", directory=folder).out)
    [error] = document["errors"]
    assert error["file"].endswith("verify/items.sql") and error["line"] == 5, error  # its SELECT
    events = "SELECT status FROM schema_migration_events WHERE version = 'items'"
    assert database.scalar(events + " AND action = 'apply'") == "failed"


def test_lint_trace_and_dry_run_read_the_deploy_and_verify(uap, database, folder):
    """No header or name rules; no transaction-control finding for the wrapper; a dry run
    and a trace leave the schema as it was."""
    write(folder, flipr())
    linted = uap("--lint", directory=folder)
    assert "header-missing" not in linted.out and "transaction-control" not in linted.out
    assert "file-name" not in linted.out, linted.out
    assert uap("--dry-run", directory=folder).code == 0
    traced = uap("--trace", directory=folder)
    assert traced.code == 0, traced.err
    assert "flipr" not in {s for (s,) in database.query("SELECT nspname FROM pg_namespace")}


def test_lint_of_a_given_deploy_script_reads_it_as_its_projects(uap, folder):
    """`--lint deploy/users.sql` (a pre-commit hook's changed file) judges it as sqitch's."""
    write(folder, flipr())
    result = uap("--lint", str(folder / "deploy" / "users.sql"), directory=folder)
    assert "file-name" not in result.out and "header-missing" not in result.out, result.out
    assert "Linted 1 file(s)" in result.out


def test_a_forced_sqitch_layout_without_a_plan_is_refused(folder):
    write(folder, {"deploy/a.sql": "SELECT 1;\n"})
    with pytest.raises(InvalidMigration, match="has no sqitch.plan"):
        discovery.discover(folder, layout="sqitch")


def sqitch_deployed(database, project: str, *changes: str) -> None:
    """sqitch's registry on `database`, recording `changes` as deployed in that order."""
    values = ", ".join(
        f"('c{n}', 'h{n}', '{name}', '{project}', '', now() - interval '{9 - n} s', 'Ann',"
        " 'ann@example.test', now(), 'Ann', 'ann@example.test')"
        for n, name in enumerate(changes)
    )
    with database.connect() as conn:
        conn.execute(foreign_tables.SQITCH.split("INSERT")[0])
        conn.execute(
            f"INSERT INTO sqitch.projects VALUES ('{project}', NULL, now(), 'Ann', 'a@b.test')"
        )
        conn.execute(f"INSERT INTO sqitch.changes VALUES {values}")


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_sqitch_history_imports_then_a_plain_run_applies_only_the_new_change(
    uap, database, folder
):
    """sqitch deployed appschema and users; the import records both as baselines, then a
    plain run applies only the change planned since."""
    write(folder, {
        "sqitch.plan": plan(line("appschema"), line("users", 2, "appschema"),
                            line("widgets", 3, "users"), project="app"),
        "deploy/appschema.sql": "BEGIN;\nCREATE SCHEMA app;\nCOMMIT;\n",
        "deploy/users.sql": "BEGIN;\nCREATE TABLE app.users (id int);\nCOMMIT;\n",
        "deploy/widgets.sql": "BEGIN;\nCREATE TABLE app.widgets (id int);\nCOMMIT;\n",
    })  # fmt: skip
    with database.connect() as conn:
        conn.execute("CREATE SCHEMA app; CREATE TABLE app.users (id int)")
    sqitch_deployed(database, "app", "appschema", "users")
    with database.connect() as conn:  # another project's widgets, in the same registry
        conn.execute(
            "INSERT INTO sqitch.projects VALUES ('other', NULL, now(), 'Bo', 'b@b.test');"
            "INSERT INTO sqitch.changes VALUES ('o1', 'h', 'widgets', 'other', '', now(), 'Bo',"
            " 'b@b.test', now(), 'Bo', 'b@b.test')"
        )
    imported = uap("--import-history", "sqitch", "--json", directory=folder)
    assert imported.code == 0, imported.err
    document = json.loads(imported.out)
    assert document["imported"] == ["appschema", "users"] and document["after"] == ["widgets"]
    assert document["missing_files"] == []
    applied = uap("--json", directory=folder)
    assert applied.code == 0, applied.err
    rows = dict(database.query("SELECT version, status FROM uap.schema_migrations"))
    assert rows == {"appschema": "baseline", "users": "baseline", "widgets": "completed"}
    assert database.scalar("SELECT count(*) FROM uap.schema_migration_events "
                           "WHERE action = 'apply'") == 1  # fmt: skip


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_a_reworked_change_imports_as_the_occurrence_sqitch_deployed(uap, database, folder):
    """sqitch deployed `users` once, before its rework: that is `users`, the first occurrence,
    and the rework (`users#2`) is what a plain run applies next."""
    write(folder, flipr())
    with database.connect() as conn:
        conn.execute("CREATE SCHEMA flipr; CREATE TABLE flipr.users (nickname text)")
    sqitch_deployed(database, "flipr", "appschema", "users")
    imported = uap("--import-history", "sqitch", "--json", directory=folder)
    assert imported.code == 0, imported.err
    document = json.loads(imported.out)
    assert document["imported"] == ["appschema", "users"]
    assert document["after"] == ["users#2", "users_nickname"]
    assert uap(directory=folder).code == 0
    twitter = "SELECT count(*) FROM information_schema.columns WHERE column_name = 'twitter'"
    assert database.scalar(twitter) == 1


def test_admin_sees_sqitch_changes_and_an_edited_plan(folder):
    """The admin's cache of files on disk keys changes by name, and a plan edit refreshes it."""
    from schema_audit.admin import queries

    write(folder, flipr())
    before = queries.disk_migrations(folder)
    assert queries.file_of(before, "users").path.name == "users@v1.0.sql"
    assert queries.file_of(before, "users#2").path.name == "users.sql"
    plan_path = folder / "sqitch.plan"
    plan_path.write_text(plan_path.read_text() + "not a plan line\n")
    with pytest.raises(InvalidMigration, match="is not a line sqitch reads"):
        queries.disk_migrations(folder)


def test_reworking_a_change_that_already_ran_applies_only_the_rework(uap, database, folder):
    """`sqitch rework` copies deploy/users.sql to deploy/users@v1.0.sql: `users` is the same
    script under its new name (no drift), and the rework, `users#2`, is the one run."""
    create = "BEGIN;\nCREATE TABLE users (id int);\nCOMMIT;\n"
    write(folder, {"sqitch.plan": plan(line("users")), "deploy/users.sql": create})
    assert uap(directory=folder).code == 0
    reworked = plan(line("users"), f"@v1.0 2024-01-03T00:00:00Z {WHO}", line("users", 4))
    write(folder, {
        "sqitch.plan": reworked,
        "deploy/users@v1.0.sql": create,
        "deploy/users.sql": "BEGIN;\nALTER TABLE users ADD COLUMN x int;\nCOMMIT;\n",
    })  # fmt: skip
    assert uap("--check", directory=folder).code == 1  # pending, not drift
    result = uap(directory=folder)
    assert result.code == 0, result.err
    assert "users#2" in result.out
    columns = "SELECT count(*) FROM information_schema.columns WHERE column_name = 'x'"
    assert database.scalar(columns) == 1
    assert uap("--check", directory=folder).code == 0


def test_makemigration_refuses_to_add_a_uap_file_to_a_sqitch_project(folder):
    """uap_makemigration beside sqitch.plan: exit 2, the project unchanged."""
    write(folder, flipr())
    before = sorted(p.name for p in folder.iterdir())
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("uap_makemigration", "add x", "--dir", str(folder), stdout=out, stderr=err)
    assert exited.value.code == 2
    assert "is a sqitch folder, read as it is" in err.getvalue()
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_syntax_error_inside_the_wrapper_is_named_at_its_line(uap, database, folder):
    """The wrapper is taken out without the parser; PostgreSQL's error names line 3."""
    deploy = "-- Deploy flipr:t to pg\nBEGIN;\nCREATE TABLE t (id int;\nCOMMIT;\n"
    write(folder, {"sqitch.plan": plan(line("t")), "deploy/t.sql": deploy})
    result = uap(directory=folder)
    assert result.code == 1, result.err
    assert "deploy/t.sql:3:" in result.err and "syntax error" in result.err, result.err
    assert "transaction-control" not in result.err and "t" not in database.tables()


@override_settings(UAP_LEDGER_SCHEMA="uap")
def test_import_matches_changes_named_with_leading_digits_by_name(uap, database, folder):
    """sqitch deployed `appschema` and `2_users`: those two are imported, `widgets` (the plan's
    third change, whose place a `2` might be read as) stays pending."""
    write(folder, {
        "sqitch.plan": plan(line("appschema"), line("2_users", 2), line("widgets", 3),
                            project="app"),
        "deploy/appschema.sql": "CREATE SCHEMA app;\n",
        "deploy/2_users.sql": "CREATE TABLE app.users (id int);\n",
        "deploy/widgets.sql": "CREATE TABLE app.widgets (id int);\n",
    })  # fmt: skip
    with database.connect() as conn:
        conn.execute("CREATE SCHEMA app; CREATE TABLE app.users (id int)")
    sqitch_deployed(database, "app", "appschema", "2_users")
    document = json.loads(uap("--import-history", "sqitch", "--json", directory=folder).out)
    assert document["imported"] == ["appschema", "2_users"], document
    assert document["after"] == ["widgets"] and document["not_applied"] == []
    assert uap(directory=folder).code == 0
    assert "widgets" in {
        t
        for (t,) in database.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'app'"
        )
    }


@pytest.mark.parametrize(
    "mode", [pytest.param((), id="run"), pytest.param(("--dry-run",), id="dry")]
)
def test_a_failing_verify_is_named_at_its_own_line_in_the_text_too(uap, database, folder, mode):
    """The `file:line:` that opens the error names the verify script and its line, as the
    JSON does: the deploy script has no such line."""
    write(
        folder,
        {
            "sqitch.plan": plan(line("items")),
            **scripts("items", "CREATE TABLE items (id int);\n", "DROP TABLE items;\n",
                      "SELECT 1 / count(*) FROM items;\n"),
        },
    )  # fmt: skip
    result = uap(*mode, directory=folder)
    assert result.code == 1
    assert f"{folder / 'verify' / 'items.sql'}:5: items items " in result.err, result.err
