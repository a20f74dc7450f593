"""Audit admin under load: changelist latency and CSV export cost with 100k ledger rows.

    .venv/bin/python bench/admin_bench.py [--rows 100000] [--requests 30]

Fills a scratch database (`uap_admin_bench` on the embedded server, or DATABASE_URL when set:
point it at a throwaway database) with ROWS versions in `schema_migrations` and ROWS events,
then times the admin pages in-process with Django's test client (p50/p95 over REQUESTS
requests after a warm-up) and the two CSV exports (wall time; peak Python memory by
tracemalloc in a second pass, next to a small export for comparison). Not part of the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uap_project.settings")
os.environ.setdefault("SECRET_KEY", "admin-bench-only-" + "x" * 40)
os.environ.setdefault("UAP_EMBEDDED_DB", "uap_admin_bench")
os.environ["ALLOWED_HOSTS"] = "testserver"

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from schema_audit import db as postgres  # noqa: E402
from schema_audit.ledger import store  # noqa: E402

# Bench data is generated set-wise in SQL: 100k store.record() calls would measure the
# generator, not the admin. The shapes match what the runner writes.
FILL_MIGRATIONS = """
INSERT INTO schema_migrations (version, name, checksum, status, applied_at, duration_ms,
    error_message, applied_by, description, impact, rollback_sql)
SELECT lpad(g::text, 6, '0'), 'v1.' || g || '_step_' || g, md5(g::text) || md5((-g)::text),
    CASE WHEN g %% 50 = 0 THEN 'failed' WHEN g %% 97 = 0 THEN 'rolled_back' ELSE 'completed' END,
    now() - make_interval(mins => %(rows)s - g), (g * 37) %% 3000,
    CASE WHEN g %% 50 = 0 THEN 'relation "t' || g || '" does not exist' END,
    'deploy', 'bench step ' || g, 'Non-breaking', 'DROP TABLE IF EXISTS t' || g || ';'
FROM generate_series(1, %(rows)s) AS g
"""
FILL_EVENTS = """
INSERT INTO schema_migration_events (version, action, status, started_at, duration_ms,
    error_message, sqlstate, os_user, host, app_version, checksum, sql_text)
SELECT lpad(g::text, 6, '0'), 'apply', CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'completed' END,
    now() - make_interval(mins => %(rows)s - g), (g * 37) %% 3000,
    CASE WHEN g %% 50 = 0 THEN 'relation "t' || g || '" does not exist' END,
    CASE WHEN g %% 50 = 0 THEN '42P01' END, 'deploy', 'ci-runner-' || (g %% 7),
    '2.3.' || (g %% 10),
    md5(g::text) || md5((-g)::text), repeat('ALTER TABLE t' || g || ' ADD COLUMN c int; ', 8)
FROM generate_series(1, %(rows)s) AS g
"""

PAGES = {
    "changelist": "/admin/schema_audit/schemamigration/",
    "changelist ?slow=yes": "/admin/schema_audit/schemamigration/?slow=yes",
    "changelist ?problem=any": "/admin/schema_audit/schemamigration/?problem=any",
    "changelist ?problem=drift": "/admin/schema_audit/schemamigration/?problem=drift",
    "changelist ?q=step_77": "/admin/schema_audit/schemamigration/?q=step_77",
    "changelist page 500": "/admin/schema_audit/schemamigration/?p=500",
    "detail 000050": "/admin/schema_audit/schemamigration/000050/change/",
    "events": "/admin/schema_audit/migrationevent/",
    "events ?status=failed": "/admin/schema_audit/migrationevent/?status=failed",
    "summary": "/admin/schema_audit/schemamigration/summary/",
    "fleet": "/admin/schema_audit/schemamigration/fleet/",
}
EXPORTS = {
    "CSV schema_migrations (all)": "/admin/schema_audit/schemamigration/export.csv",
    "CSV schema_migrations ?status=failed": (
        "/admin/schema_audit/schemamigration/export.csv?status=failed"
    ),
    "CSV schema_migration_events (all)": "/admin/schema_audit/migrationevent/export.csv",
}


def fill(rows: int) -> None:
    """Create the tables and ROWS versions and events, unless they are already there."""
    with postgres.connect("default", purpose="bench") as conn:
        store.ensure_schema(conn)
        have = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM schema_migration_events").fetchone()[0]
        if (have, events) == (rows, rows):
            return
        # The event log refuses DELETE and TRUNCATE: start from fresh tables.
        conn.execute("DROP TABLE IF EXISTS schema_migration_events, schema_migrations")
        store.ensure_schema(conn)
        started = time.perf_counter()
        conn.execute(FILL_MIGRATIONS, {"rows": rows})
        conn.execute(FILL_EVENTS, {"rows": rows})
        # A live ledger has been vacuumed by autovacuum long since; a bulk load has not, and
        # every scan of it would first check each row's commit status.
        conn.execute("VACUUM ANALYZE schema_migrations")
        conn.execute("VACUUM ANALYZE schema_migration_events")
        print(f"filled {rows:,} rows + {rows:,} events in {time.perf_counter() - started:.1f}s")


def client() -> Client:
    users = get_user_model().objects
    user = users.filter(username="bench").first() or users.create_superuser("bench", "", None)
    browser = Client()
    browser.force_login(user)
    return browser


def time_page(browser: Client, url: str, requests: int) -> tuple[float, float]:
    """p50 and p95 of the response time in ms, after two warm-up requests."""
    for _ in range(2):
        assert browser.get(url).status_code == 200, url
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = browser.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    samples.sort()
    return statistics.median(samples), samples[max(0, round(0.95 * len(samples)) - 1)]


def export(browser: Client, url: str, trace: bool) -> tuple[float, int, int]:
    """Seconds, bytes and (when traced) peak Python memory of one streamed export."""
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    response = browser.get(url)
    size = sum(len(chunk) for chunk in response.streaming_content)
    response.close()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    return elapsed, size, peak


def sort_uses_index() -> bool:
    """Whether the changelist's newest-first query reads the ledger's version-order index."""
    from schema_audit.admin.filters import version_key
    from schema_audit.ledger.schema import VERSION_SORT_INDEX
    from schema_audit.models import SchemaMigration

    query = SchemaMigration.objects.alias(version_key=version_key()).order_by("-version_key")
    text, params = query.values_list("version")[:100].query.sql_with_params()
    with postgres.connect("default", purpose="bench") as conn:
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + text, params))
    return VERSION_SORT_INDEX in plan and "Sort" not in plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--json", action="store_true", help="pages only, as JSON (bench/run.py reads it)"
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    fill(args.rows)
    browser = client()
    if args.json:
        pages = {name: time_page(browser, url, args.requests) for name, url in PAGES.items()}
        print(json.dumps({"rows": args.rows, "pages": pages, "sort_index": sort_uses_index()}))
        return
    print(f"\n{'page':<40} {'p50 ms':>8} {'p95 ms':>8}")
    for name, url in PAGES.items():
        p50, p95 = time_page(browser, url, args.requests)
        print(f"{name:<40} {p50:8.1f} {p95:8.1f}")
    print(f"version sort reads the version-order index: {sort_uses_index()}")
    print(f"\n{'export':<40} {'seconds':>8} {'MB':>8} {'peak MB':>8}")
    for name, url in EXPORTS.items():
        elapsed, size, _ = export(browser, url, trace=False)
        _, _, peak = export(browser, url, trace=True)
        print(f"{name:<40} {elapsed:8.2f} {size / 1e6:8.1f} {peak / 1e6:8.2f}")


if __name__ == "__main__":
    main()
