"""Backend cost of the admin's event search: the largest accepted search (10 words, 200
characters) as the admin runs it, against Django's default N-groups-of-LIKE form.

Usage: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/search_cost.py
Creates and drops a scratch database; prints milliseconds and the backend's peak RSS growth.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid

import psycopg
from psycopg import sql

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django  # noqa: E402

django.setup()
from schema_audit.admin import search  # noqa: E402
from schema_audit.admin.events import MigrationEventAdmin  # noqa: E402
from schema_audit.ledger import schema  # noqa: E402

EVENTS = 100_000
# The plain fields of the events list's search (the prefix-matched hash aside).
FIELDS = [f for f in MigrationEventAdmin.search_fields if not f.startswith("^")]


def peak_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+)", status.read()).group(1))


def bounded(words: list[str]) -> tuple[str, list]:
    doc = "concat(concat_ws(%s, " + ", ".join(FIELDS) + "), %s, concat_ws(%s, hash))"
    patterns = [search._pattern(w, True) for w in words]
    query = f"SELECT count(*) FROM schema_migration_events WHERE {doc} ~* ALL(%s)"
    return query, [search.FIELD_SEPARATOR, search.PREFIX_MARK, search.PREFIX_MARK, patterns]


def django_default(words: list[str]) -> tuple[str, list]:
    groups = []
    for _ in words:
        ors = [f"UPPER({f}::text) LIKE UPPER(%s)" for f in FIELDS] + [
            "UPPER(hash::text) LIKE UPPER(%s)"
        ]
        groups.append("(" + " OR ".join(ors) + ")")
    params = [p for w in words for p in [f"%{w}%"] * len(FIELDS) + [f"{w}%"]]
    return f"SELECT count(*) FROM schema_migration_events WHERE {' AND '.join(groups)}", params


def measure(url: str, dbname: str, query: str, params: list) -> tuple[float, int]:
    # Client-side binding, as Django sends it.
    with psycopg.connect(
        url, dbname=dbname, autocommit=True, cursor_factory=psycopg.ClientCursor
    ) as conn:
        pid = conn.info.backend_pid
        before = peak_kb(pid)
        started = time.perf_counter()
        conn.execute(query, params)
        return (time.perf_counter() - started) * 1000, peak_kb(pid) - before


def main() -> None:
    url = os.environ["DATABASE_URL"]
    name = f"bench_search_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(url, dbname=name, autocommit=True) as conn:
            schema.ensure_schema(conn)
            conn.execute(
                "INSERT INTO schema_migration_events (version, action, status, error_message, "
                "host, ddl_objects) SELECT lpad(n::text, 3, '0'), 'apply', 'completed', "
                "'relation t' || n || ' does not exist', 'ci-' || (n %% 50), "
                "'table public.t' || n FROM generate_series(1, %s) n",
                (EVENTS,),
            )
        words = [f"w{n}{'x' * 16}" for n in range(10)]  # 10 words, 199 characters
        for label, build, count in [
            ("accepted maximum, one expression (10 words)", bounded, 10),
            ("Django default form, 10 words", django_default, 10),
        ]:
            query, params = build((words * 200)[:count])
            ms, kb = measure(url, name, query, params)
            growth = f"backend peak RSS +{kb / 1024:,.1f} MB"
            print(f"{label}: {ms:,.0f} ms, {growth} over {EVENTS:,} events")
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
