#!/usr/bin/env python3
"""Fleet rollout: one `uap_migrate --all-databases --parallel 4` against a shell loop of runs.

Usage: bench/fleet.py [--repeat 3] [--scale 25,50,100] [--out bench/results/fleet.md]
20 databases x 50 migrations, the fleet run and the loop taking turns in each repetition,
each in freshly created databases; then 10 migrations on a growing number of databases to
show how a fleet run's time grows with the fleet. Standard library only, like run.py.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from run import PSQL, PYTHON, RESULTS, SERVER, machine, uap_env  # noqa: E402

PARALLEL = 4
TARGET = 0.3  # the fleet run takes at most this share of the loop's time


def create_databases(count: int) -> list[str]:
    """Drop and create fleet_00..fleet_<count-1>; their names."""
    names = [f"bench_fleet_{n:03d}" for n in range(count)]
    statements = []
    for name in names:
        statements += ["-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"]
        statements += ["-c", f"CREATE DATABASE {name}"]
    subprocess.run(
        [
            PSQL,
            f"{SERVER}/postgres",
            "-qAt",
            "-v",
            "ON_ERROR_STOP=1",
            *statements,
            "-c",
            "CHECKPOINT",
        ],
        check=True,
        capture_output=True,
    )
    return names


def drop_databases(count: int) -> None:
    """Leave the server as it was found."""
    drops = [
        arg for n in range(count) for arg in ("-c", f"DROP DATABASE IF EXISTS bench_fleet_{n:03d}")
    ]
    subprocess.run([PSQL, f"{SERVER}/postgres", "-qAt", *drops], check=True, capture_output=True)


def fleet_env(names: list[str]) -> dict:
    """DATABASE_URL for the first database, DATABASE_URL_<NAME> for every other one."""
    env = uap_env(f"{SERVER}/{names[0]}")
    env.update({f"DATABASE_URL_{name.upper()}": f"{SERVER}/{name}" for name in names[1:]})
    return env


def run(argv: list[str], env: dict) -> float:
    """Wall seconds of one command; RuntimeError with its stderr if it fails."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(
            f"{' '.join(argv[:6])}… exited {done.returncode}:\n{done.stderr[-2000:]}"
        )
    return elapsed


def fleet_run(names: list[str], corpus: Path) -> float:
    """One fleet run over every database, PARALLEL at a time."""
    argv = [PYTHON, "manage.py", "uap_migrate", "--all-databases", "--parallel", str(PARALLEL)]
    return run([*argv, "--dir", str(corpus)], fleet_env(names))


def loop_run(names: list[str], corpus: Path) -> float:
    """What users write today: a shell loop of single-database runs."""
    urls = " ".join(f"{SERVER}/{name}" for name in names)
    script = (
        f"for url in {urls}; do DATABASE_URL=$url {PYTHON} manage.py uap_migrate "
        f"--dir {corpus} > /dev/null || exit 1; done"
    )
    return run(["bash", "-c", script], uap_env(f"{SERVER}/{names[0]}"))


def corpus_of(size: int, folder: Path) -> Path:
    """The benchmark's usual synthetic corpus, uap layout."""
    subprocess.run(
        [sys.executable, str(BENCH / "gen_corpus.py"), str(size), str(folder)],
        check=True,
        capture_output=True,
    )
    return folder / "uap"


def compare(repeat: int, work: Path) -> tuple[list[float], list[float]]:
    """20 databases x 50 migrations: fleet and loop seconds per repetition."""
    corpus = corpus_of(50, work / "c50")
    fleet, loop = [], []
    for _ in range(repeat):
        fleet.append(fleet_run(create_databases(20), corpus))
        loop.append(loop_run(create_databases(20), corpus))
    drop_databases(20)
    return fleet, loop


def scale(sizes: list[int], work: Path) -> list[tuple[int, float]]:
    """10 migrations on a growing fleet: (databases, seconds) of one fleet run each."""
    corpus = corpus_of(10, work / "c10")
    rows = [(count, fleet_run(create_databases(count), corpus)) for count in sizes]
    drop_databases(max(sizes))
    return rows


def report(fleet: list[float], loop: list[float], growth: list[tuple[int, float]]) -> str:
    """The markdown section: medians, the ratio and its verdict, the growth table."""
    f, lp = statistics.median(fleet), statistics.median(loop)
    ratio = f / lp
    verdict = "met" if ratio <= TARGET else "NOT met"
    paired = ", ".join(f"{a / b:.2f}" for a, b in zip(fleet, loop, strict=True))
    lines = [
        "## Fleet rollout",
        "",
        f"20 databases x 50 migrations, median of {len(fleet)} runs each in fresh databases:",
        "",
        "| run | seconds |",
        "|---|---|",
        f"| `uap_migrate --all-databases --parallel {PARALLEL}` | {f:.2f} |",
        f"| shell loop of 20 single-database runs | {lp:.2f} |",
        "",
        f"Fleet / loop: **{ratio:.2f}x** (target <= {TARGET}x: {verdict}); run by run: {paired}.",
        "",
        f"10 migrations on a growing fleet, `--parallel {PARALLEL}`, one run each:",
        "",
        "| databases | seconds | ms per database |",
        "|---|---|---|",
    ]
    lines += [f"| {n} | {s:.2f} | {s * 1000 / n:.0f} |" for n, s in growth]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", default="25,50,100")
    parser.add_argument("--out", default=str(RESULTS / "fleet.md"))
    args = parser.parse_args()
    started = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(prefix="uap-fleet-bench-") as scratch:
        work = Path(scratch)
        fleet, loop = compare(args.repeat, work)
        growth = scale([int(n) for n in args.scale.split(",")], work)
    text = (
        f"# Fleet benchmark\n\n{started:%Y-%m-%d %H:%M} UTC. Machine: {machine()}.\n\n"
        f"{report(fleet, loop, growth)}\n"
    )
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
