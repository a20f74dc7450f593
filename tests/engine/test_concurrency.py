"""Runners started together apply each version exactly once, and all succeed."""

from __future__ import annotations

from tests.conftest import numbered, run_subprocess


def test_eight_runners_on_forty_migrations_apply_each_once(database, migrations_dir):
    """8 processes at once: 40 rows, 40 apply events, every exit code 0."""
    folder = migrations_dir(numbered(40, "CREATE TABLE t{n} (id int); SELECT pg_sleep(0.01);"))
    runners = [run_subprocess(database.url, "--dir", str(folder)) for _ in range(8)]
    results = [(p.wait(timeout=180), p.stdout.read(), p.stderr.read()) for p in runners]
    assert [code for code, _, _ in results] == [0] * 8, [err for _, _, err in results]
    assert database.scalar("SELECT count(*) FROM schema_migrations WHERE status='completed'") == 40
    assert database.query(
        "SELECT count(*), count(DISTINCT version) FROM schema_migration_events "
        "WHERE action = 'apply'"
    ) == [(40, 40)]
    applied_lines = sum(out.count("✓") for _, out, _ in results)
    assert applied_lines == 40
