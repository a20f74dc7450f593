#!/usr/bin/env python3
"""Deploying under live traffic: how long writers wait while a tool applies an ALTER TABLE.

The scenario, on the PostgreSQL at BENCH_SERVER (127.0.0.1:5432 by default), for each tool in
turn and in a fresh database each time:
- a 1,000-row table, created by the tool's own first migration (so its history table exists);
- four writer sessions doing short single-row UPDATEs back to back;
- a reader that holds ACCESS SHARE on the table for READ_SECONDS (a long report query);
- READ_DELAY seconds into the read, the tool applies `ALTER TABLE ... ADD COLUMN`.

An ALTER waiting for ACCESS EXCLUSIVE queues every writer behind it, so a tool that waits for
the lock for as long as the reader reads stalls the writers for that long. Printed per tool:
the writers' longest wait and p99 while the tool ran, the seconds until the column existed,
and for uap_migrate the lock-timeout attempts it recorded. Each figure is the median of
--repeat runs; the tools take turns inside every repetition.

Usage: bench/live_traffic.py [--repeat 3] [--only uap,psql,dbmate,yoyo]
Standard library and psycopg from the project's virtualenv; the peers from bench/.peers.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from run import (  # noqa: E402  (the sibling script's helpers: one server, one way to call peers)
    PEERS,
    PSQL,
    PYTHON,
    RESULTS,
    ROOT,
    SERVER,
    WORK,
    drop_databases,
    fresh_database,
    uap_env,
)

TOOLS = ("psql", "dbmate", "yoyo", "uap")
WRITERS = 4
ROWS = 1000
READ_SECONDS = 4.0
READ_DELAY = 0.5
GOAL_LONGEST_WAIT = 0.5  # seconds: writers never stall behind this runner for longer

CREATE = (
    "CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);\n"
    f"INSERT INTO items (id) SELECT g FROM generate_series(1, {ROWS}) AS g;\n"
)
ALTER = "ALTER TABLE items ADD COLUMN note text;\n"


def uap_file(version: str, minor: int, name: str, body: str) -> str:
    return (
        f"-- Migration: {version}_v1.{minor}_{name}\n-- Version: {version}\n"
        f"-- Author: bench@example.com\n-- Description: {name.replace('_', ' ')}\n"
        f"-- Rollback: SELECT 1;\n\n{body}"
    )


def write_corpus(root: Path) -> None:
    """Each tool's layout twice: `first/` holds the table's migration, `both/` adds the ALTER."""
    steps = [("create_items", CREATE), ("add_note", ALTER)]
    for stage, count in (("first", 1), ("both", 2)):
        for tool in TOOLS:
            folder = root / stage / tool
            folder.mkdir(parents=True, exist_ok=True)
            for index, (name, body) in enumerate(steps[:count], start=1):
                if tool == "psql" and index < count:
                    continue  # psql keeps no history: it is given only what is new
                if tool == "uap":
                    (folder / f"00{index}_v1.{index}_{name}.sql").write_text(
                        uap_file(f"00{index}", index, name, body)
                    )
                elif tool == "dbmate":
                    text = f"-- migrate:up\n{body}\n-- migrate:down\n"
                    (folder / f"2024010100000{index}_{name}.sql").write_text(text)
                else:  # psql and yoyo read plain SQL files
                    (folder / f"000{index}_{name}.sql").write_text(body)


def command(tool: str, folder: Path, url: str) -> tuple[list[str], dict | None]:
    """argv and environment that apply every pending file of `folder`."""
    if tool == "uap":
        return [PYTHON, "manage.py", "uap_migrate", "--dir", str(folder)], uap_env(url)
    if tool == "psql":
        loop = 'for f in "$1"/*.sql; do psql "$2" -q -1 -v ON_ERROR_STOP=1 -f "$f" || exit 1; done'
        return ["bash", "-c", loop.replace("psql", PSQL, 1), "loop", str(folder), url], None
    if tool == "dbmate":
        dbmate = str(PEERS / "node_modules" / ".bin" / "dbmate")
        return [
            dbmate,
            *("--url", f"{url}?sslmode=disable", "--migrations-dir", str(folder)),
            *("--no-dump-schema", "up"),
        ], None
    if tool == "yoyo":
        where = url.replace("postgresql:", "postgresql+psycopg:")
        yoyo = str(PEERS / "yoyo" / "bin" / "yoyo")
        return [
            yoyo,
            "apply",
            "--batch",
            "--no-config-file",
            "--database",
            where,
            str(folder),
        ], None
    raise ValueError(tool)


class Writers:
    """WRITERS sessions doing single-row UPDATEs; each UPDATE's start time and duration."""

    def __init__(self, url: str):
        self.url = url
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._write, daemon=True) for _ in range(WRITERS)]

    def _write(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="bench writer") as conn:
            while not self.stop.is_set():
                started = time.perf_counter()
                conn.execute(
                    "UPDATE items SET n = n + 1 WHERE id = %s", (random.randint(1, ROWS),)
                )
                self.samples.append((started, time.perf_counter() - started))

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def hold_read(url: str, started: threading.Event) -> None:
    """A long report: ACCESS SHARE on items for READ_SECONDS."""
    with psycopg.connect(url, application_name="bench long read") as conn:
        conn.execute("SELECT count(*) FROM items").fetchone()
        started.set()
        conn.execute("SELECT pg_sleep(%s)", (READ_SECONDS,))
        conn.rollback()


def column_exists(conn: psycopg.Connection) -> bool:
    # pg_attribute is read without a lock on items, so the probe never queues.
    return bool(
        conn.execute(
            "SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = 'items'::regclass "
            "AND attname = 'note' AND NOT attisdropped"
        ).fetchone()
    )


def scenario(tool: str, corpus: Path) -> dict:
    """One run: set up, start the traffic and the read, apply the ALTER; the figures."""
    url = fresh_database("bench_live")
    argv, env = command(tool, corpus / "first" / tool, url)
    subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True)
    argv, env = command(tool, corpus / "both" / tool, url)
    reading = threading.Event()
    with Writers(url) as writers, psycopg.connect(url, autocommit=True) as probe:
        time.sleep(0.5)  # the writers reach their steady pace
        reader = threading.Thread(target=hold_read, args=(url, reading), daemon=True)
        reader.start()
        reading.wait()
        time.sleep(READ_DELAY)
        launched = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        appeared = None
        while proc.poll() is None or appeared is None:
            if appeared is None and column_exists(probe):
                appeared = time.perf_counter() - launched
            if proc.poll() is not None and appeared is None:
                break
            time.sleep(0.01)
        output = proc.stdout.read().decode(errors="replace")
        finished = time.perf_counter()
        reader.join()
        time.sleep(0.3)
    if proc.returncode:
        raise RuntimeError(f"{tool} exited {proc.returncode}:\n{output[-2000:]}")
    waits = [took for begun, took in writers.samples if launched <= begun <= finished]
    waits.sort()
    figures = {
        "longest_wait": max(waits),
        "p99_wait": waits[min(len(waits) - 1, int(len(waits) * 0.99))],
        "column_after": appeared,
        "updates": len(waits),
    }
    if tool == "uap":
        with psycopg.connect(url) as conn:
            figures["lock_retries"] = conn.execute(
                "SELECT count(*) FROM schema_migration_events "
                "WHERE status = 'failed' AND sqlstate = '55P03'"
            ).fetchone()[0]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(TOOLS))
    args = parser.parse_args()
    tools = [tool for tool in args.only.split(",") if tool]
    corpus = WORK / "live-traffic"
    write_corpus(corpus)
    runs: dict[str, list[dict]] = {tool: [] for tool in tools}
    try:
        for rep in range(args.repeat):
            for tool in tools:
                figures = scenario(tool, corpus)
                runs[tool].append(figures)
                print(
                    f"  run {rep + 1}/{args.repeat} {tool:<7} longest wait "
                    f"{figures['longest_wait']:.3f}s, column after {figures['column_after']:.2f}s",
                    flush=True,
                )
    finally:
        drop_databases(["bench_live"])
    text = report(runs)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "live_traffic.md").write_text(text + "\n")
    return 0 if verdict(runs) else 1


def med(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def report(runs: dict[str, list[dict]]) -> str:
    count = len(next(iter(runs.values())))
    lines = [
        f"Live traffic: {WRITERS} writers on a {ROWS:,}-row table, a {READ_SECONDS:g} s read, "
        f"ALTER TABLE applied {READ_DELAY:g} s into it; medians of {count} "
        f"run(s) on {SERVER.rsplit('@', 1)[-1]}.",
        "",
        "| tool | writers' longest wait (s) | writers' p99 (s) | column exists after (s) "
        "| lock-timeout attempts recorded |",
        "|---|---|---|---|---|",
    ]
    for tool, figures in runs.items():
        retries = str(int(med(figures, "lock_retries"))) if tool == "uap" else "-"
        lines.append(
            f"| {tool} | {med(figures, 'longest_wait'):.3f} | {med(figures, 'p99_wait'):.3f} "
            f"| {med(figures, 'column_after'):.2f} | {retries} |"
        )
    if "uap" in runs:
        ok = verdict(runs)
        lines += [
            "",
            f"Goal: uap_migrate's writers' longest wait <= {GOAL_LONGEST_WAIT} s with the "
            f"column applied and at least one recorded retry: {'met' if ok else 'NOT met'}.",
        ]
    return "\n".join(lines)


def verdict(runs: dict[str, list[dict]]) -> bool:
    if "uap" not in runs:
        return True
    figures = runs["uap"]
    return med(figures, "longest_wait") <= GOAL_LONGEST_WAIT and med(figures, "lock_retries") >= 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
