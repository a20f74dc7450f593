#!/usr/bin/env python3
"""Python CPU per applied file: the runner's own work, without the time spent waiting on
PostgreSQL.

    .venv/bin/python bench/cpu_per_file.py DIR [--profile N]

Applies DIR in-process to DATABASE_URL (a throwaway database), reads the process's CPU clock
(time.process_time: it does not advance while the process waits on the socket) as each file
finishes, and prints JSON: the median and 90th percentile per file, in ms. With --profile,
the N functions with the most own time under cProfile go to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uap_project.settings")
os.environ.setdefault("SECRET_KEY", "bench")

import django  # noqa: E402

django.setup()

from schema_audit import api  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    marks: list[float] = []

    def progress(event, migration, outcome):
        if event != "start":
            marks.append(time.process_time())

    # Timed by the CPU clock too, so the profile shows work, not waiting.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    marks.append(time.process_time())
    if profiler:
        profiler.enable()
    result = api.run_pending(args.directory, progress=progress)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(args.profile)
    # The first interval also holds discovery, the lock and the ledger read: not per file.
    if len(marks) < 3:
        print(json.dumps({"files": result["successful"], "error": "fewer than two files"}))
        return 1
    per_file = [(b - a) * 1000 for a, b in zip(marks[1:], marks[2:], strict=False)]
    print(
        json.dumps(
            {
                "files": result["successful"],
                "failed": result["failed"],
                "median_ms": round(statistics.median(per_file), 3),
                "p90_ms": round(statistics.quantiles(per_file, n=10)[-1], 3),
            }
        )
    )
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
