"""The fleet as a deploy runs it: five databases from DATABASE_URL and DATABASE_URL_S1..S4."""

from __future__ import annotations

import json

import pytest

from tests.conftest import migration, numbered, run_subprocess

ALIASES = ("default", "s1", "s2", "s3", "s4")
VERSIONS = "SELECT version, status FROM schema_migrations ORDER BY version"


@pytest.fixture
def five(fleet):
    """Five fresh databases and the environment naming them as a deploy would."""
    dbs = fleet(5)
    env = {"DATABASE_URL": dbs[0].url}
    env.update({f"DATABASE_URL_S{n}": db.url for n, db in enumerate(dbs[1:], start=1)})
    return dict(zip(ALIASES, dbs, strict=True)), env


def command(env: dict, folder, *args: str) -> tuple[int, str, str]:
    """`manage.py uap_migrate --all-databases ...` in a child process; (code, out, err)."""
    child = run_subprocess(
        env["DATABASE_URL"], "--all-databases", "--dir", str(folder), *args, env=env
    )
    out, err = child.communicate(timeout=120)
    return child.returncode, out, err


def test_environment_fleet_rolls_out_fails_per_target_and_converges(five, migrations_dir):
    """The issue's scenario end to end, each step checked in every database's own tables."""
    dbs, env = five
    files = numbered(2)
    folder = migrations_dir(files)
    fleet = ("--canary", "default", "--parallel", "3")
    code, out, err = command(env, folder, *fleet)
    assert code == 0, err
    for alias in ALIASES:
        assert alias in out
        assert dbs[alias].query(VERSIONS) == [("001", "completed"), ("002", "completed")]
    assert (
        len(
            {
                dbs[a].scalar("SELECT DISTINCT rollout FROM schema_migration_events")
                for a in ALIASES
            }
        )
        == 1
    )

    # 003 fails on s2 only: under continue the others apply it, the exit code is 1.
    (folder / "003_v1.3_step_3.sql").write_text(migration("003", "CREATE TABLE t3 (id int);"))
    with dbs["s2"].connect() as conn:
        conn.execute("CREATE TABLE t3 (id int)")
    code, out, err = command(env, folder, *fleet, "--on-error", "continue")
    assert code == 1
    assert dbs["s2"].query(VERSIONS)[-1] == ("003", "failed")
    for alias in ("default", "s1", "s3", "s4"):
        assert dbs[alias].query(VERSIONS)[-1] == ("003", "completed")
    assert "Needs attention: s2 (failed)" in err and "--database s2" in err

    # 004 fails on the canary: no other database even attempts it.
    (folder / "004_v1.4_step_4.sql").write_text(migration("004", "CREATE TABLE t4 (id int);"))
    with dbs["default"].connect() as conn:
        conn.execute("CREATE TABLE t4 (id int)")
    code, out, err = command(env, folder, *fleet, "--on-error", "continue")
    assert code == 1
    assert dbs["default"].query(VERSIONS)[-1] == ("004", "failed")
    for alias in ("s1", "s2", "s3", "s4"):
        assert (
            dbs[alias].scalar("SELECT count(*) FROM schema_migration_events WHERE version = '004'")
            == 0
        )

    # Fixed: a re-run converges and the fleet check passes.
    for alias, table in (("s2", "t3"), ("default", "t4")):
        with dbs[alias].connect() as conn:
            conn.execute(f"DROP TABLE {table}")
    code, out, err = command(env, folder, *fleet)
    assert code == 0, err
    code, out, err = command(env, folder, "--check", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [t["alias"] for t in report["targets"]] == list(ALIASES)
    assert all(t["result"]["current_version"] == "004" for t in report["targets"])


def test_unusable_extra_url_is_reported_for_its_alias_only(five, migrations_dir):
    """A malformed DATABASE_URL_S9 fails that target with exit 2, naming the variable."""
    dbs, env = five
    env["DATABASE_URL_S9"] = "mysql://nope/x"
    code, out, err = command(env, migrations_dir(numbered(1)), "--on-error", "continue")
    assert code == 2
    assert "DATABASE_URL_S9 must be a postgresql:// URL" in out + err
    assert all(dbs[a].query(VERSIONS) == [("001", "completed")] for a in ALIASES)
