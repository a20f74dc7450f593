"""A/B cost of the audit hooks on the apply path: 300 small migrations with the hash-chain
trigger and the end-of-run fingerprint, against the same run with both switched off.

Runs alternate (A B, B A, ...) so that load from other processes hits both sides alike.
Usage: DJANGO_SETTINGS_MODULE=tests.settings python bench/evidence_hooks_ab.py [PAIRS]
"""

from __future__ import annotations

import statistics
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
from schema_audit.integrity import fingerprint  # noqa: E402
from tests.conftest import numbered, server_params  # noqa: E402

COUNT = 300
_TAKE = fingerprint.take_for_event


def one_run(folder: Path, hooks: bool) -> float:
    """Seconds to apply the folder to a new database, with or without the audit hooks."""
    params = server_params()
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    config = {**settings.DATABASES["default"], "NAME": name}
    settings.DATABASES[name] = config
    connections.settings[name] = config
    try:
        api.initialize_tracking(name)
        fingerprint.take_for_event = _TAKE if hooks else (lambda conn: (None, None))
        if not hooks:
            with psycopg.connect(**params, dbname=name, autocommit=True) as conn:
                conn.execute(
                    "ALTER TABLE schema_migration_events "
                    "DISABLE TRIGGER schema_migration_events_chain"
                )
        clock = time.perf_counter()
        result = api.run_pending(folder, name)
        elapsed = time.perf_counter() - clock
        assert result["successful"] == COUNT, result["errors"]
        return elapsed
    finally:
        fingerprint.take_for_event = _TAKE
        with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main() -> None:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        body = "CREATE TABLE t{n} (id int PRIMARY KEY, v text);"
        for filename, text in numbered(COUNT, body).items():
            (folder / filename).write_text(text)
        on, off = [], []
        for pair in range(pairs):
            order = (False, True) if pair % 2 == 0 else (True, False)
            times = {hooks: one_run(folder, hooks) for hooks in order}
            off.append(times[False])
            on.append(times[True])
    diff = statistics.median(b - a for a, b in zip(off, on, strict=True))
    print(
        f"{COUNT} migrations, {pairs} pairs: median without hooks {statistics.median(off):.2f} s, "
        f"with {statistics.median(on):.2f} s; median paired difference {diff * 1000:.0f} ms "
        f"({diff / COUNT * 1000:.2f} ms per migration)"
    )


if __name__ == "__main__":
    main()
