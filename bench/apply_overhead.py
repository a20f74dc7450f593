"""Time `run_pending` over N small migrations on a fresh database (apply-path overhead).

Usage: DJANGO_SETTINGS_MODULE=tests.settings python bench/apply_overhead.py [N] [REPEATS]
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402
from psycopg import sql  # noqa: E402

from schema_audit import api  # noqa: E402
from tests.conftest import numbered, server_params  # noqa: E402


def one_run(count: int, folder: Path) -> float:
    """Seconds to apply `count` files to a new database."""
    params = server_params()
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    config = {**settings.DATABASES["default"], "NAME": name}
    settings.DATABASES[name] = config
    connections.settings[name] = config
    try:
        api.initialize_tracking(name)
        clock = time.perf_counter()
        result = api.run_pending(folder, name)
        elapsed = time.perf_counter() - clock
        assert result["successful"] == count, result["errors"]
        return elapsed
    finally:
        with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for filename, text in numbered(
            count, "CREATE TABLE t{n} (id int PRIMARY KEY, v text);"
        ).items():
            (folder / filename).write_text(text)
        times = sorted(one_run(count, folder) for _ in range(repeats))
    median = times[len(times) // 2]
    print(
        f"{count} migrations: min {times[0]:.2f} s, median {median:.2f} s over {repeats} runs "
        f"({times[0] / count * 1000:.2f} ms per migration at best); all: "
        + ", ".join(f"{t:.2f}" for t in times)
    )


if __name__ == "__main__":
    main()
