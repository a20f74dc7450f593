"""What `--trace` adds to a dry run: the same pending files with and without it.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch \
        .venv/bin/python bench/trace_bench.py [--relations 1000] [--statements 200] [--runs 5]

Point DATABASE_URL at a throwaway database: it gets RELATIONS/2 tables with an index each
(the catalog every statement's trace reads twice), a 20,000-row table, and dry_run events.
The pending file has STATEMENTS small statements (ADD COLUMN on the big table, CREATE TABLE,
UPDATE of one row). Prints the median wall time of RUNS dry runs each way and the cost per
traced statement. Not part of the suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uap_project.settings")
os.environ.setdefault("SECRET_KEY", "trace-bench-only-" + "x" * 40)

import django  # noqa: E402

django.setup()

from schema_audit import api  # noqa: E402
from schema_audit import db as postgres  # noqa: E402

HEADER = (
    "-- Migration: bench\n-- Version: {v}\n-- Description: trace bench\n-- Impact: Non-breaking\n"
    "-- Rollback: SELECT 1;\n--\n\n"
)


def prepare(relations: int) -> None:
    """Tables with an index each, and the big table the statements touch."""
    with postgres.connect("default", purpose="bench") as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench")
        for n in range(relations // 2):
            conn.execute(f"CREATE TABLE bench.t{n} (id bigint PRIMARY KEY)")
        conn.execute(
            "CREATE TABLE bench.big AS SELECT g AS id, md5(g::text) AS note "
            "FROM generate_series(1, 20000) g; ANALYZE bench.big"
        )


def pending_file(folder: Path, statements: int) -> None:
    """One pending file of `statements` short statements."""
    kinds = (
        "ALTER TABLE bench.big ADD COLUMN IF NOT EXISTS c{n} int;",
        "CREATE TABLE IF NOT EXISTS bench.new{n} (id bigint);",
        "UPDATE bench.big SET note = 'x' WHERE id = {n};",
    )
    body = "\n".join(kinds[n % 3].format(n=n) for n in range(statements))
    (folder / "900_v9.0_bench.sql").write_text(HEADER.format(v="900") + body + "\n")


def timed(folder: Path, trace: bool, runs: int) -> float:
    """Median seconds of `runs` dry runs."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = api.dry_run(folder, trace=trace)
        times.append(time.perf_counter() - started)
        assert result["failed"] == 0, result["errors"]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--relations", type=int, default=1000)
    parser.add_argument("--statements", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    prepare(args.relations)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pending_file(folder, args.statements)
        plain = timed(folder, False, args.runs)
        traced = timed(folder, True, args.runs)
    per = (traced - plain) / args.statements * 1000
    print(
        f"{args.statements} statements, {args.relations} relations: dry run {plain:.3f} s, "
        f"with --trace {traced:.3f} s ({traced / plain:.1f}x, +{per:.2f} ms per statement)"
    )


if __name__ == "__main__":
    main()
