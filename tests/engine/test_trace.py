"""`--dry-run --trace`: what each statement locks and rewrites, measured and rolled back."""

from __future__ import annotations

import json
import zipfile

import pytest

from schema_audit import api
from schema_audit.ledger import chain, store
from tests.conftest import migration

SETUP = """
CREATE TABLE orders (id serial PRIMARY KEY, amount int NOT NULL, note text);
INSERT INTO orders (amount, note) SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
ANALYZE orders;
"""
FILENODES = """
SELECT c.relname, c.relfilenode FROM pg_class c
WHERE c.relname IN ('orders', 'orders_pkey') ORDER BY 1
"""
CATALOG = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relname NOT LIKE 'schema!_%%' ESCAPE '!' ORDER BY 1, 2
"""


@pytest.fixture
def orders(database):
    """The test database with a 20,000-row `orders` table, analyzed."""
    with database.connect() as conn:
        conn.execute(SETUP)
    return database


def _trace_of(result_out: str, version: str) -> dict:
    document = json.loads(result_out)
    return next(item["trace"] for item in document["dry_run"] if item["version"] == version)


def _locks(trace: dict, relation: str) -> set[str]:
    return {lock["mode"] for lock in trace["locks"] if lock["relation"] == relation}


def test_type_change_and_index_traced_as_rewrite_and_share_lock(uap, orders, migrations_dir):
    """The deploy question answered: locks named, the rewrite seen, nothing left behind."""
    folder = migrations_dir(
        {
            "001_v1.0_index_amount.sql": migration(
                "001", "CREATE INDEX IF NOT EXISTS orders_amount ON orders (amount);"
            ),
            "002_v1.1_widen_amount.sql": migration(
                "002", "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;"
            ),
        }
    )
    filenodes, catalog = orders.query(FILENODES), orders.query(CATALOG)
    result = uap("--dry-run", "--trace", "--json", directory=folder)
    assert result.code == 0, result.err
    index, widen = _trace_of(result.out, "001"), _trace_of(result.out, "002")
    assert "ShareLock" in _locks(index, "public.orders")
    assert index["rewrites"] == []
    assert "AccessExclusiveLock" in _locks(widen, "public.orders")
    rewritten = {r["relation"]: r for r in widen["rewrites"]}
    assert rewritten["public.orders"]["rows"] == 20000
    assert rewritten["public.orders"]["bytes_before"] > 1_000_000
    assert widen["verdict"] == "dangerous"
    assert widen["reasons"][0].startswith("rewrites big table public.orders (20,000 rows")
    assert "under AccessExclusiveLock" in widen["reasons"][0]
    assert json.loads(result.out)["verdict"] == "dangerous"
    assert orders.query(FILENODES) == filenodes
    assert orders.query(CATALOG) == catalog
    assert "orders_amount" not in {r[0] for r in orders.query("SELECT relname FROM pg_class")}
    kept = dict(
        orders.query("SELECT version, trace FROM schema_migration_events WHERE action = 'dry_run'")
    )
    assert kept == {"001": index, "002": widen}


def test_dry_run_event_keeps_the_same_trace_and_the_chain_verifies(uap, orders, migrations_dir):
    """The evidence: each file's dry_run event holds the trace the command printed."""
    folder = migrations_dir(
        {"001_v1.0_widen.sql": migration("001", "ALTER TABLE orders ALTER amount TYPE bigint;")}
    )
    result = uap("--trace", "--json", directory=folder)
    assert result.code == 0, result.err
    printed = _trace_of(result.out, "001")
    (kept,) = orders.query(
        "SELECT trace FROM schema_migration_events WHERE action = 'dry_run' AND version = '001'"
    )[0]
    assert kept == printed
    assert api.verify_history(orders.alias)["verified"]


def test_add_column_with_constant_default_is_no_rewrite(uap, orders, migrations_dir):
    """PostgreSQL 11+ stores the default in the catalog: a brief lock, no table rewrite."""
    folder = migrations_dir(
        {
            "001_v1.0_flag.sql": migration(
                "001", "ALTER TABLE orders ADD COLUMN IF NOT EXISTS flag int DEFAULT 0;"
            )
        }
    )
    trace = _trace_of(uap("--trace", "--json", directory=folder).out, "001")
    assert trace["rewrites"] == []
    assert "AccessExclusiveLock" in _locks(trace, "public.orders")
    assert trace["verdict"] == "review"
    assert "holds AccessExclusiveLock on big table public.orders" in trace["reasons"][0]
    assert "blocking reads and writes" in trace["reasons"][0]


def test_new_table_only_is_safe(uap, orders, migrations_dir):
    """Locks on a table the file creates block nobody."""
    folder = migrations_dir(
        {"001_v1.0_new.sql": migration("001", "CREATE TABLE IF NOT EXISTS fresh (id bigint);")}
    )
    trace = _trace_of(uap("--trace", "--json", directory=folder).out, "001")
    assert trace["verdict"] == "safe"
    assert all(not lock["existing"] for lock in trace["locks"])
    assert trace["statements"][0]["status"] == "traced"


def test_index_build_on_big_table_is_dangerous(uap, orders, migrations_dir):
    """CREATE INDEX reads every row while it blocks writes: dangerous on a big table."""
    folder = migrations_dir(
        {"001_v1.0_ix.sql": migration("001", "CREATE INDEX IF NOT EXISTS ix ON orders (note);")}
    )
    trace = _trace_of(uap("--trace", "--json", directory=folder).out, "001")
    assert trace["verdict"] == "dangerous"
    assert "reads every row" in trace["reasons"][0]


def test_thresholds_are_settings(uap, orders, migrations_dir, settings):
    """Above the big-table rows the same rewrite is only to be reviewed."""
    settings.UAP_TRACE_BIG_TABLE_ROWS = 1_000_000
    folder = migrations_dir(
        {"001_v1.0_widen.sql": migration("001", "ALTER TABLE orders ALTER amount TYPE bigint;")}
    )
    trace = _trace_of(uap("--trace", "--json", directory=folder).out, "001")
    assert trace["verdict"] == "review"
    assert trace["reasons"][0].startswith("rewrites table public.orders")


def test_failing_statement_is_named_with_its_line(uap, orders, migrations_dir):
    """A traced file that fails reports the statement's own line, as a dry run does."""
    body = "ALTER TABLE orders ADD COLUMN IF NOT EXISTS x int;\n\nSELECT nope FROM orders;"
    folder = migrations_dir({"001_v1.0_bad.sql": migration("001", body)})
    result = uap("--trace", "--json", directory=folder)
    assert result.code == 1
    item = json.loads(result.out)["dry_run"][0]
    assert item["status"] == "failed" and item["line"] == 13
    statuses = [s["status"] for s in item["trace"]["statements"]]
    assert statuses == ["traced", "failed"]
    assert "x" not in {r[1] for r in orders.query(CATALOG)}


def test_non_transactional_file_traced_where_a_transaction_allows(uap, orders, migrations_dir):
    """CONCURRENTLY cannot be tried in a transaction: marked not traced, with the reason."""
    text = migration(
        "001",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON orders (amount);\n"
        "UPDATE orders SET note = 'x' WHERE id = 1;",
    ).replace("-- Impact:", "-- Transaction: none\n-- Impact:")
    folder = migrations_dir({"001_v1.0_concurrent.sql": text})
    result = uap("--trace", "--json", directory=folder)
    assert result.code == 0, result.err
    item = json.loads(result.out)["dry_run"][0]
    assert item["status"] == "skipped"
    first, second = item["trace"]["statements"]
    assert first["status"] == "not traced" and "cannot run inside a transaction" in first["reason"]
    assert second["status"] == "traced"
    assert item["trace"]["verdict"] == "review"
    assert orders.scalar("SELECT note FROM orders WHERE id = 1") != "x"


def test_text_and_markdown_output(uap, orders, migrations_dir):
    """A table per file on the terminal; a Markdown comment for a pull request."""
    folder = migrations_dir(
        {"001_v1.0_widen.sql": migration("001", "ALTER TABLE orders ALTER amount TYPE bigint;")}
    )
    text = uap("--dry-run", "--trace", directory=folder)
    assert text.code == 0, text.err
    assert "001 v1.0_widen" in text.out and "DANGEROUS" in text.out
    assert "AccessExclusiveLock public.orders (blocks reads and writes)" in text.out
    assert "Trace: 1 dangerous, 0 to review, 0 safe." in text.out
    markdown = uap("--trace", "--format", "markdown", directory=folder)
    assert markdown.out.startswith("### Migration trace: 🔴 dangerous")
    assert "| 001 v1.0_widen | 🔴 dangerous |" in markdown.out
    assert "<details>" in markdown.out


def test_format_is_checked_per_mode(uap, orders, migrations_dir):
    """Formats that do not fit the mode are refused with exit 2, before anything runs."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "SELECT 1;")})
    assert uap("--trace", "--format", "gcc", directory=folder).code == 2
    assert uap("--status", "--format", "markdown", directory=folder).code == 2
    assert uap("--status", "--trace", directory=folder).code == 2
    refused = uap("--trace", "--json", "--format", "markdown", directory=folder)
    assert refused.code == 2 and "disagree" in refused.err
    assert orders.scalar("SELECT to_regclass('schema_migration_events') IS NULL")


def test_trace_survives_export_and_offline_verification(uap, orders, migrations_dir, tmp_path):
    """The evidence bundle carries the traces and its chain re-verifies offline."""
    folder = migrations_dir(
        {"001_v1.0_note.sql": migration("001", "ALTER TABLE orders ALTER note SET NOT NULL;")}
    )
    assert uap("--trace", directory=folder).code == 0
    bundle = tmp_path / "evidence.zip"
    assert uap("--evidence", str(bundle), directory=folder).code == 0
    assert uap("--verify-evidence", str(bundle)).code == 0
    with zipfile.ZipFile(bundle) as archive:
        exported = json.loads(archive.read("events.json"))
    (dry_run,) = [e for e in exported if e["action"] == "dry_run"]
    assert dry_run["trace"]["verdict"] == "dangerous"
    with orders.connect() as conn:
        events = store.read_events(conn, action="dry_run")
    assert events[-1]["trace"]["statements"][0]["scans"] is True
    assert chain.verify(events)["verified"]


def test_trace_waits_for_locks_like_the_real_run(uap, orders, migrations_dir):
    """A table in use makes the traced statement fail on --lock-timeout (retries off: the
    retried path is tests/engine/test_lock_retry.py); the user is spared."""
    folder = migrations_dir(
        {"001_v1.0_widen.sql": migration("001", "ALTER TABLE orders ALTER amount TYPE bigint;")}
    )
    with orders.connect() as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM orders").fetchone()
        result = uap(
            "--trace", "--json", "--lock-timeout", "200ms", "--lock-retries", "0", directory=folder
        )
        assert reader.execute("SELECT count(*) FROM orders").fetchone()[0] == 20000
        reader.execute("ROLLBACK")
    assert result.code == 1
    item = json.loads(result.out)["dry_run"][0]
    assert item["sqlstate"] == "55P03"
    assert item["trace"]["statements"][0]["status"] == "failed"


def test_file_the_parser_rejects_is_traced_as_one_statement(uap, orders, migrations_dir):
    """SQL that does not parse runs as written, fails with its line, and nothing is split."""
    folder = migrations_dir({"001_v1.0_typo.sql": migration("001", "SELEC 1;")})
    result = uap("--trace", "--json", directory=folder)
    assert result.code == 1
    item = json.loads(result.out)["dry_run"][0]
    assert item["line"] == 11 and item["sqlstate"] == "42601"
    assert [s["status"] for s in item["trace"]["statements"]] == ["failed"]


def test_long_file_is_traced_statement_by_statement(uap, orders, migrations_dir):
    """300 statements, each measured; the trace fits on its event."""
    body = "\n".join(f"UPDATE orders SET note = 'n{n}' WHERE id = {n + 1};" for n in range(300))
    folder = migrations_dir({"001_v1.0_many.sql": migration("001", body)})
    trace = _trace_of(uap("--trace", "--json", directory=folder).out, "001")
    assert len(trace["statements"]) == 300
    assert {s["status"] for s in trace["statements"]} == {"traced"}
    assert trace["verdict"] == "safe"
    assert orders.scalar("SELECT count(*) FROM orders WHERE note ~ '^n[0-9]+$'") == 0
    stored = orders.scalar(
        "SELECT jsonb_array_length(trace->'statements') FROM schema_migration_events "
        "WHERE action = 'dry_run'"
    )
    assert stored == 300


def test_format_json_is_the_same_document_as_json(uap, database, migrations_dir):
    """`--format json` on a run prints only the JSON document, as `--json` does."""
    folder = migrations_dir({"001_v1.0_a.sql": migration("001", "SELECT 1;")})
    result = uap("--format", "json", directory=folder)
    assert result.code == 0, result.err
    assert json.loads(result.out)["successful"] == 1


def test_trace_names_statements_without_their_literals(uap, orders, migrations_dir):
    """Values in the SQL (a password, personal data) stay out of the trace and its event."""
    body = (
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS token text DEFAULT 'hunter2-secret';\n"
        "UPDATE orders SET note = 'alice@example.com' WHERE id = 1;"
    )
    folder = migrations_dir({"001_v1.0_values.sql": migration("001", body)})
    result = uap("--trace", "--json", directory=folder)
    trace = _trace_of(result.out, "001")
    assert [s["statement"] for s in trace["statements"]] == ["ALTER TABLE orders", "UPDATE orders"]
    kept = orders.scalar("SELECT trace::text FROM schema_migration_events")
    for secret in ("hunter2", "alice@"):
        assert secret not in json.dumps(trace) and secret not in kept
    assert "hunter2" not in uap("--trace", "--format", "markdown", directory=folder).out


def test_each_summary_names_the_strongest_lock_held_on_a_relation(uap, orders, migrations_dir):
    """Holding ShareLock and AccessExclusiveLock on one table, the latter is what is reported."""
    folder = migrations_dir(
        {
            "001_v1.0_index_then_widen.sql": migration(
                "001",
                "DO $$ BEGIN\n"
                "  CREATE INDEX IF NOT EXISTS orders_amount ON orders (amount);\n"
                "  ALTER TABLE orders ALTER amount TYPE bigint;\n"
                "END $$;",
            )
        }
    )
    document = uap("--trace", "--json", directory=folder)
    trace = _trace_of(document.out, "001")
    assert {"ShareLock", "AccessExclusiveLock"} <= _locks(trace, "public.orders")
    rewrite = next(r for r in trace["reasons"] if r.startswith("rewrites big table public.orders"))
    assert "under AccessExclusiveLock" in rewrite, rewrite
    markdown = uap("--trace", "--format", "markdown", directory=folder).out
    row = next(line for line in markdown.splitlines() if line.startswith("| 001 "))
    assert "AccessExclusiveLock public.orders" in row and "ShareLock public.orders" not in row
    text = uap("--dry-run", "--trace", directory=folder).out
    assert "ShareLock public.orders" not in text.replace("AccessExclusiveLock public.orders", "")


def test_text_trace_wraps_a_long_locks_cell(uap, orders, migrations_dir):
    """The LOCKS column wraps at its list commas instead of printing one 300-character row."""
    tables = "".join(
        f"CREATE TABLE IF NOT EXISTS long_relation_name_number_{n} (id int);\n" for n in range(6)
    )
    with orders.connect() as conn:
        conn.execute(tables)
    names = ", ".join(f"long_relation_name_number_{n}" for n in range(6))
    folder = migrations_dir({"001_v1.0_lock_all.sql": migration("001", f"LOCK TABLE {names};")})
    text = uap("--dry-run", "--trace", directory=folder)
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    header = next(n for n, line in enumerate(lines) if "LOCKS" in line)
    rows = lines[header : header + 7]
    assert rows[-1].strip().startswith("AccessExclusiveLock public.long_relation_name_number_5")
    assert max(len(line) for line in rows) < 160
    printed = " ".join(text.out.split())
    for n in range(6):
        assert f"public.long_relation_name_number_{n} (blocks reads and writes)" in printed
    document = json.loads(uap("--trace", "--json", directory=folder).out)
    assert len(document["dry_run"][0]["trace"]["statements"][0]["locks"]) == 6
