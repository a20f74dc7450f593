#!/usr/bin/env python3
"""Generate N synthetic, realistic Postgres migrations in several peers' layouts.

Usage: gen_corpus.py N OUTDIR
Writes OUTDIR/uap (NNN_vX.Y_desc.sql), OUTDIR/dbmate, OUTDIR/yoyo, OUTDIR/sqitch, OUTDIR/plain.
Each migration i does one of: create a table with FK + index, add a column with default
and index, create a function, insert 200 rows. Same SQL in every layout.
"""

import os
import sys


def body(i):
    k = i % 4
    if i == 1 or k == 0:
        return (
            f"CREATE TABLE IF NOT EXISTS t{i} (id BIGSERIAL PRIMARY KEY,"
            f" name VARCHAR(255) NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);\n"
            f"CREATE INDEX IF NOT EXISTS idx_t{i}_name ON t{i}(name);\n"
        )
    base = max(1, i - k)
    if k == 1:
        return (
            f"ALTER TABLE t{base} ADD COLUMN IF NOT EXISTS c{i} JSONB DEFAULT '{{\"a\": 1}}';\n"
            f"CREATE INDEX IF NOT EXISTS idx_t{base}_c{i} ON t{base}(c{i});\n"
        )
    if k == 2:
        return (
            f"CREATE OR REPLACE FUNCTION f{i}(x int) RETURNS int LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n  -- a comment; with a semicolon\n  RETURN x + {i};\nEND;\n$$;\n"
        )
    return f"INSERT INTO t{base} (name) SELECT 'row ' || g FROM generate_series(1, 200) g;\n"


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    width = max(3, len(str(n)))
    for d in ("uap", "dbmate", "yoyo", "plain", "sqitch/deploy", "sqitch/revert", "sqitch/verify"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    plan = ["%syntax-version=1.0.0", "%project=bench", ""]
    for i in range(1, n + 1):
        sql = body(i)
        name = f"{i:0{width}d}_v1.{i}_step_{i}.sql"
        with open(os.path.join(out, "uap", name), "w") as f:
            header = f"-- Migration: step {i}\n-- Version: {i:0{width}d}\n"
            f.write(f"{header}-- Rollback: SELECT 1;\n--\n\n{sql}")
        with open(os.path.join(out, "plain", name), "w") as f:
            f.write(sql)
        with open(os.path.join(out, "dbmate", f"{20260101000000 + i}_step_{i}.sql"), "w") as f:
            f.write(f"-- migrate:up\n{sql}\n-- migrate:down\n")
        with open(os.path.join(out, "yoyo", f"{i:0{width}d}_step_{i}.sql"), "w") as f:
            f.write(sql)
        with open(os.path.join(out, "sqitch/deploy", f"step_{i}.sql"), "w") as f:
            f.write(f"BEGIN;\n{sql}COMMIT;\n")
        with open(os.path.join(out, "sqitch/revert", f"step_{i}.sql"), "w") as f:
            f.write("SELECT 1;\n")
        plan.append(f"step_{i} 2026-01-01T00:00:00Z bench <bench@example.com> # step {i}")
    with open(os.path.join(out, "sqitch/sqitch.plan"), "w") as f:
        f.write("\n".join(plan) + "\n")
    with open(os.path.join(out, "sqitch/sqitch.conf"), "w") as f:
        f.write("[core]\n\tengine = pg\n\tplan_file = sqitch.plan\n\ttop_dir = .\n")


if __name__ == "__main__":
    main()
