#!/usr/bin/env python3
"""Peak Python memory of applying one big migration file, as a multiple of its size.

    DATABASE_URL=... .venv/bin/python bench/apply_memory.py [MEGABYTES]

Writes a file of MEGABYTES (default 100) of INSERT statements into a temporary directory,
applies it in-process to DATABASE_URL (a throwaway database) under tracemalloc, and prints
JSON: the file's size, the peak of Python allocations and their ratio.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uap_project.settings")
os.environ.setdefault("SECRET_KEY", "bench")

import django  # noqa: E402

django.setup()

from schema_audit import api  # noqa: E402

HEADER = (
    "-- Migration: big\n-- Version: 001\n-- Date: 2026-01-01\n-- Description: big\n"
    "-- Status: LIVE\n-- Impact: Non-breaking\n-- Rollback: DROP TABLE IF EXISTS big;\n\n"
    "CREATE TABLE IF NOT EXISTS big (id bigint, note text);\n"
)


def write_file(folder: Path, megabytes: int) -> Path:
    """A migration of `megabytes` MB: one INSERT of 1,000 rows per statement."""
    path = folder / "001_v1.0_big.sql"
    row = "('{}', 'a note of some length to make the rows realistic')"
    statement = "INSERT INTO big VALUES " + ", ".join(row.format(n) for n in range(1000)) + ";\n"
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for _ in range(megabytes * 1024 * 1024 // len(statement)):
            out.write(statement)
    return path


def main() -> int:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory() as folder:
        path = write_file(Path(folder), megabytes)
        size = path.stat().st_size
        tracemalloc.start()
        result = api.run_pending(folder)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(
        json.dumps(
            {
                "file_bytes": size,
                "peak_bytes": peak,
                "peak_per_file_byte": round(peak / size, 2),
                "successful": result["successful"],
            }
        )
    )
    return 0 if result["successful"] == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
