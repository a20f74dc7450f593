#!/usr/bin/env python3
"""Generate N migrations shaped like a real project's history, in several peers' layouts.

Usage: gen_history.py N OUTDIR [SEED]
Same layouts as gen_corpus.py (OUTDIR/uap, dbmate, yoyo, plain). Each file is 1-30 KB and one
of: PL/pgSQL functions with BEGIN ... END bodies (IF, LOOP, EXCEPTION, comments), a DO block,
a CREATE INDEX CONCURRENTLY file (outside a transaction), a comment-only placeholder kept
for numbering, or a table with a multi-row seed INSERT. uap headers carry a multi-line
Rollback followed by Source, Author and Ticket lines. Deterministic for a given SEED.
"""

import os
import random
import sys

KINDS = ("function",) * 8 + ("do",) * 3 + ("concurrent",) * 2 + ("placeholder",) + ("seed",) * 6


def function(i, n):
    return (
        f"-- Keeps t{i}.total in step with its rows; called by the trigger below.\n"
        f"CREATE OR REPLACE FUNCTION f{i}_{n}(x int, label text DEFAULT 'a;b') RETURNS int\n"
        "LANGUAGE plpgsql AS $fn$\nDECLARE\n  total int := 0;\nBEGIN\n"
        "  IF x IS NULL THEN\n    RETURN 0;\n  END IF;\n"
        "  FOR k IN 1..x LOOP\n    total := total + k; -- a comment; with a semicolon\n"
        "  END LOOP;\n  BEGIN\n    PERFORM 1 / x;\n  EXCEPTION WHEN division_by_zero THEN\n"
        "    RAISE NOTICE 'begin; commit; end;';\n  END;\n  RETURN total;\nEND;\n$fn$;\n\n"
    )


def do_block(i, n):
    return (
        "DO $$\nBEGIN\n"
        f"  IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'd{i}_{n}') THEN\n"
        f"    EXECUTE 'CREATE TABLE d{i}_{n} (id bigint PRIMARY KEY, note text)';\n"
        "  END IF;\nEND\n$$;\n\n"
    )


def seed_rows(i, n):
    rows = ",\n".join(f"  ({n * 40 + k}, 'row {k} of batch {n}; it''s fine')" for k in range(40))
    return f"INSERT INTO s{i} (id, note) VALUES\n{rows}\nON CONFLICT DO NOTHING;\n\n"


def body(i, kind, size):
    """SQL of file i, grown to about `size` bytes; (sql, transactional)."""
    if kind == "placeholder":
        lines = [f"-- v{i} was folded into a later migration upstream; kept for numbering."]
        return "\n".join(lines * max(1, size // 80)) + "\n", True
    if kind == "concurrent":
        # One statement: dbmate sends a file as one query, which PostgreSQL would wrap in a
        # transaction if it held two.
        return (
            f"-- {'padding ' * (size // 9)}\n"
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS c{i}_note ON s1 (note, id);\n",
            False,
        )
    head = f"CREATE TABLE IF NOT EXISTS s{i} (id bigint PRIMARY KEY, note text);\n\n"
    part = {"function": function, "do": do_block, "seed": seed_rows}[kind]
    chunks, n = [head], 0
    while sum(map(len, chunks)) < size:
        chunks.append(part(i, n))
        n += 1
    return "".join(chunks), True


def header(i, width, transactional):
    lines = [
        f"-- Migration: history step {i}",
        f"-- Version: {i:0{width}d}",
        "-- Description: generated like a real project's history",
        f"-- Rollback: DROP TABLE IF EXISTS s{i};",
        f"-- DROP INDEX IF EXISTS c{i}_note;",
        f"-- Source: upstream db/migrate/{i:05d}_step.sql",
        "-- Author: Dana Smith <dana@example.com>",
        f"-- Ticket: OPS-{1000 + i}",
    ]
    if not transactional:
        lines.append("-- Transaction: none")
    return "\n".join(lines) + "\n--\n\n"


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 13)
    width = max(3, len(str(n)))
    for d in ("uap", "dbmate", "yoyo", "plain"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    for i in range(1, n + 1):
        kind = KINDS[rng.randrange(len(KINDS))] if i > 1 else "seed"
        sql, transactional = body(i, kind, int(1024 * 30 ** rng.random()))  # 1-30 KB
        name = f"{i:0{width}d}_v1.{i}_step_{i}.sql"
        files = {
            ("uap", name): header(i, width, transactional) + sql,
            ("plain", name): sql,
            ("dbmate", f"{20260101000000 + i}_step_{i}.sql"): (
                f"-- migrate:up{'' if transactional else ' transaction:false'}\n{sql}\n"
                "-- migrate:down\n"
            ),
            ("yoyo", f"{i:0{width}d}_step_{i}.sql"): (
                ("" if transactional else "-- transactional: false\n") + sql
            ),
        }
        for (folder, filename), text in files.items():
            with open(os.path.join(out, folder, filename), "w") as f:
                f.write(text)


if __name__ == "__main__":
    main()
