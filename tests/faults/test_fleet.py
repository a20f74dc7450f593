"""Fleet faults: an unreachable target, Ctrl-C, and a killed run converging on re-run."""

from __future__ import annotations

import signal
import time

import pytest

from tests.conftest import migration, numbered, run_subprocess
from tests.pgserver import PrivateServer

pytestmark = pytest.mark.slow
VERSIONS = "SELECT version, status FROM schema_migrations ORDER BY version"
SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = ANY(%s) AND query LIKE '%%pg_sleep(60)%%' AND state = 'active' "
    "AND pid <> pg_backend_pid()"
)


def environment(dbs, **extra: str) -> dict:
    """DATABASE_URL for the first database and DATABASE_URL_S<n> for the others."""
    env = {"DATABASE_URL": dbs[0].url}
    env.update({f"DATABASE_URL_S{n}": db.url for n, db in enumerate(dbs[1:], start=1)})
    env.update(extra)
    return env


def start(env: dict, folder, *args: str):
    """`uap_migrate --all-databases` in a child process."""
    return run_subprocess(
        env["DATABASE_URL"], "--all-databases", "--dir", str(folder), *args, env=env
    )


def slow_files() -> dict[str, str]:
    """001 is quick; 002 creates a table, then sleeps a minute inside its transaction."""
    return {
        **numbered(1),
        "002_v1.2_slow.sql": migration("002", "CREATE TABLE t2 (id int);\nSELECT pg_sleep(60);"),
    }


def wait_for_sleepers(dbs, count: int, child) -> None:
    """Poll until `count` targets are inside 002's pg_sleep."""
    names = [db.name for db in dbs]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if dbs[0].scalar(SLEEPING, (names,)) >= count:
            return
        assert child.poll() is None, child.communicate()
        time.sleep(0.05)
    raise AssertionError("the targets never reached 002")


def test_unreachable_target_is_reported_and_the_others_apply(fleet, migrations_dir):
    """A stopped server behind one alias: exit 3, it is named, the others are at 002."""
    dbs = fleet(3)
    down = PrivateServer()
    try:
        url = down.url(down.create_database())
        down.stop()
        env = environment(dbs, DATABASE_URL_GONE=url)
        child = start(
            env, migrations_dir(numbered(2)), "--on-error", "continue", "--parallel", "2"
        )
        out, err = child.communicate(timeout=120)
    finally:
        down.destroy()
    assert child.returncode == 3, err
    assert "unreachable" in out and "Needs attention: gone (unreachable)" in err
    assert "--database gone" in err
    for db in dbs:
        assert db.query(VERSIONS) == [("001", "completed"), ("002", "completed")]


def test_ctrl_c_rolls_back_every_running_file_and_exits_130(fleet, migrations_dir):
    """SIGINT while two targets sleep inside 002: both roll back, nothing is recorded as run."""
    dbs = fleet(2)
    folder = migrations_dir(slow_files())
    env = environment(dbs)
    child = start(env, folder, "--parallel", "2")
    wait_for_sleepers(dbs, 2, child)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, (out, err)
    assert "interrupted" in out + err
    for db in dbs:
        assert "t2" not in db.tables()
        assert db.query(VERSIONS) == [("001", "completed")]
    (folder / "002_v1.2_slow.sql").write_text(migration("002", "CREATE TABLE t2 (id int);"))
    child = start(env, folder, "--parallel", "2")
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert all(("002", "completed") in db.query(VERSIONS) for db in dbs)


def test_killed_fleet_run_converges_on_rerun(fleet, migrations_dir):
    """SIGKILL mid-rollout: every file in flight rolls back, the next run finishes everywhere."""
    dbs = fleet(3)
    folder = migrations_dir(slow_files())
    env = environment(dbs)
    child = start(env, folder, "--parallel", "2")
    wait_for_sleepers(dbs, 2, child)
    child.kill()
    child.communicate(timeout=30)
    (folder / "002_v1.2_slow.sql").write_text(migration("002", "CREATE TABLE t2 (id int);"))
    child = start(env, folder, "--parallel", "3", "--lock-wait", "30")
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    for db in dbs:
        assert db.query(VERSIONS) == [("001", "completed"), ("002", "completed")]
